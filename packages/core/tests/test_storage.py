"""Safe writes under fault injection: a kill at every step of every write leaves the old or the
new complete copy; nothing ACBO did not write is replaced; the umask is respected; locks are
exclusive and die with their holder; damaged checkpoints give CheckpointError with the path."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import acbo_core as ac
from acbo_core.checkpoints import load_checkpoint, save_checkpoint
from acbo_core.errors import CheckpointError, LockedError, OverwriteRefusedError

_CHILD = textwrap.dedent("""
    import json, os, signal, sys
    import numpy as np
    from acbo_core import storage
    from acbo_core.checkpoints import save_checkpoint
    path, value, kill_at, exchange, log = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), \\
        sys.argv[4] == "1", sys.argv[5]
    storage._exchange_supported = exchange
    steps = []
    def hook(step):
        steps.append(step)
        with open(log, "w") as f:
            json.dump(steps, f)
        if len(steps) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    storage._fault_hook = hook
    save_checkpoint(path, {"w": np.full(3, value)}, kind="test", format_version=1)
""")


def _child_save(path, value, kill_at, exchange, log):
    return subprocess.run([sys.executable, "-c", _CHILD, str(path), str(value), str(kill_at),
                           "1" if exchange else "0", str(log)], capture_output=True, text=True)


def _value(path):
    tree, _ = load_checkpoint(path, kind="test", format_version=1)
    return float(tree["w"][0])


def _leftovers(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_a_kill_at_every_step_of_a_replace_leaves_the_old_or_the_new_copy(tmp_path, exchange):
    path = tmp_path / "ck"
    save_checkpoint(path, {"w": np.full(3, 1.0)}, kind="test", format_version=1)
    log = tmp_path / "steps.json"
    done = _child_save(path, 2.0, 0, exchange, log)  # no kill: the whole sequence of steps
    assert done.returncode == 0, done.stderr
    steps = json.loads(log.read_text())
    # From this step on the new copy is the one found: exchanged in, or (two renames) put
    # back by the recovery once the old copy has been moved away.
    swap = "dir:exchanged" if exchange else "dir:old-moved"
    assert swap in steps and steps[-1] == "dir:done"
    assert {"file:written", "file:replaced", "dir:filled"} <= set(steps)
    save_checkpoint(path, {"w": np.full(3, 1.0)}, kind="test", format_version=1)
    for kill_at, step in enumerate(steps, start=1):
        proc = _child_save(path, 2.0, kill_at, exchange, log)
        assert proc.returncode == -signal.SIGKILL, (step, proc.stderr)
        # The loader sees a complete copy: the old one before the swap, the new one after.
        expected = 2.0 if kill_at >= steps.index(swap) + 1 else 1.0
        assert _value(path) == expected, step
        # The next write sweeps what the killed writer left beside the path.
        save_checkpoint(path, {"w": np.full(3, 1.0)}, kind="test", format_version=1)
        assert _leftovers(path) == [], step
        assert _value(path) == 1.0


def test_a_kill_between_the_two_renames_is_recovered_by_the_loader(tmp_path):
    path = tmp_path / "ck"
    save_checkpoint(path, {"w": np.full(3, 1.0)}, kind="test", format_version=1)
    log = tmp_path / "steps.json"
    _child_save(path, 2.0, 0, False, log)
    kill_at = json.loads(log.read_text()).index("dir:old-moved") + 1
    assert _child_save(path, 3.0, kill_at, False, log).returncode == -signal.SIGKILL
    assert not path.exists()  # the window: old moved away, new not yet in place
    assert _value(path) == 3.0  # the loader puts the complete new copy back


def test_a_kill_during_a_file_write_leaves_the_old_or_the_new_file(tmp_path):
    target = tmp_path / "doc.json"
    ac.write_file(target, "old")
    code = textwrap.dedent(f"""
        import os, signal
        from acbo_core import storage
        storage._fault_hook = lambda step: os.kill(os.getpid(), signal.SIGKILL) \\
            if step == STEP else None
        storage.write_file({str(target)!r}, "new")
    """)
    for step, expected in (("file:written", "old"), ("file:replaced", "new")):
        proc = subprocess.run([sys.executable, "-c", code.replace("STEP", repr(step))],
                              capture_output=True, text=True)
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert target.read_text() == expected
        ac.write_file(target, "old")  # sweeps the killed writer's temporary file
        assert _leftovers(target) == []


# -- ownership ----------------------------------------------------------------------------------


def test_a_checkpoint_never_replaces_what_acbo_did_not_write(tmp_path):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("precious")
    with pytest.raises(OverwriteRefusedError, match="notes.txt"):
        save_checkpoint(user_file, {"w": np.ones(2)}, kind="test", format_version=1)
    assert user_file.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # nothing moved aside

    user_dir = tmp_path / "mine"
    user_dir.mkdir()
    (user_dir / "data.csv").write_text("1,2")
    with pytest.raises(OverwriteRefusedError, match="not written by ACBO"):
        save_checkpoint(user_dir, {"w": np.ones(2)}, kind="test", format_version=1)
    assert (user_dir / "data.csv").read_text() == "1,2"

    def report(tmp):
        (tmp / "report.md").write_text("# r")

    ac.write_directory(tmp_path / "report", report, kind="acbo.report")
    with pytest.raises(OverwriteRefusedError, match="holds an ACBO 'acbo.report'"):
        save_checkpoint(tmp_path / "report", {"w": np.ones(2)}, kind="test", format_version=1)

    empty = tmp_path / "empty"
    empty.mkdir()
    save_checkpoint(empty, {"w": np.ones(2)}, kind="test", format_version=1)  # nothing to lose
    save_checkpoint(empty, {"w": np.zeros(2)}, kind="test", format_version=1)  # ours: replaced
    assert _value(empty) == 0.0


def test_claim_directory(tmp_path):
    run = ac.claim_directory(tmp_path / "run", "acbo.run")
    assert ac.directory_kind(run) == "acbo.run"
    ac.claim_directory(run, "acbo.run")  # again: fine
    with pytest.raises(OverwriteRefusedError):
        ac.claim_directory(run, "acbo.campaign")
    (tmp_path / "f").write_text("x")
    with pytest.raises(OverwriteRefusedError, match="not a directory"):
        ac.claim_directory(tmp_path / "f", "acbo.run")
    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("x")
    with pytest.raises(OverwriteRefusedError, match="not written by ACBO"):
        ac.claim_directory(other, "acbo.run")


def test_save_json_replaces_only_a_document_of_the_same_kind(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("user data")
    with pytest.raises(OverwriteRefusedError, match="out.json"):
        ac.save_json(json.dumps({"kind": "acbo.result", "x": 1}), path)
    assert path.read_text() == "user data"
    path.write_text(json.dumps({"kind": "acbo.result", "x": 0}))
    ac.save_json(json.dumps({"kind": "acbo.result", "x": 1}), path)
    assert json.loads(path.read_text())["x"] == 1
    with pytest.raises(OverwriteRefusedError):
        ac.save_json(json.dumps({"kind": "acbo.other"}), path)
    with pytest.raises(OverwriteRefusedError, match="not a regular file"):
        ac.write_file(tmp_path, "x")


# -- permissions, JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_and_directories_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "ck", {"w": np.ones(2)}, kind="test", format_version=1)
        ac.write_file(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ck").stat().st_mode) == 0o777 & ~umask
    for f in (tmp_path / "ck" / "arrays.npz", tmp_path / "ck" / "checkpoint.json",
              tmp_path / "f.txt"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f


def test_dumps_json_is_strict_and_the_same_under_any_hash_seed():
    doc = {"b": float("nan"), "a": [float("inf"), np.float32(1.5)], "s": frozenset({"x", "y"})}
    text = ac.dumps_json(doc)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": [None, 1.5], "b": None, "s": ["x", "y"]}
    code = ("import acbo_core as ac; print(ac.dumps_json({'s': frozenset(f'v{i}' for i in "
            "range(20)), 'z': 1, 'a': {'q', 'p'}}))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
            for seed in (1, 2, 3)}
    assert len(outs) == 1


def test_checkpoint_sidecar_is_deterministic_and_strict(tmp_path):
    meta = {"z": 1, "a": float("nan"), "sets": {"b", "a"}}
    save_checkpoint(tmp_path / "a", {"w": np.ones(2)}, kind="t", format_version=1, metadata=meta)
    save_checkpoint(tmp_path / "b", {"w": np.ones(2)}, kind="t", format_version=1, metadata=meta)
    a = (tmp_path / "a" / "checkpoint.json").read_bytes()
    assert a == (tmp_path / "b" / "checkpoint.json").read_bytes()
    assert b"NaN" not in a and json.loads(a)["metadata"] == {"a": None, "sets": ["a", "b"],
                                                              "z": 1}


# -- locks --------------------------------------------------------------------------------------


def test_a_locked_directory_names_its_holder_and_a_killed_holder_does_not_block(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from acbo_core import storage
            with storage.directory_lock({str(tmp_path)!r}, what="run directory"):
                print("locked", flush=True)
                time.sleep(3600)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError, match=f"in use by process {holder.pid}"):
            with ac.directory_lock(tmp_path, what="run directory"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with ac.directory_lock(tmp_path):  # the kernel released the dead holder's lock
        with pytest.raises(LockedError):  # and the lock is exclusive within a process too
            with ac.directory_lock(tmp_path):
                pass


# -- damaged checkpoints -----------------------------------------------------------------------


def _damage(ck: pathlib.Path, how: str) -> None:
    arrays, sidecar = ck / "arrays.npz", ck / "checkpoint.json"
    info = json.loads(sidecar.read_text())
    if how == "empty arrays":
        arrays.write_bytes(b"")
    elif how == "truncated arrays":
        arrays.write_bytes(arrays.read_bytes()[:50])
    elif how == "arrays is a directory":
        arrays.unlink()
        arrays.mkdir()
    elif how == "missing arrays":
        arrays.unlink()
    elif how == "non-UTF-8 sidecar":
        sidecar.write_bytes(b"\xff\xfe{")
    elif how == "empty sidecar":
        sidecar.write_bytes(b"")
    elif how == "sidecar is a directory":
        sidecar.unlink()
        sidecar.mkdir()
    elif how == "deeply nested sidecar":
        sidecar.write_text("[" * 100_000 + "]" * 100_000)
    elif how == "paths is a number":
        sidecar.write_text(json.dumps({**info, "paths": 5}))
    elif how == "config is a list":
        sidecar.write_text(json.dumps({**info, "config": [1, 2]}))
    elif how == "sidecar is a list":
        sidecar.write_text("[]")
    elif how == "no integrity":
        sidecar.write_text(json.dumps({k: v for k, v in info.items() if k != "integrity"}))
    elif how == "wrong dtype recorded":
        info["integrity"]["leaves"][0][0] = "<i8"
        sidecar.write_text(json.dumps(info))
    elif how == "NaN parameters":
        import io
        buf = io.BytesIO()
        np.savez(buf, leaf_00000=np.full(3, np.nan))
        arrays.write_bytes(buf.getvalue())
        info["integrity"]["sha256"] = __import__("hashlib").sha256(buf.getvalue()).hexdigest()
        sidecar.write_text(json.dumps(info))
    else:
        raise AssertionError(how)


DAMAGE = ["empty arrays", "truncated arrays", "arrays is a directory", "missing arrays",
          "non-UTF-8 sidecar", "empty sidecar", "sidecar is a directory", "deeply nested sidecar",
          "paths is a number", "config is a list", "sidecar is a list", "no integrity",
          "wrong dtype recorded", "NaN parameters"]


@pytest.mark.parametrize("how", DAMAGE)
def test_every_damaged_checkpoint_is_a_checkpoint_error_naming_the_path(tmp_path, how):
    ck = tmp_path / "ck"
    save_checkpoint(ck, {"w": np.ones(3)}, kind="test", format_version=1)
    _damage(ck, how)
    with pytest.raises(CheckpointError, match=str(ck)):
        load_checkpoint(ck, kind="test", format_version=1)


def test_a_checkpoint_path_that_is_a_file(tmp_path):
    (tmp_path / "ck").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        load_checkpoint(tmp_path / "ck", kind="test", format_version=1)

