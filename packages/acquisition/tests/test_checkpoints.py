import json

import jax
import numpy as np
import pytest

import acbo_acquisition as aq
from acbo_core import errors


def test_policy_round_trip(h, tmp_path, small_state):
    params = aq.init_policy_params(jax.random.key(0), h.TINY)
    aq.save_policy(tmp_path / "p", params, h.TINY, metadata={"trained_on": "nothing"})
    loaded, cfg = aq.load_policy(tmp_path / "p")
    assert cfg == h.TINY
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(loaded),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    key = jax.random.key(1)
    assert aq.select_intervention(loaded, small_state, key=key, config=cfg) == \
        aq.select_intervention(params, small_state, key=key, config=h.TINY)


def test_wrong_checkpoints_are_refused(h, tmp_path):
    params = aq.init_policy_params(jax.random.key(0), h.TINY)
    aq.save_policy(tmp_path / "p", params, h.TINY)
    fresh = aq.init_bc(jax.random.key(0), policy_config=h.TINY)
    with pytest.raises(errors.CheckpointError, match="not 'acbo.acquisition.bc_state'"):
        aq.load_training_state(tmp_path / "p", fresh)
    with pytest.raises(errors.CheckpointError, match="no checkpoint"):
        aq.load_policy(tmp_path / "missing")
    cfg = aq.AcquisitionConfig(policy=h.TINY)
    aq.save_training_state(tmp_path / "s", fresh, config=cfg)
    with pytest.raises(errors.CheckpointError, match="another configuration"):
        aq.load_training_state(tmp_path / "s", fresh,
                               config=aq.AcquisitionConfig(policy=h.TINY, max_grpo_epochs=3))
    sidecar = tmp_path / "p" / "checkpoint.json"
    info = json.loads(sidecar.read_text())
    info["config"]["n_value_bins"] = 9
    sidecar.write_text(json.dumps(info))
    with pytest.raises(errors.CheckpointError, match="shape"):
        aq.load_policy(tmp_path / "p")
    with pytest.raises(errors.ShapeMismatchError):
        aq.save_policy(tmp_path / "q", params, aq.PolicyConfig())
