"""Training the acquisition policy from expert demonstrations: imitation, then GRPO.

(state -> expert action) pairs come from :class:`ExpertTrajectory` steps, with the posterior in
each state either the expert's or the trained surrogate's (what the policy will see once
deployed). Behavioural cloning and GRPO run through :func:`acbo_training.run_training`, so
both phases checkpoint and resume; GRPO starts from the cloned policy (warm start) and,
when asked, also from scratch (cold start) for comparison. GRPO simulates every example's SCM,
linear or not (nonlinear ones through Monte-Carlo reward tables drawn from the pipeline's key).
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import haiku as hk
import jax
import numpy as np
import pyrsistent as pyr

import acbo_acquisition as aq
from acbo_core import AcquisitionState, ParentSetPosterior
from acbo_core.configs import to_dict
from acbo_core.errors import ConfigError, ShapeMismatchError
from acbo_training.loop import run_training
from acbo_training.runlog import RunLogger
from acbo_training.trajectories import ExpertTrajectory

__all__ = [
    "AcquisitionTrainingExample",
    "AcquisitionModelResult",
    "extract_acquisition_training_data",
    "train_acquisition_with_expert_warmstart",
    "updates_to_reach",
]

PosteriorFn = Callable[[Any, str], ParentSetPosterior]


@dataclasses.dataclass(frozen=True, eq=False)
class AcquisitionTrainingExample:
    """One expert decision.

    Attributes:
      state: decision context (posterior from the surrogate when one was given).
      expert_action: what the expert chose.
      reward: improvement the expert achieved.
      next_state: the context after the outcome.
      trajectory_id: source trajectory.
      step_id: position in it.
      scm: the simulator behind the state (training only: GRPO rewards).
    """

    state: AcquisitionState
    expert_action: pyr.PMap
    reward: float
    next_state: AcquisitionState
    trajectory_id: str
    step_id: int
    scm: pyr.PMap


def _with_posterior(state: AcquisitionState, posterior_fn: PosteriorFn | None) -> AcquisitionState:
    if posterior_fn is None:
        return state
    return dataclasses.replace(state, posterior=posterior_fn(state.buffer, state.target))


def extract_acquisition_training_data(
    trajectories: Sequence[ExpertTrajectory],
    surrogate_model: PosteriorFn | None = None,
    surrogate_params: Any = None,
) -> list[AcquisitionTrainingExample]:
    """(state -> expert action) examples from trajectories.

    Args:
      trajectories: expert demonstrations.
      surrogate_model: ``None`` keeps the expert's posteriors in the states; otherwise a
        function ``(buffer, target) -> ParentSetPosterior`` (e.g. a trained surrogate's
        ``predict_posterior``), or ``predict(params, buffer, target)`` when
        ``surrogate_params`` is given, whose posteriors replace the expert's.
      surrogate_params: parameters passed first to ``surrogate_model``.

    Returns:
      One example per trajectory step.
    """
    posterior_fn: PosteriorFn | None
    if surrogate_model is None:
        posterior_fn = None
    elif surrogate_params is None:
        posterior_fn = surrogate_model
    else:
        def posterior_fn(buffer: Any, target: str) -> ParentSetPosterior:
            return surrogate_model(surrogate_params, buffer, target)  # type: ignore[call-arg]
    out = []
    for traj in trajectories:
        for t, step in enumerate(traj.steps):
            if t + 1 < len(traj.steps):
                nxt = traj.steps[t + 1].acquisition_state
            else:
                buffer = step.buffer_state.add_interventions(
                    step.chosen_intervention,
                    [[s.values[v] for v in step.buffer_state.variables]
                     for s in step.outcome_samples])
                nxt = dataclasses.replace(step.acquisition_state, buffer=buffer,
                                          posterior=traj.final_posterior, step=t + 1,
                                          best_value=traj.final_value)
            out.append(AcquisitionTrainingExample(
                state=_with_posterior(step.acquisition_state, posterior_fn),
                expert_action=step.chosen_intervention, reward=step.reward,
                next_state=_with_posterior(nxt, posterior_fn),
                trajectory_id=traj.trajectory_id, step_id=t, scm=traj.scm))
    return out


@dataclasses.dataclass(frozen=True)
class AcquisitionModelResult:
    """A trained acquisition policy and how it got there.

    Attributes:
      params: the policy (GRPO from the warm start; the cloned policy when GRPO is off).
      config: the acquisition configuration.
      bc_history: metrics per cloning epoch.
      grpo_history: metrics per GRPO update (warm start).
      convergence: ``(GRPO updates, normalised expected reward on the validation states)``
        of the warm start; the reward is 0 for a random policy and 1 for the best action.
      cold_start_convergence: the same from a fresh initialisation, when asked for.
      validation_metrics: agreement with the expert on held-out states, final normalised
        reward, updates to reach ``convergence_level`` warm and cold, and their ratio.
    """

    params: hk.Params
    config: aq.AcquisitionConfig
    bc_history: list[dict[str, float]]
    grpo_history: list[dict[str, float]]
    convergence: list[tuple[int, float]]
    cold_start_convergence: list[tuple[int, float]] | None
    validation_metrics: dict[str, float]


def updates_to_reach(curve: Sequence[tuple[int, float]], level: float) -> int | None:
    """First number of updates at which ``curve`` reaches ``level`` (None if never)."""
    return next((step for step, value in curve if value >= level), None)


def _normalised_reward(params: hk.Params, problems: aq.GRPOProblems,
                       policy: aq.PolicyConfig) -> float:
    r = aq.expected_rewards(params, problems, policy_config=policy)
    span = np.asarray(r["oracle"]) - np.asarray(r["random"])
    ok = span > 1e-9
    if not ok.any():
        return 0.0
    rel = (np.asarray(r["policy"])[ok] - np.asarray(r["random"])[ok]) / span[ok]
    return float(rel.mean())


def _grpo(start: hk.Params | None, key: jax.Array, problems: aq.GRPOProblems,
          val: aq.GRPOProblems | None, cfg: aq.AcquisitionConfig, n_updates: int,
          eval_every: int, ckpt: pathlib.Path | None, frequency: int,
          logger: RunLogger, desc: str) -> tuple[hk.Params, list[dict[str, float]],
                                                 list[tuple[int, float]]]:
    state = aq.init_grpo(key, policy_config=cfg.policy, grpo_config=cfg.grpo, params=start)
    curve: list[tuple[int, float]] = []
    if val is not None:
        curve.append((0, _normalised_reward(state.params, val, cfg.policy)))

    def update(s: Any, _: Any) -> tuple[Any, dict[str, float]]:
        s, metrics = aq.grpo_step(s, problems, policy_config=cfg.policy, grpo_config=cfg.grpo,
                                  imitation_config=cfg.imitation)
        step = int(s.step)
        if val is not None and (step % eval_every == 0 or step == n_updates):
            metrics = {**metrics, "val_reward": _normalised_reward(s.params, val, cfg.policy)}
        return s, metrics

    result = run_training(init_state=state, update_fn=update, batch_fn=lambda k, i: None,
                          key=key, n_steps=n_updates, checkpoint_dir=ckpt,
                          checkpoint_frequency=frequency, kind="acbo.acquisition.grpo",
                          config={"acquisition": to_dict(cfg), "desc": desc,
                                  "warm": start is not None},
                          logger=logger, desc=desc, log_every=1)
    curve += [(int(h["step"]), h["val_reward"]) for h in result.history if "val_reward" in h]
    return result.state.params, result.history, curve


def train_acquisition_with_expert_warmstart(
    training_examples: Sequence[AcquisitionTrainingExample],
    acquisition_config: aq.AcquisitionConfig | None = None,
    grpo_config: aq.GRPOConfig | None = None,
    imitation_config: aq.ImitationConfig | None = None,
    *,
    key: jax.Array,
    validation_examples: Sequence[AcquisitionTrainingExample] | None = None,
    compare_cold_start: bool = False,
    n_grpo_updates: int | None = None,
    eval_every: int = 5,
    convergence_level: float = 0.5,
    checkpoint_dir: str | pathlib.Path | None = None,
    checkpoint_frequency: int = 10,
    logger: RunLogger | None = None,
) -> AcquisitionModelResult:
    """Behavioural cloning on the expert's choices, then GRPO from the cloned policy.

    Args:
      training_examples: from :func:`extract_acquisition_training_data`.
      acquisition_config: the policy and its training; ``grpo_config`` and
        ``imitation_config`` replace its parts when given.
      key: PRNG key (same key, same result).
      validation_examples: held-out examples for agreement and the convergence curves
        (default: the training examples).
      compare_cold_start: also run GRPO from a fresh initialisation.
      n_grpo_updates: GRPO updates (default: ``acquisition_config.grpo_updates(P)``).
      eval_every: GRPO updates between evaluations of the expected reward.
      convergence_level: normalised reward whose first crossing counts as converged.
      checkpoint_dir: resumable checkpoints of each phase go below it.
      checkpoint_frequency: steps (epochs for cloning, updates for GRPO) between checkpoints.
      logger: progress and metrics.

    Returns:
      The trained policy with its histories and validation metrics.

    Raises:
      ShapeMismatchError: no examples.
      ConfigError: nothing to train (no cloning to start from and no GRPO epochs).
    """
    if not training_examples:
        raise ShapeMismatchError("acquisition training needs at least one example")
    cfg = acquisition_config or aq.AcquisitionConfig()
    if grpo_config is not None:
        cfg = dataclasses.replace(cfg, grpo=grpo_config)
    if imitation_config is not None:
        cfg = dataclasses.replace(cfg, imitation=imitation_config)
    logger = logger or RunLogger(progress=False)
    root = pathlib.Path(checkpoint_dir) if checkpoint_dir is not None else None
    val_examples = list(validation_examples or training_examples)
    n_vars = max(len(e.state.buffer.variables) for e in [*training_examples, *val_examples])
    k_bc, k_warm, k_cold, k_tables = jax.random.split(key, 4)
    bins = cfg.policy.n_value_bins

    def bc_data(examples: Sequence[AcquisitionTrainingExample]) -> aq.BCData:
        return aq.make_bc_data([e.state for e in examples], [e.expert_action for e in examples],
                               n_bins=bins, n_vars=n_vars)

    def problems(examples: Sequence[AcquisitionTrainingExample]) -> aq.GRPOProblems:
        return aq.make_grpo_problems(
            [e.state for e in examples], [e.scm for e in examples], n_bins=bins,
            expert_actions=[e.expert_action for e in examples], n_vars=n_vars, key=k_tables)

    bc_history: list[dict[str, float]] = []
    start = None
    if cfg.imitation.use_behavioral_cloning and cfg.imitation.imitation_epochs > 0:
        data = bc_data(training_examples)
        bc_state = aq.init_bc(k_bc, policy_config=cfg.policy, imitation_config=cfg.imitation)

        def epoch(s: Any, _: Any) -> tuple[Any, dict[str, float]]:
            s, hist = aq.train_bc(data, s, policy_config=cfg.policy,
                                  imitation_config=cfg.imitation, n_epochs=1)
            return s, hist[-1]

        result = run_training(
            init_state=bc_state, update_fn=epoch, batch_fn=lambda k, i: None, key=k_bc,
            n_steps=cfg.imitation.imitation_epochs,
            checkpoint_dir=root / "bc" if root else None,
            checkpoint_frequency=checkpoint_frequency, kind="acbo.acquisition.bc",
            config={"acquisition": to_dict(cfg)}, logger=logger,
            desc="behavioural cloning", log_every=1)
        bc_history = result.history
        if cfg.imitation.grpo_warmstart:
            start = result.state.params
    train_problems = problems(training_examples)
    val_problems = problems(val_examples)
    params = start
    grpo_history: list[dict[str, float]] = []
    curve: list[tuple[int, float]] = []
    cold: list[tuple[int, float]] | None = None
    if cfg.max_grpo_epochs > 0:
        n_updates = (cfg.grpo_updates(train_problems.expert_variable.shape[0])
                     if n_grpo_updates is None else n_grpo_updates)
        params, grpo_history, curve = _grpo(
            start, k_warm, train_problems, val_problems, cfg, n_updates, eval_every,
            root / "grpo_warm" if root else None, checkpoint_frequency, logger,
            "GRPO (warm start)" if start is not None else "GRPO")
        if compare_cold_start:
            _, _, cold = _grpo(None, k_cold, train_problems, val_problems, cfg, n_updates,
                               eval_every, root / "grpo_cold" if root else None,
                               checkpoint_frequency, logger, "GRPO (cold start)")
    elif start is None:
        raise ConfigError("nothing to train: cloning is off (or does not warm-start GRPO) and "
                          "max_grpo_epochs is 0")
    if params is None:
        params = start
    assert params is not None  # cloning or GRPO ran (checked above)
    metrics = {"bc_agreement": aq.evaluate_bc(params, bc_data(val_examples),
                                              policy_config=cfg.policy)["agreement"]}
    if start is not None:
        metrics["bc_agreement_before_grpo"] = aq.evaluate_bc(
            start, bc_data(val_examples), policy_config=cfg.policy)["agreement"]
    metrics["normalised_reward"] = _normalised_reward(params, val_problems, cfg.policy)
    if curve:
        warm_n = updates_to_reach(curve, convergence_level)
        metrics["warm_updates_to_level"] = float("nan") if warm_n is None else float(warm_n)
        if cold is not None:
            cold_n = updates_to_reach(cold, convergence_level)
            metrics["cold_updates_to_level"] = float("nan") if cold_n is None else float(cold_n)
            if warm_n is not None and cold_n:
                metrics["warm_over_cold_updates"] = warm_n / cold_n
    logger.log("acquisition_trained", metrics=metrics)
    return AcquisitionModelResult(params, cfg, bc_history, grpo_history, curve, cold, metrics)
