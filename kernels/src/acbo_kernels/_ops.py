"""The public ops: the native XLA FFI kernel where it is registered, else the pure-JAX reference.

Glossary: B batch, N rows, d variables, K candidate sets, k_max set width, S samples.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _native, reference
from ._priors import GaussianPrior, Prior, check_prior
from ._validate import sample_inputs, score_inputs


def _score_ffi(
    x: jax.Array, used: jax.Array, target: jax.Array, sets: jax.Array, prior: Prior
) -> jax.Array:
    kind, intercept, p0, p1, p2 = prior.ffi_params()
    out = jax.ShapeDtypeStruct(x.shape[:-2] + (sets.shape[-2],), jnp.float32)  # [B, K]
    call = jax.ffi.ffi_call(_native.SCORE_TARGET, out, vmap_method="broadcast_all")
    return call(
        x,  # [B, N, d]
        used,  # [B, N]
        target,  # [B]
        sets,  # [K, k_max]
        prior_kind=np.int32(kind),
        intercept=np.bool_(intercept),
        p0=np.float64(p0),
        p1=np.float64(p1),
        p2=np.float64(p2),
    )


def _sample_ffi(logw: jax.Array, words: jax.Array, num_samples: int, replace: bool) -> jax.Array:
    out = jax.ShapeDtypeStruct(logw.shape[:-1] + (num_samples,), jnp.int32)  # [B, S]
    call = jax.ffi.ffi_call(_native.SAMPLE_TARGET, out, vmap_method="broadcast_all")
    return call(logw, words, replace=np.bool_(replace))


# Widest parent sets the native kernels solve: the CPU kernel's per-set system (the set's
# columns, the intercept, the target) is at most 64 wide whatever the prior; the CUDA kernel's
# lives in registers, at most 15 wide with the intercept. Wider sets are scored by the reference
# (the same closed form, pure JAX): callers never need to know the limits.
CPU_MAX_SET_WIDTH = 63
CUDA_MAX_SYSTEM = 15


def _dispatch(native_fn, reference_fn, *args, cuda: bool = True):  # type: ignore[no-untyped-def]
    """Native where registered for the platform the computation lowers to (on a GPU only if
    ``cuda``), reference elsewhere (e.g. a GPU with an extension built without CUDA). Decided
    at lowering time."""
    if cuda and _native.STATUS.cuda:
        return native_fn(*args)
    return jax.lax.platform_dependent(*args, cpu=native_fn, default=reference_fn)


@functools.partial(jax.jit, static_argnames=("prior",))
def _score_native(
    x: jax.Array, used: jax.Array, target: jax.Array, sets: jax.Array, *, prior: Prior
) -> jax.Array:
    intercept = prior.ffi_params()[1]
    return _dispatch(
        functools.partial(_score_ffi, prior=prior),
        functools.partial(reference.score_core, prior=prior),
        x,
        used,
        target,
        sets,
        cuda=sets.shape[-1] + int(bool(intercept)) <= CUDA_MAX_SYSTEM,
    )


@functools.partial(jax.jit, static_argnames=("num_samples", "replace"))
def _sample_native(
    logw: jax.Array, words: jax.Array, *, num_samples: int, replace: bool
) -> jax.Array:
    return _dispatch(
        functools.partial(_sample_ffi, num_samples=num_samples, replace=replace),
        functools.partial(reference.sample_core, num_samples=num_samples, replace=replace),
        logw,
        words,
    )


def score_parent_sets(
    X: ArrayLike,
    intervened: ArrayLike,
    target: ArrayLike,
    parent_sets: ArrayLike,
    *,
    prior: Prior = GaussianPrior(),  # noqa: B008 (frozen, hashable)
    row_mask: ArrayLike | None = None,
) -> jax.Array:
    """Log marginal likelihood of each candidate parent set, per batch element.

    For batch element b, y = X[b, :, target[b]] is regressed on the columns X[b, :, S] of each
    set S under `prior` (Bayesian linear regression, closed form). Rows where target[b] was
    intervened on are left out, and so are rows with row_mask[b, n] false; with no rows left the
    score is 0 (an empty likelihood). A set that contains target[b] scores -inf (so one table
    can serve a batch whose targets differ). Works under jax.jit and jax.vmap.

    Args:
        X: data [B, N, d], floating (computed as float32 in, float64 accumulation on CPU).
        intervened: [B, N, d] bool/int, nonzero where that variable was intervened on.
        target: [B] int, the target variable of each batch element.
        parent_sets: [K, k_max] int32 candidate sets, padded with -1 (see
            `enumerate_parent_sets`); -1 entries are ignored wherever they stand.
        prior: GaussianPrior (known noise, the default) or NIGPrior.
        row_mask: optional [B, N] bool/int; false rows are left out.

    Sets of any width are scored: those wider than the native kernel solves (63 columns on
    CPU; 15 on a GPU, 14 with an intercept) by the pure-JAX reference, the same closed form.

    Returns:
        float32 [B, K] log marginal likelihoods.

    Raises:
        KernelInputError: wrong shapes or dtypes; when the inputs are concrete (not traced),
            also NaN/inf in X, a target or set entry out of range, or a variable listed twice
            in one set. Under tracing such values yield NaN scores instead.
    """
    prior = check_prior(prior)
    x, used, t, sets = score_inputs(X, intervened, target, parent_sets, row_mask)
    if not _native.STATUS.available:
        _native.warn_fallback_once()
        return reference.score_core(x, used, t, sets, prior=prior)
    if sets.shape[0] == 0 or x.shape[0] == 0:
        return jnp.zeros((x.shape[0], sets.shape[0]), jnp.float32)
    if sets.shape[-1] > CPU_MAX_SET_WIDTH:  # wider than any native kernel solves
        return reference.score_core(x, used, t, sets, prior=prior)
    return _score_native(x, used, t, sets, prior=prior)


def sample_parent_sets(
    log_weights: ArrayLike, *, key: ArrayLike, num_samples: int, replace: bool = True
) -> jax.Array:
    """Samples candidate indices with probabilities softmax(log_weights) per batch element.

    With replacement: Gumbel-max, one independent argmax of log_weights + Gumbel noise per
    sample. Without: Gumbel-top-k, the num_samples largest perturbed weights, largest first
    (a draw in order without replacement). The noise comes from a counter-based generator
    (Threefry-2x32) seeded by `key`, so the same key gives the same indices on CPU and GPU.
    -inf weights are never drawn; a draw with nothing left to choose from is -1.

    Args:
        log_weights: [B, K] unnormalised log probabilities (no NaN or +inf).
        key: a single PRNG key (jax.random.key or jax.random.PRNGKey).
        num_samples: S, a Python int (at most K without replacement).
        replace: sample with (default) or without replacement.

    Returns:
        int32 [B, S] indices into the K candidates.

    Raises:
        KernelInputError: bad shapes, dtypes, num_samples, key, or NaN/+inf weights (when the
            weights are concrete).
    """
    w, words, num_samples, replace = sample_inputs(log_weights, key, num_samples, replace)
    if not _native.STATUS.available:
        _native.warn_fallback_once()
        return reference.sample_core(w, words, num_samples=num_samples, replace=replace)
    if num_samples == 0 or w.shape[0] == 0:
        return jnp.zeros((w.shape[0], num_samples), jnp.int32)
    return _sample_native(w, words, num_samples=num_samples, replace=replace)
