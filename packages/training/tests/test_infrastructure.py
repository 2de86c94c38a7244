import json
import os
import pathlib
import sys

import numpy as np
import pytest

from acbo_training import config as cfg
from acbo_training import executors, shards
from acbo_training.errors import (
    ConfigError,
    CorruptShardError,
    DatasetMismatchError,
    TaskFailedError,
)
from acbo_training.runlog import RunLogger

HERE = pathlib.Path(__file__).parent


@pytest.fixture()
def tasks_module(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), *sys.path]))
    import _tasks

    return _tasks


# -- shards -------------------------------------------------------------------------------------


def _records(n):
    return [({"x": np.arange(3.0) + i, "m": np.eye(2, dtype=bool)}, {"id": i}) for i in range(n)]


def test_shard_round_trip_and_checksum(tmp_path):
    root = shards.open_dataset(tmp_path / "ds", kind="test", spec={"n": 4})
    shards.write_shard(root, 0, _records(3))
    assert shards.finished_shards(root) == {0}
    back = shards.read_shard(root, 0)
    assert [m for _, m in back] == [{"id": 0}, {"id": 1}, {"id": 2}]
    np.testing.assert_array_equal(back[2][0]["x"], np.arange(3.0) + 2)
    assert back[0][0]["m"].dtype == bool
    arrays_path, _ = shards.shard_paths(root, 0)
    data = bytearray(arrays_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    arrays_path.write_bytes(bytes(data))
    with pytest.raises(CorruptShardError, match="shard-00000.npz.*checksum"):
        shards.read_shard(root, 0)


def test_dataset_spec_mismatch_is_refused(tmp_path):
    shards.open_dataset(tmp_path, kind="test", spec={"n": 4, "seed": 1})
    shards.open_dataset(tmp_path, kind="test", spec={"n": 4, "seed": 1})  # same: fine
    with pytest.raises(DatasetMismatchError, match=r"\['seed'\]"):
        shards.open_dataset(tmp_path, kind="test", spec={"n": 4, "seed": 2})


def test_truncated_sidecar_is_named(tmp_path):
    shards.write_shard(tmp_path, 1, _records(1))
    _, sidecar = shards.shard_paths(tmp_path, 1)
    sidecar.write_text(sidecar.read_text()[:10])
    with pytest.raises(CorruptShardError, match="shard-00001.json"):
        shards.verify_shard(tmp_path, 1)


# -- executors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_executors_return_each_result_once(executor, tasks_module):
    out = dict(executors.run_tasks(tasks_module.square, list(range(7)), executor=executor,
                                   max_workers=2))
    assert out == {i: i * i for i in range(7)}


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_executors_retry_a_failing_task(executor, tasks_module, tmp_path):
    payloads = [(i, str(tmp_path)) for i in range(5)]
    out = dict(executors.run_tasks(tasks_module.fail_once, payloads, executor=executor,
                                   max_workers=2, retries=1))
    assert out == {i: i * 10 for i in range(5)} and (tmp_path / "seen-3").exists()
    with pytest.raises(TaskFailedError, match=r"task [01] failed 2 times: ValueError"):
        dict(executors.run_tasks(tasks_module.always_fail, [1, 2], executor=executor,
                                 max_workers=2, retries=1))


def test_unknown_executor():
    with pytest.raises(ConfigError, match="unknown executor 'spark'"):
        executors.run_tasks(abs, [1], executor="spark")


# -- logger -------------------------------------------------------------------------------------


def test_run_logger_writes_jsonl(tmp_path, capsys):
    with RunLogger(tmp_path / "log.jsonl", level="WARNING") as log:
        log.log("step", loss=0.5)
        log.log("careful", level="WARNING", what="x")
        with log.progress(3, "work") as bar:
            bar.update(3)
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [x["event"] for x in lines] == ["step", "careful"] and lines[0]["loss"] == 0.5
    err = capsys.readouterr().err
    assert "careful" in err and "step loss" not in err


def test_mixed_precision_sets_the_matmul_precision():
    import jax

    with cfg.compute_precision(cfg.TrainingConfig(use_mixed_precision=True)):
        assert jax.config.jax_default_matmul_precision == "bfloat16"
    with cfg.compute_precision(cfg.TrainingConfig()):
        assert jax.config.jax_default_matmul_precision is None


def test_pipeline_config_from_toml(tmp_path):
    from acbo_training.pipelines import load_pipeline_config

    path = tmp_path / "run.toml"
    path.write_text("[training]\nrandom_seed = 3\n[acquisition.grpo]\ngroup_size = 8\n"
                    "[demonstrations.distribution]\nn_vars = [4, 6]\n")
    config = load_pipeline_config(path, ["surrogate.batch_size=8", "expert.T=5"])
    assert config.training.random_seed == 3 and config.acquisition.grpo.group_size == 8
    assert config.demonstrations.distribution.n_vars == (4, 6)
    assert config.surrogate.batch_size == 8 and config.expert.T == 5
    with pytest.raises(ConfigError, match="unknown configuration key 'acquisition.grpo.foo'"):
        load_pipeline_config(path, ["acquisition.grpo.foo=1"])
    with pytest.raises(ConfigError, match="expert.T must be"):
        load_pipeline_config(path, ["expert.T=0"])
    with pytest.raises(ConfigError, match="demonstrations.distribution.graph must be"):
        load_pipeline_config(path, ['demonstrations.distribution.graph="tree"'])

