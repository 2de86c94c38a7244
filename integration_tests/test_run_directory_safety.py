"""A run directory is only ever one ACBO made, and only one command works in it at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from acbo import job
from acbo.cli import EXIT_INPUT, main
from acbo.config import load_config

CONFIG = """
[training]
n_expert_trajectories = 200
random_seed = 0
[demonstrations]
executor = "inline"
shard_size = 1
[demonstrations.distribution]
n_vars = [4, 5]
[expert]
n_obs = 60
T = 3
grid_size = 64
refine_size = 16
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    return path


def _tree(root):
    return sorted((str(p.relative_to(root)), p.read_bytes() if p.is_file() else None)
                  for p in root.rglob("*"))


def test_run_refuses_a_directory_it_did_not_make_and_touches_nothing(tmp_path, config_file,
                                                                      capsys):
    out = tmp_path / "thesis"
    (out / "system").mkdir(parents=True)
    (out / "system" / "figure.png").write_bytes(b"\x89PNG")
    (out / "models").mkdir()
    (out / "models" / "surrogate").write_text("my notes")
    before = _tree(out)
    assert main(["run", "-o", str(out), "-c", str(config_file), "-q"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out) in err and "not written by ACBO" in err
    assert _tree(out) == before  # not even a config.json or a log was added


def test_output_pointing_at_a_file(tmp_path, config_file, capsys):
    out = tmp_path / "results.txt"
    out.write_text("keep me")
    assert main(["generate", "-o", str(out), "-c", str(config_file), "-q"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert str(out) in err and "Traceback" not in err
    assert out.read_text() == "keep me"


def _wait_for_lock_holder(run, proc):
    lock = run / ".acbo-lock"
    while proc.poll() is None:
        try:
            holder = json.loads(lock.read_text() or "{}")
        except (OSError, ValueError):
            holder = {}
        if holder.get("pid") == proc.pid:
            return
        time.sleep(0.01)
    raise AssertionError(f"the first command ended early: {proc.stderr.read()}")


def test_a_second_command_on_a_busy_run_is_refused_and_a_killed_one_does_not_block(
        tmp_path, config_file, capsys):
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "acbo.cli", "generate", "-o", str(run), "-c", str(config_file),
         "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_lock_holder(run, first)
        # Paused while it holds the lock (200 demonstrations cannot be done in a poll's time),
        # so what follows does not depend on the machine's speed.
        first.send_signal(signal.SIGSTOP)
        log_before = (run / "log.jsonl").read_bytes() if (run / "log.jsonl").exists() else b""
        assert main(["generate", "-o", str(run), "-c", str(config_file), "-q"]) == EXIT_INPUT
        err = capsys.readouterr().err
        assert f"in use by process {first.pid}" in err and str(run) in err
        assert err.count("\n") == 1
        after = (run / "log.jsonl").read_bytes() if (run / "log.jsonl").exists() else b""
        assert after == log_before  # the refused command wrote nothing
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    # The kernel dropped the killed command's lock: the next command gets the directory.
    with job.RunDir.open(run, load_config(config_file)) as opened:
        assert opened.root == run
        assert json.loads((run / ".acbo-lock").read_text())["pid"] == os.getpid()
