"""Benchmark of the acbo-kernels scoring op (issue 3).

Times, side by side in one run, the native kernel (`acbo_kernels.score_parent_sets`), the jitted
pure-JAX reference (`acbo_kernels.reference.score_parent_sets`, Gram-based) and a naive pure-JAX
version (one Bayesian regression per set on the raw rows), all under `jax.jit`, and checks the
kernel against an independent float64 numpy formula (y ~ N(0, s_t^2 X_S X_S^T + s_y^2 I) on a
sample of sets).

Configurations: d30 (B=8, N=1000, d=30, k_max=3; 4,090 sets per target) and d100 (B=1, N=500,
d=100, k_max=3; 161,800 sets; the naive version is not run there).

    python tools/bench_kernels.py                 # the full run (docs/kernels.md numbers)
    python tools/bench_kernels.py --quick         # short run, well under two minutes
    python tools/bench_kernels.py --smoke         # the smallest sizes (what the tests run)
    python tools/bench_kernels.py --json out.json # also write {"machine", "config", "metrics"}
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import acbo_kernels as ak
from acbo_kernels import reference

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import benchlib  # noqa: E402


def machine() -> dict:
    return {**benchlib.machine_info(), "native": ak.native_available(),
            "native_cuda": ak.native_status().cuda}


def make_data(seed: int, B: int, N: int, d: int) -> tuple[np.ndarray, ...]:
    """Linear-Gaussian-ish data with 5% of entries intervened; every batch element has target
    d - 1 (B data sets of one problem, so one candidate table of the target's sets serves all)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(B, N, d))
    # a little structure so that some sets explain the target well
    X[:, :, 1:] += 0.8 * X[:, :, :-1]
    intervened = rng.random((B, N, d)) < 0.05
    target = np.full(B, d - 1)
    return X.astype(np.float32), intervened, target.astype(np.int32)


def _naive_one(x, used, t, sets, sy2, st2):  # x [N, d], used [N], sets [K, k_max]
    """Naive: for each set, gather its columns from the raw rows and solve its regression."""
    w = used.astype(jnp.float32)
    y = x[:, t] * w  # [N]
    n = jnp.sum(w)

    def one_set(s):  # [k_max]
        valid = s >= 0
        xs = jnp.where(valid[None, :], x[:, jnp.where(valid, s, 0)], 0.0) * w[:, None]  # [N, k]
        a = xs.T @ xs / sy2 + jnp.diag(jnp.where(valid, 1.0 / st2, 1.0))
        b = xs.T @ y
        chol = jnp.linalg.cholesky(a)
        z = jax.scipy.linalg.solve_triangular(chol, b, lower=True)
        logdet = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
        m = jnp.sum(valid)
        out = -0.5 * (
            n * jnp.log(2 * jnp.pi * sy2) + m * jnp.log(st2) + logdet + y @ y / sy2
            - z @ z / sy2**2
        )
        return jnp.where(jnp.any(s == t), -jnp.inf, out)

    return jax.lax.map(one_set, sets, batch_size=256)


@jax.jit
def naive_score(x, intervened, target, sets):
    used = ~jnp.take_along_axis(intervened, target[:, None, None], axis=2)[..., 0]
    return jax.vmap(_naive_one, in_axes=(0, 0, 0, None, None, None))(
        x, used, target, sets, 1.0, 1.0
    )


kernel_score = jax.jit(ak.score_parent_sets)
reference_score = jax.jit(reference.score_parent_sets)


def exact_logml(x, used, t, s, sy2=1.0, st2=1.0) -> float:
    """float64 numpy, straight from y ~ N(0, st2 Xs Xs^T + sy2 I) over the rows used."""
    x = np.asarray(x, np.float64)[np.asarray(used)]
    y = x[:, t]
    xs = x[:, [v for v in s if v >= 0]]
    cov = st2 * xs @ xs.T + sy2 * np.eye(len(y))
    _, logdet = np.linalg.slogdet(cov)
    return float(-0.5 * (len(y) * np.log(2 * np.pi) + logdet + y @ np.linalg.solve(cov, y)))


def timeit(fn, *args, repeats: int, budget_s: float) -> float:
    """Median wall time (s) of fn(*args) after a compile-and-warm call."""
    jax.block_until_ready(fn(*args))
    times = []
    start = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and len(times) >= 3:
            break
    return statistics.median(times)


def run_config(name, B, N, d, k_max, *, naive, repeats, budget_s, n_check) -> dict:
    X, intervened, target = make_data(0, B, N, d)
    sets = ak.enumerate_parent_sets(d, d - 1, k_max)
    K = sets.shape[0]
    args = tuple(jnp.asarray(a) for a in (X, intervened, target, sets))
    res = {"B": B, "N": N, "d": d, "k_max": k_max, "K": K}
    res["kernel_s"] = timeit(kernel_score, *args, repeats=repeats, budget_s=budget_s)
    res["reference_s"] = timeit(reference_score, *args, repeats=repeats, budget_s=budget_s)
    if naive:
        res["naive_s"] = timeit(naive_score, *args, repeats=max(3, repeats // 4), budget_s=budget_s)
    res["sets_per_s"] = B * K / res["kernel_s"]

    out = np.asarray(kernel_score(*args))
    ref = np.asarray(reference_score(*args))
    if naive:  # the naive baseline computes the same numbers (float32 throughout)
        nv = np.asarray(naive_score(*args))
        fin = np.isfinite(out)
        res["max_abs_diff_naive"] = float(np.max(np.abs(out[fin] - nv[fin])))
    rng = np.random.default_rng(1)
    err = 0.0
    rel = 0.0
    used = ~np.take_along_axis(intervened, target[:, None, None], axis=2)[..., 0]
    for _ in range(n_check):
        b, k = int(rng.integers(B)), int(rng.integers(K))
        exact = exact_logml(X[b], used[b], int(target[b]), sets[k])
        err = max(err, abs(float(out[b, k]) - exact))
        rel = max(rel, abs(float(out[b, k]) - exact) / abs(exact))
    finite = np.isfinite(ref)
    res["max_abs_err"] = err
    res["max_rel_err"] = rel
    res["max_abs_diff_reference"] = float(np.max(np.abs(out[finite] - ref[finite])))
    print(f"  {name}: done", file=sys.stderr)
    return res


def main(argv: list[str] | None = None) -> int:
    mach = machine()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.add_arguments(parser)
    args = parser.parse_args(argv)

    repeats, budget, n_check = benchlib.pick(args, (30, 20.0, 100), (5, 3.0, 20), (1, 1.0, 5))
    full_sizes = ((8, 1000), (1, 500))  # (B, N) of d30 and d100; the smoke run keeps d
    (b30, n30), (b100, n100) = benchlib.pick(args, full_sizes, full_sizes, ((2, 100), (1, 50)))
    cfg = {
        "size": benchlib.size(args),
        "repeats": repeats,
        "time_budget_s": budget,
        "checked_sets": n_check,
        "prior": "GaussianPrior(sigma_y=1, sigma_theta=1)",
        "timing": "median wall time of the jitted call, after a warm-up call",
    }
    d30 = run_config("d30", b30, n30, 30, 3, naive=True, repeats=repeats, budget_s=budget,
                     n_check=n_check)
    d100 = run_config("d100", b100, n100, 100, 3, naive=False, repeats=repeats,
                      budget_s=budget, n_check=n_check)
    metrics = {
        "speedup_vs_reference_d30": d30["reference_s"] / d30["kernel_s"],
        "speedup_vs_naive_d30": d30["naive_s"] / d30["kernel_s"],
        "speedup_vs_reference_d100": d100["reference_s"] / d100["kernel_s"],
        "sets_per_s_d100": d100["sets_per_s"],
        "max_abs_err": max(d30["max_abs_err"], d100["max_abs_err"]),
        "max_rel_err": max(d30["max_rel_err"], d100["max_rel_err"]),
        "kernel_ms_d30": 1e3 * d30["kernel_s"],
        "reference_ms_d30": 1e3 * d30["reference_s"],
        "naive_ms_d30": 1e3 * d30["naive_s"],
        "kernel_ms_d100": 1e3 * d100["kernel_s"],
        "reference_ms_d100": 1e3 * d100["reference_s"],
        "max_abs_diff_reference": max(d30["max_abs_diff_reference"],
                                      d100["max_abs_diff_reference"]),
    }
    print(f"machine: {mach['cpu']} ({mach['cores']} cores, load {mach['load_avg_1m']:.1f}"
          f" at start), jax {mach['jax']}, devices {mach['devices']}, native={mach['native']}")
    print(f"{'config':<34}{'kernel ms':>11}{'reference ms':>14}{'naive ms':>11}"
          f"{'vs ref':>9}{'vs naive':>10}{'sets/s':>12}")
    for name, r in (("d30", d30), ("d100", d100)):
        label = f"{name}: B={r['B']} N={r['N']} d={r['d']} K={r['K']}"
        naive_ms = f"{1e3 * r['naive_s']:.1f}" if "naive_s" in r else "-"
        vs_naive = f"{r['naive_s'] / r['kernel_s']:.0f}x" if "naive_s" in r else "-"
        print(f"{label:<34}{1e3 * r['kernel_s']:>11.2f}{1e3 * r['reference_s']:>14.2f}"
              f"{naive_ms:>11}{r['reference_s'] / r['kernel_s']:>8.1f}x{vs_naive:>10}"
              f"{r['sets_per_s']:>12.3g}")
    print(f"max |kernel - float64 numpy| over {2 * n_check} sets: {metrics['max_abs_err']:.2e} "
          f"(relative {metrics['max_rel_err']:.1e}); max |kernel - reference|: "
          f"{metrics['max_abs_diff_reference']:.2e}; max |kernel - naive| (d30): "
          f"{d30['max_abs_diff_naive']:.2e}")
    if args.json:
        benchlib.write_json(args.json, {"machine": mach, "config": {**cfg, "d30": d30,
                                                                     "d100": d100},
                                        "metrics": metrics})
    return 0


if __name__ == "__main__":
    sys.exit(main())
