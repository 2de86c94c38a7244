"""Using a policy: initialise parameters, run it on states, choose an intervention."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pyrsistent as pyr

from acbo_acquisition.config import (
    DEFAULT_POLICY,
    PolicyConfig,
)
from acbo_acquisition.distribution import action_probs, mode_action, sample_actions
from acbo_acquisition.errors import ConfigError
from acbo_acquisition.features import (
    N_FEATURES,
    PolicyInputs,
    check_state,
    encode_state,
    stack_inputs,
)
from acbo_acquisition.network import PolicyOutputs, make_policy
from acbo_core import AcquisitionState, create_perfect_intervention
from acbo_core.errors import InvalidInterventionError, ShapeMismatchError

__all__ = ["init_policy_params", "apply_policy", "select_intervention", "ranked_actions",
           "action_for_intervention", "intervention_for_action", "check_params"]

_VALUE_TOLERANCE = 1e-6  # relative to the range width


def _dummy_inputs(d: int = 2) -> PolicyInputs:
    return PolicyInputs(np.zeros((d, N_FEATURES), np.float32), np.ones(d, bool),
                        np.ones(d, bool), np.zeros(d, np.float32), np.ones(d, np.float32))


def init_policy_params(key: jax.Array, config: PolicyConfig = DEFAULT_POLICY) -> hk.Params:
    """Fresh network parameters (they do not depend on the number of variables)."""
    return make_policy(config).init(key, _dummy_inputs())


@functools.lru_cache(maxsize=16)
def _param_shapes(config: PolicyConfig) -> Any:
    shapes = jax.eval_shape(lambda: init_policy_params(jax.random.key(0), config))
    return jax.tree_util.tree_map(lambda a: tuple(a.shape), shapes)


def check_params(params: Any, config: PolicyConfig) -> None:
    """Checks that ``params`` were made for ``config``.

    Raises:
      ShapeMismatchError: another structure or a leaf of another shape (named).
    """
    expected = _param_shapes(config)
    try:
        got = jax.tree_util.tree_map(lambda a: tuple(np.shape(a)), params)
    except Exception as err:  # not a pytree of arrays
        raise ShapeMismatchError(f"params are not a pytree of arrays: {err}") from None
    got_def: Any = jax.tree_util.tree_structure(got)
    if got_def != jax.tree_util.tree_structure(expected):
        raise ShapeMismatchError(f"params do not have the structure of a policy made with {config}")
    for (path, shape), want in zip(jax.tree_util.tree_flatten_with_path(got)[0],
                                   jax.tree_util.tree_leaves(expected), strict=True):
        if shape != want:
            raise ShapeMismatchError(
                f"params leaf {jax.tree_util.keystr(path)} has shape {shape} but {config} needs "
                f"{want}; pass the PolicyConfig the parameters were trained with")


@functools.partial(jax.jit, static_argnames="config")
def apply_policy(params: hk.Params, inputs: PolicyInputs, *, config: PolicyConfig) -> PolicyOutputs:
    """The network on a batch of inputs (``stack_inputs``): outputs with a leading batch axis."""
    return jax.vmap(make_policy(config).apply, in_axes=(None, 0))(params, inputs)


@functools.partial(jax.jit, static_argnames=("config", "greedy"))
def _choose(params: hk.Params, inputs: PolicyInputs, key: jax.Array, avoid: jax.Array | None,
            *, config: PolicyConfig, greedy: bool) -> tuple[jax.Array, jax.Array]:
    out = make_policy(config).apply(params, inputs)
    if avoid is not None:  # the most probable joint action outside ``avoid`` ([D, K] bool)
        joint = jnp.log(action_probs(out))
        allowed = inputs.intervenable[:, None] & ~avoid
        joint = jnp.where(allowed.any(), jnp.where(allowed, joint, -jnp.inf), joint)
        if not greedy:
            flat = jax.random.categorical(key, joint.reshape(-1))
        else:
            flat = jnp.argmax(joint.reshape(-1))
        k = joint.shape[1]
        return (flat // k).astype(jnp.int32), (flat % k).astype(jnp.int32)
    if greedy:
        return mode_action(out)
    variables, bins = sample_actions(out, key, 1)
    return variables[0], bins[0]


@functools.partial(jax.jit, static_argnames="config")
def _ranking(params: hk.Params, inputs: PolicyInputs, *, config: PolicyConfig
             ) -> tuple[jax.Array, jax.Array]:
    out = make_policy(config).apply(params, inputs)
    return jax.nn.softmax(out.variable_logits), jnp.argmax(out.value_logits, axis=-1)


def ranked_actions(params: hk.Params, state: AcquisitionState, *, config: PolicyConfig,
                   k: int) -> list[tuple[int, int, float]]:
    """The policy's ``k`` most probable variables, most probable first, each with its most
    probable value bin: ``[(variable index, bin, p(variable)), ...]`` (buffer order; only
    intervenable variables; fewer than ``k`` if fewer may be intervened on).

    Raises:
      ShapeMismatchError: ``params`` that do not fit ``config``.
      InvalidStateError, UnknownVariableError, InvalidInterventionError: a bad state.
    """
    check_state(state)
    check_params(params, config)
    inputs = encode_state(state)
    d = inputs.features.shape[0]
    padded = jax.tree_util.tree_map(lambda a: a[0], stack_inputs([inputs], -(-d // 8) * 8))
    probs, bins = (np.asarray(a) for a in _ranking(params, padded, config=config))
    allowed = [i for i in range(d) if inputs.intervenable[i]]
    order = sorted(allowed, key=lambda i: (-float(probs[i]), i))[: max(int(k), 1)]
    return [(i, int(bins[i]), float(probs[i])) for i in order]


def intervention_for_action(state: AcquisitionState, variable: int, value_bin: int,
                            n_bins: int) -> pyr.PMap:
    """The perfect intervention of an action ``(variable index, bin)`` in ``state``'s order.

    Raises:
      InvalidInterventionError: a variable that may not be intervened on or a bin out of range.
    """
    variables = state.buffer.variables
    if not 0 <= int(variable) < len(variables) or \
            variables[int(variable)] not in state.intervention_ranges:
        raise InvalidInterventionError(f"variable index {variable} is not intervenable")
    if not 0 <= int(value_bin) < n_bins:
        raise InvalidInterventionError(f"value bin {value_bin} is outside [0, {n_bins})")
    name = variables[int(variable)]
    lo, hi = state.intervention_ranges[name]
    return create_perfect_intervention(name, lo + (hi - lo) * int(value_bin) / (n_bins - 1))


def action_for_intervention(state: AcquisitionState, intervention: Mapping[str, Any],
                            n_bins: int) -> tuple[int, int]:
    """The action ``(variable index, nearest bin)`` of a single-variable perfect intervention.

    Raises:
      InvalidInterventionError: not a perfect intervention on exactly one variable, a variable
        that may not be intervened on in ``state``, or a value outside its range.
    """
    if not isinstance(intervention, Mapping) or intervention.get("type") != "perfect":
        raise InvalidInterventionError(f"expected a perfect intervention, got {intervention!r}")
    targets = tuple(intervention["targets"])
    if len(targets) != 1:
        raise InvalidInterventionError(
            f"the policy chooses one variable per step; got an intervention on {sorted(targets)}")
    name = targets[0]
    if name not in state.intervention_ranges:
        raise InvalidInterventionError(
            f"{name!r} may not be intervened on in this state (intervenable: "
            f"{list(state.intervenable)})")
    lo, hi = state.intervention_ranges[name]
    value = float(intervention["values"][name])
    tol = _VALUE_TOLERANCE * (hi - lo)
    if not (math.isfinite(value) and lo - tol <= value <= hi + tol):
        raise InvalidInterventionError(f"value {value} of {name!r} is outside its range "
                                       f"({lo}, {hi})")
    frac = (min(max(value, lo), hi) - lo) / (hi - lo)
    return state.buffer.variables.index(name), int(round(frac * (n_bins - 1)))


def select_intervention(
    params: hk.Params,
    state: AcquisitionState,
    *,
    key: jax.Array,
    exploration_rate: float = 0.0,
    config: PolicyConfig = DEFAULT_POLICY,
    greedy: bool = True,
    avoid: Sequence[tuple[int, int]] | None = None,
) -> pyr.PMap:
    """The next intervention for ``state``.

    With probability ``exploration_rate`` a uniformly random intervention (an intervenable
    variable, a value uniform in its range); otherwise the policy's action: its most probable
    variable and value when ``greedy``, else a sample from it.

    Args:
      params: network parameters made with ``config``.
      state: the decision context.
      key: PRNG key.
      exploration_rate: probability of a uniformly random intervention, in [0, 1].
      config: the network's configuration.
      greedy: take the policy's mode rather than sampling from it.
      avoid: actions ``(variable index, bin)`` not to take (e.g. ones already tried when
        observations are noiseless, so a repeat would teach nothing); with it, the policy's
        most probable joint action among the others (or a sample from them). If every action
        is avoided, none is.

    Returns:
      A single-variable perfect intervention (``acbo_core.create_perfect_intervention``).

    Raises:
      ConfigError: ``exploration_rate`` outside [0, 1].
      ShapeMismatchError: ``params`` that do not fit ``config``.
      InvalidStateError, UnknownVariableError, InvalidInterventionError: a bad state.
    """
    rate = float(exploration_rate)
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"exploration_rate must be in [0, 1], got {exploration_rate!r}")
    check_state(state)
    check_params(params, config)
    k_explore, k_var, k_value, k_policy = jax.random.split(key, 4)
    if rate > 0 and float(jax.random.uniform(k_explore)) < rate:
        names = state.intervenable
        name = names[int(jax.random.randint(k_var, (), 0, len(names)))]
        lo, hi = state.intervention_ranges[name]
        u = float(jax.random.uniform(k_value, dtype=jnp.float32))
        return create_perfect_intervention(name, lo + (hi - lo) * u)
    # Pad to a multiple of 8 variables so states of different sizes share a compilation
    # (padding tokens change nothing, see the network's tests).
    inputs = encode_state(state)
    d = inputs.features.shape[0]
    padded = jax.tree_util.tree_map(lambda a: a[0], stack_inputs([inputs], -(-d // 8) * 8))
    mask = None
    if avoid is not None:
        mask = np.zeros((padded.features.shape[0], config.n_value_bins), bool)
        for v, b in avoid:
            if not (0 <= v < d and 0 <= b < config.n_value_bins):
                raise InvalidInterventionError(f"avoided action ({v}, {b}) is outside the "
                                               f"{d} variables x {config.n_value_bins} bins")
            mask[v, b] = True
    variable, value_bin = _choose(params, padded, k_policy, mask, config=config, greedy=greedy)
    return intervention_for_action(state, int(variable), int(value_bin), config.n_value_bins)
