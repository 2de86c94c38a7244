"""PRNG key helpers shared by the host-side generators."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def numpy_rng(key: jax.Array) -> np.random.Generator:
    """A numpy Generator determined by a JAX PRNG key (typed or raw ``uint32[2]``).

    Graph generation is host-side, branchy work that would be slow as many tiny JAX ops; it
    still takes an explicit JAX key so the same key gives the same SCM.
    """
    if jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    data = np.asarray(key, dtype=np.uint32).ravel()
    return np.random.default_rng([int(v) for v in data])
