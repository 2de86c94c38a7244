import dataclasses

import pytest

import acbo_acquisition as aq
from acbo_core.errors import ACBOError


def test_defaults_follow_the_plan():
    imitation = aq.ImitationConfig()
    assert (imitation.imitation_weight, imitation.imitation_epochs,
            imitation.use_behavioral_cloning, imitation.grpo_warmstart) == (0.1, 20, True, True)
    grpo = aq.GRPOConfig()
    assert (grpo.group_size, grpo.learning_rate, grpo.clip_epsilon) == (64, 3e-4, 0.2)
    cfg = aq.AcquisitionConfig()
    assert (cfg.policy.hidden_dim, cfg.policy.n_layers, cfg.max_grpo_epochs) == (128, 4, 50)
    # an epoch is ceil(P / batch_size) updates
    small = aq.AcquisitionConfig(grpo=aq.GRPOConfig(batch_size=8), max_grpo_epochs=2)
    assert [small.grpo_updates(p) for p in (1, 8, 9, 24)] == [2, 2, 4, 6]
    hash(cfg)  # static argument of the jitted steps


@pytest.mark.parametrize("make, field", [
    (lambda: aq.PolicyConfig(hidden_dim=0), "hidden_dim"),
    (lambda: aq.PolicyConfig(hidden_dim=30, n_heads=4), "n_heads"),
    (lambda: aq.PolicyConfig(n_value_bins=1), "n_value_bins"),
    (lambda: aq.ImitationConfig(learning_rate=-1.0), "learning_rate"),
    (lambda: aq.ImitationConfig(imitation_epochs=-1), "imitation_epochs"),
    (lambda: aq.ImitationConfig(imitation_weight=float("nan")), "imitation_weight"),
    (lambda: aq.GRPOConfig(group_size=1), "group_size"),
    (lambda: aq.GRPOConfig(clip_epsilon=1.5), "clip_epsilon"),
    (lambda: aq.GRPOConfig(kl_coef=-0.1), "kl_coef"),
    (lambda: aq.GRPOConfig(improvement_weight=0.0), "improvement_weight"),
    (lambda: aq.AcquisitionConfig(grpo=aq.PolicyConfig()), "grpo"),
    (lambda: aq.AcquisitionConfig(max_grpo_epochs=-2), "max_grpo_epochs"),
])
def test_bad_fields_raise_a_typed_error_naming_the_field(make, field):
    with pytest.raises(aq.ConfigError, match=field) as info:
        make()
    assert isinstance(info.value, ACBOError) and isinstance(info.value, ValueError)


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        aq.GRPOConfig().group_size = 3  # type: ignore[misc]
