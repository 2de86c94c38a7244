"""GRPO's training problems: states with the SCM each is simulated on, and exact evaluation.

Glossary of shape letters: P states, D padded variables, K value bins.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from acbo_acquisition.config import DEFAULT_POLICY, PolicyConfig
from acbo_acquisition.distribution import action_probs, bin_values
from acbo_acquisition.features import PolicyInputs, encode_state, stack_inputs
from acbo_acquisition.network import make_policy
from acbo_acquisition.policy import action_for_intervention, check_params
from acbo_acquisition.simulator import (
    SimulatorTables,
    expected_target,
    simulator_tables,
    stack_tables,
)
from acbo_core import AcquisitionState
from acbo_core.errors import ShapeMismatchError

__all__ = ["GRPOProblems", "make_grpo_problems", "expected_rewards"]


class GRPOProblems(NamedTuple):
    """Training states with their simulators (leading axis P).

    Attributes:
      inputs: policy inputs ``[P, D, ...]``.
      tables: simulator tables ``[P, ...]``.
      expert_variable: ``[P]`` int32 expert's variable (0 where there is none).
      expert_bin: ``[P]`` int32 expert's value bin (0 where there is none).
      has_expert: ``[P]`` bool, the state carries an expert action.
    """

    inputs: PolicyInputs
    tables: SimulatorTables
    expert_variable: np.ndarray | jax.Array
    expert_bin: np.ndarray | jax.Array
    has_expert: np.ndarray | jax.Array


def make_grpo_problems(
    states: Sequence[AcquisitionState],
    scms: Sequence[Mapping[str, Any]],
    *,
    n_bins: int,
    expert_actions: Sequence[Mapping[str, Any] | None] | None = None,
    n_vars: int | None = None,
) -> GRPOProblems:
    """Encodes training states with the SCM each one is simulated on.

    Args:
      states: decision contexts.
      scms: the linear SCM behind each state (same variables and target).
      n_bins: K of the policy.
      expert_actions: optional expert intervention per state (``None`` entries allowed), for
        the imitation term.
      n_vars: padded number of variables (default: the largest state).

    Raises:
      ShapeMismatchError: no states, or lists of different lengths.
      UnsupportedMechanismError, UnknownVariableError, InvalidStateError,
        InvalidInterventionError: an SCM that does not fit its state, or a bad action.
    """
    if not states:
        raise ShapeMismatchError("GRPO needs at least one training state")
    if len(scms) != len(states):
        raise ShapeMismatchError(f"{len(states)} states but {len(scms)} SCMs")
    actions = [None] * len(states) if expert_actions is None else list(expert_actions)
    if len(actions) != len(states):
        raise ShapeMismatchError(f"{len(states)} states but {len(actions)} expert actions")
    pairs = [(0, 0) if a is None else action_for_intervention(s, a, n_bins)
             for s, a in zip(states, actions, strict=True)]
    inputs = stack_inputs([encode_state(s) for s in states], n_vars)
    width = inputs.features.shape[1]
    tables = stack_tables([simulator_tables(m, s) for m, s in zip(scms, states, strict=True)],
                          width)
    return GRPOProblems(inputs, tables, np.asarray([p[0] for p in pairs], np.int32),
                        np.asarray([p[1] for p in pairs], np.int32),
                        np.asarray([a is not None for a in actions]))


@functools.partial(jax.jit, static_argnames=("policy_config",))
def _expected(params: hk.Params, problems: GRPOProblems, *, policy_config: PolicyConfig
              ) -> dict[str, jax.Array]:
    k = policy_config.n_value_bins

    def one(inputs: PolicyInputs, tables: SimulatorTables) -> dict[str, jax.Array]:
        out = make_policy(policy_config).apply(params, inputs)
        grid = bin_values(inputs.lo, inputs.hi, k)  # [D, K]
        reward = tables.sign * (tables.best - expected_target(tables, grid)) / tables.scale
        allowed = jnp.broadcast_to(inputs.intervenable[:, None], reward.shape)
        variable = jnp.argmax(out.variable_logits)
        greedy = reward[variable, jnp.argmax(out.value_logits[variable])]
        n_allowed = inputs.intervenable.sum()
        return {
            "policy": (action_probs(out) * reward).sum(),
            "greedy": greedy,
            "oracle": jnp.where(allowed, reward, -jnp.inf).max(),
            "random": jnp.where(allowed, reward, 0.0).sum() / (n_allowed * k),
        }

    return jax.vmap(one)(problems.inputs, problems.tables)


def expected_rewards(params: hk.Params, problems: GRPOProblems, *,
                     policy_config: PolicyConfig = DEFAULT_POLICY) -> dict[str, np.ndarray]:
    """Exact expected improvement reward per state (no sampling noise), for evaluation.

    Returns:
      ``[P]`` arrays: ``policy`` (actions sampled from the policy), ``greedy`` (its most probable
      action), ``oracle`` (the best action on the value grid), ``random`` (uniform variable and
      bin).
    """
    check_params(params, policy_config)
    problems = jax.tree_util.tree_map(jnp.asarray, problems)
    out = _expected(params, problems, policy_config=policy_config)
    return {k: np.asarray(v) for k, v in out.items()}
