"""The two slowest bench smoke runs (see test_benches.py), in a file of their own so that
pytest-xdist's per-file scheduling gives them to the other worker."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("script", ["bench_surrogate.py", "bench_training.py"])
def test_bench_runs_at_its_smallest_size(script, smoke_bench):
    smoke_bench(script)
