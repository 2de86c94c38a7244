"""A tiny training run driven by acbo_training.run_training, for the resume tests.

usage: python _train_script.py CHECKPOINT_DIR OUT.npz [--stop-at STEP] [--devices N]

--stop-at STEP: the process stops itself (SIGSTOP) before step STEP + 1, once the checkpoint of
step STEP (a multiple of 5) is on disk, so that a test can signal it there on a machine of any
speed; it goes on when continued (SIGCONT).
"""

import os
import signal
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from acbo_training.loop import TrainingInterrupted, run_training
from acbo_training.parallel import data_mesh, replicate, shard_batch

TRUE_W = jnp.arange(1.0, 5.0)


class TrainState(NamedTuple):
    """run_training takes any pytree of arrays as its state; this one is a named tuple."""

    params: dict
    opt_state: tuple
    step: jnp.ndarray


def batch_fn(key, step):
    x = jax.random.normal(key, (16, 4))
    return x, x @ TRUE_W + 0.1 * jax.random.normal(jax.random.fold_in(key, 1), (16,))


def main():
    ckpt, out = sys.argv[1], sys.argv[2]
    stop_at = int(sys.argv[sys.argv.index("--stop-at") + 1]) if "--stop-at" in sys.argv else None
    n_dev = int(sys.argv[sys.argv.index("--devices") + 1]) if "--devices" in sys.argv else None
    opt = optax.adam(0.05)
    params = {"w": jnp.zeros(4), "b": jnp.zeros(())}

    def loss(p, batch):
        x, y = batch
        return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    @jax.jit
    def update(state, batch):
        value, grads = jax.value_and_grad(loss)(state.params, batch)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        return TrainState(optax.apply_updates(state.params, updates), opt_state,
                          state.step + 1), {"loss": value}

    place, batches = None, batch_fn
    if n_dev is not None:
        mesh = data_mesh(n_dev)

        def place(state):
            return replicate(state, mesh)

        def batches(key, step):
            batch = shard_batch(batch_fn(key, step), mesh)
            assert len(batch[0].sharding.device_set) == n_dev  # really split over devices
            return batch

    def step_fn(state, batch):
        if stop_at is not None and int(state.step) == stop_at:
            os.kill(os.getpid(), signal.SIGSTOP)  # the checkpoint of step `stop_at` is written
        return update(state, batch)

    init = TrainState(params, opt.init(params), jnp.asarray(0, jnp.int32))
    try:
        result = run_training(init_state=init, update_fn=step_fn, batch_fn=batches,
                              key=jax.random.key(0), n_steps=60,
                              checkpoint_dir=None if ckpt == "-" else ckpt,
                              checkpoint_frequency=5, config={"lr": 0.05}, place_state=place)
    except TrainingInterrupted as err:
        print(err, flush=True)
        sys.exit(130)
    np.savez(out, w=np.asarray(result.state.params["w"]), b=np.asarray(result.state.params["b"]),
             resumed_from=result.resumed_from, steps=len(result.history))


if __name__ == "__main__":
    main()
