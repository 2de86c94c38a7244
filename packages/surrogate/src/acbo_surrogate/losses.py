"""Training losses over the candidate parent sets.

(a) ``KL(p_expert || q) = sum_S p(S) (log p(S) - log q(S))`` over the whole candidate table:
    exact, because q is normalised over that same table (:mod:`acbo_surrogate.sets`);
(b) ``-log q(S_true)`` plus the binary cross-entropy of the model's marginal parent
    probabilities ``P_q(i in S)`` against the true parents.

Each term is averaged over the examples that carry it (an example may have an expert
posterior, ground truth, or both), then mixed with the weights of
:class:`acbo_surrogate.TrainConfig`.

Glossary of shape letters: B batch, d variables (padded), K candidate sets.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from acbo_surrogate.config import TrainConfig
from acbo_surrogate.model import ModelOutputs
from acbo_surrogate.sets import marginals_from_sets, set_log_probs

__all__ = ["Batch", "batch_log_probs", "kl_to_expert", "true_set_nll", "parent_bce",
           "loss_fn"]

_LOG_FLOOR = -60.0  # keeps 0 * log 0 and mis-specified targets finite
_P_FLOOR = 1e-6


class Batch(NamedTuple):
    """A padded training batch (host or device arrays).

    Attributes:
      encoding: ``[B, N, d, 3]`` network encodings, padding zero.
      sample_mask: ``[B, N]`` bool, real samples.
      var_mask: ``[B, d]`` bool, real variables.
      target: ``[B]`` int32 target index.
      true_parents: ``[B, d]`` float32, 1 for the target's true parents (0 when unknown).
      truth_weight: ``[B]`` float32, 1 where the true parents are known.
      true_set: ``[B]`` int32 row of the true set in the candidate table; -1 when unknown or
        larger than k_max.
      expert_probs: ``[B, K]`` float32 expert posterior over the candidate table (0 rows when
        absent).
      expert_weight: ``[B]`` float32, 1 where an expert posterior is given.
    """

    encoding: ArrayLike
    sample_mask: ArrayLike
    var_mask: ArrayLike
    target: ArrayLike
    true_parents: ArrayLike
    truth_weight: ArrayLike
    true_set: ArrayLike
    expert_probs: ArrayLike
    expert_weight: ArrayLike


def batch_log_probs(outputs: ModelOutputs, target: ArrayLike, var_mask: ArrayLike,
                    table: ArrayLike) -> jax.Array:
    """``[B, K]`` normalised log q for a batch of outputs."""
    return jax.vmap(set_log_probs, in_axes=(0, 0, 0, 0, 0, None))(
        outputs.parent_logits, outputs.pair_logits, outputs.size_logits, jnp.asarray(target),
        jnp.asarray(var_mask, bool), jnp.asarray(table))


def kl_to_expert(log_q: ArrayLike, expert_probs: ArrayLike) -> jax.Array:
    """``[B]`` KL(expert || q) in nats; sets with expert probability 0 contribute 0."""
    log_q = jnp.maximum(jnp.asarray(log_q), _LOG_FLOOR)
    p = jnp.asarray(expert_probs)
    log_p = jnp.log(jnp.where(p > 0, p, 1.0))
    return jnp.sum(jnp.where(p > 0, p * (log_p - log_q), 0.0), axis=-1)


def true_set_nll(log_q: ArrayLike, true_set: ArrayLike) -> jax.Array:
    """``[B]`` -log q(S_true) (0 where ``true_set`` is -1)."""
    log_q = jnp.maximum(jnp.asarray(log_q), _LOG_FLOOR)
    true_set = jnp.asarray(true_set)
    picked = jnp.take_along_axis(log_q, jnp.maximum(true_set, 0)[:, None], axis=1)[:, 0]
    return jnp.where(true_set >= 0, -picked, 0.0)


def parent_bce(marginals: ArrayLike, true_parents: ArrayLike, candidate_mask: ArrayLike
               ) -> jax.Array:
    """``[B]`` mean binary cross-entropy of marginals vs true parents over the candidates."""
    m = jnp.clip(jnp.asarray(marginals), _P_FLOOR, 1.0 - _P_FLOOR)
    y = jnp.asarray(true_parents)
    mask = jnp.asarray(candidate_mask, jnp.float32)
    ce = -(y * jnp.log(m) + (1.0 - y) * jnp.log1p(-m))
    return (ce * mask).sum(-1) / jnp.maximum(mask.sum(-1), 1.0)


def _weighted_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
    return (values * weights).sum() / jnp.maximum(weights.sum(), 1.0)


def loss_fn(outputs: ModelOutputs, batch: Batch, table: ArrayLike, config: TrainConfig
            ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The mixed training loss and its parts.

    Returns:
      ``(loss, metrics)`` with metrics ``kl``, ``set_nll``, ``bce`` (each averaged over the
      examples that carry it) and ``map_accuracy`` (MAP set == true set, over examples with a
      representable true set).
    """
    d = jnp.shape(batch.var_mask)[1]
    log_q = batch_log_probs(outputs, batch.target, batch.var_mask, table)  # [B, K]
    marg = jax.vmap(marginals_from_sets, in_axes=(0, None, None))(log_q, table, d)  # [B, d]
    target = jnp.asarray(batch.target)
    cand = jnp.asarray(batch.var_mask, bool) & (jnp.arange(d)[None, :] != target[:, None])
    truth_w = jnp.asarray(batch.truth_weight, jnp.float32)
    has_set = (jnp.asarray(batch.true_set) >= 0).astype(jnp.float32) * truth_w
    expert_w = jnp.asarray(batch.expert_weight, jnp.float32)
    kl = _weighted_mean(kl_to_expert(log_q, batch.expert_probs), expert_w)
    nll = _weighted_mean(true_set_nll(log_q, batch.true_set), has_set)
    bce = _weighted_mean(parent_bce(marg, batch.true_parents, cand), truth_w)
    loss = config.kl_weight * kl + config.set_nll_weight * nll + config.bce_weight * bce
    hit = (jnp.argmax(log_q, axis=1) == jnp.asarray(batch.true_set)).astype(jnp.float32)
    return loss, {"loss": loss, "kl": kl, "set_nll": nll, "bce": bce,
                  "map_accuracy": _weighted_mean(hit, has_set)}
