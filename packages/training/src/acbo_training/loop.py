"""A resumable training loop: checkpoints every few steps, resumes to the same result.

Batches are a pure function of ``(key, step)``, and the state (parameters, optimiser state,
step) is checkpointed together with the metric history, so a run that is interrupted —
Ctrl-C (checkpoint written, then :class:`TrainingInterrupted`) or killed outright (the last
periodic checkpoint survives) — and started again with the same configuration ends with
exactly the parameters of a run never interrupted. A damaged checkpoint (truncated arrays,
an unreadable sidecar) is treated as absent: the run restarts from step 0 and says so in the log.
"""

from __future__ import annotations

import pathlib
import signal
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from acbo_core import load_checkpoint, read_checkpoint_info, save_checkpoint
from acbo_core.errors import ACBOError, CheckpointError
from acbo_training.runlog import RunLogger

__all__ = ["TrainingInterrupted", "LoopResult", "run_training"]

_LOOP_FORMAT_VERSION = 1


class TrainingInterrupted(ACBOError, KeyboardInterrupt):
    """Raised after Ctrl-C once the checkpoint is on disk; rerun the same command to resume."""


class LoopResult(NamedTuple):
    state: Any
    history: list[dict[str, float]]
    resumed_from: int


def _save(path: pathlib.Path, state: Any, step: int, history: list[dict[str, float]],
          kind: str, config: Mapping[str, Any], stopped: bool) -> None:
    arrays = jax.tree_util.tree_map(_key_data, state)
    save_checkpoint(path, jax.device_get(arrays), kind=kind, format_version=_LOOP_FORMAT_VERSION,
                    config=config,
                    metadata={"step": step, "history": history, "stopped": stopped})


def _is_key(x: Any) -> bool:
    return jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key)


def _key_data(x: Any) -> Any:
    return jax.random.key_data(x) if _is_key(x) else x


def _restore(path: pathlib.Path, like: Any, kind: str, config: Mapping[str, Any],
             logger: RunLogger) -> tuple[Any, int, list[dict[str, float]], bool] | None:
    """The saved state, or None for a fresh run (no checkpoint, or a damaged one: logged).

    A checkpoint of another kind, format version or configuration is refused, not replaced.
    """
    try:
        info = read_checkpoint_info(path)  # (also repairs a write interrupted by a crash)
    except CheckpointError as err:
        if not (path.exists() or path.is_symlink()):
            return None  # no checkpoint yet: a fresh run
        if not path.is_dir():
            raise CheckpointError(
                f"{str(path)!r} is not a checkpoint directory (a file is there); move it away "
                "or use another run directory") from None
        if not any(path.iterdir()):
            return None
        _damaged(path, err, logger)
        return None
    if info.get("kind") != kind or info.get("format_version") != _LOOP_FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} holds a {info.get('kind')!r} checkpoint of format version "
            f"{info.get('format_version')!r}, not a {kind!r} one of version "
            f"{_LOOP_FORMAT_VERSION}; use another run directory or delete it")
    if info.get("config") != dict(config):
        raise CheckpointError(
            f"the checkpoint in {str(path)!r} was written with another configuration; "
            "use another run directory or delete it"
        )
    try:
        template = jax.device_get(jax.tree_util.tree_map(_key_data, like))
        tree, info = load_checkpoint(path, kind=kind, format_version=_LOOP_FORMAT_VERSION,
                                     like=template)
        step, history, stopped = _progress(path, info.get("metadata"))
    except CheckpointError as err:
        _damaged(path, err, logger)
        return None
    state = jax.tree_util.tree_map(_like, like, tree)
    return state, step, history, stopped


def _damaged(path: pathlib.Path, err: CheckpointError, logger: RunLogger) -> None:
    logger.log("checkpoint_damaged", level="WARNING", checkpoint=str(path), error=str(err),
               action="restarting from step 0")


def _progress(path: pathlib.Path, meta: Any) -> tuple[int, list[dict[str, float]], bool]:
    """``(step, history, stopped)`` from a checkpoint's metadata, checked."""
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"corrupt checkpoint metadata in {str(path)!r}: {what}")

    if not isinstance(meta, dict):
        raise bad("'metadata' must be a JSON object")
    step, history, stopped = meta.get("step"), meta.get("history"), meta.get("stopped", False)
    if not (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
        raise bad(f"'step' must be an integer >= 0, got {step!r:.60}")
    if not (isinstance(history, list) and all(
            isinstance(h, dict) and all(v is None or (isinstance(v, int | float)
                                                      and not isinstance(v, bool))
                                        for v in h.values()) for h in history)):
        # (None: a non-finite metric, which the checkpoint's JSON writes as null)
        raise bad("'history' must be a list of maps from names to numbers")
    if not isinstance(stopped, bool):
        raise bad(f"'stopped' must be true or false, got {stopped!r:.60}")
    return step, list(history), stopped


def _like(ref: Any, value: np.ndarray) -> Any:
    if _is_key(ref):
        return jax.random.wrap_key_data(jnp.asarray(value), impl=jax.random.key_impl(ref))
    return np.asarray(value, dtype=np.asarray(ref).dtype)


def run_training(
    *,
    init_state: Any,
    update_fn: Callable[[Any, Any], tuple[Any, Mapping[str, Any]]],
    batch_fn: Callable[[jax.Array, int], Any],
    key: jax.Array,
    n_steps: int,
    checkpoint_dir: str | pathlib.Path | None,
    checkpoint_frequency: int = 10,
    kind: str = "acbo.train_state",
    config: Mapping[str, Any] | None = None,
    logger: RunLogger | None = None,
    desc: str = "training",
    log_every: int = 10,
    place_state: Callable[[Any], Any] | None = None,
    stop_fn: Callable[[list[dict[str, float]]], bool] | None = None,
) -> LoopResult:
    """Runs ``update_fn`` for ``n_steps`` steps, checkpointing and resuming.

    Args:
      init_state: the state of a fresh run, any pytree of arrays (PRNG keys included); ignored
        when a checkpoint is found.
      update_fn: ``(state, batch) -> (state, metrics)``, usually jitted.
      batch_fn: ``(key, step) -> batch``; it receives ``fold_in(key, step)``, so the batch of a
        step does not depend on whether the run was interrupted.
      key: the run's PRNG key.
      n_steps: total number of steps.
      checkpoint_dir: where the checkpoint lives; None disables checkpoints and resuming.
      checkpoint_frequency: steps between checkpoints.
      kind: the checkpoint's kind (checked on resume).
      config: JSON-serialisable configuration; a checkpoint of another configuration is refused.
      logger: progress bar and JSONL metrics.
      desc: label of the progress bar.
      log_every: steps between metric log lines.
      place_state: optional function that puts a (restored) state on devices (e.g. replicates it
        over a mesh for data-parallel training).
      stop_fn: called with the history after each logged step; True ends the run early (after a
        checkpoint), e.g. for early stopping. It must depend on the history only, so a resumed
        run stops where an uninterrupted one would.

    Returns:
      The final state, the metric history (one entry per logged step) and the step resumed from.

    Raises:
      TrainingInterrupted: on Ctrl-C, after writing the checkpoint.
      CheckpointError: the checkpoint directory holds another run (another kind, format version
        or configuration), or a file is where the checkpoint directory should be. A damaged
        checkpoint is not an error: it is logged (``checkpoint_damaged``) and the run restarts
        from step 0.
    """
    config = dict(config or {})
    logger = logger or RunLogger(progress=False)
    path = pathlib.Path(checkpoint_dir) if checkpoint_dir is not None else None
    state, start, history, stopped = init_state, 0, list[dict[str, float]](), False
    if path is not None and \
            (restored := _restore(path, init_state, kind, config, logger)) is not None:
        state, start, history, stopped = restored
        logger.log("resumed", step=start, checkpoint=str(path))
    if stopped:  # the run had already stopped early: nothing left to do
        n_steps = start
    if place_state is not None:
        state = place_state(state)
    interrupted = False

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True  # finish the current step, then checkpoint and stop

    previous = signal.signal(signal.SIGINT, on_sigint) if _main_thread() else None
    try:
        with logger.progress(n_steps, desc, initial=start) as bar:
            for step in range(start, n_steps):
                batch = batch_fn(jax.random.fold_in(key, step), step)
                state, metrics = update_fn(state, batch)
                bar.update(1)
                if (step + 1) % log_every == 0 or step + 1 == n_steps:
                    entry = {"step": step + 1, **{k: float(v) for k, v in metrics.items()}}
                    history.append(entry)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in entry.items() if k != "step"})
                    logger.log("train", level="DEBUG", desc=desc, **entry)
                done, stopped = step + 1 == n_steps, False
                if not done and stop_fn is not None and history and \
                        history[-1]["step"] == step + 1 and stop_fn(history):
                    logger.log("stopped_early", step=step + 1)
                    done = stopped = True
                if path is not None and ((step + 1) % checkpoint_frequency == 0 or done
                                         or interrupted):
                    _save(path, state, step + 1, history, kind, config, stopped)
                if done:
                    break
                if interrupted:
                    logger.log("interrupted", level="WARNING", step=step + 1,
                               checkpoint=str(path) if path else None)
                    raise TrainingInterrupted(
                        f"interrupted at step {step + 1} of {n_steps}"
                        + (f"; checkpoint saved in {path}, run again to resume" if path else "")
                    )
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return LoopResult(state, history, start)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
