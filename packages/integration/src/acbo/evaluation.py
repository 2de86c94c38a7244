"""Evaluation: the trained system against per-graph PARENT_SCALE, random and oracle.

Every method runs through one harness: a function ``(scm, key, config) -> ParentScaleResult``
(the expert and its baselines natively, the system through
:func:`acbo.integrate_with_existing_pipeline`), paired by key so that on each (SCM, seed) all
methods start from the same D_O and D_I. The score of a run is the fraction of the gap between
the target's observational mean and its optimum over single-variable interventions closed by
the best value observed so far, after each step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

import acbo_core as ac
import acbo_surrogate as sur
from acbo.truth import problem_truth
from acbo_acquisition import (
    GRPOProblems,
    PolicyConfig,
    expected_rewards,
    make_grpo_problems,
    select_intervention,
)
from acbo_core.errors import ConfigError, SchemaError
from acbo_core.storage import json_number
from acbo_expert import (
    ParentScaleConfig,
    ParentScaleResult,
    run_oracle,
    run_parent_scale,
    run_random,
)
from acbo_training import (
    ExpertTrajectory,
    RunLogger,
    evaluate_surrogate_pairs,
    extract_acquisition_training_data,
    extract_surrogate_training_data,
    graph_id,
)

__all__ = ["MethodFn", "RunSummary", "EvaluationReport", "true_optimum", "gap_curve",
           "scenarios_from_trajectories", "system_fingerprint",
           "evaluate_methods", "evaluate_system_performance", "evaluate_surrogate_accuracy",
           "evaluate_acquisition_performance", "OptimizationScenario", "BASELINES"]

MethodFn = Callable[[Any, jax.Array, ParentScaleConfig], ParentScaleResult]
"""``(scm, key, config) -> record``: a method the harness can run."""

BASELINES: dict[str, MethodFn] = {
    "parent_scale": lambda scm, key, cfg: run_parent_scale(scm, key=key, config=cfg),
    "random": lambda scm, key, cfg: run_random(scm, key=key, config=cfg),
    "oracle": lambda scm, key, cfg: run_oracle(scm, key=key, config=cfg),
}
_ALIASES = {"per_graph_training": "parent_scale", "expert": "parent_scale"}


def true_optimum(scm: Mapping[str, Any], *, minimize: bool = True,
                 key: jax.Array | None = None, tol: float = 1e-3) -> float:
    """The best ``E[target | do(X_v = x)]`` over intervenable ``v`` and ``x`` in its range.

    :func:`acbo.truth.problem_truth`'s ``y_star``: exact for linear SCMs (the mean is linear
    in x, so the optimum is at an end of a range); otherwise a fine grid, refined around its
    best minima, of Monte-Carlo means with standard error ``tol`` (``key`` defaults to key 0).
    """
    key = jax.random.key(0) if key is None else key
    return problem_truth(scm, key=key, minimize=minimize, tol=tol).y_star


def gap_curve(result: ParentScaleResult, observational_mean: float, optimum: float
              ) -> np.ndarray:
    """``[T + 1]`` fraction of the gap closed by the best value observed so far (entry 0:
    after D_I only). Not clipped: a Monte-Carlo observed value can read slightly above 1."""
    sign = 1.0 if result.minimize else -1.0
    best = [result.initial_best, *result.global_opt]
    gap = sign * (observational_mean - optimum)
    if not gap > 0:
        return np.ones(len(best))
    return np.asarray([0.0 if not np.isfinite(b) else sign * (observational_mean - b) / gap
                       for b in best])


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What one method did on one (SCM, seed).

    Attributes:
      method: method name.
      scm_id: the SCM's graph id.
      seed: the run key's seed.
      d: number of variables.
      gap_closed: ``[T + 1]`` curve of :func:`gap_curve`.
      step_seconds: per step, the decision and performing it.
      setup_seconds: before the first step.
      final_map_f1: F1 of the final posterior's MAP set vs the true parents (NaN if unknown).
    """

    method: str
    scm_id: str
    seed: int
    d: int
    gap_closed: tuple[float, ...]
    step_seconds: tuple[float, ...]
    setup_seconds: float
    final_map_f1: float

    def to_json(self) -> dict[str, Any]:
        """Plain data (non-finite numbers become ``None`` when written with dumps_json)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSummary:
        """Reads :meth:`to_json`'s data (``None`` numbers read as NaN).

        Raises:
          SchemaError: missing fields or values of the wrong type.
        """
        number = json_number
        try:
            return cls(method=str(data["method"]), scm_id=str(data["scm_id"]),
                       seed=int(data["seed"]), d=int(data["d"]),
                       gap_closed=tuple(number(v) for v in data["gap_closed"]),
                       step_seconds=tuple(number(v) for v in data["step_seconds"]),
                       setup_seconds=number(data["setup_seconds"]),
                       final_map_f1=number(data["final_map_f1"]))
        except (KeyError, TypeError, ValueError) as err:
            raise SchemaError(f"not an evaluation run summary: {err}") from None


@dataclasses.dataclass(frozen=True)
class EvaluationReport:
    """Every run of every method, and the summaries the report shows.

    Attributes:
      runs: one summary per (method, SCM, seed).
      baseline: the method the system is compared with.
    """

    runs: tuple[RunSummary, ...]
    baseline: str = "parent_scale"

    def methods(self) -> list[str]:
        return list(dict.fromkeys(r.method for r in self.runs))

    def _of(self, method: str) -> list[RunSummary]:
        return [r for r in self.runs if r.method == method]

    def final_gap(self, method: str) -> np.ndarray:
        """``[runs]`` gap closed at the end of each of ``method``'s runs."""
        return np.asarray([r.gap_closed[-1] for r in self._of(method)])

    def convergence(self) -> dict[str, dict[str, list[float]]]:
        """Per method: mean curve and a band of one standard deviation over runs."""
        out = {}
        for m in self.methods():
            curves = np.asarray([r.gap_closed for r in self._of(m)])
            mean, std = curves.mean(axis=0), curves.std(axis=0)
            out[m] = {"steps": list(range(curves.shape[1])), "mean": mean.tolist(),
                      "lo": (mean - std).tolist(), "hi": (mean + std).tolist()}
        return out

    def end_to_end(self) -> dict[str, dict[str, float]]:
        return {m: {"gap_closed_mean": float(self.final_gap(m).mean()),
                    "gap_closed_std": float(self.final_gap(m).std()),
                    "n_runs": len(self._of(m))} for m in self.methods()}

    def decision_time(self) -> dict[str, dict[str, float]]:
        out = {}
        for m in self.methods():
            times = np.concatenate([r.step_seconds for r in self._of(m)])
            out[m] = {"mean_seconds": float(times.mean()),
                      "median_seconds": float(np.median(times))}
        return out

    def setup_time(self) -> dict[str, float]:
        """Per method: mean seconds before the first decision (data, and for PARENT_SCALE its
        per-graph posterior model, e.g. the doubly robust prior's fits)."""
        return {m: float(np.mean([r.setup_seconds for r in self._of(m)]))
                for m in self.methods()}

    def posterior_accuracy(self) -> list[dict[str, Any]]:
        """Final-posterior MAP F1 by method and d (methods with a posterior of their own)."""
        rows = []
        for m in self.methods():
            if m in ("oracle",):
                continue
            for d in sorted({r.d for r in self._of(m)}):
                f1 = [r.final_map_f1 for r in self._of(m) if r.d == d]
                rows.append({"d": d, "source": m, "f1": float(np.nanmean(f1)), "n": len(f1)})
        return rows


def _summarise(method: str, scm: Mapping[str, Any], seed: int, result: ParentScaleResult,
               obs_mean: float, optimum: float) -> RunSummary:
    final = result.posterior_probabilities[-1]
    f1 = (sur.f1_score(final.map_set(), result.true_parents)
          if result.true_parents is not None else float("nan"))
    return RunSummary(method, graph_id(scm), seed, len(result.variables),
                      tuple(gap_curve(result, obs_mean, optimum).tolist()),
                      tuple(result.step_seconds), result.setup_seconds, float(f1))


def evaluate_methods(methods: Mapping[str, MethodFn], test_scms: Sequence[Mapping[str, Any]], *,
                     seeds: Sequence[int] = (0, 1, 2),
                     config: ParentScaleConfig = ParentScaleConfig(),  # noqa: B008
                     cache_dir: str | pathlib.Path | None = None,
                     logger: RunLogger | None = None, baseline: str = "parent_scale",
                     cache_tags: Mapping[str, str] | None = None) -> EvaluationReport:
    """Runs every method on every (SCM, seed), paired by key.

    Args:
      methods: name -> method.
      test_scms: the problems (held out from training).
      seeds: run keys ``jax.random.key(seed)``.
      config: the run settings shared by every method (n_obs, n_int, T, noiseless, ...).
      cache_dir: one JSON file per finished run: an interrupted evaluation resumes there.
      logger: progress.
      baseline: the method the system is compared with.
      cache_tags: per method, a fingerprint of what it runs (e.g. a trained system's
        parameters), part of its cached files' names so that another system is never read
        back as this one.
    """
    if not test_scms or not seeds or not methods:
        raise ConfigError("evaluation needs at least one test SCM, one seed and one method")
    logger = logger or RunLogger(progress=False)
    cache = pathlib.Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    runs = []
    jobs = [(m, i, s) for i in range(len(test_scms)) for s in seeds for m in methods]
    truths: dict[int, tuple[float, float]] = {}
    with logger.progress(len(jobs), "evaluation") as bar:
        for method, i, seed in jobs:
            scm = test_scms[i]
            tag = (cache_tags or {}).get(method, "")
            path = None if cache is None else cache / _cache_name(method, scm, seed, config, tag)
            cached = _read_cached(path, logger) if path is not None else None
            if cached is not None:
                runs.append(cached)
            else:
                if i not in truths:
                    truths[i] = (float(ac.target_interventional_mean(scm, None)),
                                 true_optimum(scm, minimize=config.minimize))
                result = methods[method](scm, jax.random.key(seed), config)
                runs.append(_summarise(method, scm, seed, result, *truths[i]))
                if path is not None:
                    ac.write_file(path, ac.dumps_json(runs[-1].to_json()))
            bar.update(1)
            bar.set_postfix(method=method, gap=f"{runs[-1].gap_closed[-1]:.2f}")
    return EvaluationReport(tuple(runs), baseline)


def _read_cached(path: pathlib.Path, logger: RunLogger) -> RunSummary | None:
    """A finished run from the cache, or None (absent, or damaged: logged and rerun)."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(data, dict):
            raise SchemaError("not a JSON object")
        return RunSummary.from_json(data)
    except (OSError, ValueError, RecursionError) as err:  # SchemaError is a ValueError
        logger.log("evaluation_run_damaged", level="WARNING", path=str(path), error=str(err))
        return None


def _cache_name(method: str, scm: Mapping[str, Any], seed: int, config: ParentScaleConfig,
                tag: str = "") -> str:
    digest = hashlib.sha256((json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
                             + tag).encode()).hexdigest()[:10]
    return f"{method}-{graph_id(scm)}-{seed}-{digest}.json"


def system_fingerprint(system: Any) -> str:
    """A digest of a system's parameters and settings (changes whenever they do)."""
    h = hashlib.sha256()
    for tree in (system.surrogate_params, system.acquisition_params):
        for leaf in jax.tree_util.tree_leaves(tree):
            h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    h.update(repr((system.surrogate_config, system.policy_config, system.online,
                   system.decision)).encode())
    return h.hexdigest()[:16]


def evaluate_system_performance(system: Any, test_scms: Sequence[Mapping[str, Any]],
                                baseline_method: str = "per_graph_training", *,
                                baselines: Sequence[str] = ("parent_scale", "random", "oracle"),
                                seeds: Sequence[int] = (0, 1, 2), n_steps: int | None = None,
                                use_online_grpo: bool = False,
                                cache_dir: str | pathlib.Path | None = None,
                                logger: RunLogger | None = None) -> EvaluationReport:
    """The system against per-graph PARENT_SCALE and the baselines on held-out SCMs.

    Args:
      system: a :class:`acbo.TrainedACBOSystem`.
      test_scms: problems never seen in training.
      baseline_method: the reference method: ``"per_graph_training"`` (another name for
        PARENT_SCALE, run on each graph from scratch), ``"parent_scale"``, ``"random"`` or
        ``"oracle"``.
      baselines: the other methods to run.
      seeds: one paired run per seed and SCM.
      n_steps: interventions per run (default: the system's ``run_config.T``).
      use_online_grpo: the system fine-tunes its policy during runs.
      cache_dir: per-run results, for resuming.
      logger: progress.
    """
    from acbo.deployment import integrate_with_existing_pipeline

    reference = _ALIASES.get(baseline_method, baseline_method)
    names = list(dict.fromkeys([reference, *baselines]))
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline method(s) {unknown}; known: "
                          f"{sorted([*BASELINES, *_ALIASES])}")
    config = system.run_config if n_steps is None else dataclasses.replace(system.run_config,
                                                                           T=n_steps)
    pipeline = integrate_with_existing_pipeline(system, use_online_grpo=use_online_grpo)
    methods: dict[str, MethodFn] = {"acbo": lambda scm, key, cfg: pipeline(scm, key=key,
                                                                           config=cfg)}
    methods |= {n: BASELINES[n] for n in names}
    return evaluate_methods(methods, test_scms, seeds=seeds, config=config,
                            cache_dir=cache_dir, logger=logger, baseline=reference,
                            cache_tags={"acbo": f"{system_fingerprint(system)}-"
                                                f"{int(use_online_grpo)}"})


def evaluate_surrogate_accuracy(config: sur.SurrogateConfig, params: Any,
                                test_trajectories: Sequence[ExpertTrajectory], *,
                                expert_config: ParentScaleConfig | None = None
                                ) -> dict[str, float]:
    """The surrogate on held-out demonstrations: F1 of its MAP set vs the truth and the
    expert's, relative drop, KL to the expert, MAP agreement, and speed-up over the expert's
    posterior computed from scratch on the same data (with ``expert_config``'s prior and
    features: the settings the demonstrations were made with).
    """
    pairs = extract_surrogate_training_data(test_trajectories)
    metrics, speedup = evaluate_surrogate_pairs(config, params, pairs, config.model.k_max,
                                                expert_config=expert_config)
    return {**metrics, "speedup": speedup, "n_pairs": float(len(pairs))}


@dataclasses.dataclass(frozen=True)
class OptimizationScenario:
    """One decision to evaluate a policy on: a state, the SCM behind it, the expert's choice.

    Attributes:
      state: the decision context.
      scm: the (linear) SCM, for the exact expected reward of every action.
      expert_action: what PARENT_SCALE chose there (None if unknown).
    """

    state: ac.AcquisitionState
    scm: Any
    expert_action: Any = None


def scenarios_from_trajectories(trajectories: Sequence[ExpertTrajectory],
                                posterior_fn: Callable[..., Any] | None = None
                                ) -> list[OptimizationScenario]:
    """Every decision of held-out demonstrations as a scenario (states carry
    ``posterior_fn``'s posterior when given, as the deployed system would see them)."""
    return [OptimizationScenario(e.state, e.scm, e.expert_action)
            for e in extract_acquisition_training_data(trajectories, posterior_fn)]


def evaluate_acquisition_performance(params: Any, config: PolicyConfig,
                                     test_scenarios: Sequence[OptimizationScenario]
                                     ) -> dict[str, float]:
    """The policy on held-out decisions: agreement with the expert's variable (and its
    binomial standard error) and the exact
    expected improvement of its actions, normalised so that random is 0 and the best action on
    the value grid is 1 (linear SCMs only).
    """
    if not test_scenarios:
        raise ConfigError("evaluate_acquisition_performance needs at least one scenario")
    cfg = config
    linear = [s for s in test_scenarios if ac.is_linear_scm(s.scm)]
    metrics: dict[str, float] = {"n_scenarios": float(len(test_scenarios))}
    with_expert = [s for s in test_scenarios if s.expert_action is not None]
    if with_expert:
        agree = []
        for s in with_expert:
            chosen = _greedy(params, cfg, s.state)
            agree.append(chosen == tuple(s.expert_action["targets"])[0])
        metrics["expert_agreement"] = float(np.mean(agree))
        # Its sampling error: a model retrained from data that differ in the last bit (another
        # CPU instruction set) moves by about this much.
        metrics["expert_agreement_se"] = float(np.std(agree) / np.sqrt(len(agree)))
    if linear:
        problems: GRPOProblems = make_grpo_problems(
            [s.state for s in linear], [s.scm for s in linear], n_bins=cfg.n_value_bins)
        r = expected_rewards(params, problems, policy_config=cfg)
        span = np.maximum(r["oracle"] - r["random"], 1e-9)
        metrics["normalised_reward"] = float(np.mean((r["greedy"] - r["random"]) / span))
        metrics["normalised_reward_sampled"] = float(np.mean((r["policy"] - r["random"]) / span))
    return metrics


def _greedy(params: Any, config: PolicyConfig, state: ac.AcquisitionState) -> str:
    do = select_intervention(params, state, key=jax.random.key(0), config=config)
    return str(tuple(do["targets"])[0])
