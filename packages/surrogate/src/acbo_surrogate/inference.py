"""Inference: one jitted forward pass from a buffer to a ``ParentSetPosterior``.

Shapes are padded to the buckets of :mod:`acbo_surrogate.config`, so a new (N, d) compiles
only when it lands in a new bucket. The candidate table of the padded size is shared by every
target; sets that hold the target or a padded variable get probability 0 and are dropped
before the posterior is built. Pruned posteriors keep only the ``max_sets`` most probable sets,
chosen on the device, so the host never touches the full table (234k rows at d = 100).

Glossary of shape letters: B data sets, N samples, d variables, K candidate sets, T kept sets.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

import acbo_kernels
from acbo_core import ExperienceBuffer, ParentSetPosterior, kept_sets
from acbo_core.errors import NonFiniteDataError, ShapeMismatchError
from acbo_surrogate.config import ModelConfig, bucket_d, bucket_n
from acbo_surrogate.model import forward_fn
from acbo_surrogate.sets import candidate_table, marginals_from_sets, set_log_probs

__all__ = ["predict_posterior", "predict_posteriors", "predict_log_probs", "predict_marginals",
           "sample_parent_sets", "encode_padded"]

_DEFAULT = ModelConfig()


def encode_padded(
    buffer: ExperienceBuffer, target: str, *, n_pad: int | None = None, d_pad: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(encoding [N, d, 3], sample_mask [N], var_mask [d], target index)``, padded.

    Raises:
      UnknownVariableError: the target is not a variable of the buffer.
      ShapeMismatchError: an empty buffer, or padding smaller than the data.
      NonFiniteDataError: NaN or inf in the encoding.
    """
    enc = np.asarray(buffer.network_encoding(None, target))  # validates the target
    n, d, _ = enc.shape
    if n == 0:
        raise ShapeMismatchError("the buffer holds no samples; the surrogate needs data")
    n_pad = bucket_n(n) if n_pad is None else n_pad
    d_pad = bucket_d(d) if d_pad is None else d_pad
    if n > n_pad or d > d_pad:
        raise ShapeMismatchError(f"data of N={n}, d={d} does not fit padding N={n_pad}, "
                                 f"d={d_pad}")
    if not np.isfinite(enc).all():
        raise NonFiniteDataError("the buffer's encoding holds NaN or inf")
    out = np.zeros((n_pad, d_pad, 3), np.float32)
    out[:n, :d] = enc
    return out, np.arange(n_pad) < n, np.arange(d_pad) < d, buffer.variables.index(target)


def _log_q(params: hk.Params, encoding: jax.Array, sample_mask: jax.Array, var_mask: jax.Array,
           target: jax.Array, table: jax.Array, config: ModelConfig) -> jax.Array:
    out = forward_fn(config).apply(params, encoding, sample_mask, var_mask)
    return set_log_probs(out.parent_logits, out.pair_logits, out.size_logits, target,
                         var_mask, table)  # [K]


# The table is an argument, not a constant: XLA would spend seconds constant-folding
# reductions over a 234k-row table at d = 112.
_log_probs = jax.jit(_log_q, static_argnames="config")


@functools.partial(jax.jit, static_argnames=("config", "n_top"))
def _top_sets(params: hk.Params, encoding: jax.Array, sample_mask: jax.Array,
              var_mask: jax.Array, target: jax.Array, table: jax.Array, config: ModelConfig,
              n_top: int) -> tuple[jax.Array, jax.Array]:
    """``(log q [B, T], rows [B, T])`` of the T most probable sets of each of B data sets."""
    log_q = jax.vmap(_log_q, in_axes=(None, 0, 0, 0, 0, None, None))(
        params, encoding, sample_mask, var_mask, target, table, config)  # [B, K]
    return jax.lax.top_k(log_q, n_top)


@functools.partial(jax.jit, static_argnames="d")
def _marginals(log_q: jax.Array, table: jax.Array, d: int) -> jax.Array:
    return marginals_from_sets(log_q, table, d)


@functools.lru_cache(maxsize=16)
def _device_table(d: int, k_max: int) -> jax.Array:
    return jnp.asarray(candidate_table(d, k_max))


def predict_log_probs(
    params: hk.Params, buffer: ExperienceBuffer, target: str, *,
    config: ModelConfig = _DEFAULT,
) -> tuple[np.ndarray, np.ndarray]:
    """The model's full distribution over the candidate table of the padded size.

    Returns:
      ``(log_q [K], table [K, k_max])``: log_q is ``-inf`` on sets that are not candidates;
      indices in ``table`` are columns of ``buffer.variables``.
    """
    enc, sm, vm, t = encode_padded(buffer, target)
    table = _device_table(enc.shape[1], config.k_max)
    log_q = _log_probs(params, enc, sm, vm, jnp.int32(t), table, config)
    return np.asarray(log_q, np.float64), candidate_table(enc.shape[1], config.k_max)


def _posterior(target: str, names: Sequence[str], table: np.ndarray, rows: np.ndarray,
               log_q: np.ndarray, prune_threshold: float) -> ParentSetPosterior:
    """A posterior over ``rows`` (most probable first) with probability >= the threshold."""
    probs = np.exp(np.asarray(log_q, np.float64))
    keep = kept_sets(probs, prune_threshold)
    sets = tuple(frozenset(names[i] for i in table[r] if i >= 0) for r in rows[keep])
    return ParentSetPosterior(target, sets, probs[keep])


def predict_posterior(
    params: hk.Params,
    buffer: ExperienceBuffer,
    target: str,
    *,
    config: ModelConfig = _DEFAULT,
    prune_threshold: float = 1e-4,
    max_sets: int = 1024,
) -> ParentSetPosterior:
    """The predicted posterior over the target's parent sets: one jitted forward pass.

    Args:
      params: trained parameters.
      buffer: observational and interventional data.
      target: the target variable.
      config: the architecture the parameters belong to.
      prune_threshold: sets below this probability are left out and the rest renormalised
        (the MAP set is always kept). 0 keeps every candidate (161,700 sets at d = 100, slow to
        turn into Python sets).
      max_sets: with ``prune_threshold > 0``, at most this many sets (the most probable) are
        kept.

    Returns:
      A :class:`acbo_core.ParentSetPosterior`, most probable set first.

    Raises:
      UnknownVariableError: the target is not in the buffer.
      ShapeMismatchError: an empty buffer.
      NonFiniteDataError: NaN or inf in the data.
    """
    if prune_threshold <= 0:
        log_q, table = predict_log_probs(params, buffer, target, config=config)
        return _posterior(target, buffer.variables, table, np.arange(len(table)), log_q, 0.0)
    return predict_posteriors(params, [buffer], [target], config=config,
                              prune_threshold=prune_threshold, max_sets=max_sets)[0]


def predict_posteriors(
    params: hk.Params,
    buffers: Sequence[ExperienceBuffer],
    targets: Sequence[str],
    *,
    config: ModelConfig = _DEFAULT,
    prune_threshold: float = 1e-4,
    max_sets: int = 1024,
) -> list[ParentSetPosterior]:
    """Posteriors of several data sets in one batched forward pass (padded to one bucket).

    Args: as :func:`predict_posterior`, with one target per buffer; ``prune_threshold`` must
    be > 0.

    Raises:
      ShapeMismatchError: no buffers, or as many targets as buffers is not given.
      UnknownVariableError, NonFiniteDataError: as :func:`predict_posterior`.
    """
    if not buffers or len(buffers) != len(targets):
        raise ShapeMismatchError(f"{len(buffers)} buffers and {len(targets)} targets; need one "
                                 "target per buffer and at least one buffer")
    if prune_threshold <= 0:
        raise ShapeMismatchError("predict_posteriors prunes; use predict_posterior with "
                                 "prune_threshold=0 for a full posterior")
    n_pad = bucket_n(max(len(b) for b in buffers))
    d_pad = bucket_d(max(len(b.variables) for b in buffers))
    parts = [encode_padded(b, t, n_pad=n_pad, d_pad=d_pad)
             for b, t in zip(buffers, targets, strict=True)]
    table = candidate_table(d_pad, config.k_max)
    n_top = int(min(max_sets, len(table)))
    log_q, rows = _top_sets(
        params, np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts]),
        np.stack([p[2] for p in parts]), np.asarray([p[3] for p in parts], np.int32),
        _device_table(d_pad, config.k_max), config, n_top)
    log_q, rows = np.asarray(log_q), np.asarray(rows)
    return [_posterior(t, b.variables, table, rows[i], log_q[i], prune_threshold)
            for i, (b, t) in enumerate(zip(buffers, targets, strict=True))]


def predict_marginals(
    params: hk.Params, buffer: ExperienceBuffer, target: str, *,
    config: ModelConfig = _DEFAULT,
) -> dict[str, float]:
    """``P(v is a parent of target)`` for every other variable, exact under the model's full
    set distribution."""
    enc, sm, vm, t = encode_padded(buffer, target)
    table = _device_table(enc.shape[1], config.k_max)
    log_q = _log_probs(params, enc, sm, vm, jnp.int32(t), table, config)
    marg = np.asarray(_marginals(log_q, table, enc.shape[1]))[: len(buffer.variables)]
    return {v: float(m) for v, m in zip(buffer.variables, marg, strict=True) if v != target}


def sample_parent_sets(
    params: hk.Params,
    buffer: ExperienceBuffer,
    target: str,
    *,
    key: ArrayLike,
    num_samples: int,
    config: ModelConfig = _DEFAULT,
) -> list[frozenset[str]]:
    """Parent sets drawn from the model's distribution with ``acbo_kernels.sample_parent_sets``
    (Gumbel-max, reproducible from ``key``).

    Returns:
      ``num_samples`` sets (with replacement).
    """
    log_q, table = predict_log_probs(params, buffer, target, config=config)
    idx = np.asarray(acbo_kernels.sample_parent_sets(
        jnp.asarray(log_q, jnp.float32)[None], key=key, num_samples=num_samples))[0]
    names = buffer.variables
    return [frozenset(names[i] for i in table[r] if i >= 0) for r in idx]
