"""Saving and restoring policies and training states with acbo-core's checkpoint format.

A policy checkpoint holds the network parameters and its :class:`PolicyConfig`, so
:func:`load_policy` needs nothing else. A training-state checkpoint holds a whole
:class:`BCState` or :class:`GRPOState` (parameters, optimiser state, step, PRNG key) and restores
into the structure of a freshly initialised one, so a run resumes exactly where it stopped.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp

from acbo_acquisition.config import AcquisitionConfig, PolicyConfig
from acbo_acquisition.grpo import GRPOState
from acbo_acquisition.imitation import BCState
from acbo_acquisition.policy import check_params
from acbo_core import load_checkpoint, save_checkpoint
from acbo_core.configs import from_dict, to_dict
from acbo_core.errors import CheckpointError

__all__ = ["save_policy", "load_policy", "save_training_state", "load_training_state",
           "POLICY_KIND", "FORMAT_VERSION"]

POLICY_KIND = "acbo.acquisition.policy"
_STATE_KINDS = {BCState: "acbo.acquisition.bc_state", GRPOState: "acbo.acquisition.grpo_state"}
FORMAT_VERSION = 1


def save_policy(path: str | os.PathLike[str], params: hk.Params, config: PolicyConfig, *,
                metadata: Mapping[str, Any] | None = None) -> pathlib.Path:
    """Writes a policy's parameters and configuration (atomically).

    Raises:
      ShapeMismatchError: ``params`` that do not fit ``config``.
    """
    check_params(params, config)
    return save_checkpoint(path, params, kind=POLICY_KIND, format_version=FORMAT_VERSION,
                           config=to_dict(config), metadata=metadata)


def load_policy(path: str | os.PathLike[str]) -> tuple[hk.Params, PolicyConfig]:
    """Reads a policy written by :func:`save_policy`.

    Returns:
      ``(params, config)``.

    Raises:
      CheckpointError: missing, corrupt, of another kind or version, or a bad configuration.
    """
    params, info = load_checkpoint(path, kind=POLICY_KIND, format_version=FORMAT_VERSION)
    try:
        config = from_dict(PolicyConfig, info["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{str(path)!r}: bad policy configuration: {err}") from None
    params = jax.tree_util.tree_map(jnp.asarray, params)
    try:
        check_params(params, config)
    except ValueError as err:
        raise CheckpointError(f"{str(path)!r}: {err}") from None
    return params, config


def _kind(state: Any) -> str:
    for cls, kind in _STATE_KINDS.items():
        if isinstance(state, cls):
            return kind
    raise CheckpointError(f"expected a BCState or a GRPOState, got {type(state).__name__}")


def save_training_state(path: str | os.PathLike[str], state: BCState | GRPOState, *,
                        config: AcquisitionConfig,
                        metadata: Mapping[str, Any] | None = None) -> pathlib.Path:
    """Writes a behavioural-cloning or GRPO state and the configuration of its run."""
    tree = state._replace(key=jax.random.key_data(state.key))
    return save_checkpoint(path, tree, kind=_kind(state), format_version=FORMAT_VERSION,
                           config=to_dict(config), metadata=metadata)


def load_training_state(path: str | os.PathLike[str], like: BCState | GRPOState, *,
                        config: AcquisitionConfig | None = None
                        ) -> tuple[BCState | GRPOState, dict[str, Any]]:
    """Restores a state saved by :func:`save_training_state`.

    Args:
      path: the checkpoint.
      like: a freshly initialised state of the same kind and configuration (its structure and
        shapes are what is restored into).
      config: if given, the saved run's configuration must equal it.

    Returns:
      ``(state, info)``, ``info`` being the checkpoint's sidecar (config, metadata).

    Raises:
      CheckpointError: missing, corrupt, another kind, version or structure, or another
        configuration than ``config``.
    """
    template = like._replace(key=jax.random.key_data(like.key))
    tree, info = load_checkpoint(path, kind=_kind(like), format_version=FORMAT_VERSION,
                                 like=template)
    if config is not None and info["config"] != to_dict(config):
        raise CheckpointError(f"{str(path)!r} was written by a run with another configuration: "
                              f"{info['config']}")
    tree = jax.tree_util.tree_map(lambda ref, a: jnp.asarray(a, dtype=jnp.asarray(ref).dtype),
                                  template, tree)
    return tree._replace(key=jax.random.wrap_key_data(tree.key)), info
