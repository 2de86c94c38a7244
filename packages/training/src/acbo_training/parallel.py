"""Data-parallel training over the available devices with ``jax.sharding``.

Parameters and optimiser state are replicated; the batch is split along its leading axis over
a one-dimensional ``"data"`` mesh. The update function stays the single-device one: under
``jax.jit`` with these shardings XLA inserts the gradient all-reduce itself, so 1-device and
n-device training compute the same thing (up to floating-point summation order).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from acbo_training.errors import ConfigError

__all__ = ["data_mesh", "replicate", "shard_batch"]


def data_mesh(n_devices: int | None = None) -> Mesh:
    """A 1-D mesh named ``"data"`` over the first ``n_devices`` devices (default: all).

    Raises:
      ConfigError: more devices asked for than there are.
    """
    devices = jax.devices()
    n = len(devices) if n_devices is None else n_devices
    if not 1 <= n <= len(devices):
        raise ConfigError(f"asked for {n} devices, {len(devices)} available")
    return Mesh(np.asarray(devices[:n]), ("data",))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Copies every leaf to every device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Splits every leaf along its leading (batch) axis over the mesh.

    Raises:
      ConfigError: a batch size that the number of devices does not divide.
    """
    n = mesh.devices.size
    for leaf in jax.tree_util.tree_leaves(batch):
        if np.shape(leaf)[0] % n:
            raise ConfigError(f"batch size {np.shape(leaf)[0]} is not divisible by {n} devices")
    return jax.device_put(batch, NamedSharding(mesh, PartitionSpec("data")))
