"""Checkpoints round-trip and refuse other format versions."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

import acbo_core as ac
import acbo_surrogate as sur
from acbo_core.configs import from_dict, to_dict
from acbo_core.errors import CheckpointError


def test_roundtrip_gives_identical_predictions(tmp_path, tiny_config, tiny_params,
                                               small_problem):
    scm, buffer = small_problem
    path = sur.save_surrogate(tmp_path / "ckpt", tiny_params, tiny_config,
                              metadata={"steps": 3})
    params, config, meta = sur.load_surrogate(path)
    assert config == tiny_config and meta == {"steps": 3}
    a = sur.predict_posterior(tiny_params, buffer, scm["target"], config=tiny_config.model,
                              prune_threshold=0.0)
    b = sur.predict_posterior(params, buffer, scm["target"], config=config.model,
                              prune_threshold=0.0)
    assert a.parent_sets == b.parent_sets
    np.testing.assert_array_equal(a.probs, b.probs)


def test_other_format_version_is_refused(tmp_path, tiny_config, tiny_params):
    path = tmp_path / "old"
    ac.save_checkpoint(path, jax.device_get(tiny_params), kind=sur.CHECKPOINT_KIND,
                       format_version=sur.FORMAT_VERSION + 1, config=to_dict(tiny_config))
    with pytest.raises(CheckpointError, match="format version"):
        sur.load_surrogate(path)


def test_wrong_kind_or_mismatched_params_are_refused(tmp_path, tiny_config, tiny_params):
    ac.save_checkpoint(tmp_path / "other", {"w": np.zeros(2)}, kind="acbo.policy",
                       format_version=sur.FORMAT_VERSION)
    with pytest.raises(CheckpointError):
        sur.load_surrogate(tmp_path / "other")
    other_cfg = sur.SurrogateConfig(sur.ModelConfig(k_max=2, cell_dim=8, cell_layers=1,
                                                    cell_heads=2, var_dim=32, var_heads=2))
    sur.save_surrogate(tmp_path / "mismatch", tiny_params, other_cfg)
    with pytest.raises(CheckpointError):
        sur.load_surrogate(tmp_path / "mismatch")


def test_config_json_roundtrip():
    cfg = sur.SurrogateConfig(sur.ModelConfig(ridges=(0.1, 1.0, 2.0)), sur.TrainConfig(
        learning_rate=3e-4))
    assert from_dict(sur.SurrogateConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg
