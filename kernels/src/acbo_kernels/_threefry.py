"""Counter-based random bits and Gumbel draws in pure JAX, bit for bit the ones of
csrc/acbo_math.h (Threefry-2x32, 20 rounds, on uint32 words only)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
NO_REPLACE_KEY_TWEAK = np.uint32(0x5BD1E995)  # acbo::kNoReplaceKeyTweak


def _rotl(x: jax.Array, r: int) -> jax.Array:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(
    k0: jax.Array, k1: jax.Array, c0: jax.Array, c1: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32-20 of counters (c0, c1) under key (k0, k1); all uint32, broadcast."""
    k0, k1, c0, c1 = (jnp.asarray(v, jnp.uint32) for v in (k0, k1, c0, c1))
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(0x1BD11BDA))
    x0, x1 = c0 + ks[0], c1 + ks[1]
    for i in range(20):
        x0 = x0 + x1
        x1 = _rotl(x1, _ROTATIONS[i % 8]) ^ x0
        if i % 4 == 3:
            s = i // 4 + 1
            x0 = x0 + ks[s % 3]
            x1 = x1 + ks[(s + 1) % 3] + np.uint32(s)
    return x0, x1


def x64_enabled() -> bool:
    """Whether float64 arrays are on (jax_enable_x64, including the jax.enable_x64 context)."""
    return bool(jax.dtypes.canonicalize_dtype(np.float64) == np.float64)


def gumbel_from_bits(b0: jax.Array, b1: jax.Array) -> jax.Array:
    """Standard Gumbel draws. With jax_enable_x64 this is the kernel's double-precision
    formula (53 random bits), so draws agree with the kernel to the last bit or so; without it,
    a float32 version from 24 bits: the same distribution, rounded differently."""
    if x64_enabled():
        u = (
            (b0 >> np.uint32(5)).astype(jnp.float64) * 67108864.0
            + (b1 >> np.uint32(6)).astype(jnp.float64)
            + 0.5
        ) * 2.0**-53
    else:
        u = ((b0 >> np.uint32(8)).astype(jnp.float32) + 0.5) * np.float32(2.0**-24)
    return -jnp.log(-jnp.log(u))
