"""Shared plumbing of the tools/bench_*.py scripts: arguments, machine label, table, JSON.

Every benchmark takes ``--quick`` (a smoke run of at most about two minutes) and ``--json PATH``
(writes ``{"machine": ..., "config": ..., "metrics": {...}}``) and prints a readable table.
"""

from __future__ import annotations

import argparse
import pathlib
import time
from collections.abc import Callable, Mapping
from typing import Any

BENCH_KIND = "acbo.benchmark"


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smoke run (about two minutes)")
    parser.add_argument("--json", metavar="PATH", help="write machine, config and metrics here")
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
