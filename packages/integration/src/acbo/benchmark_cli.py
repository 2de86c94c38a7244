"""``acbo-train benchmark``: the benchmark from the shell (see :mod:`acbo.benchmark`)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

DEFAULT_OUTPUT = "runs/benchmark"
RUN_KIND = "acbo.benchmark-run"


def add_parser(sub: Any) -> None:
    """Adds the ``benchmark`` command to the CLI's subparsers."""
    bench = sub.add_parser(
        "benchmark", help="every method on the named problem families, judged by true means",
        description="Runs the benchmark (families x problems x seeds x methods, paired per "
                    "key) in OUT, resuming what an earlier call left, and writes "
                    "OUT/report/benchmark.{json,md} and one plot per family.")
    bench.add_argument("--output", "-o", default=DEFAULT_OUTPUT, metavar="OUT",
                       help=f"benchmark directory (default: {DEFAULT_OUTPUT})")
    bench.add_argument("--report", metavar="DIR",
                       help="where the report goes (default: OUT/report); runs of several "
                            "systems can share one OUT, each with its own report")
    bench.add_argument("--system", metavar="DIR",
                       help="the trained system to benchmark (methods acbo, acbo_offline)")
    bench.add_argument("--families", metavar="A,B", help="comma-separated (default: all)")
    bench.add_argument("--methods", metavar="A,B",
                       help="comma-separated (default: all; without --system, all but the "
                            "system's)")
    bench.add_argument("--problems", type=int, metavar="N", help="problems per family")
    bench.add_argument("--seeds", type=int, metavar="N", help="seeds per problem")
    bench.add_argument("--steps", type=int, metavar="T", help="interventions per run")
    bench.add_argument("--n-int", metavar="A,B", dest="n_int",
                       help="initial interventional samples per variable of each protocol "
                            "variant (default: 2,0; --quick: 2)")
    bench.add_argument("--workers", type=int, default=1, metavar="N",
                       help="processes (default: 1)")
    bench.add_argument("--split", choices=("report", "tune"), default="report",
                       help="problems to run (default: report; tune on 'tune')")
    bench.add_argument("--quick", action="store_true",
                       help="smoke run: 1 problem, 1 seed, 3 steps, small data")
    bench.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _names(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(n.strip() for n in text.split(",") if n.strip())


def benchmark_config(args: argparse.Namespace) -> Any:
    """The :class:`acbo.benchmark.BenchmarkConfig` the arguments ask for.

    Raises:
      ConfigError: an unknown family or method, a bad size.
    """
    from acbo.benchmark import METHODS, SYSTEM_METHODS, BenchmarkConfig, quick_config

    base = quick_config() if args.quick else BenchmarkConfig()
    changes: dict[str, Any] = {"workers": args.workers, "split": args.split}
    if args.families is not None:
        changes["families"] = _names(args.families)
    methods = _names(args.methods)
    if methods is None:
        methods = METHODS if args.system else tuple(m for m in METHODS
                                                    if m not in SYSTEM_METHODS)
    changes["methods"] = methods
    if args.problems is not None:
        changes["n_problems"] = args.problems
    if args.seeds is not None:
        if args.seeds < 1:
            from acbo_core.errors import ConfigError

            raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
        changes["seeds"] = tuple(range(args.seeds))
    if args.steps is not None:
        changes["T"] = args.steps
    if args.n_int is not None:
        try:
            changes["n_int"] = tuple(int(n) for n in _names(args.n_int) or ())
        except ValueError:
            from acbo_core.errors import ConfigError

            raise ConfigError(f"--n-int must be integers separated by commas, got "
                              f"{args.n_int!r}") from None
    return dataclasses.replace(base, **changes)


def run(args: argparse.Namespace) -> int:
    """Runs the command; returns the exit code (errors propagate to the CLI's handler)."""
    import acbo_core as ac
    from acbo.benchmark import run_benchmark
    from acbo.benchmark_report import write_benchmark
    from acbo_training import RunLogger, machine_info

    cfg = benchmark_config(args)
    out = ac.claim_directory(args.output, RUN_KIND)
    with ac.directory_lock(out, what="benchmark directory"), \
            RunLogger(out / "log.jsonl", progress=not args.quiet) as logger:
        summary = run_benchmark(cfg, out, system_path=args.system, logger=logger)
        summary["machine"] = machine_info()
        summary["command"] = "acbo-train " + " ".join(sys.argv[1:]) if sys.argv[1:] else \
            "acbo-train benchmark"
        paths = write_benchmark(summary, args.report or out / "report")
    _print(summary)
    print(f"report: {paths['markdown']}")
    return 0


def _print(summary: dict[str, Any]) -> None:
    methods = summary["config"]["methods"]
    print(f"\nmean gap closed at t = {min(10, summary['config']['T'])} (true means; "
          "saturated problems left out):")
    print(f"{'family':<12} {'variant':<9} " + " ".join(f"{m:>15}" for m in methods))
    t = min(10, summary["config"]["T"])
    for name, fam in summary["families"].items():
        for variant, v in fam["variants"].items():
            cells = []
            for m in methods:
                value = v["methods"].get(m, {}).get(f"gap_t{t}")
                cells.append(f"{value:>15.3f}" if isinstance(value, float) else f"{'n/a':>15}")
            print(f"{name:<12} {variant:<9} " + " ".join(cells))

