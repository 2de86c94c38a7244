"""Every configuration value is checked when the configuration is built or loaded: NaN and
infinities in every number of every config dataclass, ranges, names from known sets, absurd
sizes refused with their limit, and unreadable config files; errors name the dotted key."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

import acbo_acquisition as aq
import acbo_surrogate as sur
from acbo_core.configs import apply_overrides, load_toml, to_dict
from acbo_core.errors import ACBOError
from acbo_core.errors import ConfigError as CoreConfigError
from acbo_expert import ParentScaleConfig
from acbo_training import config as cfg
from acbo_training.demonstrations import SCMDistribution
from acbo_training.errors import ConfigError
from acbo_training.pipelines import DemonstrationConfig, PipelineConfig, load_pipeline_config
from acbo_training.surrogate_pipeline import SurrogateTrainingConfig

CONFIG_CLASSES = [cfg.TrainingConfig, SCMDistribution, DemonstrationConfig, ParentScaleConfig,
                  SurrogateTrainingConfig, aq.PolicyConfig, aq.ImitationConfig, aq.GRPOConfig,
                  aq.AcquisitionConfig, sur.ModelConfig, sur.TrainConfig, sur.GeneratorConfig]


def _float_fields(cls):
    """``(field name, index in a tuple or None)`` of every number field typed float."""
    out = []
    for name, hint in typing.get_type_hints(cls).items():
        if hint is float:
            out.append((name, None))
        elif typing.get_origin(hint) is tuple and float in typing.get_args(hint):
            out.append((name, 0))
    return out


CASES = [(cls, name, index, bad) for cls in CONFIG_CLASSES
         for name, index in _float_fields(cls) for bad in (math.nan, math.inf, -math.inf)]


def test_the_training_layer_reexports_the_one_config_error():
    assert ConfigError is CoreConfigError


def test_every_float_field_of_every_config_is_covered():
    assert {cls for cls, *_ in CASES} >= {cfg.TrainingConfig, SCMDistribution,
                                          ParentScaleConfig, SurrogateTrainingConfig, aq.GRPOConfig,
                                          aq.ImitationConfig, sur.TrainConfig, sur.ModelConfig}


@pytest.mark.parametrize("cls, name, index, bad", CASES,
                         ids=[f"{c.__name__}.{n}-{b}" for c, n, _, b in CASES])
def test_non_finite_numbers_are_refused_when_built_in_python(cls, name, index, bad):
    default = getattr(cls(), name)
    value = bad if index is None else (bad, *default[1:])
    with pytest.raises(ACBOError, match=f"{cls.__name__}.{name}") as info:
        cls(**{name: value})
    assert isinstance(info.value, ValueError)
    assert "finite" in str(info.value)


def _leaves(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


FLOAT_KEYS = sorted(k for k, v in _leaves(to_dict(PipelineConfig()))
                    if isinstance(v, float) or (isinstance(v, list) and v
                                                and isinstance(v[0], float)))


@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_non_finite_numbers_are_refused_at_load_naming_the_key(key):
    default = dict(_leaves(to_dict(PipelineConfig())))[key]
    value = "nan" if isinstance(default, float) else f"[nan, {default[1]}]"
    with pytest.raises(ConfigError, match=rf"^{key}(\[0\])? must be a finite number"):
        load_pipeline_config(None, [f"{key}={value}"])
    with pytest.raises(ConfigError, match=rf"^{key}"):
        load_pipeline_config(None, [f"{key}={value.replace('nan', '-inf')}"])


@pytest.mark.parametrize("override, needles", [
    # sizes where 0 (or less) means nothing, and absurd sizes with their limit named
    ("demonstrations.shard_size=0", ["demonstrations.shard_size", ">= 1"]),
    ("demonstrations.n=-1", ["demonstrations.n ", ">= 0"]),
    ("demonstrations.max_workers=-1", ["demonstrations.max_workers"]),
    ("demonstrations.distribution.n_vars=[10000, 10000]",
     ["demonstrations.distribution.n_vars", "hi <= 200"]),
    ("demonstrations.distribution.n_vars=[6, 4]", ["demonstrations.distribution.n_vars"]),
    ("training.n_expert_trajectories=100000000", ["training.n_expert_trajectories", "100000"]),
    ("expert.n_obs=100000000", ["expert.n_obs", "1000000"]),
    ("expert.k_max=50", ["expert.k_max", "<= 10"]),
    ("expert.gp_ensemble=500", ["expert.gp_ensemble", "<= 192"]),
    ("expert.noiseless_mc_samples=1000000000", ["expert.noiseless_mc_samples"]),
    ("surrogate.model_hidden_dim=1000000", ["surrogate.model_hidden_dim", "4096"]),
    ("surrogate.k_max=50", ["surrogate.k_max", "<= 10"]),
    ("surrogate.pretrain_n_vars=[3, 5000]", ["surrogate.pretrain_n_vars", "hi <= 200"]),
    ("acquisition.policy.hidden_dim=1000000", ["acquisition.policy.hidden_dim", "4096"]),
    ("acquisition.grpo.group_size=1000000", ["acquisition.grpo.group_size", "4096"]),
    ("acquisition.imitation.batch_size=1000000", ["acquisition.imitation.batch_size"]),
    # seeds: a JAX key keeps 32 bits, so larger or negative seeds would alias others
    ("training.random_seed=-1", ["training.random_seed", "4294967295"]),
    ("training.random_seed=4294967296", ["training.random_seed", "4294967295"]),
    # rates, weights, scales, degrees, probabilities
    ("surrogate.learning_rate=0.0", ["surrogate.learning_rate", "> 0"]),
    ("surrogate.kl_weight=-1.0", ["surrogate.kl_weight", ">= 0"]),
    ("expert.sigma_y=-1.0", ["expert.sigma_y", "> 0"]),
    ("expert.dr_alpha=1.5", ["expert.dr_alpha", "< 1"]),
    ("demonstrations.distribution.noise_scale=[-1.0, 1.0]",
     ["demonstrations.distribution.noise_scale", "lo >= 0"]),
    ("demonstrations.distribution.weight_range=[2.0, 1.0]",
     ["demonstrations.distribution.weight_range", "lo <= hi"]),
    ("demonstrations.distribution.weight_range=[0.0, 1.0]",
     ["demonstrations.distribution.weight_range", "lo > 0"]),
    ("demonstrations.distribution.expected_degree=0.0",
     ["demonstrations.distribution.expected_degree", "> 0"]),
    ("demonstrations.distribution.expected_degree=-2.0",
     ["demonstrations.distribution.expected_degree", "> 0"]),
    # names from known sets
    ('demonstrations.distribution.mechanism="quadratic"',
     ["demonstrations.distribution.mechanism", "linear", "fourier"]),
    ('demonstrations.executor="spark"', ["demonstrations.executor", "local"]),
    ('demonstrations.distribution.graph="tree"', ["demonstrations.distribution.graph"]),
])
def test_out_of_range_values_are_refused_at_load_naming_the_key(override, needles):
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(None, [override])
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


@pytest.mark.parametrize("overrides, needles", [
    # every parent set of up to k_max of 149 candidates: 20 million, more than the limit
    (["demonstrations.distribution.n_vars=[150, 150]", "expert.k_max=4"],
     ["expert.k_max", "2000000"]),
    (["demonstrations.distribution.n_vars=[150, 150]", "surrogate.k_max=4"],
     ["surrogate.k_max", "2000000"]),
    # the expert's regressions need as many observational samples as features
    (['expert.features="rff"', "expert.n_obs=50"], ["expert.n_obs", "100"]),
    (["demonstrations.distribution.n_vars=[100, 120]", "expert.n_obs=50"], ["expert.n_obs"]),
    # one surrogate training batch of examples with a million rows each
    (["expert.n_obs=1000000"], ["surrogate.batch_size", "expert.n_obs", "limit"]),
    (["surrogate.pretrain_steps=10", "surrogate.pretrain_n_vars=[3, 200]",
      "surrogate.pretrain_batch_size=4096"], ["surrogate.pretrain_batch_size", "limit"]),
])
def test_sizes_across_tables_are_refused_at_load(overrides, needles):
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(None, overrides)
    for needle in needles:
        assert needle in str(info.value)


def test_direct_construction_names_the_class_and_field():
    with pytest.raises(ConfigError, match=r"^DemonstrationConfig\.shard_size"):
        DemonstrationConfig(shard_size=0)
    with pytest.raises(ConfigError, match=r"^SCMDistribution\.n_vars.*200"):
        SCMDistribution(n_vars=(10_000, 10_000))
    with pytest.raises(ConfigError, match=r"^SurrogateTrainingConfig\.learning_rate"):
        SurrogateTrainingConfig(learning_rate=-1.0)
    with pytest.raises(ConfigError, match=r"^SCMDistribution\.mechanism"):
        SCMDistribution(mechanism="quadratic")


def test_good_configurations_still_load():
    config = load_pipeline_config(None, ["demonstrations.distribution.n_vars=[20, 40]",
                                         'demonstrations.executor="inline"',
                                         "training.random_seed=4294967295",
                                         "demonstrations.distribution.noise_scale=[0.0, 0.0]"])
    assert config.demonstrations.distribution.n_vars == (20, 40)
    assert dataclasses.replace(config.expert, T=10_000).T == 10_000


# -- config files that cannot be read -------------------------------------------------------------


def test_a_directory_as_the_config_file(tmp_path):
    with pytest.raises(ConfigError, match=f"{tmp_path.name}.*is a directory"):
        load_toml(tmp_path)


def test_a_config_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("[expert]\n# r\xe9glage\nT = 3\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="latin1.toml.*not UTF-8"):
        load_toml(path)


def test_an_unreadable_config_file(tmp_path, monkeypatch):
    path = tmp_path / "secret.toml"
    path.write_text("[expert]\nT = 3\n")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(ConfigError, match="secret.toml.*Permission denied"):
        load_toml(path)


def test_deeply_nested_config_and_override(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="deep.toml"):
        load_toml(path)
    with pytest.raises(ConfigError, match="nested too deeply"):
        apply_overrides({}, ["x=" + "[" * 100_000 + "]" * 100_000])
