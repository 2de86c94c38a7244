"""Benchmark of acbo-core: sampling throughput and ExperienceBuffer append cost.

Metrics:
  samples_per_s_er100          samples/s, 100k observational samples of a 100-variable linear ER
                               SCM, after compilation
  samples_per_s_er100_fourier  the same with random Fourier (nonlinear) mechanisms
  interventional_samples_per_s_er100  the same under a do() on one variable (linear)
  append_us_at_<n>             microseconds per add_interventions on a buffer of n blocks
  append_growth_ratio          append time at the largest size / at the smallest (flat = ~1)

    python tools/bench_core.py [--quick | --smoke] [--json PATH]
"""

from __future__ import annotations

import time

import jax
import numpy as np

import acbo_core as ac
from benchlib import best_time, parse_args, pick, report, size


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n_samples = pick(args, 100_000, 20_000, 1_000)
    sizes = pick(args, (10, 100, 1_000, 10_000, 50_000), (10, 100, 1_000, 5_000), (10, 50))
    repeats = pick(args, 3, 3, 1)
    metrics: dict[str, float] = {}

    key = jax.random.key(0)
    linear = ac.erdos_renyi_scm(100, key=key, expected_degree=2.0)
    fourier = ac.erdos_renyi_scm(100, key=key, expected_degree=2.0, mechanism="fourier")
    var = ac.intervenable_variables(linear)[0]
    do = ac.create_perfect_intervention(var, 1.0)
    for name, fn in [
        ("samples_per_s_er100", lambda: ac.sample_observational(linear, n_samples, key=key)),
        ("samples_per_s_er100_fourier",
         lambda: ac.sample_observational(fourier, n_samples, key=key)),
        ("interventional_samples_per_s_er100",
         lambda: ac.sample_interventional(linear, do, n_samples, key=key)),
    ]:
        seconds = best_time(lambda fn=fn: fn().block_until_ready(), repeats=repeats)
        metrics[name] = n_samples / seconds

    # Append cost as the buffer grows: grow to each size, then time a batch of appends there.
    rows = np.asarray(ac.sample_interventional(linear, do, 2, key=key), np.float64)
    buffer = ac.create_buffer(linear["variables"])
    per_append = {}
    n_blocks = 0
    for n in sizes:
        for _ in range(n - n_blocks):
            buffer = buffer.add_interventions(do, rows)
        n_blocks = n
        reps = pick(args, 200, 200, 5)
        start = time.perf_counter()
        for _ in range(reps):
            buffer.add_interventions(do, rows)  # appends to the same buffer: size stays fixed
        per_append[n] = (time.perf_counter() - start) / reps
        metrics[f"append_us_at_{n}"] = per_append[n] * 1e6
    metrics["append_growth_ratio"] = per_append[sizes[-1]] / per_append[sizes[0]]

    report("acbo-core benchmark", {"n_samples": n_samples, "d": 100, "buffer_sizes": sizes,
                                   "rows_per_append": 2, "size": size(args)},
           metrics, args.json)


if __name__ == "__main__":
    main()
