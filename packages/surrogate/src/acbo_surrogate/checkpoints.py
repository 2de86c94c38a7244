"""Surrogate checkpoints: parameters plus the config, through acbo-core's checkpoint format.

A checkpoint is acbo-core's directory (``arrays.npz`` + ``checkpoint.json``) of kind
``"acbo.surrogate"``. Its sidecar holds the :class:`SurrogateConfig` and this module's format
version; a checkpoint of another format version is refused with a ``CheckpointError`` that
names both versions.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp

from acbo_core import load_checkpoint, save_checkpoint
from acbo_core.configs import from_dict, to_dict
from acbo_core.errors import CheckpointError, ConfigError
from acbo_surrogate.config import SurrogateConfig
from acbo_surrogate.training import init_params

__all__ = ["CHECKPOINT_KIND", "FORMAT_VERSION", "save_surrogate", "load_surrogate"]

CHECKPOINT_KIND = "acbo.surrogate"
FORMAT_VERSION = 1


def save_surrogate(
    path: str | os.PathLike[str],
    params: hk.Params,
    config: SurrogateConfig,
    *,
    metadata: Mapping[str, Any] | None = None,
) -> pathlib.Path:
    """Writes ``params`` and ``config`` atomically to the directory ``path``.

    Args:
      path: destination directory (replaced if present).
      params: the model's parameters.
      config: the configuration they were trained with.
      metadata: JSON-serialisable extras (training steps, metrics, ...).

    Returns:
      The checkpoint directory.
    """
    return save_checkpoint(path, jax.device_get(params), kind=CHECKPOINT_KIND,
                           format_version=FORMAT_VERSION, config=to_dict(config),
                           metadata=metadata)


def load_surrogate(path: str | os.PathLike[str]) -> tuple[hk.Params, SurrogateConfig,
                                                           dict[str, Any]]:
    """Reads a checkpoint written by :func:`save_surrogate`.

    Returns:
      ``(params, config, metadata)``; params as jax arrays in the model's structure.

    Raises:
      CheckpointError: missing or corrupt, another kind, another format version, or parameters
        that do not fit the stored config.
    """
    info = load_checkpoint(path, kind=CHECKPOINT_KIND, format_version=FORMAT_VERSION)[1]
    try:
        config = from_dict(SurrogateConfig, info["config"])
    except ConfigError as err:
        raise CheckpointError(f"{str(path)!r}: {err}") from None
    like = jax.eval_shape(lambda: init_params(jax.random.key(0), config))
    params, _ = load_checkpoint(path, kind=CHECKPOINT_KIND, format_version=FORMAT_VERSION,
                                like=like)
    params = jax.tree.map(jnp.asarray, params)
    return params, config, dict(info.get("metadata", {}))
