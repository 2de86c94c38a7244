"""acbo-train against a hostile environment: configurations the run would reject later, config
files that cannot be read, output paths that cannot be written, numbers that overflow. Each
gives one line ``acbo-train: error: ...`` with the documented exit code (2: usage or
configuration, 3: an input or output file or run directory), before anything is written."""

from __future__ import annotations

import errno
import json
import os
import types

import jax
import pytest

import acbo_core as ac
from acbo import ACBOConfig, load_config
from acbo.cli import EXIT_CONFIG, EXIT_INPUT, EXIT_OK, OPTIMIZATION_RESULT_KIND, main
from acbo_core.configs import to_dict
from acbo_core.errors import ConfigError


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("acbo-train: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)
    return lines[0]


# -- configurations the run would reject: refused at load, nothing written -----------------------


@pytest.mark.parametrize("override, key", [
    ('evaluation.baselines=["nope"]', "evaluation.baselines"),
    ('evaluation.baseline_method="nope"', "evaluation.baseline_method"),
    ("surrogate.learning_rate=nan", "surrogate.learning_rate"),
    ("acquisition.grpo.learning_rate=inf", "acquisition.grpo.learning_rate"),
    ("demonstrations.shard_size=0", "demonstrations.shard_size"),
    ("demonstrations.distribution.n_vars=[10000, 10000]", "demonstrations.distribution.n_vars"),
    ("demonstrations.distribution.noise_scale=[nan, 1.0]",
     "demonstrations.distribution.noise_scale"),
    ('demonstrations.executor="spark"', "demonstrations.executor"),
    ('demonstrations.distribution.mechanism="quadratic"',
     "demonstrations.distribution.mechanism"),
    ("online.learning_rate=0.0", "online.learning_rate"),
    ("online.group_size=1", "online.group_size"),
    ("evaluation.n_steps=100000", "evaluation.n_steps"),
    ("evaluation.transfer_factor=100", "evaluation.transfer_factor"),
    ("evaluation.seeds=[-1]", "evaluation.seeds"),
])
def test_a_configuration_the_run_would_reject_leaves_no_run_directory(tmp_path, capsys,
                                                                      override, key):
    run = tmp_path / "run"
    assert main(["run", "-o", str(run), "-q", "--set", override]) == EXIT_CONFIG
    _one_error_line(capsys, key)
    assert not run.exists()


def test_the_limit_is_named_for_an_absurd_size(tmp_path, capsys):
    assert main(["run", "-o", str(tmp_path / "r"), "--set",
                 "demonstrations.distribution.n_vars=[10000, 10000]"]) == EXIT_CONFIG
    _one_error_line(capsys, "200")


def _float_keys(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _float_keys(value, f"{prefix}{key}.")
        elif isinstance(value, float):
            yield f"{prefix}{key}"


@pytest.mark.parametrize("key", sorted(_float_keys(to_dict(ACBOConfig()))))
def test_every_number_of_the_configuration_refuses_nan(key):
    with pytest.raises(ConfigError, match=rf"^{key} must be a finite number"):
        load_config(None, [f"{key}=nan"])


def test_the_transfer_test_size_is_checked_at_load():
    # 30 observational samples are enough at 20 variables, too few for the transfer test's 40
    with pytest.raises(ConfigError, match="expert.n_obs"):
        load_config(None, ["demonstrations.distribution.n_vars=[10, 20]", "expert.n_obs=30"])


# -- config files that cannot be read ------------------------------------------------------------


def test_config_pointing_at_a_directory(tmp_path, capsys):
    folder = tmp_path / "configs"
    folder.mkdir()
    assert main(["run", "-o", str(tmp_path / "r"), "-c", str(folder)]) == EXIT_CONFIG
    _one_error_line(capsys, "configs", "directory")
    assert not (tmp_path / "r").exists()


def test_config_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes("[expert]\n# r\xe9glage\nT = 3\n".encode("latin-1"))
    assert main(["generate", "-o", str(tmp_path / "r"), "-c", str(path)]) == EXIT_CONFIG
    _one_error_line(capsys, "latin1.toml", "UTF-8")
    assert not (tmp_path / "r").exists()


# -- optimize: its numbers and its --json path are checked before anything runs ------------------


def _scm_file(tmp_path):
    path = tmp_path / "scm.json"
    path.write_text(ac.scm_to_json(ac.chain_scm(3, key=jax.random.key(0))))
    return path


def _optimize(tmp_path, *extra):
    # No system at --system: a check that passes would end in "not a saved ACBO system".
    return main(["optimize", "-o", str(tmp_path / "run"), "--scm", str(_scm_file(tmp_path)),
                 "--system", str(tmp_path / "no-system"), *extra])


@pytest.mark.parametrize("args, needle", [
    (["--seed", str(2**70)], "--seed"),
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**32)], "--seed"),
    (["--steps", "1000000000"], "--steps"),
    (["--steps", "0"], "--steps"),
])
def test_optimize_numbers_out_of_range(tmp_path, capsys, args, needle):
    assert _optimize(tmp_path, *args) == EXIT_CONFIG
    _one_error_line(capsys, needle)


def test_json_pointing_at_a_directory(tmp_path, capsys):
    assert _optimize(tmp_path, "--json", str(tmp_path)) == EXIT_INPUT
    _one_error_line(capsys, "--json", "directory")


def test_json_in_a_missing_folder(tmp_path, capsys):
    assert _optimize(tmp_path, "--json", str(tmp_path / "missing" / "out.json")) == EXIT_INPUT
    _one_error_line(capsys, "--json", "missing")
    assert not (tmp_path / "missing").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_json_in_a_read_only_folder(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert _optimize(tmp_path, "--json", str(folder / "out.json")) == EXIT_INPUT
        _one_error_line(capsys, "--json", "not writable")
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("content", [b"my notes\n", b'{"kind": "something.else"}', b"\xff\xfe"])
def test_json_onto_a_file_the_project_did_not_write(tmp_path, capsys, content):
    path = tmp_path / "notes.json"
    path.write_bytes(content)
    assert _optimize(tmp_path, "--json", str(path)) == EXIT_INPUT
    _one_error_line(capsys, "--json", "notes.json", "refusing to overwrite")
    assert path.read_bytes() == content


class _FakeSystem:
    """Stands in for a trained system: optimize's own logic is what is tested."""

    def run_optimization(self, scm, n_steps, online, *, key):
        variable = next(v for v in scm["variables"] if v != scm["target"])
        dos = tuple(ac.create_perfect_intervention([variable], [float(t)])
                    for t in range(n_steps))
        outcomes = tuple(float(-t) for t in range(n_steps))
        return types.SimpleNamespace(
            interventions=dos, outcomes=outcomes, best_so_far=outcomes,
            best_intervention=lambda: ((variable,), (float(n_steps - 1),), outcomes[-1]))


def test_json_result_carries_its_kind_and_replaces_only_its_own_kind(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setattr("acbo.persistence.load_system", lambda path: _FakeSystem())
    out = tmp_path / "result.json"
    assert _optimize(tmp_path, "--steps", "2", "--json", str(out)) == EXIT_OK
    doc = json.loads(out.read_text())
    assert doc["kind"] == OPTIMIZATION_RESULT_KIND and len(doc["steps"]) == 2
    # a result of the same kind is replaced
    assert _optimize(tmp_path, "--steps", "3", "--json", str(out)) == EXIT_OK
    assert len(json.loads(out.read_text())["steps"]) == 3
    capsys.readouterr()


# -- the output run directory ---------------------------------------------------------------------


def test_output_is_a_file(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    assert main(["run", "-o", str(path), "-q", "--set", "training.n_expert_trajectories=1"]) \
        == EXIT_INPUT
    _one_error_line(capsys, "notes.txt")
    assert path.read_text() == "keep me"


def test_output_under_a_file(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    assert main(["run", "-o", str(path / "run"), "-q", "--set",
                 "training.n_expert_trajectories=1"]) == EXIT_INPUT
    _one_error_line(capsys, "notes.txt")
    assert path.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_output_in_a_read_only_folder(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert main(["run", "-o", str(folder / "run"), "-q"]) == EXIT_INPUT
        _one_error_line(capsys, "ro")
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("error", [
    PermissionError(errno.EACCES, "Permission denied", "/runs/x/config.json"),
    OSError(errno.ENOSPC, "No space left on device", "/runs/x/log.jsonl"),
    OSError(errno.EROFS, "Read-only file system", "/runs/x"),
])
def test_an_os_error_is_one_line_not_an_internal_error(tmp_path, capsys, monkeypatch, error):
    from acbo import job

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(job.RunDir, "open", fail)
    assert main(["run", "-o", str(tmp_path / "r"), "-q"]) == EXIT_INPUT
    line = _one_error_line(capsys, error.strerror, error.filename)
    assert line == f"acbo-train: error: {error.strerror}: {error.filename}"
