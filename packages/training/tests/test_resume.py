"""Killed or interrupted training resumes to exactly the parameters of an uninterrupted run."""

import json
import os
import pathlib
import signal
import subprocess
import sys
from typing import Any, NamedTuple

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).parent / "_train_script.py"
HANG_GUARD_S = 3600  # only against a hang: a loaded machine is slower, never wrong


class _State(NamedTuple):  # run_training takes any pytree of arrays as its state
    params: Any
    opt_state: Any
    step: Any


def _run(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_until_stopped(proc):
    """Blocks until ``proc`` stops itself (``--stop-at``); fails if it exits instead."""
    # WNOWAIT: an exited child stays for Popen to reap
    info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WSTOPPED | os.WNOWAIT)
    assert info.si_code == os.CLD_STOPPED, proc.communicate()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.npz"
    proc = _run("-", out)
    assert proc.wait(timeout=HANG_GUARD_S) == 0, proc.communicate()
    return np.load(out)


@pytest.mark.skipif(not hasattr(os, "waitid") or not hasattr(signal, "SIGSTOP"),
                    reason="waitid and SIGSTOP (POSIX)")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_run_resumes_to_the_same_parameters(sig, uninterrupted, tmp_path):
    ckpt, out = tmp_path / "ckpt", tmp_path / "out.npz"
    proc = _run(ckpt, out, "--stop-at", 15)  # of 60 steps; nothing is timed
    try:
        _wait_until_stopped(proc)
        assert json.loads((ckpt / "checkpoint.json").read_text())["metadata"]["step"] == 15
        proc.send_signal(sig)
        proc.send_signal(signal.SIGCONT)  # SIGINT is delivered once it runs again
        code = proc.wait(timeout=HANG_GUARD_S)
    finally:
        if proc.poll() is None:  # the test failed with the child stopped: never leave it
            proc.kill()
            proc.wait()
    stdout, _ = proc.communicate()
    if sig == signal.SIGINT:
        assert code == 130 and "checkpoint saved" in stdout
    else:
        assert code == -signal.SIGKILL
    assert not out.exists()
    again = _run(ckpt, out)
    assert again.wait(timeout=HANG_GUARD_S) == 0, again.communicate()
    res = np.load(out)
    if sig == signal.SIGINT:  # the step in progress is finished and saved
        assert 16 <= int(res["resumed_from"]) < 60
    else:  # killed: the periodic checkpoint
        assert int(res["resumed_from"]) == 15
    np.testing.assert_array_equal(res["w"], uninterrupted["w"])
    np.testing.assert_array_equal(res["b"], uninterrupted["b"])
    assert int(res["steps"]) == 6  # the metric history survived the interruption


def test_two_devices_match_one(uninterrupted, tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    results = {}
    for n in (1, 2):
        out = tmp_path / f"dev{n}.npz"
        proc = _run("-", out, "--devices", n, env=env)
        assert proc.wait(timeout=HANG_GUARD_S) == 0, proc.communicate()
        results[n] = np.load(out)
    np.testing.assert_allclose(results[2]["w"], results[1]["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[1]["w"], uninterrupted["w"], rtol=1e-5, atol=1e-6)


def test_checkpoint_of_another_config_is_refused(tmp_path):
    import jax.numpy as jnp
    import optax

    from acbo_core.errors import CheckpointError
    from acbo_training.loop import run_training

    params = {"w": jnp.zeros(2)}
    opt = optax.sgd(0.1)
    init = _State(params, opt.init(params), jnp.asarray(0, jnp.int32))

    def update(state, batch):
        return state._replace(step=state.step + 1), {}

    import jax

    kw = dict(init_state=init, update_fn=update, batch_fn=lambda k, s: None,
              key=jax.random.key(0), n_steps=3, checkpoint_dir=tmp_path / "c")
    run_training(**kw, config={"lr": 0.1})
    with pytest.raises(CheckpointError, match="another configuration"):
        run_training(**kw, config={"lr": 0.2})


def test_states_with_prng_keys_resume(tmp_path):
    import jax
    import jax.numpy as jnp

    from acbo_training.loop import run_training

    def update(state, batch):
        key, sub = jax.random.split(state["key"])
        return {"key": key, "x": state["x"] + jax.random.normal(sub)}, {"x": state["x"]}

    init = {"key": jax.random.key(1), "x": jnp.zeros(())}
    kw = dict(init_state=init, update_fn=update, batch_fn=lambda k, s: None,
              key=jax.random.key(0), checkpoint_dir=tmp_path / "c", checkpoint_frequency=2)
    full = run_training(**{**kw, "checkpoint_dir": None}, n_steps=6)
    run_training(**kw, n_steps=3)  # a run stopped after 3 steps (checkpoint at step 3)
    resumed = run_training(**kw, n_steps=6)
    assert resumed.resumed_from == 3
    assert float(resumed.state["x"]) == float(full.state["x"])
    assert jax.random.key_data(resumed.state["key"]).tolist() == \
        jax.random.key_data(full.state["key"]).tolist()


def test_early_stop_is_kept_across_resume(tmp_path):
    import jax
    import jax.numpy as jnp

    from acbo_training.loop import run_training

    def update(state, batch):
        return state + 1, {"val": jnp.maximum(5.0 - state, 2.0)}

    def no_progress(history):
        vals = [h["val"] for h in history]
        return len(vals) > 2 and min(vals[-2:]) >= min(vals[:-2])

    kw = dict(init_state=jnp.zeros(()), update_fn=update, batch_fn=lambda k, s: None,
              key=jax.random.key(0), n_steps=50, log_every=1, stop_fn=no_progress,
              checkpoint_dir=tmp_path / "c")
    first = run_training(**kw)
    assert int(first.state) == 6 and first.history[-1]["step"] == 6  # [5, 4, 3, 2, 2, 2]
    again = run_training(**kw)
    assert int(again.state) == 6 and again.resumed_from == 6
