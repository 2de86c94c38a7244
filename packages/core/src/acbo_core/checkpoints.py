"""Checkpoints: a pytree of arrays (``arrays.npz``) plus a JSON sidecar, written atomically.

A checkpoint is a directory::

    checkpoint.json   {"kind", "format_version", "config", "metadata", "paths", "integrity"}
    arrays.npz        one array per leaf, named by its position in the tree
    .acbo-directory.json   the marker that lets a later save replace it (acbo_core.storage)

The pytree's structure is recorded as key paths, so nested dicts (haiku params) load without a
template; anything else (optax states, NamedTuples) loads into the structure of ``like``. No
project class is pickled. ``integrity`` holds the SHA-256 of the arrays file and each leaf's
dtype and shape, checked on load, and floating leaves must be finite. The directory is written
with :func:`acbo_core.storage.write_directory`: a crash leaves the old checkpoint or the new one,
and only a checkpoint of the same kind is ever replaced.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from acbo_core.errors import CheckpointError
from acbo_core.storage import dumps_json, recover_directory, write_directory, write_file

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "read_checkpoint_info"]

_SIDECAR = "checkpoint.json"
_ARRAYS = "arrays.npz"
_LAYOUT = 2  # of the sidecar itself (2: with "integrity"); the caller's format_version is apart
_DIRECTORY_KIND = "acbo.checkpoint"


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
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    data = buf.getvalue()
    sidecar = {"kind": kind, "format_version": int(format_version), "layout": _LAYOUT,
               "config": dict(config or {}), "metadata": dict(metadata or {}), "paths": paths,
               "integrity": {"sha256": hashlib.sha256(data).hexdigest(),
                             "leaves": [[a.dtype.str, list(a.shape)] for a in arrays.values()]}}
    # Serialising first fails before anything is written (e.g. an object in the config).
    text = dumps_json(sidecar, indent=1)

    def fill(tmp: pathlib.Path) -> None:
        write_file(tmp / _ARRAYS, data)
        write_file(tmp / _SIDECAR, text)

    write_directory(path, fill, kind=_DIRECTORY_KIND)
    return path


def _damaged(path: pathlib.Path, problem: str) -> CheckpointError:
    return CheckpointError(f"damaged checkpoint {str(path)!r}: {problem}")


def _check_sidecar(info: Any, sidecar: pathlib.Path) -> dict[str, Any]:
    if not isinstance(info, dict):
        raise _damaged(sidecar, "the sidecar is not a JSON object")
    expected = {"kind": str, "format_version": int, "paths": list, "config": dict,
                "metadata": dict, "integrity": dict}
    for name, typ in expected.items():
        if name not in info:
            raise _damaged(sidecar, f"missing field {name!r} (written by an older acbo-core? "
                                    "re-create it)" if name == "integrity" else
                           f"missing field {name!r}")
        if not isinstance(info[name], typ) or isinstance(info[name], bool):
            raise _damaged(sidecar, f"field {name!r} should be a {typ.__name__}, got "
                                    f"{type(info[name]).__name__}")
    for i, keys in enumerate(info["paths"]):
        if not (isinstance(keys, list)
                and all(isinstance(k, str | int) and not isinstance(k, bool) for k in keys)):
            raise _damaged(sidecar, f"paths[{i}] is not a list of keys")
    integrity = info["integrity"]
    leaves = integrity.get("leaves")
    if not isinstance(integrity.get("sha256"), str) or not isinstance(leaves, list) or len(
            leaves) != len(info["paths"]):
        raise _damaged(sidecar, "malformed 'integrity' field")
    for i, leaf in enumerate(leaves):
        if not (isinstance(leaf, list) and len(leaf) == 2 and isinstance(leaf[0], str)
                and isinstance(leaf[1], list)
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                        for n in leaf[1])):
            raise _damaged(sidecar, f"integrity.leaves[{i}] is not [dtype, shape]")
    return info


def read_checkpoint_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The sidecar of a checkpoint (kind, format_version, config, metadata, paths, integrity).

    Raises:
      CheckpointError: no checkpoint there, or a damaged sidecar (the path and the problem are
        named).
    """
    path = pathlib.Path(path)
    if not path.exists():
        recover_directory(path)  # a write interrupted between its two renames
    sidecar = path / _SIDECAR
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{str(path)!r} is a file, not a checkpoint directory")
    try:
        raw = sidecar.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {str(path)!r} (missing {_SIDECAR})") from None
    except OSError as err:
        raise _damaged(sidecar, err.strerror or str(err)) from None
    try:
        info = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _damaged(sidecar, "the sidecar is not UTF-8 text") from None
    except ValueError as err:
        raise _damaged(sidecar, f"the sidecar is not valid JSON ({err})") from None
    except RecursionError:
        raise _damaged(sidecar, "the sidecar's JSON is nested too deeply") from None
    return _check_sidecar(info, sidecar)


def _nested(paths: list[list[Any]], leaves: list[np.ndarray]) -> Any:
    if paths == [[]]:  # the tree is a single array
        return leaves[0]
    root: dict[Any, Any] = {}
    for keys, leaf in zip(paths, leaves, strict=True):
        if not keys:
            raise CheckpointError("the sidecar's paths do not form a tree")
        node = root
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise CheckpointError("the sidecar's paths do not form a tree")
        node[keys[-1]] = leaf
    return root


def _read_arrays(path: pathlib.Path, info: dict[str, Any]) -> list[np.ndarray]:
    file = path / _ARRAYS
    try:
        data = file.read_bytes()
    except OSError as err:
        raise _damaged(file, err.strerror or str(err)) from None
    if hashlib.sha256(data).hexdigest() != info["integrity"]["sha256"]:
        raise _damaged(file, "checksum mismatch (the arrays file was truncated or altered)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            leaves = [npz[f"leaf_{i:05d}"] for i in range(len(info["paths"]))]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise _damaged(file, f"unreadable arrays ({err})") from None
    for i, (leaf, (dtype, shape)) in enumerate(zip(leaves, info["integrity"]["leaves"],
                                                   strict=True)):
        if leaf.dtype.str != dtype or list(leaf.shape) != shape:
            raise _damaged(file, f"leaf {i} is {leaf.dtype.str}{list(leaf.shape)}, the sidecar "
                                 f"says {dtype}{shape}")
        if leaf.dtype.kind in "fc" and not np.all(np.isfinite(leaf)):
            raise _damaged(file, f"leaf {'/'.join(map(str, info['paths'][i]))} holds NaN or "
                                 "infinite values")
    return leaves


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    kind: str,
    format_version: int,
    like: Any = None,
) -> tuple[Any, dict[str, Any]]:
    """Reads a checkpoint written by :func:`save_checkpoint`, checking its integrity.

    Args:
      path: the checkpoint directory.
      kind: the expected kind.
      format_version: the version this reader understands; any other is refused.
      like: optional pytree giving the structure to restore (needed for non-dict trees).

    Returns:
      ``(tree, info)``: the arrays (numpy) in the saved structure, and the sidecar.

    Raises:
      CheckpointError: missing, damaged in any way (sidecar, checksum, dtype, shape, NaN or
        infinite parameters), another kind, another format version, or a structure that
        differs from ``like``.
    """
    path = pathlib.Path(path)
    info = read_checkpoint_info(path)
    if info["kind"] != kind:
        raise CheckpointError(f"{str(path)!r} holds a {info['kind']!r} checkpoint, not {kind!r}")
    if info["format_version"] != format_version:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint format version {info['format_version']}, but this "
            f"code reads version {format_version} of {kind!r}; re-create it with this version"
        )
    leaves = _read_arrays(path, info)
    if like is None:
        try:
            return _nested(info["paths"], leaves), info
        except CheckpointError as err:
            raise _damaged(path / _SIDECAR, str(err)) from None
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
