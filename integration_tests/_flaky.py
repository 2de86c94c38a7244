"""A shard function that fails the first time it runs shard 1 (for the retry tests).

Workers import this module through PYTHONPATH; the marker directory comes from the environment
variable ACBO_TEST_MARKERS, so the failure happens once across processes and Ray workers.
"""

import os
import pathlib

from acbo_training.demonstrations import run_shard


def flaky_shard(payload):
    marker = pathlib.Path(os.environ["ACBO_TEST_MARKERS"]) / f"shard-{payload['shard']}"
    if payload["shard"] == 1 and not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
        raise RuntimeError("injected worker failure")
    return run_shard(payload)
