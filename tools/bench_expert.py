"""Benchmark of acbo-expert: PARENT_SCALE's optimisation quality, structure recovery and speed.

- CBO toy graph (X -> Z -> Y, minimise Y), n_obs 200, T 30, 10 seeds, random Fourier features:
  the best intervention found (by its true mean) vs the true optimum of E[Y | do(.)] over the
  allowed ranges, computed here by a dense grid and Monte Carlo [toy_solved_frac (regret <=
  0.05), toy_regret_median]; MAP parent set {Z} at the end [toy_map_correct_frac].
- Linear Erdős–Rényi graphs, d = 10 and 20, 5 seeds each, T 30, uniform prior: fraction of the
  gap between the target's observational mean and the exact optimum closed by the best
  intervention found [er10_gap_closed, er20_gap_closed], the same for the random and oracle
  baselines [er20_gap_closed_random, er20_gap_closed_oracle], seeds where PARENT_SCALE beats
  random [er20_ahead_of_random_frac], MAP set = true parents at the end [er_map_correct_frac],
  and the same with the doubly robust prior [er_map_correct_frac_dr];
  also the median probability model (variables with marginal probability > 1/2) = true parents
  [er_median_model_correct_frac].
- Speed: one full d = 20, T = 30 run in a fresh process, compile included, uniform and doubly
  robust prior, median of three processes [seconds_per_run_d20, seconds_per_run_d20_dr; the
  slowest of the three as *_max, the process CPU time as *_cpu]; median step after
  compilation [seconds_per_step_d20].

Usage: python tools/bench_expert.py [--quick | --smoke] [--json PATH]
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import benchlib  # noqa: E402

_TIMED_RUN = """
import json, sys, time
import jax, acbo_core as ac
from acbo_expert import ParentScaleConfig, run_parent_scale
scm = ac.erdos_renyi_scm(20, key=jax.random.key(100))
config = ParentScaleConfig(T={T}, prior={prior!r})
start, cpu = time.perf_counter(), time.process_time()
result = run_parent_scale(scm, key=jax.random.key(7), config=config)
print(json.dumps({{"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "steps": list(result.step_seconds), "setup": result.setup_seconds}}))
"""


def timed_fresh_run(T: int, prior: str) -> dict:
    """One run in a new interpreter, so compilation is counted (imports are not)."""
    done = subprocess.run([sys.executable, "-c", _TIMED_RUN.format(T=T, prior=prior)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def toy_truth(ac, jax, np, scm, *, scale: float = 1.0):
    """Optimum of E[Y | do(X = x)] and E[Y | do(Z = z)] over the ranges: grid + Monte Carlo
    (``scale`` < 1 shrinks grids and sample sizes, for the smoke run)."""
    def mean(var, value, n, seed):
        do = ac.create_perfect_intervention(var, float(value))
        return ac.target_interventional_mean(scm, do, key=jax.random.key(seed),
                                             n_samples=max(1000, int(scale * n)))

    best = np.inf
    for var, points in (("X", 201), ("Z", 1001)):
        lo, hi = scm["intervention_ranges"][var]
        grid = np.linspace(lo, hi, max(5, int(scale * points)))
        coarse = np.asarray([mean(var, v, 20_000, i) for i, v in enumerate(grid)])
        step = grid[1] - grid[0]
        for centre in grid[np.argsort(coarse)[:3]]:  # refine around the three best
            fine = np.clip(np.linspace(centre - step, centre + step, max(3, int(scale * 21))),
                           lo, hi)
            best = min(best, min(mean(var, v, 400_000, 10_000 + i) for i, v in enumerate(fine)))
    return best, lambda var, value: mean(var, value, 1_000_000, 99)


def main() -> None:
    args = benchlib.parse_args(__doc__.splitlines()[0])
    import jax
    import numpy as np

    import acbo_core as ac
    from acbo_expert import ParentScaleConfig, run_oracle, run_parent_scale, run_random

    def pick(full, quick, smoke):  # the value for this run's size
        return benchlib.pick(args, full, quick, smoke)

    T = pick(30, 10, 2)
    toy_seeds = pick(10, 2, 1)
    er_seeds = pick(5, 2, 1)
    dims = pick((10, 20), (10, 20), (20,))
    run_T = pick(30, 30, 2)  # steps of the timed fresh runs
    metrics: dict[str, float] = {}
    t_start = time.perf_counter()

    # --- CBO toy graph -------------------------------------------------------------------
    scm = ac.toy_graph_scm()
    optimum, true_mean = toy_truth(ac, jax, np, scm, scale=pick(1.0, 1.0, 0.02))
    toy_config = ParentScaleConfig(T=T, features="rff")
    regrets, toy_map = [], []
    for seed in range(toy_seeds):
        r = run_parent_scale(scm, key=jax.random.key(seed), config=toy_config)
        (var,), (value,), _ = r.best_intervention()
        regrets.append(true_mean(var, value) - optimum)
        toy_map.append(r.posterior_probabilities[-1].map_set() == frozenset({"Z"}))
        print(f"toy seed {seed}: best do({var}={value:.3f}) regret {regrets[-1]:.4f}, "
              f"MAP {sorted(r.posterior_probabilities[-1].map_set())}", flush=True)
    regrets = np.asarray(regrets)
    metrics["toy_optimum"] = float(optimum)
    metrics["toy_solved_frac"] = float(np.mean(regrets <= 0.05))
    metrics["toy_regret_median"] = float(np.median(regrets))
    metrics["toy_map_correct_frac"] = float(np.mean(toy_map))

    # --- linear ER graphs ----------------------------------------------------------------
    er_config = ParentScaleConfig(T=T)
    dr_config = dataclasses.replace(er_config, prior="doubly_robust")
    map_ok, median_ok, map_ok_dr = [], [], []
    step_times = []
    for d in dims:
        gaps: dict[str, list[float]] = {"parent_scale": [], "random": [], "oracle": []}
        for seed in range(er_seeds):
            scm = ac.erdos_renyi_scm(d, key=jax.random.key(1000 * d + seed))
            obs = ac.target_interventional_mean(scm, None)
            opt = min(ac.target_interventional_mean(scm, ac.create_perfect_intervention(v, x))
                      for v in ac.intervenable_variables(scm)
                      for x in scm["intervention_ranges"][v])
            methods = {"parent_scale": run_parent_scale}
            if d == 20:
                methods |= {"random": run_random, "oracle": run_oracle}
            for name, fn in methods.items():
                r = fn(scm, key=jax.random.key(seed), config=er_config)
                (var,), (value,), _ = r.best_intervention()
                best = ac.target_interventional_mean(scm, ac.create_perfect_intervention(var,
                                                                                         value))
                gaps[name].append((obs - best) / (obs - opt))
                if name == "parent_scale":
                    final = r.posterior_probabilities[-1]
                    map_ok.append(final.map_set() == r.true_parents)
                    # median probability model: every variable with marginal probability > 1/2
                    marginal = final.marginal_parent_probs()
                    median_ok.append({v for v, p in marginal.items() if p > 0.5}
                                     == set(r.true_parents))
                    if d == 20:
                        step_times += list(r.step_seconds[1:])
            # the same problem with the paper's doubly robust prior (the MAP's near-ties of
            # the truth with its supersets under the uniform prior, see docs/expert.md)
            r = run_parent_scale(scm, key=jax.random.key(seed), config=dr_config)
            map_ok_dr.append(r.posterior_probabilities[-1].map_set() == r.true_parents)
            print(f"ER d={d} seed {seed}: gap closed " + ", ".join(
                f"{k} {v[-1]:.3f}" for k, v in gaps.items() if v) + f"; MAP ok {map_ok[-1]}",
                flush=True)
        metrics[f"er{d}_gap_closed"] = float(np.mean(gaps["parent_scale"]))
        if d == 20:
            metrics["er20_gap_closed_min"] = float(np.min(gaps["parent_scale"]))
            metrics["er20_gap_closed_random"] = float(np.mean(gaps["random"]))
            metrics["er20_gap_closed_oracle"] = float(np.mean(gaps["oracle"]))
            metrics["er20_ahead_of_random_frac"] = float(np.mean(
                np.asarray(gaps["parent_scale"]) > np.asarray(gaps["random"])))
    metrics["er_map_correct_frac"] = float(np.mean(map_ok))
    metrics["er_median_model_correct_frac"] = float(np.mean(median_ok))
    metrics["er_map_correct_frac_dr"] = float(np.mean(map_ok_dr))
    metrics["seconds_per_step_d20"] = float(np.median(step_times))

    # --- speed in fresh processes --------------------------------------------------------
    # The median of three fresh processes each, as the cores are shared with other jobs.
    repeats = pick(3, 1, 1)
    for name, prior in (("seconds_per_run_d20", "uniform"),
                        ("seconds_per_run_d20_dr", "doubly_robust")):
        runs = [timed_fresh_run(run_T, prior) for _ in range(repeats)]
        seconds = sorted(r["seconds"] for r in runs)
        metrics[name] = float(np.median(seconds))
        metrics[name + "_max"] = float(seconds[-1])
        metrics[name + "_cpu"] = float(np.median([r["cpu"] for r in runs]))
        if prior == "doubly_robust":
            metrics["seconds_setup_d20_dr"] = float(np.median([r["setup"] for r in runs]))
    metrics["bench_seconds"] = time.perf_counter() - t_start

    config = {"size": benchlib.size(args), "T": T, "timed_run_T": run_T, "er_dims": dims,
              "toy_seeds": toy_seeds, "er_seeds": er_seeds,
              "n_obs": er_config.n_obs, "n_int": er_config.n_int,
              "toy_features": "rff", "er_prior": "uniform", "noiseless": er_config.noiseless,
              "expert_config": {k: v for k, v in dataclasses.asdict(er_config).items()
                                if k not in ("T",)}}
    benchlib.report("acbo-expert: PARENT_SCALE", config, metrics, args.json)


if __name__ == "__main__":
    main()
