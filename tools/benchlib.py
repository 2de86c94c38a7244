"""Shared plumbing of the tools/bench_*.py scripts: arguments, machine label, table, JSON.

Every benchmark takes ``--quick`` (a short run of at most about two minutes), ``--smoke`` (the
smallest sizes, seconds: what the tests run so that no benchmark can rot unnoticed) and
``--json PATH`` (writes ``{"machine": ..., "config": ..., "metrics": {...}}``), and prints a
readable table.
"""

from __future__ import annotations

import argparse
import pathlib
import time
from collections.abc import Callable, Mapping
from typing import Any

BENCH_KIND = "acbo.benchmark"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every benchmark takes: its size (full by default, ``--quick`` or
    ``--smoke``) and ``--json PATH``."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="short run (about two minutes)")
    size.add_argument("--smoke", action="store_true",
                      help="the smallest sizes (seconds): checks that the script runs end to "
                           "end, as the tests do; its numbers measure nothing")
    parser.add_argument("--json", metavar="PATH", help="write machine, config and metrics here")


def size(args: argparse.Namespace) -> str:
    """``"smoke"``, ``"quick"`` or ``"full"``."""
    return "smoke" if args.smoke else "quick" if args.quick else "full"


def pick(args: argparse.Namespace, full: Any, quick: Any, smoke: Any) -> Any:
    """The value for the run's size."""
    return {"full": full, "quick": quick, "smoke": smoke}[size(args)]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    add_arguments(parser)
    return parser.parse_args()


def machine_info() -> dict[str, Any]:
    from acbo_training import machine_info as info  # imported here so `--help` stays fast

    return info()


def best_time(fn: Callable[[], Any], *, repeats: int = 5) -> float:
    """Best wall time of ``fn()`` in seconds over ``repeats`` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def report(title: str, config: Mapping[str, Any], metrics: Mapping[str, Any],
           json_path: str | None) -> None:
    """Prints the metrics as a table and writes the JSON file when asked."""
    machine = machine_info()
    width = max(len(k) for k in metrics)
    print(f"\n{title}  ({machine['cpu']}, {machine['cores']} cores, jax {machine['jax']})")
    print(f"{'metric'.ljust(width)}  value")
    print(f"{'-' * width}  -----")
    for name, value in metrics.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{name.ljust(width)}  {shown}")
    if json_path:
        write_json(json_path, {"machine": machine, "config": dict(config),
                               "metrics": dict(metrics)})


def write_json(json_path: str, doc: Mapping[str, Any]) -> None:
    """Writes a benchmark's JSON (strict: NaN as null) atomically. An existing file is replaced
    only if it is a benchmark result written here; anything else is refused, not overwritten."""
    import acbo_core as ac

    path = pathlib.Path(json_path)
    ac.save_json(ac.dumps_json({"kind": BENCH_KIND, **doc}, indent=1), path)
    print(f"wrote {path}")
