"""Every `tools/bench_*.py` runs end to end at its smallest size (`--smoke`), as a user would run
it (a fresh interpreter, from another directory), and writes a well-formed result: a benchmark
that crashes is caught here rather than by the next person who needs its numbers. Its numbers
are not checked (at smoke sizes they measure nothing)."""

from __future__ import annotations

import json
import math
import pathlib
import subprocess
import sys

import jax
import pytest

import acbo_acquisition as aq
import acbo_core as ac
import acbo_surrogate as sur
from acbo import TrainedACBOSystem, save_system
from acbo_expert import ParentScaleConfig

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"
SCRIPTS = sorted(p.name for p in TOOLS.glob("bench_*.py"))
# Arguments beyond --smoke and --json that a script needs ("{system}": a saved system).
EXTRA = {"bench_system.py": ["--system", "{system}", "--output", "bench-out"]}


@pytest.fixture(scope="module")
def system_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A tiny untrained system saved as `acbo-train` saves one (the bench needs its mechanics,
    not its quality)."""
    s_cfg = sur.SurrogateConfig(model=sur.ModelConfig(var_dim=16, var_layers=1, var_heads=2,
                                                      pair_dim=8, moment_channels=4))
    p_cfg = aq.PolicyConfig(hidden_dim=16, n_layers=1, n_heads=2)
    system = TrainedACBOSystem(
        s_cfg, sur.init_params(jax.random.key(0), s_cfg), p_cfg,
        aq.init_policy_params(jax.random.key(1), p_cfg),
        run_config=ParentScaleConfig(n_obs=60, n_int=1, T=3, grid_size=64, refine_size=16),
        training_scms=(ac.erdos_renyi_scm(5, key=jax.random.key(9)),))
    return save_system(system, tmp_path_factory.mktemp("bench") / "system")


def _numbers(value: object) -> list[float]:
    """Every number in a metric (metrics may nest dicts and lists)."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in _numbers(v)]
    return [float(value)] if isinstance(value, int | float) else []


def test_the_scripts_are_found():
    # The glob must see the benches (a moved tools/ would silently test nothing).
    assert {"bench_core.py", "bench_kernels.py", "bench_system.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_runs_at_its_smallest_size(script, tmp_path, system_dir):
    out = tmp_path / "result.json"
    extra = [a.format(system=system_dir) for a in EXTRA.get(script, [])]
    done = subprocess.run([sys.executable, str(TOOLS / script), "--smoke", "--json", str(out),
                           *extra], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, f"{script} --smoke failed:\n{done.stderr[-4000:]}"
    doc = json.loads(out.read_text())
    assert doc["kind"] == "acbo.benchmark"
    assert doc["machine"] and doc["config"] and doc["metrics"]
    # A metric is a number (null where a ratio is undefined, e.g. F1 = 0 of an untrained
    # model), never a string or an error message; most of them are numbers.
    values = [x for v in doc["metrics"].values() for x in _numbers(v)]
    assert all(v is None or isinstance(v, int | float | dict | list | bool)
               for v in doc["metrics"].values())
    assert sum(math.isfinite(x) for x in values) >= len(doc["metrics"]) // 2


def test_a_bench_refuses_two_sizes_at_once(tmp_path):
    done = subprocess.run([sys.executable, str(TOOLS / "bench_core.py"), "--smoke", "--quick"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2 and "not allowed with argument" in done.stderr
