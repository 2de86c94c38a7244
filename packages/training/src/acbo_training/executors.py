"""Run independent tasks locally (a process pool) or on Ray, with retries.

Each task is a picklable module-level function applied to one payload; results come back as
``(index, result)`` pairs as they finish, each index exactly once. A task that raises is
retried (``retries`` times) before :class:`TaskFailedError` names it. Results do not depend on
the executor: tasks carry their own PRNG keys.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from acbo_training.errors import ConfigError, TaskFailedError

__all__ = ["EXECUTORS", "run_tasks"]

EXECUTORS = ("local", "ray", "inline")


def _inline(fn: Callable[[Any], Any], payloads: Sequence[Any],
            retries: int) -> Iterator[tuple[int, Any]]:
    for i, payload in enumerate(payloads):
        for attempt in range(retries + 1):
            try:
                result = fn(payload)
                break
            except Exception as err:
                if attempt == retries:
                    raise TaskFailedError(f"task {i} failed {retries + 1} times: {err!r}") from err
        yield i, result


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_PARENT_POLL_SECONDS = 1.0


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: the worker exits when the process that started the pool dies.

    On Linux the kernel sends SIGKILL to the worker when its parent dies (``PR_SET_PDEATHSIG``);
    everywhere, a daemon thread also polls the parent's pid and exits the worker once it has
    changed (the worker was re-parented), so no worker outlives a parent killed with SIGKILL.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no usable libc: the polling thread remains
            pass
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(_PARENT_POLL_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="acbo-parent-watch", daemon=True).start()


def _local(fn: Callable[[Any], Any], payloads: Sequence[Any], retries: int,
           max_workers: int | None) -> Iterator[tuple[int, Any]]:
    workers = max_workers or min(len(payloads), os.cpu_count() or 1)
    attempts = [0] * len(payloads)
    # spawn, not fork: JAX's runtime is multithreaded and not fork-safe.
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                initializer=_die_with_parent,
                                initargs=(os.getpid(),)) as pool:
        pending = {pool.submit(fn, p): i for i, p in enumerate(payloads)}
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as err:
                    attempts[i] += 1
                    if attempts[i] > retries:
                        for other in pending:
                            other.cancel()
                        raise TaskFailedError(
                            f"task {i} failed {attempts[i]} times: {err!r}") from err
                    pending[pool.submit(fn, payloads[i])] = i
                    continue
                yield i, result


def _ray(fn: Callable[[Any], Any], payloads: Sequence[Any], retries: int,
         address: str | None) -> Iterator[tuple[int, Any]]:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "executor 'ray' needs Ray: pip install 'acbo-training[ray]'"
        ) from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    # max_retries covers dead workers, retry_exceptions covers tasks that raise.
    remote = ray.remote(max_retries=retries, retry_exceptions=True)(fn)
    pending = {remote.remote(p): i for i, p in enumerate(payloads)}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            i = pending.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as err:
                for other in pending:
                    ray.cancel(other)
                raise TaskFailedError(f"task {i} failed after {retries} retries: {err!r}") from err
            yield i, result


def run_tasks(
    fn: Callable[[Any], Any],
    payloads: Sequence[Any],
    *,
    executor: str = "local",
    max_workers: int | None = None,
    retries: int = 2,
    ray_address: str | None = None,
) -> Iterator[tuple[int, Any]]:
    """Applies ``fn`` to every payload; yields ``(index, result)`` as tasks finish.

    Args:
      fn: a picklable module-level function of one payload.
      payloads: picklable task inputs.
      executor: ``"local"`` (process pool over the cores; its workers exit when this process
        dies, even by SIGKILL — on Linux, when the thread that started them ends), ``"ray"``
        (Ray tasks; connects to ``ray_address``, or starts a local Ray if none is running) or
        ``"inline"`` (this process, for debugging).
      max_workers: processes of the local pool (default: one per core).
      retries: extra attempts for a task that raises.
      ray_address: address of an existing Ray cluster (``"auto"``, ``"ray://host:10001"``).

    Raises:
      ConfigError: an unknown executor, or Ray missing.
      TaskFailedError: a task failed on every attempt (its index is named).
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; expected one of {EXECUTORS}")
    if not payloads:
        return iter(())
    if executor == "inline":
        return _inline(fn, payloads, retries)
    if executor == "local":
        return _local(fn, payloads, retries, max_workers)
    return _ray(fn, payloads, retries, ray_address)
