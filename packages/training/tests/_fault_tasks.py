"""Helpers of test_fault_injection that run in other processes (importable through sys.path)."""

import os
import pathlib
import sys
import time


def record_pid_and_sleep(payload):
    """A pool task: writes this worker's pid to ``<folder>/worker-<i>``, then sleeps."""
    folder, i = payload
    path = pathlib.Path(folder) / f"worker-{i}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(os.getpid()))
    tmp.replace(path)
    time.sleep(300)  # far longer than the test waits; the worker must die with its parent
    return i


def pool_parent(folder):
    """The parent process of the pool test: runs two sleeping tasks on the local pool."""
    from acbo_training.executors import run_tasks

    for _ in run_tasks(record_pid_and_sleep, [(folder, 0), (folder, 1)], executor="local",
                       max_workers=2, retries=0):
        pass


def generate_tiny(output_dir, logger=None):
    """A tiny demonstrations dataset (two shards of one run), with the wall-clock timings (the
    only fields a run legitimately varies in) set to zero so that two runs can be compared byte
    for byte."""
    import jax

    from acbo_training.demonstrations import generate_demonstrations

    return generate_demonstrations(DIST(), 2, key=jax.random.key(0), config=EXPERT(),
                                   shard_size=1, executor="inline", output_dir=output_dir,
                                   shard_fn=untimed_shard, logger=logger)


def untimed_shard(payload):
    from acbo_training.demonstrations import run_shard

    records = run_shard(payload)
    for _, meta in records:
        meta["step_seconds"] = [0.0] * len(meta["step_seconds"])
        meta["setup_seconds"] = 0.0
    return records


def EXPERT():  # noqa: N802 - a constant that needs a lazy import
    from acbo_expert import ParentScaleConfig

    return ParentScaleConfig(n_obs=20, n_int=1, T=2, grid_size=8, refine_size=2, gp_steps=0,
                             gp_ensemble=1)


def DIST():  # noqa: N802
    from acbo_training.demonstrations import SCMDistribution

    return SCMDistribution(n_vars=(3, 4))


if __name__ == "__main__":
    import _fault_tasks  # by its module name, so that pool workers can unpickle its functions

    getattr(_fault_tasks, sys.argv[1])(sys.argv[2])
