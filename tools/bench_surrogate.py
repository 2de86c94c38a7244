"""Benchmark of acbo-surrogate (issue 5): train within a stated budget, then compare the
amortized posterior with the expert's (PARENT_SCALE's parent-set posterior, uniform prior) on
held-out SCMs.

Training: on-the-fly random SCMs from acbo-core with d in [3, 20] only (linear and Fourier
mechanisms, Erdős–Rényi and scale-free graphs, 16-256 samples, 0-30% interventional), ground
truth supervision, for a fixed number of steps or until the time budget runs out.

Evaluation: held-out linear ER and scale-free SCMs (keys 1_000_000 + i, never used in
training), 200 observational + 20 interventional samples (20 single-variable perfect
interventions, one sample each, values uniform in the variable's range), d = 10, 20, 40, 50,
100. The same data go to the expert. Metrics (names from the issue):

  f1_d{d}, expert_f1_d{d}       mean F1 of the MAP parent set vs the truth
  drop_vs_expert_d{d}           (expert F1 - model F1) / expert F1 (negative: model better)
  auroc_d{d}, auprc_d{d}        of the marginal parent probabilities, pooled over data sets
  top1_d{d}, ece_d{d}, kl_expert_d{d}   top-1 set accuracy, calibration, KL(expert || model)
  median_f1_d{d}, expert_median_f1_d{d}  F1 of the median probability model (marginal > 1/2)
  transfer_drop_2x              (f1_d20 - f1_d40) / f1_d20: trained on d <= 20, tested at 40
  speedup_vs_expert_d{d}        median expert time / median model time per data set, both
                                from a buffer to a ParentSetPosterior, measured interleaved
  batched_speedup_vs_expert_d{d}  the same with the model given 16 data sets per call
                                (predict_posteriors: one vmapped forward pass per batch)

    python tools/bench_surrogate.py                    # full run (docs/surrogate.md), <= 30 min
    python tools/bench_surrogate.py --quick            # short run (about two minutes)
    python tools/bench_surrogate.py --smoke            # the smallest sizes (what the tests run)
    python tools/bench_surrogate.py --json out.json    # also write machine, config, metrics
    python tools/bench_surrogate.py --save-checkpoint ckpt/   # keep the trained model
    python tools/bench_surrogate.py --load-checkpoint ckpt/   # evaluate a saved model only
"""

from __future__ import annotations

import os

# One BLAS/LAPACK thread: on a shared CPU their thread pools stall (a 56 x 56 numpy inverse
# took 30 ms instead of 0.2 ms here). Set before numpy loads; it applies to both contenders.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

import acbo_core as ac  # noqa: E402
import acbo_surrogate as sur  # noqa: E402
import benchlib  # noqa: E402
from acbo_core.configs import to_dict  # noqa: E402

EVAL_SEED = 1_000_000
BATCH = 16  # data sets per batched forward pass (the batched_* metrics)
TRAIN_SEED = 0

FULL_MODEL = sur.ModelConfig()  # the defaults: see ModelConfig
FULL_TRAIN = sur.TrainConfig(learning_rate=1e-3, warmup_steps=100, total_steps=3000)
FULL_BUDGET_S = 25 * 60
FULL_GEN = sur.GeneratorConfig(batch_size=16)
FULL_EVAL = {"dims": (10, 20, 40, 50, 100), "per_graph": 50}

QUICK_MODEL = dataclasses.replace(FULL_MODEL, var_layers=2)
QUICK_TRAIN = sur.TrainConfig(learning_rate=2e-3, warmup_steps=20, total_steps=150)
QUICK_BUDGET_S = 60
# linear only: Fourier SCMs compile acbo-core's sampler per (d, draw size), minutes of warm-up
QUICK_GEN = sur.GeneratorConfig(batch_size=8, mechanism_probs=(1.0, 0.0))
QUICK_EVAL = {"dims": (10, 20, 40, 50), "per_graph": 6}

SMOKE_MODEL = dataclasses.replace(QUICK_MODEL, var_dim=16, var_layers=1, pair_dim=8)
SMOKE_TRAIN = dataclasses.replace(QUICK_TRAIN, warmup_steps=1, total_steps=3)
SMOKE_BUDGET_S = 60
SMOKE_GEN = dataclasses.replace(QUICK_GEN, batch_size=2, d_range=(3, 6), n_buckets=(64,))
SMOKE_EVAL = {"dims": (10,), "per_graph": 1}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.add_arguments(parser)
    parser.add_argument("--save-checkpoint", metavar="DIR", help="save the trained model")
    parser.add_argument("--load-checkpoint", metavar="DIR", help="skip training; evaluate this")
    parser.add_argument("--train-seconds", type=float, help="override the training budget")
    parser.add_argument("--train-steps", type=int, help="override the number of steps")
    parser.add_argument("--eval-per-graph", type=int, help="override data sets per graph type")
    return parser.parse_args()


def train(config: sur.SurrogateConfig, budget_s: float, gen: sur.GeneratorConfig
          ) -> tuple[dict, dict]:
    state = sur.init(jax.random.key(TRAIN_SEED), config)
    batches = sur.prefetch(sur.synthetic_batches(gen, key=jax.random.key(TRAIN_SEED + 1)), 3)
    start = time.perf_counter()
    history: list[dict[str, float]] = []
    recent: list[dict[str, float]] = []
    for step in range(config.train.total_steps):
        if time.perf_counter() - start > budget_s:
            break
        state, metrics = sur.update(state, next(batches))
        recent.append({k: float(v) for k, v in jax.device_get(metrics).items()})
        if (step + 1) % 50 == 0:
            mean = {k: float(np.mean([r[k] for r in recent])) for k in recent[0]}
            history.append({"step": step + 1, "seconds": time.perf_counter() - start, **mean})
            recent = []
            print(f"step {step + 1:5d}  {time.perf_counter() - start:7.0f}s  "
                  f"loss {mean['loss']:.3f}  set_nll {mean['set_nll']:.3f}  "
                  f"bce {mean['bce']:.3f}  map_acc {mean['map_accuracy']:.2f}", flush=True)
    info = {"steps": int(state.step), "train_seconds": round(time.perf_counter() - start, 1),
            "generator": dataclasses.asdict(gen),
            "history": history[-5:]}
    return state.params, info


def eval_problem(d: int, graph: str, i: int) -> tuple[dict, ac.ExperienceBuffer]:
    key = jax.random.fold_in(jax.random.key(EVAL_SEED + i), d * 2 + (graph == "scale_free"))
    k_scm, k_data = jax.random.split(key)
    make = ac.erdos_renyi_scm if graph == "erdos_renyi" else ac.scale_free_scm
    scm = make(d, key=k_scm, expected_degree=2.0, mechanism="linear")
    return scm, sur.simulate_buffer(scm, n_obs=200, n_int=20, key=k_data)


def evaluate(params, model_cfg: sur.ModelConfig, dims: tuple[int, ...], per_graph: int
             ) -> tuple[dict[str, float], dict]:
    from acbo_expert import parent_set_posterior  # the bench compares against the expert

    metrics: dict[str, float] = {}
    timing: dict = {}
    for d in dims:
        problems = [eval_problem(d, g, i) for g in ("erdos_renyi", "scale_free")
                    for i in range(per_graph)]
        # warm up compilation for this size bucket, on data that is not timed
        warm_scm, warm_buf = eval_problem(d, "erdos_renyi", 10_000)
        sur.predict_posterior(params, warm_buf, warm_scm["target"], config=model_cfg)
        parent_set_posterior(warm_buf, warm_scm["target"], k_max=model_cfg.k_max)
        posts, exps, exact_posts, marg, truths, names = [], [], [], [], [], []
        t_model, t_expert = [], []
        for scm, buf in problems:
            target = scm["target"]
            t0 = time.perf_counter()
            post = sur.predict_posterior(params, buf, target, config=model_cfg)
            t1 = time.perf_counter()
            exp = parent_set_posterior(buf, target, k_max=model_cfg.k_max, prior="uniform")
            t2 = time.perf_counter()
            t_model.append(t1 - t0)
            t_expert.append(t2 - t1)
            posts.append(post)
            exps.append(exp)
            exact_posts.append(sur.predict_posterior(params, buf, target, config=model_cfg,
                                                     prune_threshold=0.0))
            marg.append(sur.predict_marginals(params, buf, target, config=model_cfg))
            truths.append(ac.true_parents(scm))
            names.append(buf.variables)
        # the same data sets in batches of 16 through one vmapped forward pass per batch
        chunks = [problems[i:i + BATCH] for i in range(0, len(problems), BATCH)]
        for chunk in (chunks[0], chunks[-1]):  # compile both batch sizes before timing
            sur.predict_posteriors(params, [b for _, b in chunk],
                                   [s["target"] for s, _ in chunk], config=model_cfg)
        t0 = time.perf_counter()
        for chunk in chunks:
            sur.predict_posteriors(params, [b for _, b in chunk], [s["target"] for s, _ in chunk],
                                   config=model_cfg)
        batched = (time.perf_counter() - t0) / len(problems)
        ours = sur.posterior_metrics(exact_posts, truths, names, marginals=marg,
                                     references=exps)
        theirs = sur.posterior_metrics(exps, truths, names)
        metrics[f"f1_d{d}"] = ours["f1"]
        metrics[f"expert_f1_d{d}"] = theirs["f1"]
        metrics[f"drop_vs_expert_d{d}"] = _ratio(theirs["f1"] - ours["f1"], theirs["f1"])
        metrics[f"auroc_d{d}"] = ours["auroc"]
        metrics[f"auprc_d{d}"] = ours["auprc"]
        metrics[f"top1_d{d}"] = ours["top1_accuracy"]
        metrics[f"ece_d{d}"] = ours["ece"]
        metrics[f"kl_expert_d{d}"] = ours["kl"]
        metrics[f"expert_auroc_d{d}"] = theirs["auroc"]
        metrics[f"median_f1_d{d}"] = ours["median_f1"]
        metrics[f"expert_median_f1_d{d}"] = theirs["median_f1"]
        metrics[f"model_ms_d{d}"] = 1e3 * statistics.median(t_model)
        metrics[f"expert_ms_d{d}"] = 1e3 * statistics.median(t_expert)
        metrics[f"speedup_vs_expert_d{d}"] = statistics.median(t_expert) / statistics.median(
            t_model)
        metrics[f"batched_model_ms_d{d}"] = 1e3 * batched
        metrics[f"batched_speedup_vs_expert_d{d}"] = statistics.median(t_expert) / batched
        agree = np.mean([p.map_set() == e.map_set() for p, e in zip(posts, exps, strict=True)])
        metrics[f"map_agreement_d{d}"] = float(agree)
        timing[d] = {"n": len(problems)}
        print(f"d={d:3d}  f1 {ours['f1']:.3f}  expert {theirs['f1']:.3f}  auroc "
              f"{ours['auroc']:.3f}  model {metrics[f'model_ms_d{d}']:.1f} ms  expert "
              f"{metrics[f'expert_ms_d{d}']:.1f} ms", flush=True)
    if "f1_d20" in metrics and "f1_d40" in metrics:
        metrics["transfer_drop_2x"] = _ratio(metrics["f1_d20"] - metrics["f1_d40"],
                                             metrics["f1_d20"])
        metrics["expert_drop_20_to_40"] = _ratio(
            metrics["expert_f1_d20"] - metrics["expert_f1_d40"], metrics["expert_f1_d20"])
    return metrics, timing


def _ratio(num: float, den: float) -> float:
    """``num / den``, NaN where ``den`` is 0 (a tiny --quick model can score F1 = 0)."""
    return num / den if den else float("nan")


def main() -> None:
    args = parse_args()
    def pick(full, quick, smoke):  # the value for this run's size
        return benchlib.pick(args, full, quick, smoke)

    model_cfg = pick(FULL_MODEL, QUICK_MODEL, SMOKE_MODEL)
    train_cfg = pick(FULL_TRAIN, QUICK_TRAIN, SMOKE_TRAIN)
    if args.train_steps:
        train_cfg = dataclasses.replace(train_cfg, total_steps=args.train_steps)
    config = sur.SurrogateConfig(model_cfg, train_cfg)
    budget = args.train_seconds or pick(FULL_BUDGET_S, QUICK_BUDGET_S, SMOKE_BUDGET_S)
    eval_cfg = dict(pick(FULL_EVAL, QUICK_EVAL, SMOKE_EVAL))
    if args.eval_per_graph:
        eval_cfg["per_graph"] = args.eval_per_graph
    if args.load_checkpoint:
        params, config, meta = sur.load_surrogate(args.load_checkpoint)
        train_info = dict(meta.get("train", {}), loaded_from=args.load_checkpoint)
    else:
        gen = pick(FULL_GEN, QUICK_GEN, SMOKE_GEN)
        params, train_info = train(config, budget, dataclasses.replace(
            gen, k_max=config.model.k_max))
        if args.save_checkpoint:
            sur.save_surrogate(args.save_checkpoint, params, config,
                               metadata={"train": train_info})
    metrics, _ = evaluate(params, config.model, eval_cfg["dims"], eval_cfg["per_graph"])
    run_config = {
        "size": benchlib.size(args), "train_budget_s": budget, "train": train_info,
        "surrogate": to_dict(config), "eval": {**eval_cfg, "n_obs": 200, "n_int": 20,
                                                "graphs": ["erdos_renyi", "scale_free"],
                                                "mechanism": "linear", "expected_degree": 2.0,
                                                "seed": EVAL_SEED},
        "expert": "acbo_expert.parent_set_posterior(k_max=3, prior='uniform', linear)",
        "threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS",)},
    }
    benchlib.report("acbo-surrogate benchmark", run_config, metrics, args.json)


if __name__ == "__main__":
    main()
