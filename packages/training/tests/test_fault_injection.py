"""Fault injection in the training layer.

Every damaged dataset file ends in a typed error that names it; an edited sidecar and a missing
shard are detected; generation regenerates damaged shards (logged); generated files are the
same byte for byte whatever the hash seed; the local pool's workers die with their parent; and
training restarts from a damaged checkpoint (logged).
"""

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from acbo_core.errors import CheckpointError, OverwriteRefusedError
from acbo_training import shards
from acbo_training.demonstrations import load_demonstrations, load_expert_trajectories
from acbo_training.errors import CorruptShardError, DatasetMismatchError
from acbo_training.runlog import RunLogger

HERE = pathlib.Path(__file__).parent
TASKS = HERE / "_fault_tasks.py"
TYPED = (CorruptShardError, DatasetMismatchError)


@pytest.fixture(scope="module")
def tasks():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(HERE))
        import _fault_tasks

        yield _fault_tasks


@pytest.fixture(scope="module")
def dataset(tasks, tmp_path_factory):
    """A finished dataset of two shards, built once; each test damages its own copy."""
    root = tmp_path_factory.mktemp("dataset") / "demos"
    tasks.generate_tiny(root)
    return root


@pytest.fixture()
def copy(dataset, tmp_path):
    dst = tmp_path / "demos"
    shutil.copytree(dataset, dst)
    return dst


def _events(log: pathlib.Path, event: str) -> list[dict]:
    return [e for line in log.read_text().splitlines() if (e := json.loads(line))["event"] == event]


# -- ways to damage a file ----------------------------------------------------------------------


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path):
    path.write_bytes(b"")


def _not_utf8(path):
    path.write_bytes(b"\xff\xfe\x00\x81" + path.read_bytes())


def _directory(path):
    path.unlink()
    path.mkdir()


def _deep(path):
    path.write_text("[" * 100_000)


def _missing(path):
    path.unlink()


DAMAGES = {"truncated": _truncate, "empty": _empty, "not_utf8": _not_utf8,
           "directory": _directory, "deeply_nested": _deep, "missing": _missing}


@pytest.mark.parametrize("name", ["manifest.json", "shard-00000.json", "shard-00001.json",
                                  "shard-00001.npz"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_dataset_file_is_a_typed_error_naming_it(copy, name, damage):
    DAMAGES[damage](copy / name)
    with pytest.raises(TYPED, match=re.escape(name)):
        load_expert_trajectories(copy)


def _edit_json(path, edit):
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


SIDECAR_EDITS = {
    "not_an_object": lambda d: [d],
    "records_int": lambda d: {**d, "records": 5},
    "records_map": lambda d: {**d, "records": {}},
    "records_empty": lambda d: {**d, "records": []},
    "record_not_an_object": lambda d: {**d, "records": [5]},
    "sha256_int": lambda d: {**d, "sha256": 3},
    "index_string": lambda d: {**d, "index": "0"},
    "older_format": lambda d: {**d, "format_version": 1},
}


@pytest.mark.parametrize("edit", sorted(SIDECAR_EDITS))
def test_a_sidecar_of_the_wrong_shape_is_named(copy, edit):
    _edit_json(copy / "shard-00000.json", SIDECAR_EDITS[edit])
    with pytest.raises(CorruptShardError, match=r"shard-00000\.json"):
        load_demonstrations(copy)


MANIFEST_EDITS = {
    "not_an_object": (lambda d: [d], "manifest.json"),
    "spec_list": (lambda d: {**d, "spec": []}, "manifest.json"),
    "kind_int": (lambda d: {**d, "kind": 5}, "manifest.json"),
    "shards_string": (lambda d: {**d, "shards": "2"}, "manifest.json"),
    "spec_n_string": (lambda d: {**d, "spec": {**d["spec"], "n": "2"}}, "manifest.json"),
    "older_format": (lambda d: {**d, "format_version": 1}, "manifest.json"),
    "fewer_shards": (lambda d: {**d, "shards": 1}, "shard-00001.json"),
    "more_records": (lambda d: {**d, "records": 3}, "manifest.json"),
}


@pytest.mark.parametrize("edit", sorted(MANIFEST_EDITS))
def test_a_manifest_of_the_wrong_shape_is_named(copy, edit):
    change, named = MANIFEST_EDITS[edit]
    _edit_json(copy / "manifest.json", change)
    with pytest.raises(TYPED, match=re.escape(named)):
        load_demonstrations(copy)


def _set(key, value):
    return lambda arrays, meta: meta.__setitem__(key, value)


RECORD_EDITS = {
    "current_y_string": _set("current_y", "x"),
    "current_y_too_short": lambda a, m: m.__setitem__("current_y", m["current_y"][:1]),
    "variables_int": _set("variables", 5),
    "target_unknown": _set("target", "nope"),
    "D_I_map": _set("D_I", {}),
    "config_list": _set("config", []),
    "config_bad_value": lambda a, m: m["config"].__setitem__("T", "a"),
    "scm_not_json": _set("scm", "{"),
    "scm_deeply_nested": _set("scm", "[" * 100_000),
    "minimize_string": _set("minimize", "yes"),
    "intervention_set_ints": lambda a, m: m.__setitem__(
        "intervention_set", [[5]] * len(m["intervention_set"])),
    "acquisition_values_lists": lambda a, m: m.__setitem__(
        "acquisition_values", [[]] * len(m["acquisition_values"])),
    "run_index_string": _set("run_index", "0"),
    "field_missing": lambda a, m: m.pop("global_opt"),
    "array_missing": lambda a, m: a.pop("D_O"),
    "array_of_the_wrong_shape": lambda a, m: a.__setitem__("D_O", a["D_O"][:, 0]),
    "parent_index_out_of_range": lambda a, m: a.__setitem__("posterior_sets",
                                                            a["posterior_sets"] + 100),
}


@pytest.mark.parametrize("edit", sorted(RECORD_EDITS))
def test_a_record_with_fields_of_the_wrong_type_is_named(copy, edit):
    records = shards.read_shard(copy, 0)
    arrays, meta = records[0]
    RECORD_EDITS[edit](arrays, meta)
    shards.write_shard(copy, 0, records)  # a sound checksum: the content itself is wrong
    with pytest.raises(CorruptShardError, match=r"shard-00000\.json"):
        load_expert_trajectories(copy)


# -- integrity ----------------------------------------------------------------------------------


def test_an_edited_sidecar_fails_the_checksum(copy):
    def edit(doc):
        doc["records"][0]["current_y"][0] += 1.0
        return doc

    _edit_json(copy / "shard-00000.json", edit)
    with pytest.raises(CorruptShardError, match=r"shard-00000\.npz.*checksum.*shard-00000\.json"):
        load_demonstrations(copy)


def test_a_missing_last_shard_is_named_not_dropped(copy):
    (copy / "shard-00001.json").unlink()
    with pytest.raises(CorruptShardError, match=r"shard-00001\.json.*missing"):
        load_demonstrations(copy)


def test_stray_shard_files(copy):
    (copy / "shard-notes.json").write_text("{}")  # not a shard's name: ignored
    assert len(load_demonstrations(copy)) == 2
    shutil.copy(copy / "shard-00000.json", copy / "shard-00007.json")  # no .npz, not listed
    with pytest.raises(CorruptShardError, match=r"shard-00007\.json"):
        load_demonstrations(copy)
    (copy / "shard-00007.json").unlink()
    (copy / "shard-00001.npz").unlink()  # a listed sidecar without its arrays
    with pytest.raises(CorruptShardError, match=r"shard-00001\.npz.*missing"):
        load_demonstrations(copy)


def test_generation_regenerates_damaged_shards_and_logs_them(tasks, dataset, copy, tmp_path):
    def edit(doc):
        doc["records"][0]["current_y"][0] += 1.0
        return doc

    _edit_json(copy / "shard-00000.json", edit)
    _truncate(copy / "shard-00001.npz")
    log = tmp_path / "log.jsonl"
    with RunLogger(log, progress=False, level="ERROR") as logger:
        again = tasks.generate_tiny(copy, logger)
    assert again.generated == 2
    logged = _events(log, "corrupt_shard")
    assert sorted(e["shard"] for e in logged) == [0, 1]
    assert all(e["action"] == "regenerating" and e["path"] for e in logged)
    for path in sorted(dataset.iterdir()):  # regenerated exactly as first written
        assert (copy / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_directory_of_other_files_is_not_made_a_dataset(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OverwriteRefusedError, match=re.escape(str(tmp_path))):
        shards.open_dataset(tmp_path, kind="test", spec={})
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_an_empty_shard_is_never_written(tmp_path):
    with pytest.raises(CorruptShardError, match="no records"):
        shards.write_shard(tmp_path, 0, [])
    assert list(tmp_path.iterdir()) == []


# -- determinism --------------------------------------------------------------------------------


def _no_constant(name):
    raise AssertionError(f"invalid JSON constant {name}")


def test_generated_files_are_the_same_byte_for_byte_whatever_the_hash_seed(tmp_path):
    outs = []
    for seed in ("0", "1"):
        out = tmp_path / f"hashseed-{seed}"
        proc = subprocess.run([sys.executable, str(TASKS), "generate_tiny", str(out)],
                              env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(p.name for p in outs[1].iterdir())
    assert {"manifest.json", "shard-00001.json", "shard-00001.npz"} <= set(names)
    for name in names:
        data = (outs[0] / name).read_bytes()
        assert data == (outs[1] / name).read_bytes(), f"{name} depends on the hash seed"
        if name.endswith(".json"):
            json.loads(data, parse_constant=_no_constant)  # valid JSON: no bare NaN


# -- the local pool -----------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def test_pool_workers_exit_when_their_parent_is_killed(tmp_path):
    with open(tmp_path / "parent.err", "w") as err:
        parent = subprocess.Popen([sys.executable, str(TASKS), "pool_parent", str(tmp_path)],
                                  stdout=subprocess.DEVNULL, stderr=err)
    pids: list[int] = []
    try:
        files = [tmp_path / "worker-0", tmp_path / "worker-1"]
        deadline = time.monotonic() + 600
        while not all(f.exists() for f in files):
            assert parent.poll() is None, (tmp_path / "parent.err").read_text()[-3000:]
            assert time.monotonic() < deadline, "the pool's workers never started"
            time.sleep(0.1)
        pids = [int(f.read_text()) for f in files]
        assert all(_alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if _alive(p)], "pool workers outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in pids:  # the workers this test started, if they survived
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


_CHILD = """
import os, pathlib, sys, time
from acbo_training.executors import _die_with_parent
sys.platform = "elsewhere"  # no prctl: only the portable watch of the parent's pid is left
_die_with_parent(os.getppid())
sys.platform = "linux"
pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
time.sleep(300)
"""
_PARENT = """
import subprocess, sys
subprocess.run([sys.executable, "-c", sys.argv[1], sys.argv[2]])
"""


def test_the_portable_parent_watch_ends_an_orphaned_worker(tmp_path):
    pid_file = tmp_path / "child"
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, _CHILD, str(pid_file)])
    pid = None
    try:
        deadline = time.monotonic() + 600
        while not pid_file.exists():
            assert parent.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        pid = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), "the orphaned worker kept running"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)


# -- training checkpoints -----------------------------------------------------------------------


def _train(ckpt, logger, n_steps):
    import jax
    import jax.numpy as jnp

    from acbo_training.loop import run_training

    def update(state, batch):
        return {"w": state["w"] + 1.0}, {"loss": jnp.sum(state["w"])}

    return run_training(init_state={"w": jnp.zeros(3)}, update_fn=update,
                        batch_fn=lambda k, s: None, key=jax.random.key(0), n_steps=n_steps,
                        checkpoint_dir=ckpt, checkpoint_frequency=2, log_every=1, logger=logger)


def _set_step(path):
    _edit_json(path, lambda d: {**d, "metadata": {**d["metadata"], "step": "x"}})


CHECKPOINT_DAMAGES = {
    "arrays_truncated": ("arrays.npz", _truncate),
    "arrays_empty": ("arrays.npz", _empty),
    "arrays_a_directory": ("arrays.npz", _directory),
    "arrays_missing": ("arrays.npz", _missing),
    "sidecar_truncated": ("checkpoint.json", _truncate),
    "sidecar_not_utf8": ("checkpoint.json", _not_utf8),
    "sidecar_deeply_nested": ("checkpoint.json", _deep),
    "sidecar_a_directory": ("checkpoint.json", _directory),
    "sidecar_missing": ("checkpoint.json", _missing),
    "sidecar_step_string": ("checkpoint.json", _set_step),
}


@pytest.mark.parametrize("damage", sorted(CHECKPOINT_DAMAGES))
def test_training_restarts_from_a_damaged_checkpoint(tmp_path, damage):
    ckpt, log = tmp_path / "ckpt", tmp_path / "log.jsonl"
    with RunLogger(log, progress=False, level="ERROR") as logger:
        _train(ckpt, logger, 4)
        name, damage_fn = CHECKPOINT_DAMAGES[damage]
        damage_fn(ckpt / name)
        again = _train(ckpt, logger, 6)
        assert again.resumed_from == 0
        np.testing.assert_array_equal(again.state["w"], np.full(3, 6.0))
        assert [e["checkpoint"] for e in _events(log, "checkpoint_damaged")] == [str(ckpt)]
        assert _train(ckpt, logger, 6).resumed_from == 6  # the new checkpoint is sound


def test_a_file_where_the_checkpoint_should_be_is_refused_and_kept(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.write_text("mine")
    with pytest.raises(CheckpointError, match=re.escape(str(ckpt))):
        _train(ckpt, RunLogger(progress=False), 4)
    assert ckpt.read_text() == "mine"
