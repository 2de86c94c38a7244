"""Input checks at the public entry points, before any kernel runs.

Shapes and dtypes are checked always. Values (NaN/inf, indices out of range, duplicate set
members) are checked when the inputs are concrete; under `jax.jit`/`jax.vmap` they are tracers
whose values are unknown at trace time, and the kernel then returns NaN for a set with an index
out of range (or a target out of range) and propagates NaN from X.

Glossary: B batch, N rows, d variables, K candidate sets, k_max set width, S samples.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._errors import KernelInputError


def _concrete(*arrays: Any) -> bool:
    return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def _shape_dtype(name: str, a: Any) -> tuple[tuple[int, ...], np.dtype]:
    try:
        return tuple(np.shape(a)), np.dtype(jnp.result_type(a))
    except TypeError as err:
        raise KernelInputError(f"{name} is not an array ({type(a).__name__})") from err


def _require_int_or_bool(name: str, dtype: np.dtype) -> None:
    if not (np.issubdtype(dtype, np.integer) or dtype == np.bool_):
        raise KernelInputError(f"{name} must be bool or integer, got dtype {dtype}")


def score_inputs(
    X: ArrayLike,
    intervened: ArrayLike,
    target: ArrayLike,
    parent_sets: ArrayLike,
    row_mask: ArrayLike | None,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Checks the scoring inputs and returns (x f32 [B, N, d], rows used bool [B, N],
    target int32 [B], sets int32 [K, k_max]).

    A row is used for batch element b when row_mask[b, n] is true (default all rows) and the
    target of b was not intervened on in that row.
    """
    xs, xdt = _shape_dtype("X", X)
    if len(xs) != 3:
        raise KernelInputError(f"X must be [B, N, d], got shape {xs}")
    if not np.issubdtype(xdt, np.floating):
        raise KernelInputError(f"X must be floating point, got dtype {xdt}")
    B, N, d = xs
    if d < 1:
        raise KernelInputError("X must have at least one variable (d >= 1)")
    ins, idt = _shape_dtype("intervened", intervened)
    if ins != xs:
        raise KernelInputError(f"intervened must have X's shape {xs}, got {ins}")
    _require_int_or_bool("intervened", idt)
    ts, tdt = _shape_dtype("target", target)
    if ts != (B,):
        raise KernelInputError(f"target must be [B] = ({B},), got shape {ts}")
    if not np.issubdtype(tdt, np.integer):
        raise KernelInputError(f"target must be integer, got dtype {tdt}")
    ss, sdt = _shape_dtype("parent_sets", parent_sets)
    if len(ss) != 2:
        raise KernelInputError(f"parent_sets must be [K, k_max], got shape {ss}")
    if not np.issubdtype(sdt, np.integer):
        raise KernelInputError(f"parent_sets must be integer, got dtype {sdt}")
    if row_mask is not None:
        ms, mdt = _shape_dtype("row_mask", row_mask)
        if ms != (B, N):
            raise KernelInputError(f"row_mask must be [B, N] = ({B}, {N}), got shape {ms}")
        _require_int_or_bool("row_mask", mdt)

    x = jnp.asarray(X)
    t = jnp.asarray(target)
    sets = jnp.asarray(parent_sets)
    if _concrete(x):
        finite = bool(jnp.all(jnp.isfinite(x)))
        if finite and x.dtype != jnp.float32:
            finite = bool(jnp.all(jnp.isfinite(x.astype(jnp.float32))))
        if not finite:
            raise KernelInputError("X contains NaN or inf (or values beyond float32's range)")
    if _concrete(t) and B > 0:
        tn = np.asarray(t)
        if tn.min() < 0 or tn.max() >= d:
            raise KernelInputError(
                f"target values must lie in [0, {d}), got {tn.min()}..{tn.max()}"
            )
    if _concrete(sets) and sets.size > 0:
        sn = np.asarray(sets)
        if sn.min() < -1 or sn.max() >= d:
            raise KernelInputError(
                f"parent_sets entries must lie in [0, {d}) or be -1 (padding), "
                f"got {sn.min()}..{sn.max()}"
            )
        srt = np.sort(sn, axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
        if dup.any():
            row = int(np.argmax(dup.any(axis=1)))
            raise KernelInputError(f"parent_sets row {row} lists a variable twice: {sn[row]}")

    x = x.astype(jnp.float32)
    t = t.astype(jnp.int32)
    sets = sets.astype(jnp.int32)
    iv = jnp.asarray(intervened)
    # target_intervened[b, n]: was b's target set by intervention in row n?
    target_intervened = jnp.take_along_axis(iv, t[:, None, None], axis=2, mode="clip")[..., 0]
    used = target_intervened == 0
    if row_mask is not None:
        used = used & (jnp.asarray(row_mask) != 0)
    return x, used, t, sets


def sample_inputs(
    log_weights: ArrayLike, key: ArrayLike, num_samples: int, replace: bool
) -> tuple[jax.Array, jax.Array, int, bool]:
    """Checks the sampling inputs; returns (log weights f32 [B, K], key words uint32 [2],
    num_samples, replace). Key words come from jax.random.bits, so typed keys of any
    implementation and legacy uint32[2] keys both work."""
    ws, wdt = _shape_dtype("log_weights", log_weights)
    if len(ws) != 2:
        raise KernelInputError(f"log_weights must be [B, K], got shape {ws}")
    if not np.issubdtype(wdt, np.floating):
        raise KernelInputError(f"log_weights must be floating point, got dtype {wdt}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int | np.integer):
        raise KernelInputError(f"num_samples must be a Python int, got {num_samples!r}")
    num_samples = int(num_samples)
    if num_samples < 0:
        raise KernelInputError(f"num_samples must be >= 0, got {num_samples}")
    K = ws[1]
    if not replace and num_samples > K:
        raise KernelInputError(
            f"num_samples={num_samples} exceeds K={K} candidates without replacement"
        )
    if K == 0 and num_samples > 0:
        raise KernelInputError("cannot sample from K = 0 candidates")
    if K >= 2**31:
        raise KernelInputError("K must be below 2**31")
    w = jnp.asarray(log_weights)
    if _concrete(w) and w.size > 0:
        if bool(jnp.any(jnp.isnan(w) | (w == jnp.inf))):
            raise KernelInputError("log_weights contain NaN or +inf (-inf marks an impossible set)")
    try:
        words = jax.random.bits(key, (2,), jnp.uint32)
    except Exception as err:
        raise KernelInputError(
            f"key must be a single PRNG key (jax.random.key or PRNGKey), got {key!r}"
        ) from err
    return w.astype(jnp.float32), words, num_samples, bool(replace)
