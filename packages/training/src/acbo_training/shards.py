"""Sharded, versioned, checksummed dataset files.

A dataset is a directory::

    .acbo-directory.json    the marker of a directory ACBO made (:func:`acbo_core.claim_directory`)
    manifest.json           {"format_version", "kind", "spec", "shards", "records"}
    shard-00000.npz         the arrays of every record in the shard
    shard-00000.json        {"format_version", "index", "sha256", "records": [metadata, ...]}

The manifest says what the dataset is and how many shards and records it holds once complete,
so a missing shard is named instead of silently dropping its records. The ``.npz`` is written
first, the ``.json`` last, each through a temporary file and a rename, so a shard whose sidecar
exists is complete. The sidecar's ``sha256`` covers the arrays file *and* the records metadata
(the SHA-256 of the ``.npz`` bytes, a NUL byte, then the canonical JSON of
``{"index", "records"}``), so a truncated or altered file, or an edited sidecar, is detected
and named. Every file is deterministic byte for byte for the same records (sorted JSON keys, a
zip with fixed timestamps). No Python objects are pickled.

Every way a file can be damaged (missing, truncated, empty, not UTF-8, not JSON, nested too
deeply, of the wrong shape, a directory in its place) ends in :class:`CorruptShardError` or
:class:`DatasetMismatchError` naming the file, never in another exception.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import re
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from acbo_core import claim_directory, write_file
from acbo_core.errors import NonFiniteDataError, SchemaError
from acbo_training.errors import CorruptShardError, DatasetMismatchError

__all__ = [
    "DATASET_FORMAT_VERSION",
    "Record",
    "open_dataset",
    "read_manifest",
    "shard_paths",
    "write_shard",
    "read_shard",
    "verify_shard",
    "finished_shards",
    "iter_shards",
]

DATASET_FORMAT_VERSION = 2
"""Version 2: the checksum covers the records metadata, the manifest counts shards and records."""

_MANIFEST = "manifest.json"
_SHARD_SIDECAR = re.compile(r"shard-(\d{5,})\.json")
_ARRAY_KEY = re.compile(r"r(\d+)/(.+)")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed: the same records give the same bytes

Record = tuple[dict[str, np.ndarray], dict[str, Any]]
"""One record: named arrays and JSON-serialisable metadata."""


def _json_text(doc: Any) -> bytes:
    """The JSON a dataset file holds: sorted keys, no NaN, so the bytes depend on the data only."""
    return (json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _digest(arrays_data: bytes, index: int, records: Any) -> str:
    h = hashlib.sha256(arrays_data)
    h.update(b"\0")
    h.update(_canonical({"index": index, "records": records}))
    return h.hexdigest()


def _read_json(path: pathlib.Path, what: str) -> Any:
    """Parses a JSON file; every failure is a :class:`CorruptShardError` naming ``path``."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise CorruptShardError(f"{what} {str(path)!r} is missing") from None
    except IsADirectoryError:
        raise CorruptShardError(f"{what} {str(path)!r} is a directory, expected a file") from None
    except UnicodeDecodeError as err:
        raise CorruptShardError(f"{what} {str(path)!r} is corrupt: not UTF-8 ({err})") from None
    except RecursionError:
        raise CorruptShardError(f"{what} {str(path)!r} is corrupt: JSON nested too deeply") \
            from None
    except (OSError, ValueError) as err:
        raise CorruptShardError(f"{what} {str(path)!r} is corrupt: {err}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    return type(value).__name__


# -- manifest -----------------------------------------------------------------------------------


def _check_manifest(doc: Any, path: pathlib.Path) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise CorruptShardError(
            f"dataset manifest {str(path)!r} is corrupt: expected a JSON object, got "
            f"{_type_name(doc)}")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CorruptShardError(
            f"dataset manifest {str(path)!r} is corrupt: 'format_version' must be an integer, "
            f"got {version!r:.60}")
    if version != DATASET_FORMAT_VERSION:
        age = "an older" if version < DATASET_FORMAT_VERSION else "a newer"
        raise DatasetMismatchError(
            f"dataset manifest {str(path)!r} is of {age} format (version {version}); this "
            f"code reads version {DATASET_FORMAT_VERSION}: use another directory, or delete "
            "the dataset to generate it again")
    checks = {"kind": (str, "a string"), "spec": (dict, "a JSON object")}
    for key, (typ, name) in checks.items():
        if not isinstance(doc.get(key), typ):
            raise CorruptShardError(
                f"dataset manifest {str(path)!r} is corrupt: {key!r} must be {name}, got "
                f"{doc.get(key)!r:.60}")
    for key in ("shards", "records"):
        value = doc.get(key)
        if value is not None and not (_is_int(value) and value >= 1):
            raise CorruptShardError(
                f"dataset manifest {str(path)!r} is corrupt: {key!r} must be a positive "
                f"integer or null, got {value!r:.60}")
    unknown = sorted(set(doc) - {"format_version", "kind", "spec", "shards", "records"})
    if unknown:
        raise CorruptShardError(
            f"dataset manifest {str(path)!r} is corrupt: unknown keys {unknown}")
    return doc


def read_manifest(directory: str | os.PathLike[str], *, kind: str | None = None
                  ) -> dict[str, Any]:
    """The manifest of a dataset, checked against its schema (and ``kind`` if given).

    Raises:
      CorruptShardError: no dataset there, or a damaged manifest (named).
      DatasetMismatchError: a dataset of another kind or format version.
    """
    root = pathlib.Path(directory)
    path = root / _MANIFEST
    if not root.is_dir():
        raise CorruptShardError(f"no dataset at {str(root)!r}: not a directory")
    manifest = _check_manifest(_read_json(path, "dataset manifest"), path)
    if kind is not None and manifest["kind"] != kind:
        raise DatasetMismatchError(
            f"{str(root)!r} holds a {manifest['kind']!r} dataset, not {kind!r}")
    return manifest


def open_dataset(directory: str | os.PathLike[str], *, kind: str, spec: Mapping[str, Any],
                 shards: int | None = None, records: int | None = None) -> pathlib.Path:
    """Creates a dataset directory, or checks that an existing one was made with ``spec``.

    Args:
      directory: the dataset directory (created if missing).
      kind: what the dataset holds.
      spec: JSON-serialisable description of how it is made; an existing dataset must match.
      shards: the number of shards of the complete dataset (checked on load), if known.
      records: the number of records of the complete dataset (checked on load), if known.

    Raises:
      DatasetMismatchError: the directory holds a dataset of another kind, version, spec or
        size (the differing keys are named).
      OverwriteRefusedError: ``directory`` is a file, or a directory this code did not make.
      CorruptShardError: a damaged manifest (named).
    """
    root = pathlib.Path(directory)
    wanted = {"format_version": DATASET_FORMAT_VERSION, "kind": kind,
              "spec": json.loads(json.dumps(spec, allow_nan=False)),
              "shards": shards, "records": records}
    manifest = root / _MANIFEST
    if root.is_dir() and (manifest.exists() or manifest.is_symlink()):
        have = _check_manifest(_read_json(manifest, "dataset manifest"), manifest)
        have = {"shards": None, "records": None, **have}
        if have != wanted:
            diff = sorted(k for k in set(have["spec"]) | set(wanted["spec"])
                          if have["spec"].get(k) != wanted["spec"].get(k))
            diff += [k for k in ("kind", "shards", "records") if have[k] != wanted[k]]
            raise DatasetMismatchError(
                f"{str(root)!r} holds another dataset (kind {have['kind']!r}, differing keys "
                f"{diff}); use another directory or delete it"
            )
    # Only an empty directory or one this code made (its marker) becomes a dataset.
    claim_directory(root, kind)
    if not manifest.exists():
        write_file(manifest, _json_text(wanted))
    return root


# -- shards -------------------------------------------------------------------------------------


def shard_paths(directory: str | os.PathLike[str], index: int) -> tuple[pathlib.Path, pathlib.Path]:
    """``(arrays file, sidecar)`` of shard ``index``."""
    root = pathlib.Path(directory)
    return root / f"shard-{index:05d}.npz", root / f"shard-{index:05d}.json"


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An ``.npz`` (readable by :func:`numpy.load`) whose bytes depend on the arrays only."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(arrays[name]), allow_pickle=False)
    return buf.getvalue()


def write_shard(directory: str | os.PathLike[str], index: int,
                records: Sequence[Record]) -> pathlib.Path:
    """Writes one shard atomically and returns its sidecar path.

    Raises:
      CorruptShardError: no records (an empty shard is never written).
      NonFiniteDataError: NaN or infinity in the records metadata (JSON cannot hold them).
      SchemaError: metadata that is not JSON-serialisable.
    """
    arrays_path, sidecar_path = shard_paths(directory, index)
    if not records:
        raise CorruptShardError(f"refusing to write shard {str(sidecar_path)!r} with no records")
    flat = {f"r{i:04d}/{name}": np.asarray(arr) for i, (arrays, _) in enumerate(records)
            for name, arr in arrays.items()}
    data = _npz_bytes(flat)
    try:
        # What the sidecar holds, parsed back: exactly what a reader will hash.
        metas = json.loads(json.dumps([dict(meta) for _, meta in records], allow_nan=False))
    except ValueError as err:
        raise NonFiniteDataError(
            f"shard {str(sidecar_path)!r}: the records metadata holds a non-finite number ({err})"
        ) from None
    except TypeError as err:
        raise SchemaError(f"shard {str(sidecar_path)!r}: records metadata is not JSON: {err}") \
            from None
    sidecar = {"format_version": DATASET_FORMAT_VERSION, "index": index,
               "sha256": _digest(data, index, metas), "records": metas}
    text = _json_text(sidecar)
    write_file(arrays_path, data)
    write_file(sidecar_path, text)
    return sidecar_path


def _check_sidecar(doc: Any, path: pathlib.Path, index: int) -> dict[str, Any]:
    where = f"shard {str(path)!r} is corrupt"
    if not isinstance(doc, dict):
        raise CorruptShardError(f"{where}: expected a JSON object, got {_type_name(doc)}")
    version = doc.get("format_version")
    if not _is_int(version):
        raise CorruptShardError(f"{where}: 'format_version' must be an integer, got "
                                f"{version!r:.60}")
    if version != DATASET_FORMAT_VERSION:
        raise CorruptShardError(
            f"shard {str(path)!r} has format version {version}, this code reads "
            f"{DATASET_FORMAT_VERSION}")
    if doc.get("index") != index or not _is_int(doc.get("index")):
        raise CorruptShardError(f"{where}: 'index' is {doc.get('index')!r:.60}, expected {index}")
    if not (isinstance(doc.get("sha256"), str) and _SHA256.fullmatch(doc["sha256"])):
        raise CorruptShardError(f"{where}: 'sha256' must be 64 hex digits, got "
                                f"{doc.get('sha256')!r:.80}")
    records = doc.get("records")
    if not isinstance(records, list) or not records:
        raise CorruptShardError(f"{where}: 'records' must be a non-empty list, got "
                                f"{records!r:.60}")
    for i, meta in enumerate(records):
        if not isinstance(meta, dict):
            raise CorruptShardError(f"{where}: records[{i}] must be a JSON object, got "
                                    f"{_type_name(meta)}")
    unknown = sorted(set(doc) - {"format_version", "index", "sha256", "records"})
    if unknown:
        raise CorruptShardError(f"{where}: unknown keys {unknown}")
    return doc


def _load_shard(directory: str | os.PathLike[str], index: int) -> tuple[dict[str, Any], bytes]:
    arrays_path, sidecar_path = shard_paths(directory, index)
    sidecar = _check_sidecar(_read_json(sidecar_path, "shard"), sidecar_path, index)
    try:
        data = arrays_path.read_bytes()
    except FileNotFoundError:
        raise CorruptShardError(
            f"shard {str(arrays_path)!r} is missing (its sidecar {sidecar_path.name} exists)"
        ) from None
    except IsADirectoryError:
        raise CorruptShardError(f"shard {str(arrays_path)!r} is a directory, expected a file") \
            from None
    except OSError as err:
        raise CorruptShardError(f"shard {str(arrays_path)!r} is unreadable: {err}") from None
    if _digest(data, index, sidecar["records"]) != sidecar["sha256"]:
        raise CorruptShardError(
            f"shard {str(arrays_path)!r} is corrupt: checksum mismatch (its arrays or the "
            f"records in {sidecar_path.name} were altered)")
    return sidecar, data


def verify_shard(directory: str | os.PathLike[str], index: int) -> dict[str, Any]:
    """Checks a shard's sidecar (schema) and checksum (arrays and metadata); returns the sidecar.

    Raises:
      CorruptShardError: naming the shard's file and the problem.
    """
    sidecar, _ = _load_shard(directory, index)
    return sidecar


def read_shard(directory: str | os.PathLike[str], index: int) -> list[Record]:
    """Reads and verifies one shard.

    Raises:
      CorruptShardError: naming the shard.
    """
    sidecar, data = _load_shard(directory, index)
    arrays_path, _ = shard_paths(directory, index)
    records: list[Record] = [({}, meta) for meta in sidecar["records"]]
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            for key in npz.files:
                match = _ARRAY_KEY.fullmatch(key)
                if match is None or int(match.group(1)) >= len(records):
                    raise CorruptShardError(
                        f"shard {str(arrays_path)!r} is corrupt: unexpected array {key!r}")
                records[int(match.group(1))][0][match.group(2)] = npz[key]
    except CorruptShardError:
        raise
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        raise CorruptShardError(f"shard {str(arrays_path)!r} is corrupt: {err!r}") from None
    return records


def finished_shards(directory: str | os.PathLike[str]) -> set[int]:
    """Indices of shards whose sidecar exists (complete writes; checksums not yet verified).

    Files whose name is not ``shard-<index>.json`` are ignored.
    """
    root = pathlib.Path(directory)
    return {int(m.group(1)) for p in root.glob("shard-*.json")
            if (m := _SHARD_SIDECAR.fullmatch(p.name))}


def iter_shards(directory: str | os.PathLike[str], manifest: Mapping[str, Any]
                ) -> Iterator[tuple[pathlib.Path, list[Record]]]:
    """Reads every shard of a complete dataset in order, as ``(sidecar path, records)``.

    Before the first shard, checks that the shards on disk are exactly those the manifest
    lists; after the last, that they hold the manifest's number of records.

    Raises:
      CorruptShardError: a missing shard (named), a shard the manifest does not list (named),
        a damaged shard (named), or a record count that differs from the manifest's.
    """
    root = pathlib.Path(directory)
    found = finished_shards(root)
    n_shards = manifest.get("shards")
    expected = range(n_shards) if n_shards is not None else sorted(found)
    missing = [i for i in expected if i not in found]
    if missing:
        _, sidecar = shard_paths(root, missing[0])
        raise CorruptShardError(
            f"shard {str(sidecar)!r} is missing ({len(missing)} of the {len(expected)} shards "
            "the manifest lists are); generate the dataset again to complete it")
    stray = sorted(found - set(expected))
    if stray:
        _, sidecar = shard_paths(root, stray[0])
        raise CorruptShardError(
            f"shard {str(sidecar)!r} is not part of the dataset (its manifest lists "
            f"{len(expected)} shards); move it away")
    total = 0
    for index in expected:
        records = read_shard(root, index)
        total += len(records)
        yield shard_paths(root, index)[1], records
    if manifest.get("records") is not None and total != manifest["records"]:
        raise CorruptShardError(
            f"dataset {str(root)!r} holds {total} records, its manifest {_MANIFEST} lists "
            f"{manifest['records']}")
