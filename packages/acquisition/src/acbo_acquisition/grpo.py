"""GRPO (group relative policy optimisation, DeepSeekMath) for choosing one intervention.

One iteration: draw B training states; for each, sample a group of G interventions from the old
policy and simulate each on the state's SCM (:mod:`acbo_acquisition.simulator`: the target
drawn from its law under the action, tabulated per state, linear SCM or not); reward =
``improvement_weight * sign * (best - y) / scale`` (the target's improvement over the best value
so far, in units of its observational standard deviation; negative when worse) plus, optionally,
``entropy_drop_weight * (H(posterior) - H(posterior after the new sample))``; advantages are the
rewards standardised within their group. The loss is

    - mean[min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)]         clipped surrogate
    + beta * mean[exp(lr - lp) - (lr - lp) - 1]                        k3 KL to the reference
    - entropy_coef * mean[H(policy(. | state))]                        exact entropy bonus
    + value_coef * mean[(V(state) - mean group reward)^2]              diagnostic value head
    + imitation_weight * mean[-log p(expert action)]                   kept BC term (if any)

with ``lp``/``lr`` the log-probabilities of the sampled actions under the policy and the
reference policy (the one GRPO started from). :func:`grpo_rollout` and :func:`grpo_update` are
pure and jit-compiled; :func:`grpo_step` joins them and adds the posterior-entropy term on the
host when it is asked for (a posterior update is model code this package does not own; it needs
whole simulated rows, which only linear SCMs' tables give).

Glossary of shape letters: P training states, B states per update, G group size, D padded
variables, K value bins.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pyrsistent as pyr

from acbo_acquisition.config import (
    DEFAULT_GRPO,
    DEFAULT_IMITATION,
    DEFAULT_POLICY,
    GRPOConfig,
    ImitationConfig,
    PolicyConfig,
)
from acbo_acquisition.distribution import entropy, log_prob
from acbo_acquisition.distribution import sample_actions as _sample_actions
from acbo_acquisition.errors import ConfigError
from acbo_acquisition.features import PolicyInputs
from acbo_acquisition.imitation import imitation_nll
from acbo_acquisition.network import make_policy
from acbo_acquisition.policy import check_params, init_policy_params, intervention_for_action
from acbo_acquisition.problems import GRPOProblems, check_problems
from acbo_acquisition.simulator import simulate_rows
from acbo_core import AcquisitionState, ParentSetPosterior

__all__ = ["GRPOState", "Rollout", "PosteriorUpdate", "init_grpo", "grpo_rollout",
           "grpo_update", "grpo_step", "group_advantages", "grpo_loss_terms", "train_grpo"]

PosteriorUpdate = Callable[[AcquisitionState, pyr.PMap, Mapping[str, float]], ParentSetPosterior]
"""``(state, intervention, new row as name -> value) -> posterior after adding the row``."""


class GRPOState(NamedTuple):
    """Resumable GRPO state.

    Attributes:
      params: the policy being trained.
      ref_params: the reference policy of the KL term (fixed).
      opt_state: optax state.
      step: ``[]`` int32, updates done.
      key: PRNG key of the next rollout.
    """

    params: hk.Params
    ref_params: hk.Params
    opt_state: Any
    step: jax.Array
    key: jax.Array


class Rollout(NamedTuple):
    """A group of sampled interventions per state and their simulated outcomes.

    Attributes:
      idx: ``[B]`` indices of the states in the problems.
      variable: ``[B, G]`` int32 sampled variables.
      value_bin: ``[B, G]`` int32 sampled value bins.
      old_logp: ``[B, G]`` log-probabilities under the policy that sampled them.
      ref_logp: ``[B, G]`` log-probabilities under the reference policy.
      rows: ``[B, G, D]`` the simulated sample rows (the SCM's joint law for a linear SCM;
        only the target column ``y`` otherwise).
      improvement: ``[B, G]`` ``sign * (best - y) / scale``, ``y ~ N(grid_mean, grid_sd^2)``
        of the action.
    """

    idx: jax.Array
    variable: jax.Array
    value_bin: jax.Array
    old_logp: jax.Array
    ref_logp: jax.Array
    rows: jax.Array
    improvement: jax.Array


def _optimizer(cfg: GRPOConfig) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.learning_rate))


def init_grpo(key: jax.Array, *, policy_config: PolicyConfig = DEFAULT_POLICY,
              grpo_config: GRPOConfig = DEFAULT_GRPO, params: hk.Params | None = None
              ) -> GRPOState:
    """GRPO from ``params`` (warm start, e.g. the cloned policy) or a fresh initialisation
    (cold start); either way the starting policy is the KL reference.

    Raises:
      ShapeMismatchError: ``params`` that do not fit ``policy_config``.
    """
    k_init, k_loop = jax.random.split(key)
    if params is None:
        params = init_policy_params(k_init, policy_config)
    check_params(params, policy_config)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    return GRPOState(params, params, _optimizer(grpo_config).init(params),
                     jnp.zeros((), jnp.int32), k_loop)


def _take(tree: Any, idx: jax.Array) -> Any:
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[idx], tree)


def _action_values(inputs: PolicyInputs, variable: jax.Array, value_bin: jax.Array,
                   n_bins: int) -> jax.Array:
    lo, hi = inputs.lo[variable], inputs.hi[variable]
    return lo + (hi - lo) * value_bin.astype(jnp.float32) / (n_bins - 1)


def grpo_rollout(state: GRPOState, problems: GRPOProblems, *, policy_config: PolicyConfig,
                 grpo_config: GRPOConfig) -> tuple[GRPOState, Rollout]:
    """Samples B states and G interventions for each, and simulates them (jitted).

    Returns:
      The state with its key advanced, and the :class:`Rollout`.

    Raises:
      ShapeMismatchError: problems made for another number of value bins.
    """
    check_problems(problems, policy_config)
    # Only the sizes are static, so configs that differ in loss weights share one compilation.
    sizes = GRPOConfig(group_size=grpo_config.group_size, batch_size=grpo_config.batch_size)
    return _grpo_rollout(state, problems, policy_config=policy_config, grpo_config=sizes)


@functools.partial(jax.jit, static_argnames=("policy_config", "grpo_config"))
def _grpo_rollout(state: GRPOState, problems: GRPOProblems, *, policy_config: PolicyConfig,
                  grpo_config: GRPOConfig) -> tuple[GRPOState, Rollout]:
    apply = jax.vmap(make_policy(policy_config).apply, in_axes=(None, 0))
    n_problems = problems.expert_variable.shape[0]
    b, g = grpo_config.batch_size, grpo_config.group_size
    key, k_idx, k_act, k_sim = jax.random.split(state.key, 4)
    idx = jax.random.choice(k_idx, n_problems, (b,), replace=n_problems < b)
    batch = _take(problems, idx)
    out = apply(state.params, batch.inputs)
    ref = apply(state.ref_params, batch.inputs)
    variable, value_bin = jax.vmap(_sample_actions, in_axes=(0, 0, None))(
        out, jax.random.split(k_act, b), g)  # [B, G]
    old_logp = jax.vmap(log_prob)(out, variable, value_bin)
    ref_logp = jax.vmap(log_prob)(ref, variable, value_bin)
    values = jax.vmap(_action_values, in_axes=(0, 0, 0, None))(
        batch.inputs, variable, value_bin, policy_config.n_value_bins)
    t = batch.tables
    k_y, k_rows = jax.random.split(k_sim)
    z = jax.random.normal(k_y, (b, g))  # the target's standardised noise
    at = jax.vmap(lambda grid, v, k: grid[v, k])
    y = at(t.grid_mean, variable, value_bin) + at(t.grid_sd, variable, value_bin) * z  # [B, G]
    rows = jax.vmap(lambda tab, v, x, k, e: simulate_rows(tab, v, x, k, target_noise=e))(
        t, variable, values, jax.random.split(k_rows, b), z)  # [B, G, D]
    # y exactly (the row's target has its law already, up to float32 rounding of the tables)
    is_target = jnp.arange(rows.shape[-1]) == t.target[:, None, None]
    rows = jnp.where(is_target, y[..., None], rows)
    improvement = t.sign[:, None] * (t.best[:, None] - y) / t.scale[:, None]
    rollout = Rollout(idx, variable, value_bin, jax.lax.stop_gradient(old_logp),
                      jax.lax.stop_gradient(ref_logp), rows, improvement)
    return state._replace(key=key), rollout


def group_advantages(rewards: jax.Array) -> jax.Array:
    """``(r - mean) / std`` within each group (last axis).

    A group whose spread is round-off (std below ``1e-6 * (1 + |mean|)``, e.g. every sample
    equally good) gets advantage 0 rather than amplified float32 noise.
    """
    mean = rewards.mean(axis=-1, keepdims=True)
    std = rewards.std(axis=-1, keepdims=True)
    spread = std > 1e-6 * (1.0 + jnp.abs(mean))
    return jnp.where(spread, (rewards - mean) / jnp.where(spread, std, 1.0), 0.0)


def grpo_loss_terms(logp: jax.Array, old_logp: jax.Array, ref_logp: jax.Array,
                    advantages: jax.Array, clip_epsilon: float
                    ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per-sample clipped surrogate, k3 KL estimate and whether the ratio was clipped.

    Returns:
      ``(surrogate, kl, clipped)``, each of the shape of ``logp``; the loss uses
      ``-surrogate + beta * kl``.
    """
    ratio = jnp.exp(logp - old_logp)
    clipped_ratio = jnp.clip(ratio, 1.0 - clip_epsilon, 1.0 + clip_epsilon)
    surrogate = jnp.minimum(ratio * advantages, clipped_ratio * advantages)
    log_r = ref_logp - logp
    kl = jnp.exp(log_r) - log_r - 1.0
    return surrogate, kl, jnp.abs(ratio - 1.0) > clip_epsilon


def grpo_update(state: GRPOState, problems: GRPOProblems, rollout: Rollout, rewards: jax.Array,
                *, policy_config: PolicyConfig, grpo_config: GRPOConfig,
                imitation_config: ImitationConfig) -> tuple[GRPOState, dict[str, jax.Array]]:
    """``n_inner_updates`` Adam steps on the GRPO loss of one rollout (jitted).

    Args:
      state: current state (its params sampled ``rollout``).
      problems: the training states.
      rollout: from :func:`grpo_rollout`.
      rewards: ``[B, G]`` total rewards of the rollout.
      policy_config, grpo_config: fixed for a run.
      imitation_config: the imitation term's weight (0 unless behavioural cloning is on).

    Returns:
      The new state and metrics of the first inner step.
    """
    # The reward weights act outside this step and the imitation settings only through two
    # numbers: normalise them so that runs differing there share one compilation.
    loss_config = dataclasses.replace(grpo_config, improvement_weight=1.0,
                                      entropy_drop_weight=0.0)
    weight = imitation_config.imitation_weight if imitation_config.use_behavioral_cloning else 0.0
    imitation = ImitationConfig(imitation_weight=weight,
                                value_weight=imitation_config.value_weight)
    return _grpo_update(state, problems, rollout, rewards, policy_config=policy_config,
                        grpo_config=loss_config, imitation_config=imitation)


@functools.partial(jax.jit,
                   static_argnames=("policy_config", "grpo_config", "imitation_config"))
def _grpo_update(state: GRPOState, problems: GRPOProblems, rollout: Rollout, rewards: jax.Array,
                 *, policy_config: PolicyConfig, grpo_config: GRPOConfig,
                 imitation_config: ImitationConfig) -> tuple[GRPOState, dict[str, jax.Array]]:
    apply = jax.vmap(make_policy(policy_config).apply, in_axes=(None, 0))
    batch = _take(problems, rollout.idx)
    advantages = group_advantages(rewards)
    imitation_weight = imitation_config.imitation_weight
    has_expert = batch.has_expert.astype(jnp.float32)
    cfg = grpo_config

    def loss_fn(params: hk.Params) -> tuple[jax.Array, dict[str, jax.Array]]:
        out = apply(params, batch.inputs)
        logp = jax.vmap(log_prob)(out, rollout.variable, rollout.value_bin)  # [B, G]
        surrogate, kl, clipped = grpo_loss_terms(logp, rollout.old_logp, rollout.ref_logp,
                                                 advantages, cfg.clip_epsilon)
        ent = jax.vmap(entropy)(out)  # [B]
        value_loss = jnp.mean((out.state_value - rewards.mean(axis=-1)) ** 2)
        nll = jax.vmap(imitation_nll, in_axes=(0, 0, 0, None))(
            out, batch.expert_variable, batch.expert_bin, imitation_config.value_weight)
        imitation = (has_expert * nll).sum() / jnp.maximum(has_expert.sum(), 1.0)
        loss = (-surrogate.mean() + cfg.kl_coef * kl.mean() - cfg.entropy_coef * ent.mean()
                + cfg.value_coef * value_loss + imitation_weight * imitation)
        return loss, {"loss": loss, "kl": kl.mean(), "entropy": ent.mean(),
                      "clip_fraction": clipped.mean(), "value_loss": value_loss,
                      "imitation_nll": imitation}

    optimizer = _optimizer(cfg)
    params, opt_state = state.params, state.opt_state
    first: dict[str, jax.Array] = {}
    for i in range(cfg.n_inner_updates):
        grads, metrics = jax.grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if i == 0:
            first = metrics
    first = dict(first, reward_mean=rewards.mean(), reward_std=rewards.std(axis=-1).mean(),
                 improvement_mean=rollout.improvement.mean())
    return state._replace(params=params, opt_state=opt_state, step=state.step + 1), first


def _entropy_drop(states: Sequence[AcquisitionState], rollout: Rollout,
                  posterior_update: PosteriorUpdate, n_bins: int) -> np.ndarray:
    idx = np.asarray(rollout.idx)
    variables, bins = np.asarray(rollout.variable), np.asarray(rollout.value_bin)
    rows = np.asarray(rollout.rows, np.float64)
    out = np.zeros(variables.shape)
    for i, p in enumerate(idx):
        state = states[int(p)]
        names = state.buffer.variables
        before = state.posterior.entropy()
        for j in range(variables.shape[1]):
            intervention = intervention_for_action(state, int(variables[i, j]), int(bins[i, j]),
                                                   n_bins)
            row = dict(zip(names, rows[i, j, : len(names)].tolist(), strict=True))
            row.update(intervention["values"])  # exact value rather than its float32 copy
            out[i, j] = before - posterior_update(state, intervention, row).entropy()
    return out


def grpo_step(
    state: GRPOState,
    problems: GRPOProblems,
    *,
    policy_config: PolicyConfig = DEFAULT_POLICY,
    grpo_config: GRPOConfig = DEFAULT_GRPO,
    imitation_config: ImitationConfig = DEFAULT_IMITATION,
    states: Sequence[AcquisitionState] | None = None,
    posterior_update: PosteriorUpdate | None = None,
) -> tuple[GRPOState, dict[str, float]]:
    """One GRPO iteration: rollout, rewards, update.

    Args:
      state: current state.
      problems: from :func:`make_grpo_problems`.
      policy_config, grpo_config, imitation_config: fixed for a run.
      states: the states ``problems`` was made from (only for the posterior-entropy term).
      posterior_update: how a posterior absorbs one new row (only for that term).

    Returns:
      The new state and the update's metrics as floats.

    Raises:
      ConfigError: ``entropy_drop_weight > 0`` without ``states`` and ``posterior_update``, or
        with problems whose SCM is not linear (no simulated rows to update a posterior with).
      ShapeMismatchError: problems made for another number of value bins.
    """
    if grpo_config.entropy_drop_weight > 0:
        if posterior_update is None or states is None:
            raise ConfigError("GRPOConfig.entropy_drop_weight > 0 needs `states` and a "
                              "`posterior_update` function")
        no_rows = np.flatnonzero(~np.asarray(problems.tables.has_rows, bool))
        if no_rows.size:
            raise ConfigError(
                f"GRPOConfig.entropy_drop_weight > 0 needs whole simulated rows, which only "
                f"linear SCMs' tables give; problem {int(no_rows[0])} ({no_rows.size} of "
                f"{np.size(problems.tables.has_rows)}) has none (a nonlinear SCM or a "
                f"target-only model): set entropy_drop_weight=0")
    state, rollout = grpo_rollout(state, problems, policy_config=policy_config,
                                  grpo_config=grpo_config)
    rewards = grpo_config.improvement_weight * rollout.improvement
    extra: dict[str, float] = {}
    if grpo_config.entropy_drop_weight > 0:
        assert states is not None and posterior_update is not None  # checked above
        drop = _entropy_drop(states, rollout, posterior_update, policy_config.n_value_bins)
        rewards = rewards + grpo_config.entropy_drop_weight * jnp.asarray(drop, jnp.float32)
        extra["entropy_drop_mean"] = float(drop.mean())
    state, metrics = grpo_update(state, problems, rollout, rewards, policy_config=policy_config,
                                 grpo_config=grpo_config, imitation_config=imitation_config)
    return state, {**{k: float(v) for k, v in metrics.items()}, **extra}


def train_grpo(
    problems: GRPOProblems,
    state: GRPOState,
    *,
    n_updates: int,
    policy_config: PolicyConfig = DEFAULT_POLICY,
    grpo_config: GRPOConfig = DEFAULT_GRPO,
    imitation_config: ImitationConfig = DEFAULT_IMITATION,
    states: Sequence[AcquisitionState] | None = None,
    posterior_update: PosteriorUpdate | None = None,
    callback: Callable[[GRPOState, dict[str, float]], None] | None = None,
) -> tuple[GRPOState, list[dict[str, float]]]:
    """``n_updates`` GRPO iterations from ``state`` (fresh or restored).

    Returns:
      The final state and the metrics of every update.
    """
    if isinstance(n_updates, bool) or not isinstance(n_updates, int) or n_updates < 0:
        raise ConfigError(f"n_updates must be an int >= 0, got {n_updates!r}")
    problems = jax.tree_util.tree_map(jnp.asarray, problems)
    history = []
    for _ in range(n_updates):
        state, metrics = grpo_step(state, problems, policy_config=policy_config,
                                   grpo_config=grpo_config, imitation_config=imitation_config,
                                   states=states, posterior_update=posterior_update)
        history.append(metrics)
        if callback is not None:
            callback(state, metrics)
    return state, history
