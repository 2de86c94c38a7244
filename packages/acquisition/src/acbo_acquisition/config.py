"""Frozen configuration dataclasses of the acquisition policy and its training.

Every config validates its fields on construction and raises :class:`ConfigError` naming the
field. Configs are hashable, so the jitted steps take them as static arguments.
"""

from __future__ import annotations

from acbo_acquisition.errors import ConfigError
from acbo_core.configs import configclass, flag, integer, number, section

__all__ = ["PolicyConfig", "ImitationConfig", "GRPOConfig", "AcquisitionConfig"]

MAX_WIDTH = 4096
"""Widest layer (or most value bins) a configuration may ask for."""
MAX_LAYERS = 64
"""Deepest network a configuration may ask for."""
MAX_BATCH = 4096
"""Largest batch (states, or interventions of a group) a configuration may ask for."""


@configclass
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

    hidden_dim: int = integer(128, 1, MAX_WIDTH)
    n_layers: int = integer(4, 1, MAX_LAYERS)
    n_heads: int = integer(4, 1)
    widening_factor: int = integer(2, 1, 64)
    n_value_bins: int = integer(21, 2, MAX_WIDTH)

    def _check(self) -> None:
        if self.hidden_dim % self.n_heads:
            raise ConfigError(f"PolicyConfig.n_heads ({self.n_heads}) must divide hidden_dim "
                              f"({self.hidden_dim})")


@configclass
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

    imitation_weight: float = number(0.1, 0.0)
    imitation_epochs: int = integer(20, 0)
    use_behavioral_cloning: bool = flag(True)
    grpo_warmstart: bool = flag(True)
    learning_rate: float = number(1e-3, 0.0, low_open=True)
    batch_size: int = integer(64, 1, MAX_BATCH)
    value_weight: float = number(1.0, 0.0)
    max_grad_norm: float = number(1.0, 0.0, low_open=True)


@configclass
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

    group_size: int = integer(64, 2, MAX_BATCH, why="advantages are relative to the group")
    learning_rate: float = number(3e-4, 0.0, low_open=True)
    clip_epsilon: float = number(0.2, 0.0, 1.0, low_open=True, high_open=True)
    kl_coef: float = number(0.04, 0.0)
    entropy_coef: float = number(0.01, 0.0)
    batch_size: int = integer(8, 1, MAX_BATCH)
    n_inner_updates: int = integer(1, 1)
    max_grad_norm: float = number(1.0, 0.0, low_open=True)
    improvement_weight: float = number(1.0, 0.0)
    entropy_drop_weight: float = number(0.0, 0.0)
    value_coef: float = number(0.1, 0.0)

    def _check(self) -> None:
        if self.improvement_weight == 0 and self.entropy_drop_weight == 0:
            raise ConfigError("GRPOConfig: improvement_weight and entropy_drop_weight are both 0, "
                              "so every reward would be 0")


@configclass
class AcquisitionConfig:
    """The policy and its training: behavioural cloning, then GRPO (orchestrated, with
    checkpoints, by ``acbo_training.train_acquisition_with_expert_warmstart``).

    Attributes:
      policy: the network.
      grpo: GRPO.
      imitation: behavioural cloning and warm start.
      max_grpo_epochs: GRPO passes over the training states (:meth:`grpo_updates`).
    """

    policy: PolicyConfig = section(PolicyConfig())
    grpo: GRPOConfig = section(GRPOConfig())
    imitation: ImitationConfig = section(ImitationConfig())
    max_grpo_epochs: int = integer(50, 0)

    def grpo_updates(self, n_problems: int) -> int:
        """GRPO updates for ``n_problems`` training states: ``max_grpo_epochs`` passes of
        ``ceil(n_problems / grpo.batch_size)`` updates."""
        return self.max_grpo_epochs * -(-int(n_problems) // self.grpo.batch_size)


# Module-level defaults for keyword arguments (configs are immutable, so sharing them is safe).
DEFAULT_POLICY = PolicyConfig()
DEFAULT_IMITATION = ImitationConfig()
DEFAULT_GRPO = GRPOConfig()
DEFAULT_ACQUISITION = AcquisitionConfig()
