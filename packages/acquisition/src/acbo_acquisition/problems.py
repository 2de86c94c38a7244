"""GRPO's training problems: states with the SCM each is simulated on, and their evaluation.

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
from acbo_acquisition.distribution import action_probs
from acbo_acquisition.features import PolicyInputs, encode_state, stack_inputs
from acbo_acquisition.network import make_policy
from acbo_acquisition.policy import action_for_intervention, check_params
from acbo_acquisition.simulator import (
    DEFAULT_MC_SAMPLES,
    SimulatorTables,
    simulator_tables,
    stack_tables,
)
from acbo_core import AcquisitionState
from acbo_core.errors import ShapeMismatchError

__all__ = ["GRPOProblems", "make_grpo_problems", "expected_rewards", "check_problems"]


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
    key: jax.Array | None = None,
    n_samples: int = DEFAULT_MC_SAMPLES,
) -> GRPOProblems:
    """Encodes training states with the SCM each one is simulated on.

    Args:
      states: decision contexts.
      scms: the SCM behind each state (same variables and target), linear or not.
      n_bins: K of the policy.
      expert_actions: optional expert intervention per state (``None`` entries allowed), for
        the imitation term.
      n_vars: padded number of variables (default: the largest state).
      key: PRNG key of the Monte-Carlo tables of nonlinear SCMs; needed when there is one,
        unused for linear SCMs (exact). The same key gives the same problems.
      n_samples: Monte-Carlo samples per action of a nonlinear SCM. Each distinct (SCM,
        variable order, ranges) costs ``d * n_bins + 1`` interventions of ``n_samples`` draws
        once (:func:`~acbo_acquisition.simulator_tables`); states that share them, e.g. the
        steps of one trajectory, share the tables (computed with ``fold_in(key, i)``, ``i``
        the first such state).

    Raises:
      ShapeMismatchError: no states, or lists of different lengths.
      UnsupportedMechanismError: a nonlinear SCM and no ``key``.
      UnknownVariableError, InvalidStateError, InvalidInterventionError: an SCM that does not
        fit its state, or a bad action.
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
    # The grid depends only on the SCM, the variable order and the ranges: states that share
    # them (the steps of one trajectory) share one computation, keyed by the first of them.
    shared: dict[Any, SimulatorTables] = {}
    tables = []
    for i, (m, s) in enumerate(zip(scms, states, strict=True)):
        group: Any = (m, s.buffer.variables, s.intervention_ranges)
        try:
            hash(group)
        except TypeError:  # an SCM given as a plain dict: share by identity only
            group = (id(m), s.buffer.variables, s.intervention_ranges)
        if group not in shared:
            shared[group] = simulator_tables(
                m, s, n_bins=n_bins, n_samples=n_samples,
                key=None if key is None else jax.random.fold_in(key, i))
        tables.append(shared[group]._replace(
            best=np.asarray(s.best_value, np.float32),
            sign=np.asarray(1.0 if s.minimize else -1.0, np.float32)))
    return GRPOProblems(inputs, stack_tables(tables, width),
                        np.asarray([p[0] for p in pairs], np.int32),
                        np.asarray([p[1] for p in pairs], np.int32),
                        np.asarray([a is not None for a in actions]))


def check_problems(problems: GRPOProblems, policy_config: PolicyConfig) -> None:
    """Checks that ``problems`` were made for a policy with ``policy_config``'s bins.

    Raises:
      ShapeMismatchError: tables of another number of value bins than ``n_value_bins``.
    """
    k = np.shape(problems.tables.grid_mean)[-1]
    if k != policy_config.n_value_bins:
        raise ShapeMismatchError(
            f"the problems' tables have {k} value bins but the policy has n_value_bins="
            f"{policy_config.n_value_bins}; make them with n_bins=policy_config.n_value_bins")


@functools.partial(jax.jit, static_argnames=("policy_config",))
def _expected(params: hk.Params, problems: GRPOProblems, *, policy_config: PolicyConfig
              ) -> dict[str, jax.Array]:
    k = policy_config.n_value_bins

    def one(inputs: PolicyInputs, tables: SimulatorTables) -> dict[str, jax.Array]:
        out = make_policy(policy_config).apply(params, inputs)
        reward = tables.sign * (tables.best - tables.grid_mean) / tables.scale  # [D, K]
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
    """Expected improvement reward per state, for evaluation: exact for linear SCMs, with the
    tables' Monte-Carlo error for nonlinear ones (no rollout noise either way).

    Returns:
      ``[P]`` arrays: ``policy`` (actions sampled from the policy), ``greedy`` (its most probable
      action), ``oracle`` (the best action on the value grid), ``random`` (uniform variable and
      bin).

    Raises:
      ShapeMismatchError: ``params`` or ``problems`` that do not fit ``policy_config``.
    """
    check_params(params, policy_config)
    check_problems(problems, policy_config)
    problems = jax.tree_util.tree_map(jnp.asarray, problems)
    out = _expected(params, problems, policy_config=policy_config)
    return {k: np.asarray(v) for k, v in out.items()}
