"""Pure-JAX reference of the acbo-kernels ops: the same math as the native kernel, jitted, used by
the tests and as the fallback when the extension is missing.

Glossary: B batch, N rows, d variables, D = d + 1 (Gram of [X, 1]), K candidate sets, k_max set
width, m = k_max (+1 with an intercept) system size, S samples.

Scoring forms the Gram of [X, 1] over the rows used once per batch element and solves one
padded m x m system per set (padding entries get an identity row, which changes neither the
log-determinant nor the quadratic form). It computes in float64 when jax_enable_x64 is on, else
in float32 (the native kernel always accumulates in float64). Sampling uses the kernel's
Threefry counters, so with jax_enable_x64 it draws the same sets as the kernel for the same key.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _threefry
from ._enumerate import enumerate_parent_sets
from ._priors import GaussianPrior, Prior, check_prior
from ._validate import sample_inputs, score_inputs

__all__ = ["enumerate_parent_sets", "sample_parent_sets", "score_parent_sets"]

_LOG_2PI = math.log(2.0 * math.pi)


def _compute_dtype() -> jnp.dtype:
    return jnp.float64 if _threefry.x64_enabled() else jnp.float32


def _score_one(
    x: jax.Array, used: jax.Array, t: jax.Array, sets: jax.Array, prior: Prior
) -> jax.Array:
    """Log marginal likelihoods [K] for one batch element: x [N, d], used [N], t [],
    sets [K, k_max]."""
    dt = _compute_dtype()
    n_rows, d = x.shape
    K = sets.shape[0]
    xa = jnp.concatenate([x.astype(dt), jnp.ones((n_rows, 1), dt)], axis=1)  # [N, D]
    g = (xa * used.astype(dt)[:, None]).T @ xa  # [D, D]
    n = g[d, d]
    yy = g[t, t]

    valid = sets >= 0  # [K, k_max]
    idx = jnp.where(valid, sets, 0)
    if prior.intercept:
        idx = jnp.concatenate([idx, jnp.full((K, 1), d, idx.dtype)], axis=1)
        valid = jnp.concatenate([valid, jnp.ones((K, 1), bool)], axis=1)
    m = idx.shape[1]
    size = valid.sum(axis=1).astype(dt)  # [K]

    if isinstance(prior, GaussianPrior):
        inv_sy2 = 1.0 / prior.sigma_y**2
        ridge = 1.0 / prior.sigma_theta**2
    else:
        inv_sy2 = 1.0
        ridge = 1.0 / prior.c
    if m > 0:
        both = valid[:, :, None] & valid[:, None, :]
        a = jnp.where(both, g[idx[:, :, None], idx[:, None, :]] * inv_sy2, 0.0)  # [K, m, m]
        a = a + jnp.eye(m, dtype=dt) * jnp.where(valid, ridge, 1.0).astype(dt)[:, None, :]
        b = jnp.where(valid, g[idx, t], 0.0)  # [K, m]
        chol = jnp.linalg.cholesky(a)
        logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)), axis=1)
        z = jax.scipy.linalg.solve_triangular(chol, b[..., None], lower=True)[..., 0]
        q = jnp.sum(z * z, axis=1)
    else:
        logdet = jnp.zeros((K,), dt)
        q = jnp.zeros((K,), dt)

    if isinstance(prior, GaussianPrior):
        sy2 = prior.sigma_y**2
        st2 = prior.sigma_theta**2
        out = -0.5 * (
            n * (_LOG_2PI + math.log(sy2))
            + size * math.log(st2)
            + logdet
            + yy * inv_sy2
            - q * inv_sy2 * inv_sy2
        )
    else:
        a0, b0 = prior.a0, prior.b0
        an = a0 + 0.5 * n
        bn = b0 + 0.5 * (yy - q)
        out = (
            -0.5 * n * _LOG_2PI
            - 0.5 * (logdet + size * math.log(prior.c))
            + a0 * math.log(b0)
            - an * jnp.log(bn)
            + jax.scipy.special.gammaln(an)
            - math.lgamma(a0)
        )
    out = jnp.where(n > 0, out, 0.0)
    out = jnp.where(jnp.any(sets == t, axis=1), -jnp.inf, out)
    bad = jnp.any((sets < -1) | (sets >= d), axis=1) | (t < 0) | (t >= d)
    out = jnp.where(bad, jnp.nan, out)
    return out.astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("prior",))
def score_core(
    x: jax.Array, used: jax.Array, target: jax.Array, sets: jax.Array, *, prior: Prior
) -> jax.Array:
    """[B, K] scores from validated arrays (x f32 [B, N, d], used bool [B, N], target [B])."""
    return jax.vmap(_score_one, in_axes=(0, 0, 0, None, None))(x, used, target, sets, prior)


def _topk_gumbel(
    logw: jax.Array, words: jax.Array, num_samples: int
) -> jax.Array:
    B, K = logw.shape
    dt = _compute_dtype()
    b_idx = jnp.arange(B, dtype=jnp.uint32)[:, None]
    k_idx = jnp.arange(K, dtype=jnp.uint32)[None, :]
    o0, o1 = _threefry.threefry2x32(
        words[0], words[1] ^ _threefry.NO_REPLACE_KEY_TWEAK, k_idx, b_idx
    )
    finite = logw > -jnp.inf
    val = jnp.where(finite, logw.astype(dt) + _threefry.gumbel_from_bits(o0, o1), -jnp.inf)
    top_val, top_idx = jax.lax.top_k(val, num_samples)  # ties: lower index first
    return jnp.where(top_val > -jnp.inf, top_idx, -1).astype(jnp.int32)


def _gumbel_max(logw: jax.Array, words: jax.Array, num_samples: int) -> jax.Array:
    B, K = logw.shape
    dt = _compute_dtype()
    finite = logw > -jnp.inf
    w = logw.astype(dt)
    b_idx = jnp.arange(B, dtype=jnp.uint32)[:, None]
    k_idx = jnp.arange(K, dtype=jnp.uint32)[None, :]

    def one_sample(s: jax.Array) -> jax.Array:  # [B]
        o0, o1 = _threefry.threefry2x32(
            words[0], words[1], k_idx, b_idx * np.uint32(num_samples) + s.astype(jnp.uint32)
        )
        val = jnp.where(finite, w + _threefry.gumbel_from_bits(o0, o1), -jnp.inf)
        best = jnp.argmax(val, axis=1)  # first maximum: ties to the lower index
        return jnp.where(jnp.max(val, axis=1) > -jnp.inf, best, -1).astype(jnp.int32)

    # Bounded memory: a few million perturbed weights at a time.
    batch = max(1, min(num_samples, (1 << 22) // max(B * K, 1)))
    out = jax.lax.map(one_sample, jnp.arange(num_samples), batch_size=batch)  # [S, B]
    return out.T


@functools.partial(jax.jit, static_argnames=("num_samples", "replace"))
def sample_core(
    logw: jax.Array, words: jax.Array, *, num_samples: int, replace: bool
) -> jax.Array:
    """[B, S] indices from validated log weights [B, K] and key words uint32 [2]."""
    B = logw.shape[0]
    if num_samples == 0 or B == 0:
        return jnp.zeros((B, num_samples), jnp.int32)
    if replace:
        return _gumbel_max(logw, words, num_samples)
    return _topk_gumbel(logw, words, num_samples)


def score_parent_sets(
    X: ArrayLike,
    intervened: ArrayLike,
    target: ArrayLike,
    parent_sets: ArrayLike,
    *,
    prior: Prior = GaussianPrior(),  # noqa: B008 (frozen, hashable)
    row_mask: ArrayLike | None = None,
) -> jax.Array:
    """Pure-JAX twin of `acbo_kernels.score_parent_sets` (same arguments, same result)."""
    prior = check_prior(prior)
    x, used, t, sets = score_inputs(X, intervened, target, parent_sets, row_mask)
    return score_core(x, used, t, sets, prior=prior)


def sample_parent_sets(
    log_weights: ArrayLike, *, key: ArrayLike, num_samples: int, replace: bool = True
) -> jax.Array:
    """Pure-JAX twin of `acbo_kernels.sample_parent_sets` (same arguments, same result)."""
    w, words, num_samples, replace = sample_inputs(log_weights, key, num_samples, replace)
    return sample_core(w, words, num_samples=num_samples, replace=replace)
