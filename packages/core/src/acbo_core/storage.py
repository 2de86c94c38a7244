"""Safe writes: nothing ACBO did not write is ever replaced, and no crash leaves half a copy.

Three rules hold for every file and directory the project writes:

* **Ownership.** A directory ACBO writes carries a marker file (:data:`MARKER`, JSON with its
  ``kind``); :func:`write_directory` and :func:`claim_directory` replace or reuse only a
  directory that holds a marker of the same kind (or an empty one), and refuse anything else
  with :class:`~acbo_core.errors.OverwriteRefusedError` naming the path. A JSON document carries
  its kind (``"kind"`` or ``"schema"``) and :func:`save_json` replaces only a document of the
  same kind.
* **Atomicity.** A file is written to a temporary name beside it, flushed to disk, then renamed
  over the old one. A directory is built beside its destination and swapped in with one atomic
  ``renameat2(RENAME_EXCHANGE)`` where the kernel offers it; elsewhere with two renames whose
  middle state (the destination missing, the old and new copies beside it under reserved names)
  :func:`recover_directory` repairs, and which loaders repair before reading. A kill at any
  instant leaves the old or the new complete copy. Leftover temporary copies of dead writers
  are swept by the next write.
* **Durability and permissions.** Files and the directories holding them are fsynced before
  and after each rename. Temporary files and directories are created with the mode the umask
  gives (``0o666`` / ``0o777`` less the umask), so what is saved is readable as any other file
  the user writes.

:func:`directory_lock` takes an exclusive ``flock`` on a directory (released by the kernel when
the holder dies, so a killed process never blocks the next one).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import math
import os
import pathlib
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from acbo_core.errors import LockedError, OverwriteRefusedError, StorageError

__all__ = ["MARKER", "LOCK_FILE", "write_file", "save_json", "dumps_json", "json_number",
           "write_directory",
           "claim_directory", "directory_kind", "recover_directory", "directory_lock"]

MARKER = ".acbo-directory.json"
"""The marker file of a directory ACBO wrote: ``{"kind": ..., "writer": "acbo"}``."""

LOCK_FILE = ".acbo-lock"
"""The lock file :func:`directory_lock` holds inside a directory."""

# Tests set this to a callable of the step's name to inject a crash at every step of a write.
_fault_hook: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if _fault_hook is not None:
        _fault_hook(name)


def _fsync_dir(directory: pathlib.Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # platforms that cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(root: pathlib.Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(pathlib.Path(dirpath))


def _token() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def _writer_alive(name: str) -> bool:
    """Whether the process that made a temporary entry (``...-PID-HEX``) still runs."""
    try:
        pid = int(name.rsplit("-", 2)[-2])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: pathlib.Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _storage_error(err: OSError, path: pathlib.Path, doing: str) -> StorageError:
    reason = err.strerror or str(err)
    return StorageError(f"cannot {doing} {str(path)!r}: {reason}")


def _make_parent(path: pathlib.Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _storage_error(err, path.parent, "create the folder") from None


# -- files --------------------------------------------------------------------------------------


def write_file(path: str | os.PathLike[str], data: bytes | str) -> pathlib.Path:
    """Writes ``data`` to the file ``path`` atomically (the old content or the new, never half).

    Meant for files inside a directory the caller owns; an existing regular file is replaced.

    Raises:
      OverwriteRefusedError: ``path`` is a directory or another non-regular file.
      StorageError: the folder cannot be created or written (read-only, full, no permission).
    """
    path = pathlib.Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise OverwriteRefusedError(f"{str(path)!r} exists and is not a regular file; refusing "
                                    "to replace it")
    _make_parent(path)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        if not _writer_alive(stale.name):
            _remove(stale)
    tmp = path.parent / f".{path.name}.tmp-{_token()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _step("file:written")
        os.replace(tmp, path)
        _step("file:replaced")
        _fsync_dir(path.parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _storage_error(err, path, "write") from None
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps_json(obj: Any, *, indent: int | None = None) -> str:
    """JSON text that is valid and the same byte for byte for the same data: keys sorted, sets
    sorted, numpy values as Python numbers, NaN and infinities written as ``null``."""
    return json.dumps(_plain(obj), indent=indent, sort_keys=True, allow_nan=False)


def json_number(value: Any) -> float:
    """A number read back from JSON that :func:`dumps_json` wrote (``null`` is NaN).

    Raises:
      TypeError: anything but a number or ``null``.
    """
    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _document_kind(doc: Any) -> str | None:
    if isinstance(doc, dict):
        kind = doc.get("kind", doc.get("schema"))
        return kind if isinstance(kind, str) else None
    return None


def save_json(text: str, path: str | os.PathLike[str]) -> pathlib.Path:
    """Writes a JSON document atomically; an existing file is replaced only when it is a JSON
    document of the same kind (``"kind"`` or ``"schema"`` field) as ``text``.

    Raises:
      OverwriteRefusedError: ``path`` holds something else (named).
      StorageError: the file cannot be written.
    """
    path = pathlib.Path(path)
    if path.exists() or path.is_symlink():
        new_kind = _document_kind(json.loads(text))
        try:
            old_kind = _document_kind(json.loads(path.read_bytes().decode("utf-8")))
        except (OSError, ValueError, RecursionError):
            old_kind = None
        if new_kind is None or old_kind != new_kind:
            raise OverwriteRefusedError(
                f"{str(path)!r} already exists and is not an ACBO document of kind "
                f"{new_kind!r}; refusing to overwrite it: choose another path or remove it")
    return write_file(path, text)


# -- directories --------------------------------------------------------------------------------


def directory_kind(path: str | os.PathLike[str]) -> str | None:
    """The kind in a directory's :data:`MARKER`, or None (no marker, or not ACBO's)."""
    try:
        doc = json.loads((pathlib.Path(path) / MARKER).read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if isinstance(doc, dict) and doc.get("writer") == "acbo":
        return _document_kind(doc)
    return None


def _check_replaceable(path: pathlib.Path, kind: str) -> None:
    if not (path.exists() or path.is_symlink()):
        return
    if path.is_symlink() or not path.is_dir():
        raise OverwriteRefusedError(f"{str(path)!r} exists and is not a directory written by "
                                    f"ACBO; refusing to replace it with a {kind!r}")
    have = directory_kind(path)
    if have == kind:
        return
    if have is not None:
        raise OverwriteRefusedError(f"{str(path)!r} holds an ACBO {have!r}, not a {kind!r}; "
                                    "refusing to replace it: choose another path")
    try:
        empty = next(path.iterdir(), None) is None
    except OSError as err:
        raise _storage_error(err, path, "read") from None
    if not empty:
        raise OverwriteRefusedError(
            f"{str(path)!r} exists and was not written by ACBO (no {MARKER}); refusing to "
            f"replace it with a {kind!r}: choose another path, or move it away yourself")


def _marker_text(kind: str) -> str:
    return dumps_json({"kind": kind, "writer": "acbo"}) + "\n"


def claim_directory(path: str | os.PathLike[str], kind: str) -> pathlib.Path:
    """Creates the directory ``path`` as ACBO's (a marker of ``kind``), or checks that it is.

    An empty existing directory is claimed; anything else without the marker is refused.

    Raises:
      OverwriteRefusedError: ``path`` is a file, or a directory of another kind or not ACBO's.
      StorageError: it cannot be created or written.
    """
    path = pathlib.Path(path)
    _check_replaceable(path, kind)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _storage_error(err, path, "create the directory") from None
    if directory_kind(path) != kind:
        write_file(path / MARKER, _marker_text(kind))
    return path


def _complete(path: pathlib.Path) -> bool:
    return (path / MARKER).is_file()


def recover_directory(path: str | os.PathLike[str], *, sweep: bool = False) -> None:
    """Puts back a directory that a crash between the two renames of :func:`write_directory`
    left missing (the new complete copy if there is one, else the old), and with ``sweep``
    removes the temporary copies that writers which no longer run left beside ``path``.

    Never raises for a read-only or vanished folder: recovery is best effort, loading then
    reports what is there.
    """
    path = pathlib.Path(path)
    parent = path.parent
    try:
        leftovers = sorted(parent.glob(f".{path.name}.new-*")) + sorted(
            parent.glob(f".{path.name}.old-*"))
        if not leftovers:
            return
        if not (path.exists() or path.is_symlink()):
            dead = [p for p in leftovers if not _writer_alive(p.name) and _complete(p)]
            if dead:  # new copies sort before old ones: a complete new copy wins
                os.rename(dead[0], path)
                _fsync_dir(parent)
                leftovers.remove(dead[0])
        if sweep:
            for p in leftovers:
                if not _writer_alive(p.name):
                    _remove(p)
    except OSError:
        return


def write_directory(path: str | os.PathLike[str], fill: Callable[[pathlib.Path], None], *,
                    kind: str) -> pathlib.Path:
    """Writes a directory so that a crash at any instant leaves the old or the new copy.

    ``fill(tmp)`` builds the new copy in a fresh directory beside ``path``; the marker of
    ``kind`` is written last, everything is fsynced, and the copy is swapped in.

    Args:
      path: the destination: absent, empty, or a directory ACBO wrote with the same ``kind``.
      fill: writes the directory's content into the directory it is given.
      kind: what the directory holds (e.g. ``"acbo.system"``); it is what makes a later write
        allowed to replace it.

    Returns:
      ``path``.

    Raises:
      OverwriteRefusedError: ``path`` holds something ACBO did not write as a ``kind``.
      StorageError: the folder cannot be written.
    """
    path = pathlib.Path(path)
    _check_replaceable(path, kind)
    _make_parent(path)
    recover_directory(path, sweep=True)
    token = _token()
    new = path.parent / f".{path.name}.new-{token}"
    old = path.parent / f".{path.name}.old-{token}"
    try:
        os.mkdir(new, 0o777)  # the umask applies
    except OSError as err:
        raise _storage_error(err, path.parent, "write into") from None
    try:
        fill(new)
        write_file(new / MARKER, _marker_text(kind))
        _fsync_tree(new)
        _step("dir:filled")
        if not (path.exists() or path.is_symlink()):
            os.rename(new, path)
            _step("dir:renamed")
        elif _exchange(new, path):
            _step("dir:exchanged")
            _fsync_dir(path.parent)
            shutil.rmtree(new, ignore_errors=True)
        else:
            os.rename(path, old)
            _step("dir:old-moved")
            os.rename(new, path)
            _step("dir:new-moved")
            _fsync_dir(path.parent)
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(path.parent)
        _step("dir:done")
    except BaseException as exc:
        if old.exists() and not path.exists():
            with contextlib.suppress(OSError):
                os.rename(old, path)
        shutil.rmtree(new, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, (OverwriteRefusedError,
                                                             StorageError)):
            raise _storage_error(exc, path, "write") from None
        raise
    return path


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_exchange_supported = sys.platform.startswith("linux")


def _exchange(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Swaps two paths atomically (Linux ``renameat2``); False where that is not available."""
    global _exchange_supported
    if not _exchange_supported:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        _exchange_supported = False
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # this file system cannot exchange: fall back to two renames
    raise OSError(err, os.strerror(err), str(b))


# -- locks --------------------------------------------------------------------------------------


@contextlib.contextmanager
def directory_lock(path: str | os.PathLike[str], *, what: str = "directory"
                   ) -> Iterator[pathlib.Path]:
    """Holds an exclusive lock on the directory ``path`` for the ``with`` block.

    The lock is an ``flock`` on ``path/.acbo-lock``, which also records the holder's pid and
    command line. The kernel releases it when the holder exits or is killed.

    Raises:
      LockedError: another process holds it (its pid and command are named).
      StorageError: the lock file cannot be created.
    """
    import fcntl

    directory = pathlib.Path(path)
    lock_path = directory / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise _storage_error(err, lock_path, "create the lock file") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.pread(fd, 65536, 0).decode("utf-8") or "{}")
            except (OSError, ValueError):
                holder = {}
            pid = holder.get("pid", "unknown") if isinstance(holder, dict) else "unknown"
            command = holder.get("command", "") if isinstance(holder, dict) else ""
            raise LockedError(
                f"{what} {str(directory)!r} is in use by process {pid}"
                + (f" ({command})" if command else "")
                + "; wait for it to finish, or use another directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, dumps_json({"pid": os.getpid(), "command": " ".join(sys.argv)[:300],
                                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
        try:
            yield directory
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
