"""Shared by the bench smoke tests (test_benches*.py): the tiny saved system bench_system needs,
and running one `tools/bench_*.py --smoke` as a user would (a fresh interpreter, from another
directory). Under --import-mode=importlib test files cannot import each other; fixtures here are
visible to all of them."""

from __future__ import annotations

import json
import math
import pathlib
import subprocess
import sys
from collections.abc import Callable

import jax
import pytest

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"
# Arguments beyond --smoke and --json that a script needs ("{system}": a saved system).
EXTRA = {"bench_system.py": ["--system", "{system}", "--output", "bench-out"]}


@pytest.fixture(scope="session")
def bench_system_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A tiny untrained system saved as `acbo-train` saves one (the bench needs its mechanics,
    not its quality)."""
    import acbo_acquisition as aq
    import acbo_core as ac
    import acbo_surrogate as sur
    from acbo import TrainedACBOSystem, save_system
    from acbo_expert import ParentScaleConfig

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


@pytest.fixture
def smoke_bench(tmp_path: pathlib.Path, request: pytest.FixtureRequest
                ) -> Callable[[str], dict]:
    """Runs ``tools/<script> --smoke`` and checks its JSON: a crash or a malformed result fails.
    Its numbers are not checked (at smoke sizes they measure nothing)."""

    def run(script: str) -> dict:
        out = tmp_path / "result.json"
        extra = EXTRA.get(script, [])
        if extra:
            system = request.getfixturevalue("bench_system_dir")
            extra = [a.format(system=system) for a in extra]
        done = subprocess.run([sys.executable, str(TOOLS / script), "--smoke", "--json",
                               str(out), *extra], cwd=tmp_path, capture_output=True, text=True)
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
        return doc

    return run
