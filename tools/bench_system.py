"""The system benchmark: a thin caller of ``acbo-train benchmark`` (same code, same report).

Usage:
    python tools/bench_system.py --system runs/quickstart/system [--quick] [--json PATH]
        [--workers 2] [--output runs/benchmark] [--families er20,toy]

Runs every family and method (see ``acbo.benchmark``), writes OUT/report/benchmark.{json,md}
and the plots, prints the table, and with ``--json`` writes ``{"machine", "config",
"metrics"}`` where the metrics are ``FAMILY/VARIANT/METHOD/gap_t10`` and ``.../auc_10``.
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
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--json", metavar="PATH", help="write machine, config and metrics here")
    parser.add_argument("--system", metavar="DIR", help="the trained system to benchmark")
    parser.add_argument("--output", default="runs/benchmark", metavar="OUT")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--families", metavar="A,B")
    args = parser.parse_args()
    from acbo.cli import main as acbo_train

    argv = ["benchmark", "-o", args.output, "--workers", str(args.workers)]
    argv += ["--quick"] * args.quick
    argv += ["--system", args.system] if args.system else []
    argv += ["--families", args.families] if args.families else []
    code = acbo_train(argv)
    if code != 0:
        return code
    summary = json.loads((pathlib.Path(args.output) / "report" / "benchmark.json").read_text())
    metrics = {f"{fam}/{variant}/{method}/{name}": row.get(name)
               for fam, entry in summary["families"].items()
               for variant, v in entry["variants"].items()
               for method, row in v["methods"].items() for name in ("gap_t10", "auc_10")}
    if args.json:
        benchlib.write_json(args.json, {"machine": summary.get("machine", {}),
                                        "config": summary["config"], "metrics": metrics})
    return 0


if __name__ == "__main__":
    sys.exit(main())
