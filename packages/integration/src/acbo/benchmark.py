"""The benchmark: named problem families, every method paired per key, honest anytime regret.

Every method runs on the same D_O and D_I for a (problem, seed) through the expert's loop
(``(scm, key, config) -> ParentScaleResult``, the trained system through
:func:`acbo.integrate_with_existing_pipeline`). Each intervention a method makes, the initial
interventional data D_I included, is judged by its **true** interventional mean
(:func:`acbo.truth.true_means`: exact for linear SCMs, a Monte-Carlo estimate with standard error
<= 1e-3 otherwise), never by the value the method observed, and the optimum y* is the true best
single intervention over the declared ranges (:func:`acbo.truth.problem_truth`). The gap closed
after t of the method's own interventions is ``(y_obs - best_t) / (y_obs - y*)`` with ``best_t``
the best true mean among the interventions made so far (D_I included; with no intervention
made, ``best_0 = y_obs``). It is not clipped: a method can read below 0 or, within Monte-Carlo
error, above 1.

With a trained system, each problem's posterior is also compared on identical data (D_O and D_I
of its first seed with ``n_int = 2``): the MAP set's F1 against the true parents and the time of
one posterior, the surrogate's forward pass against the expert's uniform-prior posterior from
scratch (what a new problem costs it) and against its per-step update once the per-set
regressions on D_O are fitted (what each step of a run costs it).

Runs are cached one JSON file each under ``OUT/runs/`` (an interrupted benchmark resumes),
posterior comparisons under ``OUT/posteriors/``; the report (``benchmark.json``,
``benchmark.md`` and one anytime-regret plot per family) is written to ``OUT/report/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

import acbo_core as ac
import acbo_surrogate as sur
from acbo.benchmark_families import FAMILIES, Family, family
from acbo.truth import Truth, problem_truth, true_means
from acbo_core.configs import (
    choice,
    configclass,
    from_dict,
    integer,
    seeds,
    sequence,
    to_dict,
)
from acbo_core.errors import ConfigError, SchemaError
from acbo_core.storage import json_number
from acbo_expert import (
    ParentScaleConfig,
    ParentScaleResult,
    initial_buffer,
    run_oracle,
    run_parent_scale,
    run_random,
)
from acbo_training import RunLogger, run_tasks

__all__ = ["METHODS", "TIMES", "BenchmarkConfig", "RunRecord", "run_benchmark",
           "summarise", "quick_config"]

METHODS = ("acbo", "acbo_offline", "parent_scale", "parent_scale_dr", "random", "oracle")
"""``acbo``: the trained system with online GRPO; ``acbo_offline``: without it;
``parent_scale`` / ``parent_scale_dr``: the expert with the uniform / doubly robust prior."""

TIMES = (0, 1, 2, 3, 5, 10, 20)
"""Steps at which the gap closed is reported."""

SYSTEM_METHODS = ("acbo", "acbo_offline")
SOLVED_TOL = 0.05
"""A run solves its problem when its best true mean is within this of y*."""
RUN_FORMAT = 1
POSTERIOR_N_INT = 2
"""Initial interventional samples per variable of the data the posteriors are compared on."""


@configclass
class BenchmarkConfig:
    """What a benchmark runs.

    Attributes:
      families: family names (see :mod:`acbo.benchmark_families`).
      methods: method names (:data:`METHODS`).
      seeds: run keys per problem; every method gets the same key for a (problem, seed).
      n_problems: problems per family.
      T: interventions each method chooses.
      n_int: the initial interventional samples per variable of each variant of the protocol
        (``(2, 0)``: with D_I, and without, so the curve shows each method's own choices).
      n_obs: observational samples.
      k_max: largest parent set the methods consider.
      split: ``"report"`` (the problems reported) or ``"tune"`` (other problems, for tuning).
      workers: processes running problems in parallel (1: in this process).
      grid_size: points of the expert's expected-improvement grid.
      refine_size: points of its local refinement grid.
    """

    families: tuple[str, ...] = sequence(tuple(FAMILIES), choice("toy", tuple(FAMILIES)),
                                         min_items=1)
    methods: tuple[str, ...] = sequence(METHODS, choice("acbo", METHODS), min_items=1)
    seeds: tuple[int, ...] = seeds((0, 1))
    n_problems: int = integer(10, 1, 1000)
    T: int = integer(20, 1, 1000)
    n_int: tuple[int, ...] = sequence((2, 0), integer(2, 0, 10), min_items=1)
    n_obs: int = integer(200, 1, 100_000)
    k_max: int = integer(3, 1, 10)
    split: str = choice("report", ("report", "tune"))
    workers: int = integer(1, 1, 64)
    grid_size: int = integer(256, 1, 4096)
    refine_size: int = integer(64, 1, 1024)


def quick_config(**changes: Any) -> BenchmarkConfig:
    """A smoke run: one problem, one seed, 3 steps, the ``n_int = 2`` variant, small data and
    grids."""
    base = BenchmarkConfig(seeds=(0,), n_problems=1, T=3, n_int=(2,), n_obs=120, grid_size=64,
                           refine_size=16)
    return dataclasses.replace(base, **changes)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One method's run on one (problem, seed, n_int), judged by true means.

    Attributes:
      family, problem, seed, n_int, method: what ran.
      d: variables of the problem.
      gap: ``[T + 1]`` gap closed after t of the method's interventions (entry 0: D_I only).
      chosen: per step ``[variable, value, true mean]``.
      step_seconds: wall time of each decision (choosing and performing it).
      setup_seconds: wall time before the first decision.
      final_map_f1: F1 of the final posterior's MAP set vs the true parents.
      chose_parent_frac: fraction of the steps that intervened on a true parent.
    """

    family: str
    problem: int
    seed: int
    n_int: int
    method: str
    d: int
    gap: tuple[float, ...]
    chosen: tuple[tuple[str, float, float], ...]
    step_seconds: tuple[float, ...]
    setup_seconds: float
    final_map_f1: float
    chose_parent_frac: float

    def to_json(self) -> dict[str, Any]:
        return {"format": RUN_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: Any) -> RunRecord:
        """Raises SchemaError for anything but a run record of this format."""
        num = json_number
        try:
            if data.get("format") != RUN_FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            return cls(str(data["family"]), int(data["problem"]), int(data["seed"]),
                       int(data["n_int"]), str(data["method"]), int(data["d"]),
                       tuple(num(v) for v in data["gap"]),
                       tuple((str(v), num(x), num(m)) for v, x, m in data["chosen"]),
                       tuple(num(v) for v in data["step_seconds"]), num(data["setup_seconds"]),
                       num(data["final_map_f1"]), num(data["chose_parent_frac"]))
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise SchemaError(f"not a benchmark run record: {err}") from None


# -- one problem ---------------------------------------------------------------------------------


def run_config(cfg: BenchmarkConfig, fam: Family, n_int: int, method: str
               ) -> ParentScaleConfig:
    """The run protocol of ``method`` on ``fam`` (shared by every method but for the prior)."""
    settings: dict[str, Any] = {
        "n_obs": cfg.n_obs, "n_int": n_int, "T": cfg.T, "k_max": cfg.k_max,
        "features": "rff" if fam.nonlinear else "linear", "grid_size": cfg.grid_size,
        "refine_size": min(cfg.refine_size, cfg.grid_size),
        "prior": "doubly_robust" if method == "parent_scale_dr" else "uniform",
        **fam.run_overrides}
    return ParentScaleConfig(**settings)


MethodFn = Callable[[Mapping[str, Any], jax.Array, ParentScaleConfig], ParentScaleResult]


def method_fns(system: Any | None) -> dict[str, MethodFn]:
    """Every method as ``(scm, key, config) -> record`` (the system's only if one is given)."""
    fns: dict[str, MethodFn] = {
        "parent_scale": lambda scm, key, c: run_parent_scale(scm, key=key, config=c),
        "parent_scale_dr": lambda scm, key, c: run_parent_scale(scm, key=key, config=c),
        "random": lambda scm, key, c: run_random(scm, key=key, config=c),
        "oracle": lambda scm, key, c: run_oracle(scm, key=key, config=c),
    }
    if system is not None:
        from acbo.deployment import integrate_with_existing_pipeline

        online = integrate_with_existing_pipeline(system, use_online_grpo=True)
        offline = integrate_with_existing_pipeline(system, use_online_grpo=False)
        fns["acbo"] = lambda scm, key, c: online(scm, key=key, config=c)
        fns["acbo_offline"] = lambda scm, key, c: offline(scm, key=key, config=c)
    return fns


def judge(result: ParentScaleResult, scm: Mapping[str, Any], truth: Truth, *,
          key: jax.Array, family_name: str, problem: int, seed: int, n_int: int,
          method: str) -> RunRecord:
    """A run's record judged by true means (see the module docstring)."""
    initial = [do for do, _, _ in result.D_I]
    chosen = [ac.create_perfect_intervention(v[0], float(x[0]))
              for v, x in zip(result.intervention_set, result.intervention_values,
                              strict=True)]
    means, _ = true_means(scm, [*initial, *chosen], key=key)
    sign = 1.0 if result.minimize else -1.0
    best = min((sign * m for m in means[: len(initial)]), default=sign * truth.y_obs)
    gap_size = sign * (truth.y_obs - truth.y_star)
    curve = []
    for t in range(len(chosen) + 1):
        if t > 0:
            best = min(best, sign * float(means[len(initial) + t - 1]))
        curve.append((sign * truth.y_obs - best) / gap_size if gap_size > 0 else float("nan"))
    parents = set(result.true_parents or ())
    final = result.posterior_probabilities[-1]
    chosen_rows = tuple((v[0], float(x[0]), float(m)) for v, x, m in zip(
        result.intervention_set, result.intervention_values, means[len(initial):], strict=True))
    return RunRecord(
        family=family_name, problem=problem, seed=seed, n_int=n_int, method=method,
        d=len(result.variables), gap=tuple(float(g) for g in curve), chosen=chosen_rows,
        step_seconds=tuple(float(s) for s in result.step_seconds),
        setup_seconds=float(result.setup_seconds),
        final_map_f1=float(sur.f1_score(final.map_set(), parents)),
        chose_parent_frac=float(np.mean([v in parents for v, _, _ in chosen_rows]))
        if chosen_rows else float("nan"))


def _median_seconds(fn: Callable[[], Any], repeats: int = 3) -> float:
    fn()  # compile (and warm caches) before timing
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def compare_posteriors(system: Any, scm: Mapping[str, Any], key: jax.Array,
                       config: ParentScaleConfig) -> dict[str, float]:
    """The system's surrogate and the expert's uniform-prior posterior on the same D_O and D_I:
    MAP-set F1 against the true parents and seconds per posterior (medians of 3, compiled).

    Returns:
      ``surrogate_f1``, ``expert_f1``, ``surrogate_seconds``, ``expert_scratch_seconds`` (the
      expert's posterior from a new buffer: per-set regressions on D_O, then the evidence of
      D_I) and ``expert_update_seconds`` (the evidence of all interventional rows given the
      fitted regressions: the expert's cost per step of a run).
    """
    from acbo_expert.posterior import build_parent_set_model, parent_set_posterior, prune

    buffer = initial_buffer(scm, key=key, config=config)
    target = scm["target"]
    parents = set(ac.true_parents(scm))
    model_key = jax.random.fold_in(key, 1)
    expert = dataclasses.replace(config, prior="uniform")

    def surrogate() -> Any:
        return system.predict_posterior(buffer, target)

    def scratch() -> Any:
        return parent_set_posterior(buffer, target, k_max=expert.k_max, prior="uniform",
                                    features=expert.features, key=model_key, config=expert)

    model = build_parent_set_model(buffer.variables, target,
                                   buffer.observational().to_arrays().values, config=expert,
                                   key=model_key)
    inter = buffer.interventional().to_arrays()

    def update() -> Any:
        return prune(model, model.log_weights(inter.values, inter.intervened),
                     expert.prune_threshold)[1]

    return {"surrogate_f1": float(sur.f1_score(surrogate().map_set(), parents)),
            "expert_f1": float(sur.f1_score(scratch().map_set(), parents)),
            "surrogate_seconds": _median_seconds(surrogate),
            "expert_scratch_seconds": _median_seconds(scratch),
            "expert_update_seconds": _median_seconds(update)}


def _run_name(fam: str, problem: int, seed: int, n_int: int, method: str, tag: str) -> str:
    return f"{fam}-p{problem:02d}-s{seed}-i{n_int}-{method}-{tag}.json"


def config_tag(cfg: BenchmarkConfig, system_tag: str, method: str) -> str:
    """A digest of what a cached run depends on (so another setting is never read back)."""
    relevant = {k: v for k, v in to_dict(cfg).items()
                if k not in ("families", "methods", "seeds", "n_problems", "workers", "n_int")}
    text = json.dumps(relevant, sort_keys=True) + (system_tag if method in SYSTEM_METHODS
                                                     else "")
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _read(path: pathlib.Path, parse: Callable[[Any], Any]) -> Any:
    if not path.exists():
        return None
    try:
        return parse(json.loads(path.read_bytes().decode("utf-8")))
    except (OSError, ValueError, RecursionError):  # damaged: redo it
        return None


def problem_truth_cached(out: pathlib.Path, fam: Family, index: int, scm: Mapping[str, Any],
                         split: str) -> Truth:
    """The problem's truth, computed once and kept in ``out/truth/``."""
    path = out / "truth" / f"{fam.name}-{split}-p{index:02d}.json"
    truth = _read(path, Truth.from_json)
    if truth is None:
        minimize = bool(scm["metadata"].get("minimize", True)) if "metadata" in scm else True
        truth = problem_truth(scm, key=jax.random.key(index), minimize=minimize)
        ac.write_file(path, ac.dumps_json(truth.to_json()))
    return truth


_SYSTEMS: dict[str, Any] = {}


def _load_system(path: str | None) -> Any:
    if path is None:
        return None
    if path not in _SYSTEMS:
        from acbo.persistence import load_system

        _SYSTEMS[path] = load_system(path)
    return _SYSTEMS[path]


def run_problem(payload: Mapping[str, Any]) -> list[str]:
    """Every method and seed on one (family, problem, n_int); each run cached as it ends.

    ``payload``: ``{"config": dict, "family", "problem", "n_int", "out", "system": path|None,
    "system_tag"}``. A module-level function of plain data, so a process pool can run it.

    Returns:
      The names of the runs done now (cached ones are skipped).
    """
    cfg = from_dict(BenchmarkConfig, payload["config"])
    fam = family(payload["family"])
    out = pathlib.Path(payload["out"])
    index, n_int = int(payload["problem"]), int(payload["n_int"])
    scm = fam.problem(index, split=cfg.split)
    truth = problem_truth_cached(out, fam, index, scm, cfg.split)
    fns = method_fns(_load_system(payload.get("system")))
    done = []
    for seed in cfg.seeds:
        for method in cfg.methods:
            if method not in fns:
                continue
            name = _run_name(fam.name, index, seed, n_int, method,
                             config_tag(cfg, payload.get("system_tag", ""), method))
            path = out / "runs" / name
            if _read(path, RunRecord.from_json) is not None:
                continue
            key = jax.random.fold_in(jax.random.key(seed), index)
            result = fns[method](scm, key, run_config(cfg, fam, n_int, method))
            record = judge(result, scm, truth, key=jax.random.key(10_000 + index),
                           family_name=fam.name, problem=index, seed=seed, n_int=n_int,
                           method=method)
            ac.write_file(path, ac.dumps_json(record.to_json()))
            done.append(name)
    system = _load_system(payload.get("system"))
    if system is not None and n_int == POSTERIOR_N_INT:
        path = out / "posteriors" / _posterior_name(fam.name, index, payload.get("system_tag", ""),
                                                    cfg)
        if _read(path, _posterior_record) is None:
            key = jax.random.fold_in(jax.random.key(cfg.seeds[0]), index)
            record = compare_posteriors(system, scm, key,
                                        run_config(cfg, fam, n_int, "parent_scale"))
            ac.write_file(path, ac.dumps_json({"format": RUN_FORMAT, **record}))
            done.append(path.name)
    return done


def _posterior_name(fam: str, problem: int, system_tag: str, cfg: BenchmarkConfig) -> str:
    return f"{fam}-p{problem:02d}-{config_tag(cfg, system_tag, 'acbo')}.json"


_POSTERIOR_KEYS = ("surrogate_f1", "expert_f1", "surrogate_seconds", "expert_scratch_seconds",
                   "expert_update_seconds")


def _posterior_record(data: Any) -> dict[str, float]:
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise ValueError("not a posterior comparison of this format")
    return {k: json_number(data[k]) for k in _POSTERIOR_KEYS}


# -- the whole benchmark -------------------------------------------------------------------------


def run_benchmark(cfg: BenchmarkConfig, out: str | pathlib.Path, *,
                  system_path: str | pathlib.Path | None = None,
                  logger: RunLogger | None = None) -> dict[str, Any]:
    """Runs (or resumes) the benchmark in ``out`` and returns its summary (see
    :func:`summarise`); the report is written by :func:`acbo.benchmark_report.write_benchmark`.

    Raises:
      ConfigError: a system method asked for without a system, or a family whose optional
        extra is missing.
    """
    logger = logger or RunLogger(progress=False)
    out = pathlib.Path(out)
    wanted_system = [m for m in cfg.methods if m in SYSTEM_METHODS]
    system_tag = ""
    if wanted_system and system_path is None:
        raise ConfigError(f"methods {wanted_system} need a trained system (--system DIR)")
    if system_path is not None:
        from acbo.evaluation import system_fingerprint

        system_tag = system_fingerprint(_load_system(str(system_path)))
    for name in cfg.families:
        fam = family(name)
        if fam.needs:
            fam.problem(0, split=cfg.split)  # fails now, naming the extra, if it is missing
    payloads = [{"config": to_dict(cfg), "family": name, "problem": i, "n_int": n_int,
                 "out": str(out), "system": None if system_path is None else str(system_path),
                 "system_tag": system_tag}
                for name in cfg.families for n_int in cfg.n_int
                for i in range(cfg.n_problems)]
    start = time.perf_counter()
    executor = "inline" if cfg.workers == 1 else "local"
    with logger.progress(len(payloads), "benchmark") as bar:
        for i, done in run_tasks(run_problem, payloads, executor=executor,
                                 max_workers=cfg.workers, retries=0):
            p = payloads[i]
            logger.log("benchmark_problem", level="DEBUG", family=p["family"],
                       problem=p["problem"], n_int=p["n_int"], runs=len(done))
            bar.update(1)
            bar.set_postfix(family=p["family"])
    records = load_records(cfg, out, system_tag)
    summary = summarise(cfg, records, out, system_tag=system_tag if system_path else None)
    summary["wall_seconds"] = time.perf_counter() - start
    return summary


def load_records(cfg: BenchmarkConfig, out: pathlib.Path, system_tag: str) -> list[RunRecord]:
    """The cached runs of ``cfg`` in ``out``.

    Raises:
      SchemaError: a run is missing or damaged (named).
    """
    records = []
    for name in cfg.families:
        for n_int in cfg.n_int:
            for i in range(cfg.n_problems):
                for seed in cfg.seeds:
                    for method in cfg.methods:
                        path = out / "runs" / _run_name(name, i, seed, n_int, method,
                                                        config_tag(cfg, system_tag, method))
                        record = _read(path, RunRecord.from_json)
                        if record is None:
                            raise SchemaError(f"benchmark run {str(path)!r} is missing or "
                                              "damaged; run the benchmark again to redo it")
                        records.append(record)
    return records


def _mean(values: Sequence[float]) -> float:
    arr = np.asarray(values, float)
    return float(np.nanmean(arr)) if arr.size and np.isfinite(arr).any() else float("nan")


def summarise(cfg: BenchmarkConfig, records: Sequence[RunRecord], out: pathlib.Path, *,
              system_tag: str | None = None) -> dict[str, Any]:
    """Per family and protocol variant (n_int): per method the gap closed at :data:`TIMES`,
    the area under the anytime curve, times (and, for the system, its whole-run speed-up over
    PARENT_SCALE with the uniform prior), final MAP F1, and the gap on the problems whose best
    single intervention is on a non-parent; per family how many problems are saturated (random
    closes >= 0.95 of the gap by t = 5), how often the best single intervention is on a
    non-parent of the target and, with a system (``system_tag``), the posterior comparison on
    identical data (see :func:`compare_posteriors`). Targets with more true parents than
    ``k_max`` (no method's posterior can name their parent set) are counted per family, and
    each method's gap on them reported."""
    families: dict[str, Any] = {}
    for name in cfg.families:
        fam = family(name)
        problems = [fam.problem(i, split=cfg.split) for i in range(cfg.n_problems)]
        truths = [problem_truth_cached(out, fam, i, problem, cfg.split)
                  for i, problem in enumerate(problems)]
        over_k_max = {i for i, problem in enumerate(problems)
                      if len(ac.true_parents(problem)) > cfg.k_max}
        entry: dict[str, Any] = {
            "description": fam.description,
            "problems": cfg.n_problems, "seeds": len(cfg.seeds),
            "d": sorted({r.d for r in records if r.family == name}),
            "non_parent_optimum_frac": float(np.mean([not t.best_is_parent for t in truths])),
            "over_k_max_frac": len(over_k_max) / cfg.n_problems,
            "truth_exact": all(t.exact for t in truths),
            "variants": {}}
        for n_int in cfg.n_int:
            mine = [r for r in records if r.family == name and r.n_int == n_int]
            random_at5 = {}
            for i in range(cfg.n_problems):
                runs = [r for r in mine if r.method == "random" and r.problem == i]
                if runs:
                    random_at5[i] = _mean([r.gap[min(5, len(r.gap) - 1)] for r in runs])
            saturated = sorted(i for i, g in random_at5.items() if g >= 0.95)
            # The targets count the problems random does not saturate; a family where random
            # saturates every problem is reported over all of them, flagged.
            all_saturated = len(saturated) == cfg.n_problems
            counted = mine if all_saturated else [r for r in mine if r.problem not in saturated]
            methods = {}
            for method in cfg.methods:
                runs = [r for r in counted if r.method == method]
                every = [r for r in mine if r.method == method]
                if not runs:
                    continue
                curves = np.asarray([r.gap for r in runs], float)
                row: dict[str, Any] = {"runs": len(runs)}
                for t in TIMES:
                    if t < curves.shape[1]:
                        row[f"gap_t{t}"] = _mean(curves[:, t])
                for horizon in (10, 20):
                    if horizon < curves.shape[1]:
                        row[f"auc_{horizon}"] = _mean(curves[:, 1:horizon + 1].mean(axis=1))
                # Solved: the best true mean found within SOLVED_TOL of y* by the last step.
                sizes = np.asarray([abs(truths[r.problem].y_obs - truths[r.problem].y_star)
                                    for r in runs])
                with np.errstate(divide="ignore", invalid="ignore"):
                    row[f"solved_frac_t{curves.shape[1] - 1}"] = float(np.mean(
                        (1.0 - curves[:, -1]) * sizes <= SOLVED_TOL))
                row["seconds_per_decision"] = float(np.median(np.concatenate(
                    [r.step_seconds for r in every])))
                row["seconds_per_run"] = _mean([r.setup_seconds + sum(r.step_seconds)
                                                for r in every])
                row["final_map_f1"] = _mean([r.final_map_f1 for r in every])
                row["chose_parent_frac"] = _mean([r.chose_parent_frac for r in every])
                off_parent = [r for r in runs if not truths[r.problem].best_is_parent]
                if off_parent:
                    last = len(off_parent[0].gap) - 1
                    row["non_parent_gap_t10"] = _mean([r.gap[min(10, last)] for r in off_parent])
                    row[f"non_parent_gap_t{last}"] = _mean([r.gap[last] for r in off_parent])
                wide = [r for r in runs if r.problem in over_k_max]
                if wide:
                    last = len(wide[0].gap) - 1
                    row["over_k_max_gap_t10"] = _mean([r.gap[min(10, last)] for r in wide])
                    row[f"over_k_max_gap_t{last}"] = _mean([r.gap[last] for r in wide])
                row["curve_mean"] = np.nanmean(curves, axis=0).tolist()
                row["curve_q25"] = np.nanquantile(curves, 0.25, axis=0).tolist()
                row["curve_q75"] = np.nanquantile(curves, 0.75, axis=0).tolist()
                methods[method] = row
            baseline = methods.get("parent_scale", {}).get("seconds_per_run")
            for method in SYSTEM_METHODS:
                if method in methods and baseline:
                    methods[method]["speedup_vs_parent_scale"] = (
                        baseline / methods[method]["seconds_per_run"])
            entry["variants"][f"n_int={n_int}"] = {
                "saturated_problems": saturated,
                "all_saturated": all_saturated,
                "counted_problems": cfg.n_problems - len(saturated),
                "methods": methods}
        if system_tag is not None and POSTERIOR_N_INT in cfg.n_int:
            rows = [_read(out / "posteriors" / _posterior_name(name, i, system_tag, cfg),
                          _posterior_record) for i in range(cfg.n_problems)]
            rows = [r for r in rows if r is not None]
            if rows:
                entry["posterior"] = {"problems": len(rows), **{
                    k: (_mean([r[k] for r in rows]) if k.endswith("f1")
                        else float(np.median([r[k] for r in rows]))) for k in _POSTERIOR_KEYS}}
        families[name] = entry
    return {"config": to_dict(cfg), "families": families,
            "created": time.strftime("%Y-%m-%d %H:%M")}
