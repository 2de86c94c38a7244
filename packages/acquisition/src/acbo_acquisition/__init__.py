"""acbo-acquisition: the acquisition policy of ACBO and its training.

An :class:`AcquisitionPolicyNetwork` (haiku) reads an :class:`acbo_core.AcquisitionState` as one
feature token per variable (:func:`encode_state`), runs a permutation-equivariant transformer
over them and outputs a categorical over the intervenable variables, a categorical over K
equally spaced values in each variable's range, and a state value. :func:`select_intervention`
turns that into a perfect intervention. Training: behavioural cloning of the expert's
(state -> action) pairs (:func:`train_bc`), then GRPO on simulated SCMs, linear
or not (:func:`train_grpo`), warm-started from the cloned policy (``init_grpo(params=...)``)
or cold-started; acbo-training orchestrates both with checkpoints and validation. Steps are
pure and jit-compiled; states are resumable through acbo-core checkpoints
(:func:`save_training_state`).

    import acbo_acquisition as aq
    params = aq.init_policy_params(jax.random.key(0), aq.PolicyConfig())
    intervention = aq.select_intervention(params, state, key=jax.random.key(1),
                                          exploration_rate=0.1)
"""

from acbo_acquisition.checkpoints import (
    FORMAT_VERSION,
    POLICY_KIND,
    load_policy,
    load_training_state,
    save_policy,
    save_training_state,
)
from acbo_acquisition.config import AcquisitionConfig, GRPOConfig, ImitationConfig, PolicyConfig
from acbo_acquisition.distribution import (
    action_probs,
    bin_values,
    entropy,
    log_prob,
    mode_action,
    sample_actions,
)
from acbo_acquisition.errors import ConfigError
from acbo_acquisition.features import (
    N_FEATURES,
    Feature,
    PolicyInputs,
    check_state,
    encode_state,
    stack_inputs,
)
from acbo_acquisition.grpo import (
    GRPOState,
    PosteriorUpdate,
    Rollout,
    group_advantages,
    grpo_loss_terms,
    grpo_rollout,
    grpo_step,
    grpo_update,
    init_grpo,
    train_grpo,
)
from acbo_acquisition.imitation import (
    BCData,
    BCState,
    bc_step,
    evaluate_bc,
    imitation_nll,
    init_bc,
    make_bc_data,
    train_bc,
)
from acbo_acquisition.network import NEG_INF, AcquisitionPolicyNetwork, PolicyOutputs, make_policy
from acbo_acquisition.policy import (
    action_for_intervention,
    apply_policy,
    check_params,
    init_policy_params,
    intervention_for_action,
    ranked_actions,
    select_intervention,
)
from acbo_acquisition.problems import (
    GRPOProblems,
    check_problems,
    expected_rewards,
    make_grpo_problems,
)
from acbo_acquisition.simulator import (
    DEFAULT_MC_SAMPLES,
    SimulatorTables,
    simulate_rows,
    simulator_tables,
    stack_tables,
    value_grid,
)

__version__ = "0.1.0"

__all__ = [
    # configuration and errors
    "PolicyConfig", "ImitationConfig", "GRPOConfig", "AcquisitionConfig", "ConfigError",
    # state encoding and the network
    "Feature", "N_FEATURES", "PolicyInputs", "encode_state", "stack_inputs", "check_state",
    "AcquisitionPolicyNetwork", "PolicyOutputs", "make_policy", "NEG_INF",
    # the action distribution
    "log_prob", "entropy", "action_probs", "sample_actions", "mode_action", "bin_values",
    # using a policy
    "init_policy_params", "apply_policy", "check_params", "select_intervention",
    "ranked_actions",
    "action_for_intervention", "intervention_for_action",
    # behavioural cloning
    "BCData", "BCState", "make_bc_data", "init_bc", "bc_step", "train_bc", "evaluate_bc",
    "imitation_nll",
    # simulator and GRPO
    "SimulatorTables", "simulator_tables", "stack_tables", "simulate_rows", "value_grid",
    "DEFAULT_MC_SAMPLES",
    "GRPOProblems", "GRPOState", "Rollout", "PosteriorUpdate", "make_grpo_problems",
    "init_grpo", "grpo_rollout", "grpo_update", "grpo_step", "group_advantages",
    "grpo_loss_terms", "train_grpo", "expected_rewards", "check_problems",
    # checkpoints
    "save_policy", "load_policy", "save_training_state", "load_training_state", "POLICY_KIND",
    "FORMAT_VERSION",
]
