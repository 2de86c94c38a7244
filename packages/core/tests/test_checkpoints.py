import json
from typing import NamedTuple

import numpy as np
import pytest

from acbo_core.checkpoints import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
)


class State(NamedTuple):
    params: dict
    step: np.ndarray


def _params():
    return {"linear": {"w": np.arange(6.0).reshape(2, 3), "b": np.ones(3, np.float32)},
            "head": {"w": np.zeros((3, 1))}}


def test_round_trip_nested_dicts_without_template(tmp_path):
    save_checkpoint(tmp_path / "ck", _params(), kind="test", format_version=2,
                    config={"hidden": 8}, metadata={"step": 5})
    tree, info = load_checkpoint(tmp_path / "ck", kind="test", format_version=2)
    assert info["config"] == {"hidden": 8} and info["metadata"] == {"step": 5}
    np.testing.assert_array_equal(tree["linear"]["w"], _params()["linear"]["w"])
    assert tree["linear"]["b"].dtype == np.float32


def test_round_trip_namedtuple_with_template_and_overwrite(tmp_path):
    state = State(_params(), np.asarray(3))
    save_checkpoint(tmp_path / "ck", state, kind="test", format_version=1)
    save_checkpoint(tmp_path / "ck", state._replace(step=np.asarray(4)), kind="test",
                    format_version=1)
    back, _ = load_checkpoint(tmp_path / "ck", kind="test", format_version=1, like=state)
    assert isinstance(back, State) and int(back.step) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temporary left behind


def test_refuses_other_version_kind_and_corruption(tmp_path):
    save_checkpoint(tmp_path / "ck", _params(), kind="test", format_version=1)
    with pytest.raises(CheckpointError, match="format version 1.*reads version 2"):
        load_checkpoint(tmp_path / "ck", kind="test", format_version=2)
    with pytest.raises(CheckpointError, match="not 'other'"):
        load_checkpoint(tmp_path / "ck", kind="other", format_version=1)
    with pytest.raises(CheckpointError, match="expected structure"):
        load_checkpoint(tmp_path / "ck", kind="test", format_version=1, like={"a": np.ones(1)})
    (tmp_path / "ck" / "arrays.npz").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="damaged checkpoint.*arrays.npz.*checksum"):
        load_checkpoint(tmp_path / "ck", kind="test", format_version=1)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        read_checkpoint_info(tmp_path / "missing")
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "bad", _params(), kind="test", format_version=1,
                        config={"x": object()})
    assert not (tmp_path / "bad").exists()
    assert json.loads((tmp_path / "ck" / "checkpoint.json").read_text())["kind"] == "test"
