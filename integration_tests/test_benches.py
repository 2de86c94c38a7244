"""Every `tools/bench_*.py` runs end to end at its smallest size (`--smoke`), as a user would run
it: a benchmark that crashes is caught here rather than by the next person who needs its
numbers. The two slowest run from test_benches_slow.py, so that the two test workers share
them; every other script found by the glob runs here (a new bench is covered by default). The
runner and the tiny system are fixtures of conftest.py."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"
SCRIPTS = sorted(p.name for p in TOOLS.glob("bench_*.py"))
SLOW = {"bench_training.py", "bench_surrogate.py"}  # run by test_benches_slow.py


def test_the_scripts_are_found():
    # The glob must see the benches (a moved tools/ would silently test nothing).
    assert {"bench_core.py", "bench_kernels.py", "bench_system.py"} <= set(SCRIPTS)
    assert SLOW <= set(SCRIPTS)


@pytest.mark.parametrize("script", sorted(set(SCRIPTS) - SLOW))
def test_bench_runs_at_its_smallest_size(script, smoke_bench):
    smoke_bench(script)


def test_a_bench_refuses_two_sizes_at_once(tmp_path):
    done = subprocess.run([sys.executable, str(TOOLS / "bench_core.py"), "--smoke", "--quick"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2 and "not allowed with argument" in done.stderr
