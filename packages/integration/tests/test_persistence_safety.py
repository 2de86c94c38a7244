"""A saved system: never written over what is not a saved system, strict and deterministic
JSON, every damaged part a CheckpointError naming it, and a kill during a save leaving the old
or the new system."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acbo import load_system, save_system
from acbo_core.errors import CheckpointError, OverwriteRefusedError


def test_save_system_refuses_what_is_not_a_saved_system(system, tmp_path):
    user_dir = tmp_path / "results"
    user_dir.mkdir()
    (user_dir / "thesis.tex").write_text("chapter 1")
    with pytest.raises(OverwriteRefusedError, match="results"):
        save_system(system, user_dir)
    assert (user_dir / "thesis.tex").read_text() == "chapter 1"
    user_file = tmp_path / "system"
    user_file.write_text("x")
    with pytest.raises(OverwriteRefusedError, match="system"):
        save_system(system, user_file)
    assert user_file.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "system"]


def test_system_json_is_strict_and_byte_deterministic(system, tmp_path):
    odd = dataclasses.replace(system, performance_metrics={"b": float("nan"), "a": 1.0})
    a, b = save_system(odd, tmp_path / "a"), save_system(odd, tmp_path / "b")
    for name in ("system.json", "training_scms.json", "surrogate/checkpoint.json",
                 "policy/checkpoint.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    text = (a / "system.json").read_text()
    assert "NaN" not in text
    json.loads(text)  # strict JSON
    metrics = load_system(a).performance_metrics
    assert metrics["a"] == 1.0 and np.isnan(metrics["b"])


def test_a_system_with_nan_parameters_is_refused_as_damaged(system, tmp_path):
    params = jax.tree.map(lambda x: x, system.surrogate_params)
    first = sorted(params)[0]
    leaf = sorted(params[first])[0]
    params[first][leaf] = jnp.full_like(params[first][leaf], jnp.nan)
    path = save_system(dataclasses.replace(system, surrogate_params=params), tmp_path / "sys")
    with pytest.raises(CheckpointError, match="damaged system.*NaN"):
        load_system(path)


def _damage(path, how):
    if how == "system.json not UTF-8":
        (path / "system.json").write_bytes(b"\xff\xfe")
    elif how == "system.json nested too deeply":
        (path / "system.json").write_text("[" * 100_000 + "]" * 100_000)
    elif how == "system.json is a directory":
        (path / "system.json").unlink()
        (path / "system.json").mkdir()
    elif how == "metrics is a number":
        meta = json.loads((path / "system.json").read_text())
        (path / "system.json").write_text(json.dumps({**meta, "performance_metrics": 5}))
    elif how == "run_config is a list":
        meta = json.loads((path / "system.json").read_text())
        (path / "system.json").write_text(json.dumps({**meta, "run_config": [1]}))
    elif how == "training_scms is a map":
        (path / "training_scms.json").write_text("{}")
    elif how == "training_scms truncated":
        text = (path / "training_scms.json").read_text()
        (path / "training_scms.json").write_text(text[: len(text) // 2])
    elif how == "surrogate arrays truncated":
        f = path / "surrogate" / "arrays.npz"
        f.write_bytes(f.read_bytes()[:100])
    elif how == "policy sidecar edited":
        f = path / "policy" / "checkpoint.json"
        info = json.loads(f.read_text())
        info["integrity"]["sha256"] = "0" * 64
        f.write_text(json.dumps(info))
    elif how == "policy is a file":
        import shutil
        shutil.rmtree(path / "policy")
        (path / "policy").write_text("x")
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", [
    "system.json not UTF-8", "system.json nested too deeply", "system.json is a directory",
    "metrics is a number", "run_config is a list", "training_scms is a map",
    "training_scms truncated", "surrogate arrays truncated", "policy sidecar edited",
    "policy is a file"])
def test_every_damaged_part_is_a_checkpoint_error_naming_it(system, tmp_path, how):
    path = save_system(system, tmp_path / "sys")
    _damage(path, how)
    with pytest.raises(CheckpointError, match=str(path)):
        load_system(path)


_CHILD = textwrap.dedent("""
    import dataclasses, os, signal, sys
    from acbo import load_system, save_system
    from acbo_core import storage
    path, kill_at = sys.argv[1], int(sys.argv[2])
    system = load_system(path)
    steps = []
    def hook(step):
        steps.append(step)
        if step == "dir:done":
            print(len(steps), flush=True)
        if len(steps) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    storage._fault_hook = hook
    save_system(dataclasses.replace(system, performance_metrics={"version": 2.0}), path)
""")


def test_a_kill_during_save_system_leaves_the_old_or_the_new_system(system, tmp_path):
    path = tmp_path / "sys"
    save_system(dataclasses.replace(system, performance_metrics={"version": 1.0}), path)
    full = subprocess.run([sys.executable, "-c", _CHILD, str(path), "0"], capture_output=True,
                          text=True)
    assert full.returncode == 0, full.stderr
    n_steps = int(full.stdout.split()[-1])
    save_system(dataclasses.replace(system, performance_metrics={"version": 1.0}), path)
    # Kill in the middle of filling, then at each of the last three steps (swap included).
    for kill_at in (2, n_steps - 2, n_steps - 1, n_steps):
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(kill_at)],
                              capture_output=True, text=True)
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        version = load_system(path).performance_metrics["version"]
        assert version == (2.0 if kill_at >= n_steps - 1 else 1.0), kill_at
        save_system(dataclasses.replace(system, performance_metrics={"version": 1.0}), path)
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".sys.")]
