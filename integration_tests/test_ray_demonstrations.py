"""Ray and the local process pool produce the same demonstrations, a failing task included."""

import os
import pathlib
import sys

import jax
import numpy as np
import pytest
import ray

from acbo_expert import ParentScaleConfig
from acbo_training.demonstrations import (
    SCMDistribution,
    generate_demonstrations,
    load_demonstrations,
)

HERE = pathlib.Path(__file__).parent
TINY = ParentScaleConfig(n_obs=40, n_int=1, T=2, grid_size=16, refine_size=4, gp_steps=2,
                         gp_ensemble=1)


@pytest.fixture()
def flaky(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), *sys.path]))
    monkeypatch.setenv("ACBO_TEST_MARKERS", str(tmp_path / "markers"))
    import _flaky

    return _flaky


def _same(a, b):
    assert len(a) == len(b)
    for (r1, s1), (r2, s2) in zip(a, b, strict=True):
        assert s1 == s2
        assert r1.intervention_set == r2.intervention_set
        assert r1.intervention_values == r2.intervention_values
        assert r1.current_y == r2.current_y
        np.testing.assert_array_equal(r1.D_O, r2.D_O)
        for p1, p2 in zip(r1.posterior_probabilities, r2.posterior_probabilities, strict=True):
            assert p1.parent_sets == p2.parent_sets
            np.testing.assert_array_equal(p1.probs, p2.probs)


def test_ray_equals_local_with_a_task_failing_once(flaky, tmp_path):
    dist = SCMDistribution(n_vars=(4, 5))
    kw = dict(key=jax.random.key(3), config=TINY, shard_size=2)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # a 2-worker local cluster
    try:
        on_ray = generate_demonstrations(dist, 5, executor="ray", output_dir=tmp_path / "ray",
                                         shard_fn=flaky.flaky_shard, retries=1, **kw)
    finally:
        ray.shutdown()
    assert (tmp_path / "markers" / "shard-1").exists()  # the injected failure happened
    assert on_ray.generated == 3
    local = generate_demonstrations(dist, 5, executor="local", output_dir=tmp_path / "local",
                                    max_workers=2, **kw)
    assert local.generated == 3
    _same(load_demonstrations(tmp_path / "ray"), load_demonstrations(tmp_path / "local"))
