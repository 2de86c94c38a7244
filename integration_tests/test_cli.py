"""acbo-train end to end: `run` on a tiny configuration, `optimize` on a JSON SCM, resume after
Ctrl-C, and every error path giving one clear line and a documented exit code."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys

import jax
import pytest

import acbo
import acbo_core as ac
from acbo.cli import EXIT_CONFIG, EXIT_INPUT, EXIT_INTERRUPTED, main

TINY = """
[training]
n_expert_trajectories = 6
validation_split = 0.34
random_seed = 0
checkpoint_frequency = 5
[demonstrations]
executor = "inline"
shard_size = 2
[demonstrations.distribution]
n_vars = [4, 5]
[expert]
n_obs = 60
T = 3
grid_size = 64
refine_size = 16
[surrogate]
model_hidden_dim = 16
model_n_layers = 1
batch_size = 8
max_epochs = 2
validation_frequency = 1
pretrain_steps = %(pretrain)d
pretrain_n_vars = [3, 6]
pretrain_batch_size = 4
[acquisition]
max_grpo_epochs = 2
[acquisition.policy]
hidden_dim = 16
n_layers = 1
n_heads = 2
[acquisition.grpo]
group_size = 4
batch_size = 4
[acquisition.imitation]
imitation_epochs = 2
[online]
updates_per_step = 1
group_size = 4
[evaluation]
n_test_scms = 1
seeds = [0]
n_steps = 3
n_transfer_scms = 1
"""

CRITERIA = {"surrogate_speedup", "surrogate_accuracy_drop", "warm_start_convergence",
            "transfer_drop_2x", "expert_agreement", "gap_closed_vs_expert"}


def _config(tmp_path, pretrain=3):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY % {"pretrain": pretrain})
    return str(path)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    config = _config(root)
    run = root / "run"
    assert main(["run", "-o", str(run), "-c", config, "-q"]) == 0
    return run, config


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("acbo-train: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)
    return lines[0]


def test_run_writes_the_report_with_every_criterion(tiny_run):
    run, _ = tiny_run
    for name in ("report.md", "report.json", "convergence.png", "posterior_accuracy.png",
                 "decision_time.png"):
        assert (run / "report" / name).stat().st_size > 0, name
    report = json.loads((run / "report" / "report.json").read_text())
    criteria = {c["name"]: c for c in report["success_criteria"]}
    assert set(criteria) == CRITERIA
    for c in criteria.values():
        assert isinstance(c["passed"], bool)
        assert c["value"] is None or isinstance(c["value"], float)
    assert set(report["end_to_end"]) == {"acbo", "parent_scale", "random", "oracle"}
    for part in ("demonstrations", "system", "models", "checkpoints", "evaluation"):
        assert (run / part).exists(), part


def test_evaluate_again_reads_finished_runs(tiny_run, capsys):
    run, config = tiny_run
    before = (run / "report" / "report.json").read_text()
    assert main(["evaluate", "-o", str(run), "-c", config, "-q"]) == 0
    out = capsys.readouterr().out
    assert "success criteria" in out
    after = json.loads((run / "report" / "report.json").read_text())
    assert after["end_to_end"] == json.loads(before)["end_to_end"]


def test_optimize_an_scm_from_json(tiny_run, tmp_path, capsys):
    run, config = tiny_run
    scm = ac.erdos_renyi_scm(5, key=jax.random.key(21))
    path = tmp_path / "scm.json"
    path.write_text(ac.scm_to_json(scm))
    out_json = tmp_path / "result.json"
    assert main(["optimize", "--system", str(run / "system"), "--scm", str(path), "--steps",
                 "3", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert out.count("do(") >= 4 and "best: do(" in out
    doc = json.loads(out_json.read_text())
    assert doc["target"] == scm["target"] and len(doc["steps"]) == 3
    # the same seed gives the same sequence
    assert main(["optimize", "--system", str(run / "system"), "--scm", str(path), "--steps",
                 "3"]) == 0
    assert capsys.readouterr().out.splitlines()[:4] == out.splitlines()[:4]


# The first `acbo-train` of the Ctrl-C test: the CLI, except that it stops itself (SIGSTOP) right
# after the first checkpoint of surrogate pre-training is on disk, so that the test's Ctrl-C lands
# in the middle of training on a machine of any speed or load (nothing is timed).
_STOP_AT_THE_FIRST_CHECKPOINT = """
import os, pathlib, signal, sys
import acbo_training.loop as loop
from acbo.cli import main
save = loop.save_checkpoint
def save_then_stop(path, *args, **kwargs):
    save(path, *args, **kwargs)
    if pathlib.Path(path).name == "surrogate-pretrain":
        loop.save_checkpoint = save
        os.kill(os.getpid(), signal.SIGSTOP)  # the test sends Ctrl-C, then SIGCONT
loop.save_checkpoint = save_then_stop
sys.exit(main())
"""
HANG_GUARD_S = 3600  # only against a hang: a loaded machine is slower, never wrong


@pytest.mark.skipif(not hasattr(os, "waitid") or not hasattr(signal, "SIGSTOP"),
                    reason="waitid and SIGSTOP (POSIX)")
def test_ctrl_c_saves_and_the_same_command_resumes(tmp_path):
    run = tmp_path / "run"
    # 3 pre-training steps of one example each and a checkpoint after every step: the child stops
    # after step 1, Ctrl-C lands there (its handler runs within step 2 at the latest), and the
    # resumed command does the rest
    args = ["train", "--component", "surrogate", "-o", str(run), "-c",
            _config(tmp_path, pretrain=3), "-q"]
    for key_value in ("training.checkpoint_frequency=1", "surrogate.pretrain_batch_size=1"):
        args += ["--set", key_value]
    with open(tmp_path / "first.err", "w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", _STOP_AT_THE_FIRST_CHECKPOINT, *args],
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            # until the child stops at its checkpoint or exits (WNOWAIT: Popen still reaps it)
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WSTOPPED | os.WNOWAIT)
            stopped = info.si_code == os.CLD_STOPPED
            if stopped:
                proc.send_signal(signal.SIGINT)  # Ctrl-C, delivered once it runs again
                proc.send_signal(signal.SIGCONT)
            code = proc.wait(timeout=HANG_GUARD_S)
        finally:
            if proc.poll() is None:  # the test failed with the child stopped: never leave it
                proc.kill()
                proc.wait()
        err.seek(0)
        first = err.read()
    assert stopped, f"exit code {code} without a pre-training checkpoint: {first}"
    assert code == EXIT_INTERRUPTED, first
    assert "run the same command again to resume" in first and "Traceback" not in first
    done = subprocess.run([sys.executable, "-m", "acbo.cli", *args], capture_output=True,
                          text=True, timeout=HANG_GUARD_S)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    interrupted = [e for e in events if e["event"] == "interrupted"]
    resumed = [e for e in events if e["event"] == "resumed"]
    assert len(interrupted) == 1 and interrupted[0]["checkpoint"] == str(run / "checkpoints" /
                                                                         "surrogate-pretrain")
    assert len(resumed) == 1 and resumed[0]["checkpoint"] == interrupted[0]["checkpoint"]
    assert 0 < resumed[0]["step"] == interrupted[0]["step"] < 3  # went on from the saved step
    assert (run / "models" / "surrogate").is_dir()


def test_quick_benchmark_of_every_family_and_method(tiny_run, tmp_path, capsys):
    """`acbo-train benchmark --quick`: every family (the networks too: the test session
    installs `acbo[benchmarks]`) and every method, the system's included, so none can rot."""
    from acbo.benchmark import METHODS
    from acbo.benchmark_families import FAMILIES

    run, _ = tiny_run
    out = tmp_path / "bench"
    assert main(["benchmark", "--quick", "-q", "-o", str(out), "--system",
                 str(run / "system")]) == 0
    doc = json.loads((out / "report" / "benchmark.json").read_text())
    assert set(doc["families"]) == set(FAMILIES)
    for fam in doc["families"].values():
        for variant in fam["variants"].values():
            assert set(variant["methods"]) == set(METHODS)
    printed = capsys.readouterr().out
    assert "mean gap closed at t = 3" in printed and "report:" in printed


def test_a_damaged_model_is_set_aside_and_rebuilt(tiny_run, tmp_path):
    import shutil

    run, config = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    arrays = copy / "models" / "surrogate" / "arrays.npz"
    damaged = arrays.read_bytes()[:100]
    arrays.write_bytes(damaged)  # truncated: its checksum no longer matches
    (copy / "system" / "system.json").write_bytes(b"\xff")
    assert main(["train", "-o", str(copy), "-c", config, "-q"]) == 0
    events = [json.loads(line) for line in (copy / "log.jsonl").read_text().splitlines()]
    aside = [e for e in events if e["event"] == "model_damaged"]
    assert [pathlib.Path(e["path"]).name for e in aside] == ["surrogate"]
    kept = list((copy / "models").glob("surrogate.damaged-*"))
    assert len(kept) == 1 and (kept[0] / "arrays.npz").read_bytes() == damaged  # not deleted
    acbo.load_system(copy / "system")  # rebuilt, and the system saved again over its own


# -- error paths: one line, a documented exit code, no traceback ---------------------------------


def test_missing_config_file(tmp_path, capsys):
    assert main(["run", "-o", str(tmp_path / "r"), "-c", str(tmp_path / "nope.toml")]) \
        == EXIT_CONFIG
    _one_error_line(capsys, "nope.toml")


def test_malformed_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[expert\nT = 3\n")
    assert main(["generate", "-o", str(tmp_path / "r"), "-c", str(bad)]) == EXIT_CONFIG
    _one_error_line(capsys, "bad.toml")


@pytest.mark.parametrize("override, needle", [("expert.bogus=1", "expert.bogus"),
                                              ("expert.T=0", "T"),
                                              ("evaluation.seeds=[]", "seeds")])
def test_bad_overrides(tmp_path, capsys, override, needle):
    assert main(["run", "-o", str(tmp_path / "r"), "--set", override]) == EXIT_CONFIG
    _one_error_line(capsys, needle)


def test_run_directory_of_another_configuration(tiny_run, capsys):
    run, config = tiny_run
    assert main(["evaluate", "-o", str(run), "-c", config, "--set", "expert.T=4"]) \
        == EXIT_CONFIG
    _one_error_line(capsys, "another configuration", "expert.T")


def test_evaluate_before_anything(tmp_path, capsys):
    assert main(["evaluate", "-o", str(tmp_path / "r"), "-c", _config(tmp_path)]) == EXIT_INPUT
    _one_error_line(capsys, "no demonstrations")


def test_policy_before_surrogate(tmp_path, capsys):
    assert main(["train", "--component", "acquisition", "-o", str(tmp_path / "r"), "-c",
                 _config(tmp_path)]) == EXIT_CONFIG
    _one_error_line(capsys, "train it first")


def _cyclic_scm_json():
    doc = json.loads(ac.scm_to_json(ac.chain_scm(3, key=jax.random.key(0))))
    a, b = doc["edges"][0]  # a -> b: add b -> a
    doc["edges"].append([b, a])
    doc["mechanisms"][a]["coefficients"][b] = 1.0
    return json.dumps(doc)


@pytest.mark.parametrize("content, needle", [
    (None, "cannot read the SCM file"),
    ("{not json", ""),
    ("cyclic", "cycl"),
])
def test_bad_scm_files(tiny_run, tmp_path, capsys, content, needle):
    run, config = tiny_run
    path = tmp_path / "scm.json"
    if content is not None:
        path.write_text(_cyclic_scm_json() if content == "cyclic" else content)
    assert main(["optimize", "--system", str(run / "system"), "--scm", str(path)]) == EXIT_INPUT
    _one_error_line(capsys, needle)


def test_optimize_without_a_system(tmp_path, capsys):
    path = tmp_path / "scm.json"
    path.write_text(ac.scm_to_json(ac.erdos_renyi_scm(4, key=jax.random.key(0))))
    assert main(["optimize", "--scm", str(path), "--system", str(tmp_path / "none")]) \
        == EXIT_INPUT
    _one_error_line(capsys, "not a saved ACBO system")


def test_optimize_uses_the_pretrained_system_without_system(tiny_run, tmp_path, monkeypatch,
                                                            capsys):
    run, _ = tiny_run
    asked = []

    def shipped(name="generalist"):
        asked.append(name)
        return run / "system"

    monkeypatch.setattr(acbo.persistence, "pretrained_path", shipped)
    path = tmp_path / "scm.json"
    path.write_text(ac.scm_to_json(ac.erdos_renyi_scm(4, key=jax.random.key(0))))
    assert main(["optimize", "--scm", str(path), "--steps", "2"]) == 0
    assert asked == ["generalist"]


def test_the_shipped_generalist_optimizes_an_scm_file_with_no_training(tmp_path, capsys):
    # The real weights, from the installed package (its package data), no monkeypatching.
    system = acbo.load_pretrained()
    assert acbo.persistence.pretrained_path().parent.name == "pretrained"
    assert (system.policy_config.hidden_dim, system.policy_config.n_layers) == (128, 4)
    scm = ac.toy_graph_scm()
    path = tmp_path / "toy.json"
    path.write_text(ac.scm_to_json(scm))
    out_json = tmp_path / "result.json"
    assert main(["optimize", "--scm", str(path), "--steps", "3", "--json", str(out_json)]) == 0
    doc = json.loads(out_json.read_text())
    assert doc["target"] == "Y" and len(doc["steps"]) == 3
    assert all(set(step["intervention"]) <= {"X", "Z"} for step in doc["steps"])
    assert "best: do(" in capsys.readouterr().out


def test_optimize_without_a_pretrained_system_installed(tmp_path, monkeypatch, capsys):
    import importlib.resources

    installed = pathlib.Path(str(importlib.resources.files("acbo")))
    (tmp_path / "acbo").mkdir()  # an installation of acbo without its pretrained/ folder
    (tmp_path / "acbo" / "configs").symlink_to(installed / "configs")
    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path / package)
    path = tmp_path / "scm.json"
    path.write_text(ac.scm_to_json(ac.erdos_renyi_scm(4, key=jax.random.key(0))))
    assert main(["optimize", "--scm", str(path), "--steps", "2"]) == EXIT_INPUT
    _one_error_line(capsys, "no pretrained system 'generalist'")
    from acbo_core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown pretrained system"):
        acbo.persistence.pretrained_path("nope")


def test_optimize_a_system_of_another_format(tiny_run, tmp_path, capsys):
    import shutil

    run, config = tiny_run
    system = tmp_path / "system"
    shutil.copytree(run / "system", system)
    meta = json.loads((system / "system.json").read_text())
    (system / "system.json").write_text(json.dumps({**meta, "format_version": 99}))
    path = tmp_path / "scm.json"
    path.write_text(ac.scm_to_json(ac.erdos_renyi_scm(4, key=jax.random.key(0))))
    assert main(["optimize", "--scm", str(path), "--system", str(system)]) == EXIT_INPUT
    _one_error_line(capsys, "format version 99")


def test_bad_steps(tiny_run, tmp_path, capsys):
    run, config = tiny_run
    assert main(["optimize", "-o", str(run), "--scm", "x.json", "--steps", "0"]) == EXIT_CONFIG
    _one_error_line(capsys, "--steps")


def test_usage_errors_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_config_prints_the_embedded_default(capsys):
    assert main(["config"]) == 0
    assert "[evaluation]" in capsys.readouterr().out


@pytest.mark.skipif(os.name != "posix", reason="console script path")
def test_console_script_is_installed():
    import shutil

    exe = shutil.which("acbo-train") or os.path.join(os.path.dirname(sys.executable),
                                                     "acbo-train")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert out.returncode == 0 and "acbo-train" in out.stdout
