"""Host-side randomness derived from JAX keys."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def host_rng(key: jax.Array) -> np.random.Generator:
    """A numpy Generator determined by a JAX PRNG key (typed or raw ``uint32[2]``).

    Small host-side draws (bootstrap indices, initial weights, random features, intervention
    values) use it: each distinct shape drawn with ``jax.random`` compiles its own kernel, which
    costs seconds over a run, while the numbers themselves take microseconds.
    """
    if jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng([int(v) for v in np.asarray(key, np.uint32).ravel()])
