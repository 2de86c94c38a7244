"""Checkpoints: a pytree of arrays (``arrays.npz``) plus a JSON sidecar, written atomically.

A checkpoint is a directory::

    checkpoint.json   {"kind", "format_version", "config", "metadata", "paths"}
    arrays.npz        one array per leaf, named by its position in the tree

The pytree's structure is recorded as key paths, so nested dicts (haiku params) load without a
template; anything else (optax states, NamedTuples) loads into the structure of ``like``. No
project class is pickled. The directory is built beside its destination and renamed into place,
so a crash leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from acbo_core.errors import CheckpointError

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "read_checkpoint_info",
           "write_directory"]

_SIDECAR = "checkpoint.json"
_ARRAYS = "arrays.npz"


def _key_name(entry: Any) -> str | int:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            value = getattr(entry, attr)
            return value if isinstance(value, int) else str(value)
    return str(entry)


def save_checkpoint(
    path: str | os.PathLike[str],
    tree: Any,
    *,
    kind: str,
    format_version: int,
    config: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> pathlib.Path:
    """Writes ``tree`` and its sidecar to the directory ``path`` (replacing it atomically).

    Args:
      path: destination directory.
      tree: a pytree whose leaves are arrays.
      kind: what the checkpoint holds (e.g. ``"acbo.surrogate"``), checked on load.
      format_version: the writer's format version, checked on load.
      config: JSON-serialisable configuration to store beside the arrays.
      metadata: JSON-serialisable extra information (step, metrics, ...).

    Returns:
      The checkpoint directory.
    """
    path = pathlib.Path(path)
    leaves_with_paths, _ = jax.tree_util.tree_flatten_with_path(tree)
    arrays = {f"leaf_{i:05d}": np.asarray(leaf) for i, (_, leaf) in enumerate(leaves_with_paths)}
    paths = [[_key_name(k) for k in p] for p, _ in leaves_with_paths]
    sidecar = {"kind": kind, "format_version": int(format_version), "config": dict(config or {}),
               "metadata": dict(metadata or {}), "paths": paths}
    text = json.dumps(sidecar, indent=1, allow_nan=False)  # fails before anything is written

    def fill(tmp: pathlib.Path) -> None:
        with open(tmp / _ARRAYS, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        (tmp / _SIDECAR).write_text(text)

    write_directory(path, fill)
    return path


def write_directory(path: str | os.PathLike[str],
                    fill: Callable[[pathlib.Path], None]) -> pathlib.Path:
    """Writes a directory atomically: ``fill(tmp)`` builds it beside ``path``, then it is
    renamed into place (replacing an existing one), so a crash leaves the old directory or the
    new one, never half of one.

    Returns:
      ``path``.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        fill(tmp)
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_checkpoint_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The sidecar of a checkpoint (kind, format_version, config, metadata).

    Raises:
      CheckpointError: no checkpoint there, or an unreadable sidecar.
    """
    sidecar = pathlib.Path(path) / _SIDECAR
    try:
        info = json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {str(path)!r} (missing {_SIDECAR})") from None
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"corrupt checkpoint sidecar {str(sidecar)!r}: {err}") from None
    if not isinstance(info, dict) or not {"kind", "format_version", "paths"} <= set(info):
        raise CheckpointError(f"corrupt checkpoint sidecar {str(sidecar)!r}: missing fields")
    return info


def _nested(paths: list[list[Any]], leaves: list[np.ndarray]) -> Any:
    root: dict[Any, Any] = {}
    for keys, leaf in zip(paths, leaves, strict=True):
        node = root
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = leaf
    return root


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    kind: str,
    format_version: int,
    like: Any = None,
) -> tuple[Any, dict[str, Any]]:
    """Reads a checkpoint written by :func:`save_checkpoint`.

    Args:
      path: the checkpoint directory.
      kind: the expected kind.
      format_version: the version this reader understands; any other is refused.
      like: optional pytree giving the structure to restore (needed for non-dict trees).

    Returns:
      ``(tree, info)``: the arrays (numpy) in the saved structure, and the sidecar.

    Raises:
      CheckpointError: missing, corrupt, another kind, another format version, or a structure
        that differs from ``like``.
    """
    info = read_checkpoint_info(path)
    if info["kind"] != kind:
        raise CheckpointError(f"{str(path)!r} holds a {info['kind']!r} checkpoint, not {kind!r}")
    if info["format_version"] != format_version:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint format version {info['format_version']}, but this "
            f"code reads version {format_version} of {kind!r}; re-create it with this version"
        )
    try:
        with np.load(pathlib.Path(path) / _ARRAYS, allow_pickle=False) as data:
            leaves = [data[f"leaf_{i:05d}"] for i in range(len(info["paths"]))]
    except (OSError, KeyError, ValueError) as err:
        raise CheckpointError(f"corrupt checkpoint arrays in {str(path)!r}: {err}") from None
    if like is None:
        return _nested(info["paths"], leaves), info
    like_paths, treedef = jax.tree_util.tree_flatten_with_path(like)
    expected = [[_key_name(k) for k in p] for p, _ in like_paths]
    if expected != info["paths"]:
        raise CheckpointError(
            f"{str(path)!r} does not match the expected structure (saved {len(info['paths'])} "
            f"leaves, expected {len(expected)})"
        )
    for (p, ref), leaf in zip(like_paths, leaves, strict=True):
        if np.shape(ref) != leaf.shape:
            raise CheckpointError(
                f"{str(path)!r}: leaf {jax.tree_util.keystr(p)} has shape {leaf.shape}, "
                f"expected {np.shape(ref)}"
            )
    return jax.tree_util.tree_unflatten(treedef, leaves), info
