"""Sharded, versioned, checksummed dataset files.

A dataset is a directory::

    manifest.json           {"format_version", "kind", "spec"}: what the dataset is
    shard-00000.npz         the arrays of every record in the shard
    shard-00000.json        {"format_version", "index", "sha256", "records": [metadata, ...]}

The ``.npz`` is written first, the ``.json`` last, each through a temporary file and a rename,
so a shard whose sidecar exists is complete; the sidecar holds the SHA-256 of the arrays file,
so a truncated or altered shard is detected and named. No Python objects are pickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from acbo_training.errors import CorruptShardError, DatasetMismatchError

__all__ = [
    "DATASET_FORMAT_VERSION",
    "Record",
    "open_dataset",
    "shard_paths",
    "write_shard",
    "read_shard",
    "verify_shard",
    "finished_shards",
]

DATASET_FORMAT_VERSION = 1
_MANIFEST = "manifest.json"

Record = tuple[dict[str, np.ndarray], dict[str, Any]]
"""One record: named arrays and JSON-serialisable metadata."""


def _atomic_write(path: pathlib.Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def open_dataset(directory: str | os.PathLike[str], *, kind: str,
                 spec: Mapping[str, Any]) -> pathlib.Path:
    """Creates a dataset directory, or checks that an existing one was made with ``spec``.

    Raises:
      DatasetMismatchError: the directory holds a dataset of another kind, version or spec
        (the differing keys are named).
    """
    root = pathlib.Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    wanted = {"format_version": DATASET_FORMAT_VERSION, "kind": kind,
              "spec": json.loads(json.dumps(spec))}
    manifest = root / _MANIFEST
    if manifest.exists():
        try:
            have = json.loads(manifest.read_text())
        except json.JSONDecodeError as err:
            raise CorruptShardError(f"corrupt dataset manifest {str(manifest)!r}: {err}") from None
        if have != wanted:
            diff = sorted(k for k in set(have.get("spec", {})) | set(wanted["spec"])
                          if have.get("spec", {}).get(k) != wanted["spec"].get(k))
            raise DatasetMismatchError(
                f"{str(root)!r} holds another dataset (kind {have.get('kind')!r}, format "
                f"{have.get('format_version')}, differing spec keys {diff}); use another "
                "directory or delete it"
            )
    else:
        _atomic_write(manifest, json.dumps(wanted, indent=1).encode())
    return root


def shard_paths(directory: str | os.PathLike[str], index: int) -> tuple[pathlib.Path, pathlib.Path]:
    """``(arrays file, sidecar)`` of shard ``index``."""
    root = pathlib.Path(directory)
    return root / f"shard-{index:05d}.npz", root / f"shard-{index:05d}.json"


def write_shard(directory: str | os.PathLike[str], index: int,
                records: Sequence[Record]) -> pathlib.Path:
    """Writes one shard atomically and returns its sidecar path."""
    arrays_path, sidecar_path = shard_paths(directory, index)
    flat = {f"r{i:04d}/{name}": np.asarray(arr) for i, (arrays, _) in enumerate(records)
            for name, arr in arrays.items()}
    buf = io.BytesIO()
    np.savez(buf, **flat)  # type: ignore[arg-type]
    data = buf.getvalue()
    sidecar = {"format_version": DATASET_FORMAT_VERSION, "index": index,
               "sha256": hashlib.sha256(data).hexdigest(),
               "records": [dict(meta) for _, meta in records]}
    text = json.dumps(sidecar, indent=1, allow_nan=False).encode()
    _atomic_write(arrays_path, data)
    _atomic_write(sidecar_path, text)
    return sidecar_path


def _read_sidecar(sidecar_path: pathlib.Path) -> dict[str, Any]:
    try:
        sidecar = json.loads(sidecar_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CorruptShardError(f"shard {str(sidecar_path)!r} is corrupt: {err}") from None
    if sidecar.get("format_version") != DATASET_FORMAT_VERSION:
        raise CorruptShardError(
            f"shard {str(sidecar_path)!r} has format version {sidecar.get('format_version')}, "
            f"this code reads {DATASET_FORMAT_VERSION}"
        )
    return sidecar


def verify_shard(directory: str | os.PathLike[str], index: int) -> dict[str, Any]:
    """Checks a shard's sidecar and checksum; returns the sidecar.

    Raises:
      CorruptShardError: naming the shard's file and the problem.
    """
    arrays_path, sidecar_path = shard_paths(directory, index)
    sidecar = _read_sidecar(sidecar_path)
    try:
        digest = hashlib.sha256(arrays_path.read_bytes()).hexdigest()
    except OSError as err:
        raise CorruptShardError(f"shard {str(arrays_path)!r} is missing: {err}") from None
    if digest != sidecar.get("sha256"):
        raise CorruptShardError(f"shard {str(arrays_path)!r} is corrupt: checksum mismatch")
    return sidecar


def read_shard(directory: str | os.PathLike[str], index: int) -> list[Record]:
    """Reads and verifies one shard.

    Raises:
      CorruptShardError: naming the shard.
    """
    sidecar = verify_shard(directory, index)
    arrays_path, _ = shard_paths(directory, index)
    records: list[Record] = [({}, meta) for meta in sidecar["records"]]
    with np.load(arrays_path, allow_pickle=False) as data:
        for key in data.files:
            rec, name = key.split("/", 1)
            records[int(rec[1:])][0][name] = data[key]
    return records


def finished_shards(directory: str | os.PathLike[str]) -> set[int]:
    """Indices of shards whose sidecar exists (complete writes; checksums not yet verified)."""
    root = pathlib.Path(directory)
    return {int(p.stem.split("-")[1]) for p in root.glob("shard-*.json")}
