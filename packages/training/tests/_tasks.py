"""Task functions for executor tests (importable by worker processes through sys.path)."""

import os
import pathlib


def square(x):
    return x * x


def fail_once(payload):
    """Raises the first time it sees a payload (a marker file remembers), then succeeds."""
    value, marker_dir = payload
    marker = pathlib.Path(marker_dir) / f"seen-{value}"
    if value == 3 and not marker.exists():
        marker.write_text(str(os.getpid()))
        raise RuntimeError(f"injected failure for task {value}")
    return value * 10


def always_fail(x):
    raise ValueError(f"bad payload {x}")
