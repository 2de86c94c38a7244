"""One small logger for long jobs: a progress bar on the terminal and a JSONL file per run."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

__all__ = ["RunLogger", "machine_info"]

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


class RunLogger:
    """Writes every event to ``<run>/log.jsonl``; shows events at ``level`` and above, and
    progress bars, on the terminal.

    Args:
      jsonl_path: the JSONL file (appended to, so a resumed run keeps one log); None for none.
      level: terminal threshold: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
      progress: show progress bars (off for non-interactive use if you like).
    """

    def __init__(self, jsonl_path: str | pathlib.Path | None = None, *, level: str = "INFO",
                 progress: bool = True) -> None:
        self._threshold = _LEVELS[level]
        self._progress = progress
        self._file = None
        if jsonl_path is not None:
            path = pathlib.Path(jsonl_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", buffering=1)  # noqa: SIM115 - closed in close()

    def log(self, event: str, *, level: str = "INFO", **fields: Any) -> None:
        """Records one event with JSON-serialisable fields."""
        if self._file is not None:
            self._file.write(json.dumps({"time": time.time(), "level": level, "event": event,
                                         **fields}, default=str) + "\n")
        if _LEVELS[level] >= self._threshold:
            shown = " ".join(f"{k}={_short(v)}" for k, v in fields.items())
            tqdm.write(f"[{level.lower()}] {event} {shown}".rstrip(), file=sys.stderr)

    @contextmanager
    def progress(self, total: int, desc: str, initial: int = 0) -> Iterator[Any]:
        """A progress bar (``bar.update(n)``, ``bar.set_postfix(...)``)."""
        bar = tqdm(total=total, initial=initial, desc=desc, disable=not self._progress,
                   file=sys.stderr, dynamic_ncols=True)
        try:
            yield bar
        finally:
            bar.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def machine_info() -> dict[str, Any]:
    """What a measurement ran on: CPU model, its widest vector instruction set, cores,
    platform, versions, devices, ``XLA_FLAGS``, date and the 1-minute load (the machine may be
    shared with other jobs).

    The instruction set is there because XLA compiles for the host's: float32 results (and so
    trained models) are bit-identical between runs on one kind of CPU, not across kinds."""
    import jax

    model, flags = "", set[str]()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    cpu = model or platform.processor() or platform.machine()
    isa = next((name for name in ("avx512f", "avx2", "avx", "sse4_2") if name in flags), "")
    return {"cpu": cpu, "isa": isa, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "jax": jax.__version__,
            "devices": [str(d) for d in jax.devices()],
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "date": time.strftime("%Y-%m-%d"),
            "load_avg_1m": os.getloadavg()[0]}
