"""The system benchmark: a thin caller of ``acbo-train benchmark`` (same code, same report).

Usage:
    python tools/bench_system.py --system runs/quickstart/system [--quick | --smoke]
        [--json PATH] [--workers 2] [--output runs/benchmark] [--families er20,toy]

Runs every family and method (see ``acbo.benchmark``), writes OUT/report/benchmark.{json,md}
and the plots, prints the table, and with ``--json`` writes ``{"machine", "config",
"metrics"}`` where the metrics are every figure of the report's rows, named
``FAMILY/VARIANT/METHOD/FIGURE`` (``gap_t10``, ``auc_10``, ``seconds_per_run``, ...).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import benchlib  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.add_arguments(parser)  # --quick: acbo-train benchmark --quick; --smoke: the same
    # on the toy family only, one protocol variant (n_int = 2)
    parser.add_argument("--system", metavar="DIR", help="the trained system to benchmark")
    parser.add_argument("--output", default="runs/benchmark", metavar="OUT")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--families", metavar="A,B")
    args = parser.parse_args()
    from acbo.cli import main as acbo_train

    argv = ["benchmark", "-o", args.output, "--workers", str(args.workers)]
    argv += ["--quick"] * (args.quick or args.smoke)
    argv += ["--families", "toy"] if args.smoke and not args.families else []
    argv += ["--system", args.system] if args.system else []
    argv += ["--families", args.families] if args.families else []
    code = acbo_train(argv)
    if code != 0:
        return code
    summary = json.loads((pathlib.Path(args.output) / "report" / "benchmark.json").read_text())
    metrics = {f"{fam}/{variant}/{method}/{name}": value
               for fam, entry in summary["families"].items()
               for variant, v in entry["variants"].items()
               for method, row in v["methods"].items() for name, value in row.items()
               if not isinstance(value, list)}  # the curves are in benchmark.json
    if args.json:
        benchlib.write_json(args.json, {"machine": summary.get("machine", {}),
                                        "config": summary["config"], "metrics": metrics})
    return 0


if __name__ == "__main__":
    sys.exit(main())
