"""Behavioural cloning: maximise the log-likelihood of the expert's variable and value.

Pure, jit-compiled step over a batch of (state, expert action) pairs; the loop around it is
seeded by the key carried in :class:`BCState`, so a run saved and resumed gives the same
parameters as one run straight through.

Glossary of shape letters: N pairs, B pairs per step, D padded variables.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from acbo_acquisition.config import (
    DEFAULT_IMITATION,
    DEFAULT_POLICY,
    ImitationConfig,
    PolicyConfig,
)
from acbo_acquisition.distribution import log_prob
from acbo_acquisition.features import PolicyInputs, encode_state, stack_inputs
from acbo_acquisition.network import PolicyOutputs, make_policy
from acbo_acquisition.policy import action_for_intervention, check_params, init_policy_params
from acbo_core import AcquisitionState
from acbo_core.errors import ShapeMismatchError

__all__ = ["BCData", "BCState", "make_bc_data", "init_bc", "bc_step", "train_bc", "evaluate_bc",
           "imitation_nll"]


class BCData(NamedTuple):
    """(state, expert action) pairs as arrays.

    Attributes:
      inputs: :class:`PolicyInputs` with a leading axis ``[N, D, ...]``.
      variable: ``[N]`` int32 index of the expert's variable.
      value_bin: ``[N]`` int32 bin nearest to the expert's value.
    """

    inputs: PolicyInputs
    variable: np.ndarray | jax.Array
    value_bin: np.ndarray | jax.Array


class BCState(NamedTuple):
    """Resumable behavioural-cloning state.

    Attributes:
      params: network parameters.
      opt_state: optax state.
      step: ``[]`` int32, updates done.
      epoch: ``[]`` int32, passes over the data done.
      key: PRNG key for the next epoch's shuffle.
    """

    params: hk.Params
    opt_state: Any
    step: jax.Array
    epoch: jax.Array
    key: jax.Array


def make_bc_data(states: Sequence[AcquisitionState], actions: Sequence[Mapping[str, Any]], *,
                 n_bins: int, n_vars: int | None = None) -> BCData:
    """Encodes states and maps each expert intervention to an action.

    Args:
      states: decision contexts.
      actions: the expert's single-variable perfect intervention in each state.
      n_bins: K of the policy (``PolicyConfig.n_value_bins``).
      n_vars: padded number of variables (default: the largest state).

    Raises:
      ShapeMismatchError: no pairs, or different numbers of states and actions.
      InvalidInterventionError: an action the policy cannot express (several targets, a
        variable that may not be intervened on, a value outside the range).
      InvalidStateError, UnknownVariableError: a bad state.
    """
    if len(states) != len(actions):
        raise ShapeMismatchError(f"{len(states)} states but {len(actions)} actions")
    if not states:
        raise ShapeMismatchError("behavioural cloning needs at least one (state, action) pair")
    pairs = [action_for_intervention(s, a, n_bins) for s, a in zip(states, actions, strict=True)]
    inputs = stack_inputs([encode_state(s) for s in states], n_vars)
    return BCData(inputs, np.asarray([p[0] for p in pairs], np.int32),
                  np.asarray([p[1] for p in pairs], np.int32))


def imitation_nll(outputs: PolicyOutputs, variable: ArrayLike, value_bin: ArrayLike,
                  value_weight: float) -> jax.Array:
    """``-log p(variable) - value_weight * log p(bin | variable)`` for one state."""
    var_lp = jax.nn.log_softmax(outputs.variable_logits)[variable]
    return -(var_lp + value_weight * (log_prob(outputs, variable, value_bin) - var_lp))


def _optimizer(cfg: ImitationConfig) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.learning_rate))


def init_bc(key: jax.Array, *, policy_config: PolicyConfig = DEFAULT_POLICY,
            imitation_config: ImitationConfig = DEFAULT_IMITATION,
            params: hk.Params | None = None) -> BCState:
    """A fresh :class:`BCState` (new parameters unless ``params`` is given).

    Raises:
      ShapeMismatchError: ``params`` that do not fit ``policy_config``.
    """
    k_init, k_loop = jax.random.split(key)
    if params is None:
        params = init_policy_params(k_init, policy_config)
    check_params(params, policy_config)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    return BCState(params, _optimizer(imitation_config).init(params), jnp.zeros((), jnp.int32),
                   jnp.zeros((), jnp.int32), k_loop)


def _take(data: BCData, idx: jax.Array) -> BCData:
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[idx], data)


def bc_step(state: BCState, data: BCData, idx: jax.Array, weights: jax.Array, *,
            policy_config: PolicyConfig, imitation_config: ImitationConfig
            ) -> tuple[BCState, dict[str, jax.Array]]:
    """One Adam step on the weighted mean negative log-likelihood of ``data[idx]`` (jitted).

    Args:
      state: current state.
      data: all pairs (device arrays; gathered inside the step).
      idx: ``[B]`` rows of this batch.
      weights: ``[B]`` 1 for real rows, 0 for padding of a short last batch.
      policy_config, imitation_config: fixed for a run.

    Returns:
      The new state and metrics ``loss``, ``variable_accuracy``.
    """
    # Only the fields the step reads are static, so runs that differ elsewhere (epochs, warm
    # start) share one compiled step.
    step_config = ImitationConfig(learning_rate=imitation_config.learning_rate,
                                  max_grad_norm=imitation_config.max_grad_norm,
                                  value_weight=imitation_config.value_weight)
    return _bc_step(state, data, idx, weights, policy_config=policy_config,
                    imitation_config=step_config)


@functools.partial(jax.jit, static_argnames=("policy_config", "imitation_config"))
def _bc_step(state: BCState, data: BCData, idx: jax.Array, weights: jax.Array, *,
             policy_config: PolicyConfig, imitation_config: ImitationConfig
             ) -> tuple[BCState, dict[str, jax.Array]]:
    apply = jax.vmap(make_policy(policy_config).apply, in_axes=(None, 0))
    batch = _take(data, idx)
    norm = jnp.maximum(weights.sum(), 1.0)

    def loss_fn(params: hk.Params) -> tuple[jax.Array, jax.Array]:
        out = apply(params, batch.inputs)
        nll = jax.vmap(imitation_nll, in_axes=(0, 0, 0, None))(
            out, batch.variable, batch.value_bin, imitation_config.value_weight)
        hit = jnp.argmax(out.variable_logits, axis=-1) == batch.variable
        return (weights * nll).sum() / norm, (weights * hit).sum() / norm

    (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = _optimizer(imitation_config).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return (state._replace(params=params, opt_state=opt_state, step=state.step + 1),
            {"loss": loss, "variable_accuracy": acc})


def train_bc(
    data: BCData,
    state: BCState,
    *,
    policy_config: PolicyConfig = DEFAULT_POLICY,
    imitation_config: ImitationConfig = DEFAULT_IMITATION,
    n_epochs: int | None = None,
    callback: Callable[[BCState, dict[str, float]], None] | None = None,
) -> tuple[BCState, list[dict[str, float]]]:
    """Runs epochs of behavioural cloning from ``state`` (a fresh or a restored one).

    Args:
      data: the pairs.
      state: where to start; its key fixes the shuffles of every later epoch.
      policy_config, imitation_config: must be the ones ``state`` was made with.
      n_epochs: epochs to run now (default ``imitation_config.imitation_epochs``).
      callback: called after each epoch with the state and that epoch's mean metrics.

    Returns:
      The final state and one dict of mean metrics per epoch run.
    """
    n_epochs = imitation_config.imitation_epochs if n_epochs is None else int(n_epochs)
    data = jax.tree_util.tree_map(jnp.asarray, data)
    n = int(data.variable.shape[0])
    bsz = min(imitation_config.batch_size, n)
    n_batches = -(-n // bsz)
    history = []
    for _ in range(n_epochs):
        key, k_perm = jax.random.split(state.key)
        perm = np.asarray(jax.random.permutation(k_perm, n))
        pad = n_batches * bsz - n
        idx = np.concatenate([perm, perm[:pad]]).reshape(n_batches, bsz)
        flat = np.ones(n_batches * bsz, np.float32)
        flat[n:] = 0.0
        weights = flat.reshape(n_batches, bsz)
        sums: dict[str, float] = {}
        for b in range(n_batches):
            state, metrics = bc_step(state, data, idx[b], weights[b],
                                     policy_config=policy_config,
                                     imitation_config=imitation_config)
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + float(v) * float(weights[b].sum())
        state = state._replace(epoch=state.epoch + 1, key=key)
        record = {k: v / n for k, v in sums.items()}
        history.append(record)
        if callback is not None:
            callback(state, record)
    return state, history


@functools.partial(jax.jit, static_argnames=("policy_config",))
def _scores(params: hk.Params, data: BCData, *, policy_config: PolicyConfig
            ) -> tuple[jax.Array, jax.Array, jax.Array]:
    out = jax.vmap(make_policy(policy_config).apply, in_axes=(None, 0))(params, data.inputs)
    # rank of the expert's variable among the policy's (0: the policy's top choice)
    expert_logit = jnp.take_along_axis(out.variable_logits, data.variable[:, None], 1)
    var_rank = (out.variable_logits > expert_logit).sum(-1)
    bins = jnp.take_along_axis(out.value_logits, data.variable[:, None, None], axis=1)[:, 0]
    bin_err = jnp.abs(jnp.argmax(bins, -1) - data.value_bin)
    nll = jax.vmap(imitation_nll, in_axes=(0, 0, 0, None))(out, data.variable, data.value_bin,
                                                           1.0)
    return var_rank, bin_err, nll


def evaluate_bc(params: hk.Params, data: BCData, *,
                policy_config: PolicyConfig = DEFAULT_POLICY) -> dict[str, float]:
    """Agreement with the expert on ``data``.

    Returns:
      ``agreement`` (top-1 variable match), ``top2_agreement`` (the expert's variable among the
      policy's two most probable), ``value_bin_error`` (mean |bin - expert bin| on the expert's
      variable, in bins), ``nll`` (mean joint negative log-likelihood).
    """
    check_params(params, policy_config)
    data = jax.tree_util.tree_map(jnp.asarray, data)
    rank, err, nll = _scores(params, data, policy_config=policy_config)
    return {"agreement": float((rank == 0).mean()), "top2_agreement": float((rank <= 1).mean()),
            "value_bin_error": float(err.mean()), "nll": float(nll.mean())}
