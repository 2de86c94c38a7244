"""Frozen configuration dataclasses of the acquisition policy and its training.

Every config validates its fields on construction and raises :class:`ConfigError` naming the
field. Configs are hashable, so the jitted steps take them as static arguments.
"""

from __future__ import annotations

import dataclasses
import math

from acbo_acquisition.errors import ConfigError
from acbo_core.config_checks import check_finite, check_int

__all__ = ["PolicyConfig", "ImitationConfig", "GRPOConfig", "AcquisitionConfig"]

MAX_WIDTH = 4096
"""Widest layer (or most value bins) a configuration may ask for."""
MAX_LAYERS = 64
"""Deepest network a configuration may ask for."""
MAX_BATCH = 4096
"""Largest batch (states, or interventions of a group) a configuration may ask for."""


def _positive_int(cfg: object, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{type(cfg).__name__}.{name} must be an int >= 1, got {value!r}")


def _non_negative(cfg: object, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{type(cfg).__name__}.{name} must be finite and >= 0, got {value!r}")


def _bools(cfg: object, *names: str) -> None:
    for name in names:
        if not isinstance(getattr(cfg, name), bool):
            raise ConfigError(f"{type(cfg).__name__}.{name} must be true or false, got "
                              f"{getattr(cfg, name)!r}")


def _positive(cfg: object, *names: str) -> None:
    _non_negative(cfg, *names)
    for name in names:
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"{type(cfg).__name__}.{name} must be > 0, got {getattr(cfg, name)}")


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """Shape of the :class:`~acbo_acquisition.AcquisitionPolicyNetwork`.

    Attributes:
      hidden_dim: width of the variable tokens.
      n_layers: transformer blocks over variable tokens.
      n_heads: attention heads; must divide ``hidden_dim``.
      widening_factor: hidden width of each block's MLP, as a multiple of ``hidden_dim``.
      n_value_bins: K, the number of equally spaced values (both ends included) the value
        distribution puts mass on within a variable's intervention range.
    """

    hidden_dim: int = 128
    n_layers: int = 4
    n_heads: int = 4
    widening_factor: int = 2
    n_value_bins: int = 21

    def __post_init__(self) -> None:
        check_int(self, "hidden_dim", 1, MAX_WIDTH)
        _positive_int(self, "n_heads")
        check_int(self, "n_layers", 1, MAX_LAYERS)
        check_int(self, "widening_factor", 1, 64)
        check_int(self, "n_value_bins", 2, MAX_WIDTH)
        if self.hidden_dim % self.n_heads:
            raise ConfigError(f"PolicyConfig.n_heads ({self.n_heads}) must divide hidden_dim "
                              f"({self.hidden_dim})")


@dataclasses.dataclass(frozen=True)
class ImitationConfig:
    """Behavioural cloning of the expert, and how it feeds GRPO.

    Attributes:
      imitation_weight: weight of the behavioural-cloning loss kept inside the GRPO objective
        for states that carry an expert action (0 turns it off).
      imitation_epochs: passes over the (state -> expert action) pairs before GRPO.
      use_behavioral_cloning: pre-train with behavioural cloning. ``False`` disables every use
        of expert actions (no pre-training and no imitation term during GRPO).
      grpo_warmstart: start GRPO from the cloned parameters (else from a fresh initialisation;
        GRPO's reference policy is always the policy it starts from).
      learning_rate: Adam step size of behavioural cloning.
      batch_size: (state, action) pairs per behavioural-cloning step.
      value_weight: weight of the value term ``-log p(value bin | variable)`` beside the variable
        term ``-log p(variable)``.
      max_grad_norm: global gradient-norm clip.
    """

    imitation_weight: float = 0.1
    imitation_epochs: int = 20
    use_behavioral_cloning: bool = True
    grpo_warmstart: bool = True
    learning_rate: float = 1e-3
    batch_size: int = 64
    value_weight: float = 1.0
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        check_finite(self)
        _non_negative(self, "imitation_weight", "value_weight")
        _positive(self, "learning_rate", "max_grad_norm")
        check_int(self, "batch_size", 1, MAX_BATCH)
        _bools(self, "use_behavioral_cloning", "grpo_warmstart")
        if isinstance(self.imitation_epochs, bool) or not isinstance(self.imitation_epochs, int) \
                or self.imitation_epochs < 0:
            raise ConfigError(f"ImitationConfig.imitation_epochs must be an int >= 0, got "
                              f"{self.imitation_epochs!r}")


@dataclasses.dataclass(frozen=True)
class GRPOConfig:
    """Group relative policy optimisation (DeepSeekMath) for one-step intervention choice.

    Attributes:
      group_size: G, interventions sampled from the old policy per state.
      learning_rate: Adam step size.
      clip_epsilon: the probability ratio is clipped to ``[1 - eps, 1 + eps]``.
      kl_coef: beta, weight of the k3 estimate of KL(policy || reference policy).
      entropy_coef: weight of the exact entropy bonus of the joint action distribution.
      batch_size: states per update.
      n_inner_updates: gradient steps per sampled group (mu; 1 = on-policy).
      max_grad_norm: global gradient-norm clip.
      improvement_weight: weight of the target improvement over the best value so far, divided
        by the target's observational standard deviation in the SCM.
      entropy_drop_weight: weight of the drop in posterior entropy (nats) caused by the new
        sample; needs a ``posterior_update`` function when > 0.
      value_coef: weight of the squared error of the state-value head against the group's mean
        reward (the value is a diagnostic; advantages never use it).
    """

    group_size: int = 64
    learning_rate: float = 3e-4
    clip_epsilon: float = 0.2
    kl_coef: float = 0.04
    entropy_coef: float = 0.01
    batch_size: int = 8
    n_inner_updates: int = 1
    max_grad_norm: float = 1.0
    improvement_weight: float = 1.0
    entropy_drop_weight: float = 0.0
    value_coef: float = 0.1

    def __post_init__(self) -> None:
        check_finite(self)
        _positive_int(self, "n_inner_updates")
        check_int(self, "batch_size", 1, MAX_BATCH)
        if isinstance(self.group_size, bool) or not isinstance(self.group_size, int) \
                or self.group_size < 2:
            raise ConfigError(f"GRPOConfig.group_size must be an int >= 2 (advantages are "
                              f"relative to the group), got {self.group_size!r}")
        check_int(self, "group_size", 2, MAX_BATCH)
        _positive(self, "learning_rate", "clip_epsilon", "max_grad_norm")
        _non_negative(self, "kl_coef", "entropy_coef", "improvement_weight",
                      "entropy_drop_weight", "value_coef")
        if self.clip_epsilon >= 1:
            raise ConfigError(f"GRPOConfig.clip_epsilon must be in (0, 1), got "
                              f"{self.clip_epsilon}")
        if self.improvement_weight == 0 and self.entropy_drop_weight == 0:
            raise ConfigError("GRPOConfig: improvement_weight and entropy_drop_weight are both 0, "
                              "so every reward would be 0")


@dataclasses.dataclass(frozen=True)
class AcquisitionConfig:
    """The policy and its training: behavioural cloning, then GRPO (orchestrated, with
    checkpoints, by ``acbo_training.train_acquisition_with_expert_warmstart``).

    Attributes:
      policy: the network.
      grpo: GRPO.
      imitation: behavioural cloning and warm start.
      max_grpo_epochs: GRPO passes over the training states (:meth:`grpo_updates`).
    """

    policy: PolicyConfig = PolicyConfig()
    grpo: GRPOConfig = GRPOConfig()
    imitation: ImitationConfig = ImitationConfig()
    max_grpo_epochs: int = 50

    def __post_init__(self) -> None:
        for name, kind in (("policy", PolicyConfig), ("grpo", GRPOConfig),
                           ("imitation", ImitationConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(f"AcquisitionConfig.{name} must be a {kind.__name__}")
        if isinstance(self.max_grpo_epochs, bool) or not isinstance(self.max_grpo_epochs, int) \
                or self.max_grpo_epochs < 0:
            raise ConfigError(f"AcquisitionConfig.max_grpo_epochs must be an int >= 0, got "
                              f"{self.max_grpo_epochs!r}")

    def grpo_updates(self, n_problems: int) -> int:
        """GRPO updates for ``n_problems`` training states: ``max_grpo_epochs`` passes of
        ``ceil(n_problems / grpo.batch_size)`` updates."""
        return self.max_grpo_epochs * -(-int(n_problems) // self.grpo.batch_size)


# Module-level defaults for keyword arguments (configs are immutable, so sharing them is safe).
DEFAULT_POLICY = PolicyConfig()
DEFAULT_IMITATION = ImitationConfig()
DEFAULT_GRPO = GRPOConfig()
DEFAULT_ACQUISITION = AcquisitionConfig()
