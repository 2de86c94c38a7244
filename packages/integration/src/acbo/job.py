"""The stages of an ``acbo-train`` run, each resumable from what its run directory holds.

Run directory layout::

    RUN/config.json            the resolved configuration (a rerun must use the same)
    RUN/log.jsonl              every event of every invocation
    RUN/demonstrations/        sharded PARENT_SCALE runs (finished shards are kept)
    RUN/checkpoints/           resumable training states of every phase
    RUN/models/surrogate/      the trained surrogate (checkpoint + validation metrics)
    RUN/models/policy/         the trained policy (checkpoint + validation metrics, curves)
    RUN/system/                the whole trained system (acbo.load_system)
    RUN/evaluation/            one JSON per finished evaluation run
    RUN/report/                report.md, report.json, PNG plots

A stage whose output exists is skipped; a stage interrupted midway resumes from its last
checkpoint (demonstration shards, training checkpoints, evaluation runs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import pathlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

import acbo_acquisition as aq
import acbo_core as ac
import acbo_surrogate as sur
from acbo.config import ACBOConfig
from acbo.evaluation import (
    EvaluationReport,
    evaluate_acquisition_performance,
    evaluate_surrogate_accuracy,
    evaluate_system_performance,
    scenarios_from_trajectories,
)
from acbo.persistence import SYSTEM_KIND, load_system, save_system
from acbo.report import REPORT_KIND, Criterion, write_report
from acbo.system import TrainedACBOSystem
from acbo_core.configs import to_dict
from acbo_core.errors import CheckpointError, ConfigError
from acbo_training import (
    AcquisitionModelResult,
    RunLogger,
    Split,
    SurrogateModelResult,
    expert_posterior_fn,
    generate_from_config,
    graph_id,
    load_expert_trajectories,
    machine_info,
    train_acquisition_component,
    train_surrogate_component,
    train_validation_split,
)

__all__ = ["RUN_KIND", "RunDir", "load_split", "generate_stage", "train_stage",
           "evaluate_stage", "run_all", "success_criteria", "test_scms", "transfer_test"]


RUN_KIND = "acbo.run"


@dataclasses.dataclass(frozen=True)
class RunDir:
    """A run directory bound to its configuration, held locked while it is open."""

    root: pathlib.Path
    config: ACBOConfig

    @classmethod
    @contextlib.contextmanager
    def open(cls, root: str | os.PathLike[str], config: ACBOConfig) -> Iterator[RunDir]:
        """Creates the run directory, or checks that it is one made with the same
        configuration, and holds an exclusive lock on it for the ``with`` block.

        Only a directory that is absent, empty or marked as an ACBO run is used: a run never
        writes into (and so never replaces files of) a directory it did not create.

        Raises:
          OverwriteRefusedError: ``root`` is a file, or a non-empty directory that is not a run.
          LockedError: another process is working in the directory (its pid is named).
          StorageError: the directory cannot be created or written.
          ConfigError: the directory holds a run with another configuration.
        """
        root = ac.claim_directory(root, RUN_KIND)
        with ac.directory_lock(root, what="run directory"):
            resolved = ac.dumps_json(to_dict(config), indent=2) + "\n"
            path = root / "config.json"
            if path.exists():
                try:
                    previous = json.loads(path.read_bytes().decode("utf-8"))
                except (OSError, ValueError, RecursionError):
                    previous = None
                if previous != json.loads(resolved):
                    changed = (sorted(_diff(previous, json.loads(resolved)))
                               if isinstance(previous, dict) else [])
                    raise ConfigError(
                        f"{str(root)!r} holds a run made with another configuration (differs "
                        f"in {', '.join(changed[:5]) or 'config.json'}); use another --output "
                        "directory, or delete this one to start over")
            else:
                ac.write_file(path, resolved)
            yield cls(root, config)

    def logger(self, *, progress: bool = True) -> RunLogger:
        return RunLogger(self.root / "log.jsonl", level=self.config.training.log_level,
                         progress=progress)

    def __truediv__(self, name: str) -> pathlib.Path:
        return self.root / name


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [k for key in sorted(set(a) | set(b))
                for k in _diff(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if json.dumps(a) == json.dumps(b) else [prefix.rstrip(".")]


def generate_stage(run: RunDir, logger: RunLogger) -> Split:
    """Demonstrations (resumes at the first missing shard), loaded as trajectories and split by
    graph: the split every later stage uses."""
    start = time.perf_counter()
    data = generate_from_config(run.config.pipeline(), run / "demonstrations", logger=logger)
    logger.log("demonstrations", runs=data.n, shards=data.shards, generated=data.generated,
               seconds=round(time.perf_counter() - start, 1))
    _record_timing(run, "demonstrations", time.perf_counter() - start, data.generated > 0)
    return _split(run)


def _split(run: RunDir) -> Split:
    return train_validation_split(load_expert_trajectories(run / "demonstrations"),
                                  run.config.training)


def load_split(run: RunDir) -> Split:
    """The run's demonstrations as trajectories, split by graph.

    Raises:
      CheckpointError: the run has no demonstrations yet.
    """
    if not (run / "demonstrations").is_dir():
        raise CheckpointError(f"no demonstrations in {str(run.root)!r} yet: run "
                              "`acbo-train generate` (or `acbo-train run`) first")
    return _split(run)


def _train_surrogate(run: RunDir, split: Split, logger: RunLogger
                     ) -> tuple[Any, sur.SurrogateConfig, dict[str, Any]]:
    path = run / "models" / "surrogate"
    if path.exists() or path.is_symlink():
        try:
            params, config, meta = sur.load_surrogate(path)
            if not _metrics_table(meta.get("validation_metrics")):
                raise CheckpointError(f"{str(path)!r}: metadata without validation_metrics")
            speedup = meta.get("speedup_estimate")
            meta["speedup_estimate"] = float("nan") if speedup is None else float(speedup)
            logger.log("surrogate_found", path=str(path))
            return params, config, meta
        except (CheckpointError, TypeError, ValueError) as err:
            _set_aside(path, logger, err)
    start = time.perf_counter()
    result: SurrogateModelResult = train_surrogate_component(
        split, run.config.surrogate, training_config=run.config.training,
        checkpoint_dir=run / "checkpoints" / "surrogate", logger=logger,
        expert_config=run.config.expert)
    meta = {"validation_metrics": result.validation_metrics,
            "speedup_estimate": result.speedup_estimate}
    sur.save_surrogate(path, result.params, result.model, metadata=meta)
    _record_timing(run, "surrogate", time.perf_counter() - start)
    return result.params, result.model, meta


def _train_policy(run: RunDir, split: Split, posterior_fn: Callable[..., Any],
                  logger: RunLogger
                  ) -> tuple[Any, aq.PolicyConfig, dict[str, Any]]:
    path = run / "models" / "policy"
    if path.exists() or path.is_symlink():
        try:
            params, config = aq.load_policy(path)
            meta = _read_policy_meta(run)
            logger.log("policy_found", path=str(path))
            return params, config, meta
        except CheckpointError as err:
            _set_aside(path, logger, err)
    start = time.perf_counter()
    result: AcquisitionModelResult = train_acquisition_component(
        split, run.config.acquisition, posterior_fn=posterior_fn,
        training_config=run.config.training,
        compare_cold_start=run.config.evaluation.compare_cold_start,
        checkpoint_dir=run / "checkpoints" / "acquisition", logger=logger)
    meta = {"validation_metrics": result.validation_metrics,
            "convergence": [list(p) for p in result.convergence],
            "cold_start_convergence": (None if result.cold_start_convergence is None
                                       else [list(p) for p in result.cold_start_convergence])}
    ac.write_file(path.parent / "policy.json", ac.dumps_json(meta))
    aq.save_policy(path, result.params, result.config.policy)
    _record_timing(run, "acquisition", time.perf_counter() - start)
    return result.params, result.config.policy, meta


def _metrics_table(value: Any) -> bool:
    return isinstance(value, dict) and all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool))
        for v in value.values())


def _set_aside(path: pathlib.Path, logger: RunLogger, err: Exception) -> None:
    """Moves a damaged model out of the way (renamed, never deleted) so that it is rebuilt."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.rename(path, aside)
    logger.log("model_damaged", level="WARNING", path=str(path), moved_to=str(aside),
               error=str(err))


def _set_aside_unless(path: pathlib.Path, kind: str, logger: RunLogger) -> None:
    if (path.exists() or path.is_symlink()) and ac.directory_kind(path) != kind:
        _set_aside(path, logger, CheckpointError(f"{str(path)!r} is not a complete {kind!r}"))


def check_component(run: RunDir, component: str) -> None:
    """Raises ConfigError for an unknown component, or the policy asked for before the
    surrogate."""
    if component not in ("surrogate", "acquisition", "both"):
        raise ConfigError(f"component must be surrogate, acquisition or both, got {component!r}")
    if component == "acquisition" and not (run / "models" / "surrogate").exists():
        raise ConfigError(f"no trained surrogate in {str(run / 'models')!r}: train it first "
                          "(`acbo-train train --component surrogate`); the policy learns on "
                          "the surrogate's posteriors")


def train_stage(run: RunDir, split: Split, logger: RunLogger, *, component: str = "both"
                ) -> TrainedACBOSystem | None:
    """Trains the surrogate, the policy or both (skipping a component already trained), and
    saves the system once both exist.

    Raises:
      ConfigError: an unknown component, or the policy asked for before the surrogate.
    """
    check_component(run, component)
    s_params, s_config, s_meta = _train_surrogate(run, split, logger)
    if component == "surrogate":
        return None
    posterior_fn = functools.partial(sur.predict_posterior, s_params, config=s_config.model)
    p_params, p_config, p_meta = _train_policy(run, split, posterior_fn, logger)
    number = ac.json_number
    metrics = {f"surrogate_{k}": number(v) for k, v in s_meta["validation_metrics"].items()}
    metrics["surrogate_speedup"] = number(s_meta["speedup_estimate"])
    metrics |= {f"acquisition_{k}": number(v) for k, v in p_meta["validation_metrics"].items()}
    system = TrainedACBOSystem(s_config, s_params, p_config, p_params,
                               run_config=run.config.expert, online=run.config.online,
                               decision=run.config.decision,
                               training_scms=tuple(t.scm for t in split.train),
                               performance_metrics=metrics)
    _set_aside_unless(run / "system", SYSTEM_KIND, logger)
    save_system(system, run / "system")
    logger.log("system_saved", path=str(run / "system"))
    return system


TEST_SCM_DRAWS_PER_SCM = 200
"""Draws per wanted test SCM before a distribution is declared too small to hold any out."""


def test_scms(config: ACBOConfig, exclude: set[str]) -> list[Any]:
    """Held-out SCMs from the training distribution, drawn from their own key stream.

    Raises:
      ConfigError: the distribution keeps drawing graphs the training used (too few distinct
        graphs, e.g. ``n_vars = [2, 2]``), so no held-out SCM can be found.
    """
    dist = config.demonstrations.distribution
    key = jax.random.key(config.training.random_seed + 7919)
    wanted = config.evaluation.n_test_scms
    draws = TEST_SCM_DRAWS_PER_SCM * wanted
    out: list[Any] = []
    for i in range(draws):
        scm = dist.sample(jax.random.fold_in(key, i))
        if graph_id(scm) not in exclude:
            out.append(scm)
            if len(out) == wanted:
                return out
    raise ConfigError(
        f"found {len(out)} of evaluation.n_test_scms = {wanted} held-out SCMs in "
        f"{draws} draws: the distribution (n_vars = "
        f"{list(dist.n_vars)}) has too few graphs the training did not use; widen n_vars or "
        "lower evaluation.n_test_scms")


def transfer_test(system: TrainedACBOSystem, config: ACBOConfig, logger: RunLogger
                  ) -> dict[str, Any]:
    """Surrogate and expert posteriors at the largest training size and at ``transfer_factor``
    times it: F1 of the MAP set vs the truth, and the time of each (compiled)."""
    dist = config.demonstrations.distribution
    ev = config.evaluation
    base = dist.n_vars[1]
    rows: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    for d in (base, base * ev.transfer_factor):
        sizes = dataclasses.replace(dist, n_vars=(d, d))
        key = jax.random.key(config.training.random_seed + 104729 + d)
        f1_s, f1_e, t_s, t_e = [], [], 0.0, 0.0
        expert = expert_posterior_fn(config.expert, k_max=system.surrogate_config.model.k_max)
        for i in range(ev.n_transfer_scms):
            scm = sizes.sample(jax.random.fold_in(key, i))
            buffer = sur.simulate_buffer(scm, n_obs=config.expert.n_obs,
                                         n_int=ev.transfer_int_samples,
                                         key=jax.random.fold_in(key, 10_000 + i))
            truth, target = ac.true_parents(scm), scm["target"]
            system.predict_posterior(buffer, target)  # compile before timing
            expert(buffer, target)
            t0 = time.perf_counter()
            post_s = system.predict_posterior(buffer, target)
            t1 = time.perf_counter()
            post_e = expert(buffer, target)
            t2 = time.perf_counter()
            t_s, t_e = t_s + t1 - t0, t_e + t2 - t1
            f1_s.append(sur.f1_score(post_s.map_set(), truth))
            f1_e.append(sur.f1_score(post_e.map_set(), truth))
        rows += [{"d": d, "source": "surrogate", "f1": float(np.mean(f1_s)), "n": len(f1_s)},
                 {"d": d, "source": "expert", "f1": float(np.mean(f1_e)), "n": len(f1_e)}]
        out[f"speedup_d{d}"] = t_e / max(t_s, 1e-12)
        logger.log("transfer", d=d, surrogate_f1=float(np.mean(f1_s)),
                   expert_f1=float(np.mean(f1_e)), speedup=out[f"speedup_d{d}"])
    f1_base, f1_big = rows[0]["f1"], rows[2]["f1"]
    out["transfer_drop"] = max(0.0, 1.0 - f1_big / f1_base) if f1_base > 0 else float("nan")
    out["rows"] = rows
    out["sizes"] = [base, base * ev.transfer_factor]
    return out


def success_criteria(surrogate: dict[str, float], acquisition: dict[str, float],
                     policy_meta: dict[str, Any], transfer: dict[str, Any],
                     evaluation: EvaluationReport) -> list[Criterion]:
    """The main job's success criteria, each measured (NaN when it could not be)."""
    nan = float("nan")
    gaps = evaluation.end_to_end()
    system_gap = gaps.get("acbo", {}).get("gap_closed_mean", nan)
    expert_gap = gaps.get(evaluation.baseline, {}).get("gap_closed_mean", nan)
    ratio = policy_meta["validation_metrics"].get("warm_over_cold_updates", nan)
    return [
        Criterion("surrogate_speedup", surrogate.get("speedup", nan), 2.0, ">=",
                  "expert posterior time (from scratch, per data set) / surrogate forward pass, "
                  "held-out demonstrations"),
        Criterion("surrogate_accuracy_drop", surrogate.get("accuracy_drop", nan), 0.2, "<",
                  "relative drop of the MAP set's F1 vs truth, surrogate vs expert posterior, "
                  "held-out graphs"),
        Criterion("warm_start_convergence", ratio if ratio is not None else nan, 0.5, "<=",
                  "GRPO updates to reach the convergence level, warm start / cold start "
                  "(<= 0.5: at least 50% faster)"),
        Criterion("transfer_drop_2x", transfer.get("transfer_drop", nan), 0.3, "<",
                  "relative drop of the surrogate's F1 on graphs twice the largest training "
                  "size"),
        Criterion("expert_agreement", acquisition.get("expert_agreement", nan), 0.7, ">=",
                  "the policy picks the expert's variable on held-out decisions"),
        Criterion("gap_closed_vs_expert",
                  system_gap / expert_gap if expert_gap and expert_gap > 0 else nan, 0.9, ">=",
                  "system's mean gap closed on held-out SCMs / per-graph PARENT_SCALE's "
                  "(within 10%)"),
    ]


def _record_timing(run: RunDir, stage: str, seconds: float, did_work: bool = True) -> None:
    """Adds a stage's wall time to ``timings.json`` (summed over resumed invocations)."""
    if not did_work:
        return
    timings = _read_timings(run)
    timings[stage] = timings.get(stage, 0.0) + seconds
    ac.write_file(run / "timings.json", ac.dumps_json(timings))


def _read_timings(run: RunDir) -> dict[str, float]:
    path = run / "timings.json"
    try:
        timings = json.loads(path.read_bytes().decode("utf-8")) if path.exists() else {}
    except (OSError, ValueError, RecursionError):
        timings = None
    if not isinstance(timings, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in timings.values()):
        return {}  # a damaged timings file: the sums start again rather than fail the run
    return {str(k): float(v) for k, v in timings.items()}


def _read_policy_meta(run: RunDir) -> dict[str, Any]:
    """``models/policy.json``: the policy's validation metrics and curves.

    Raises:
      CheckpointError: missing or damaged (named).
    """
    path = run / "models" / "policy.json"
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"no trained policy metadata at {str(path)!r}") from None
    except (OSError, ValueError, RecursionError) as err:
        raise CheckpointError(f"damaged policy metadata {str(path)!r}: {err}") from None
    if not (isinstance(meta, dict) and _metrics_table(meta.get("validation_metrics"))
            and isinstance(meta.get("convergence"), list)):
        raise CheckpointError(f"damaged policy metadata {str(path)!r}: missing or malformed "
                              "'validation_metrics' / 'convergence'")
    return meta


def evaluate_stage(run: RunDir, split: Split, logger: RunLogger) -> dict[str, Any]:
    """Evaluates the saved system and writes the report; returns the report's dict.

    Raises:
      CheckpointError: no trained system in the run directory.
    """
    start = time.perf_counter()
    system = load_system(run / "system")
    cfg = run.config
    s_metrics = evaluate_surrogate_accuracy(system.surrogate_config, system.surrogate_params,
                                            split.validation, expert_config=cfg.expert)
    logger.log("surrogate_accuracy", metrics=s_metrics)
    a_metrics = evaluate_acquisition_performance(
        system.acquisition_params, system.policy_config,
        scenarios_from_trajectories(split.validation, system.predict_posterior))
    logger.log("acquisition_performance", metrics=a_metrics)
    policy_meta = _read_policy_meta(run)
    transfer = transfer_test(system, cfg, logger)
    scms = test_scms(cfg, {graph_id(t.scm) for t in (*split.train, *split.validation)})
    report = evaluate_system_performance(
        system, scms, cfg.evaluation.baseline_method, baselines=cfg.evaluation.baselines,
        seeds=cfg.evaluation.seeds, n_steps=cfg.evaluation.n_steps or None,
        use_online_grpo=cfg.evaluation.use_online_grpo, cache_dir=run / "evaluation",
        logger=logger)
    _record_timing(run, "evaluation", time.perf_counter() - start)
    criteria = success_criteria(s_metrics, a_metrics, policy_meta, transfer, report)
    decision = report.decision_time()
    components = {
        "surrogate (held-out demonstrations)": s_metrics,
        "acquisition (held-out decisions)": {
            **a_metrics, **{k: v for k, v in policy_meta["validation_metrics"].items()}},
        "transfer": {k: v for k, v in transfer.items() if k not in ("rows", "sizes")},
    }
    if "acbo" in decision and report.baseline in decision:
        setup = report.setup_time()
        components["speed"] = {
            "decision_speedup_vs_expert": decision[report.baseline]["median_seconds"]
            / max(decision["acbo"]["median_seconds"], 1e-12),
            "setup_seconds_acbo": setup["acbo"],
            f"setup_seconds_{report.baseline}": setup[report.baseline]}
    doc = {
        "title": "ACBO evaluation report",
        "created": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine_info(),
        "config": to_dict(cfg),
        "success_criteria": [c.to_dict() for c in criteria],
        "convergence": report.convergence(),
        "end_to_end": report.end_to_end(),
        "posterior_accuracy": transfer["rows"],
        "decision_time": decision,
        "components": components,
        "timings": _read_timings(run),
        "data": {"train_graphs": len(split.train), "validation_graphs": len(split.validation),
                 "test_scms": [graph_id(s) for s in scms]},
    }
    _set_aside_unless(run / "report", REPORT_KIND, logger)
    write_report(doc, run / "report")
    for c in criteria:
        logger.log("criterion", name=c.name, value=c.value, threshold=c.threshold,
                   comparison=c.comparison, passed=c.passed)
    return doc


def run_all(run: RunDir, logger: RunLogger) -> dict[str, Any]:
    """Everything end to end: demonstrations, training, evaluation, report."""
    split = generate_stage(run, logger)
    train_stage(run, split, logger)
    return evaluate_stage(run, split, logger)
