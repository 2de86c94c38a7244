"""acbo-train's configuration: the embedded default, files, overrides, errors that name keys."""

from __future__ import annotations

import jax
import pytest

from acbo import ACBOConfig, EvaluationConfig, default_config_text, load_config
from acbo_core.errors import ConfigError


def test_embedded_default_loads_and_differs_from_the_class_defaults():
    cfg = load_config()
    assert isinstance(cfg, ACBOConfig)
    assert "[evaluation]" in default_config_text()
    assert cfg.training.n_expert_trajectories != ACBOConfig().training.n_expert_trajectories
    assert cfg.pipeline().expert == cfg.expert


def test_file_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[expert]\nT = 7\n[evaluation]\nseeds = [3]\n")
    cfg = load_config(path, ["evaluation.n_test_scms=2", "online.group_size=8"])
    assert cfg.expert.T == 7 and cfg.evaluation.seeds == (3,)
    assert cfg.evaluation.n_test_scms == 2 and cfg.online.group_size == 8
    assert cfg.surrogate == ACBOConfig().surrogate  # tables left out keep the class defaults


@pytest.mark.parametrize("overrides, match", [
    (["evaluation.bogus=1"], "evaluation.bogus"),
    (["nope.x=1"], "nope"),
    (["evaluation.n_test_scms=0"], "n_test_scms"),
    (["evaluation.seeds=[]"], "seeds"),
    (["online.updates_per_step=0"], "updates_per_step"),
    (["expert.T=abc"], "T"),
    (["no_equals_sign"], "="),
])
def test_errors_name_the_problem(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, overrides)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[expert\nT = 1\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(bad)


def test_evaluation_config_checks():
    with pytest.raises(ConfigError):
        EvaluationConfig(transfer_factor=0)


def test_held_out_scms_from_a_distribution_too_small_to_hold_any_out_is_an_error():
    from acbo.job import test_scms as held_out_scms
    from acbo_training import graph_id

    cfg = load_config(None, ["demonstrations.distribution.n_vars=[2, 2]",
                             "evaluation.n_test_scms=2"])
    seen = {graph_id(cfg.demonstrations.distribution.sample(jax.random.key(i)))
            for i in range(64)}
    with pytest.raises(ConfigError, match="n_test_scms"):
        held_out_scms(cfg, seen)
    # With nothing excluded the same distribution gives what is asked, the same each time.
    first = held_out_scms(cfg, set())
    assert len(first) == 2
    assert [graph_id(s) for s in first] == [graph_id(s) for s in held_out_scms(cfg, set())]
