"""The trained ACBO system: the amortized surrogate and the acquisition policy, together.

:class:`TrainedACBOSystem` optimises a new SCM at once: each step the surrogate predicts the
posterior over the target's parent sets from all data so far (one forward pass), the policy
ranks the variables to intervene on (one forward pass), and the value is set where PARENT_SCALE's
causal GP of the chosen variable expects the most improvement (:class:`DecisionConfig`): the
policy's discrete values span a range in 21 steps, which cannot reach an optimum between them,
while the GP refines a value to the precision the outcomes support. With online GRPO, the
policy is fine-tuned during the run on rewards from the system's own model of the target
(:mod:`acbo.target_model`), never from the hidden SCM. The SCM is the world: the system only
sees the outcomes of the interventions it performs (through :func:`acbo_expert.run_method`, so
for one key it gets the same D_O and D_I as PARENT_SCALE and the baselines).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import haiku as hk
import jax
import numpy as np
import pyrsistent as pyr

import acbo_acquisition as aq
import acbo_surrogate as sur
from acbo.target_model import model_tables
from acbo_acquisition.config import MAX_BATCH
from acbo_core import (
    AcquisitionState,
    ExperienceBuffer,
    ParentSetPosterior,
    create_perfect_intervention,
)
from acbo_core.configs import configclass, integer, number
from acbo_core.errors import ConfigError
from acbo_expert import ParentScaleConfig, ParentScaleResult, run_method, score_proposals

__all__ = ["OnlineConfig", "DecisionConfig", "TrainedACBOSystem", "OptimizationResult"]


@configclass
class DecisionConfig:
    """How the policy's proposal becomes an intervention.

    The policy's ``candidates`` most probable variables are scored, each with the policy's own
    value, by the expected improvement of PARENT_SCALE's causal GP of that variable
    (:func:`acbo_expert.score_proposals`: prior mean from the posterior's most probable parent
    sets fitted on the observational rows, conditioned on the outcomes observed so far). The
    policy's first variable is taken unless its best expected improvement is below
    ``exhausted_ratio`` times the best among the candidates (its promising values have been
    tried: the range end of a linear effect in a noiseless run, say), in which case the next one
    in the policy's order that passes is. Its value is the policy's own unless the GP expects
    more than ``1 + value_tolerance`` times as much improvement elsewhere in the range (so where
    the GP knows nothing yet, a variable the posterior does not call a parent for instance, the
    policy's value stands).

    Attributes:
      candidates: the policy's most probable variables that are scored.
      exhausted_ratio: in [0, 1]; 0 always takes the policy's variable.
      value_tolerance: >= 0; the policy's value is kept within this relative margin of the
        best expected improvement.
    """

    candidates: int = integer(3, 1, 1000)
    exhausted_ratio: float = number(0.1, 0.0, 1.0)
    value_tolerance: float = number(0.05, 0.0)


@configclass
class OnlineConfig:
    """Online GRPO during a run.

    Attributes:
      updates_per_step: GRPO updates before each decision.
      group_size: interventions sampled per update (GRPO's group).
      learning_rate: Adam step size (small: the trained policy is the starting point).
      kl_coef: weight of the KL term to the trained policy.
      max_sets: most probable parent sets in the reward model.
    """

    updates_per_step: int = integer(2, 1)
    group_size: int = integer(16, 2, MAX_BATCH, why="advantages are relative to the group")
    learning_rate: float = number(1e-4, 0.0, low_open=True)
    kl_coef: float = number(0.1, 0.0)
    max_sets: int = integer(16, 1, 10_000)

    def _check(self) -> None:
        try:
            self.grpo_config()
        except ConfigError as err:  # anything GRPO refuses, refused now rather than mid-run
            raise ConfigError(f"OnlineConfig gives a bad GRPO configuration: {err}") from None

    def grpo_config(self) -> aq.GRPOConfig:
        return aq.GRPOConfig(group_size=self.group_size, batch_size=1,
                             learning_rate=self.learning_rate, kl_coef=self.kl_coef)


@dataclasses.dataclass(frozen=True, eq=False)
class OptimizationResult:
    """One run of the system on an SCM.

    Attributes:
      interventions: per step, the perfect intervention performed.
      outcomes: per step, the target value observed.
      best_so_far: per step, the best value observed so far (initial samples included).
      posteriors: ``n_steps + 1`` posteriors the system held (entry t chose step t).
      decision_seconds: per step, wall time of the decision (posterior, online GRPO, policy)
        and of performing it.
      online_metrics: per step, the last online GRPO update's metrics (empty without it).
      record: the whole run in the expert's record type, for paired evaluation.
    """

    interventions: tuple[pyr.PMap, ...]
    outcomes: tuple[float, ...]
    best_so_far: tuple[float, ...]
    posteriors: tuple[ParentSetPosterior, ...]
    decision_seconds: tuple[float, ...]
    online_metrics: tuple[dict[str, float], ...]
    record: ParentScaleResult

    def best_intervention(self) -> tuple[tuple[str, ...], tuple[float, ...], float]:
        """``(variables, values, observed y)`` of the best intervention tried."""
        return self.record.best_intervention()


@dataclasses.dataclass(frozen=True, eq=False)
class TrainedACBOSystem:
    """Complete trained ACBO system: the surrogate and the policy, with their settings.

    Attributes:
      surrogate_config: the surrogate's architecture and training settings.
      surrogate_params: its trained parameters.
      policy_config: the policy's architecture.
      acquisition_params: its trained parameters.
      run_config: how a run gathers data: n_obs, n_int, samples per step, noiseless
        observations, minimise (the expert's settings, so that runs are comparable).
      online: online GRPO settings.
      decision: how the policy's proposal becomes an intervention.
      training_scms: the SCMs the demonstrations came from (metadata).
      performance_metrics: validation metrics of training, by name.
    """

    surrogate_config: sur.SurrogateConfig
    surrogate_params: hk.Params
    policy_config: aq.PolicyConfig
    acquisition_params: hk.Params
    run_config: ParentScaleConfig = ParentScaleConfig()
    online: OnlineConfig = OnlineConfig()
    decision: DecisionConfig = DecisionConfig()
    training_scms: tuple[pyr.PMap, ...] = ()
    performance_metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        aq.check_params(self.acquisition_params, self.policy_config)

    @property
    def surrogate_model(self) -> hk.Transformed:
        """The surrogate network (``apply(params, encoding, sample_mask, var_mask)``)."""
        return sur.forward_fn(self.surrogate_config.model)

    @property
    def acquisition_model(self) -> hk.Transformed:
        """The policy network (``apply(params, PolicyInputs)``)."""
        return aq.make_policy(self.policy_config)

    @property
    def variable_order(self) -> tuple[str, ...]:
        """Variables of the first training SCM (the system itself works with any names)."""
        return tuple(self.training_scms[0]["variables"]) if self.training_scms else ()

    def predict_posterior(self, buffer: ExperienceBuffer, target: str) -> ParentSetPosterior:
        """The surrogate's posterior over ``target``'s parent sets: one jitted forward pass.

        Raises:
          UnknownVariableError: ``target`` is not a variable of ``buffer``.
          NonFiniteDataError: NaN or inf in the data.
        """
        return sur.predict_posterior(self.surrogate_params, buffer, target,
                                     config=self.surrogate_config.model)

    def select_intervention(self, state: AcquisitionState, exploration_rate: float = 0.0, *,
                            key: jax.Array | None = None, params: hk.Params | None = None
                            ) -> pyr.PMap:
        """The system's intervention for ``state`` (see :class:`DecisionConfig`), or with
        probability ``exploration_rate`` a uniformly random one.

        Args:
          state: the decision context (its ``history`` conditions the causal GPs).
          exploration_rate: in [0, 1].
          key: PRNG key of the exploration draw (default: one derived from ``state.step``).
          params: policy parameters to use instead of the trained ones (online fine-tuning).

        Raises:
          ConfigError: a bad exploration rate.
          InvalidStateError, UnknownVariableError, InvalidInterventionError: a bad state.
        """
        rate = float(exploration_rate)
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"exploration_rate must be in [0, 1], got {exploration_rate!r}")
        key = jax.random.key(int(state.step)) if key is None else key
        params = self.acquisition_params if params is None else params
        if rate > 0:
            return aq.select_intervention(params, state, key=key, exploration_rate=rate,
                                          config=self.policy_config)
        n_bins = self.policy_config.n_value_bins
        ranked = aq.ranked_actions(params, state, config=self.policy_config,
                                   k=self.decision.candidates)
        proposals = [next(iter(aq.intervention_for_action(state, v, b, n_bins)["values"].items()))
                     for v, b, _ in ranked]
        if len(state.buffer.observational()) < 2:  # nothing to fit the GPs' prior on
            return create_perfect_intervention(*proposals[0])
        scored = score_proposals(state, proposals, config=self.run_config)
        cfg = self.decision
        best = max(s.ei for s in scored)
        passing = [s for s in scored if not best > 0 or s.ei >= cfg.exhausted_ratio * best]
        others = [s for s in scored if s not in passing]
        for s in passing + others:
            keep = not s.ei > (1.0 + cfg.value_tolerance) * max(s.ei_preferred, 0.0)
            for value in (s.preferred, s.value) if keep else (s.value, s.preferred):
                # A noiseless observation repeated returns the same number: try something new.
                if value is not None and not (self.run_config.noiseless
                                              and _tried(state, s.variable, value)):
                    return create_perfect_intervention(s.variable, value)
        # Every proposal was tried (a noiseless run that has converged): somewhere new at random.
        lo, hi = state.intervention_ranges[passing[0].variable]
        return create_perfect_intervention(
            passing[0].variable, lo + (hi - lo) * float(jax.random.uniform(key)))

    def run_optimization(self, scm: Mapping[str, Any], n_steps: int = 30,
                         use_online_grpo: bool = False, *, key: jax.Array | None = None,
                         exploration_rate: float = 0.0) -> OptimizationResult:
        """Optimises ``scm``'s target with ``n_steps`` interventions.

        Args:
          scm: the problem, used only as a sampler (its graph and mechanisms are not read).
          n_steps: interventions to perform.
          use_online_grpo: fine-tune the policy during the run (``self.online``).
          key: the run key (default ``jax.random.key(0)``); the same key gives the same run,
            and PARENT_SCALE given this key sees the same D_O and D_I.
          exploration_rate: probability of a uniformly random intervention per step.

        Raises:
          ConfigError: ``n_steps < 1`` or a bad exploration rate.
          InvalidTargetError, UnknownVariableError: an SCM without a target or nothing to
            intervene on.
        """
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ConfigError(f"n_steps must be an int >= 1, got {n_steps!r}")
        if not 0.0 <= float(exploration_rate) <= 1.0:
            raise ConfigError(f"exploration_rate must be in [0, 1], got {exploration_rate!r}")
        key = jax.random.key(0) if key is None else key
        config = dataclasses.replace(self.run_config, T=n_steps)
        online = _Online(self, jax.random.fold_in(key, 7)) if use_online_grpo else None
        metrics: list[dict[str, float]] = []

        def choose(state: AcquisitionState, step_key: jax.Array) -> pyr.PMap:
            params = None
            if online is not None:
                params, m = online.update(state)
                metrics.append(m)
            return self.select_intervention(state, exploration_rate, key=step_key,
                                            params=params)

        record = run_method(scm, choose, self.predict_posterior, key=key, config=config,
                            method="acbo" if use_online_grpo else "acbo_offline")
        interventions = tuple(create_perfect_intervention(v, x) for v, x in zip(
            record.intervention_set, record.intervention_values, strict=True))
        return OptimizationResult(interventions, record.current_y, record.global_opt,
                                  record.posterior_probabilities, record.step_seconds,
                                  tuple(metrics), record)


def _tried(state: AcquisitionState, variable: str, value: float) -> bool:
    """Whether ``do(variable = value)`` is already in the state's history (to 1e-6 of the
    variable's range)."""
    lo, hi = state.intervention_ranges[variable]
    return any(v == variable and abs(x - value) <= 1e-6 * (hi - lo) for v, x, _ in state.history)


class _Online:
    """Online GRPO state for one run: the policy fine-tuned on the system's model's rewards."""

    def __init__(self, system: TrainedACBOSystem, key: jax.Array) -> None:
        self.system = system
        self.grpo = system.online.grpo_config()
        self.state = aq.init_grpo(key, policy_config=system.policy_config,
                                  grpo_config=self.grpo, params=system.acquisition_params)
        self.imitation = aq.ImitationConfig(use_behavioral_cloning=False)

    def update(self, state: AcquisitionState) -> tuple[hk.Params, dict[str, float]]:
        width = -(-len(state.buffer.variables) // 8) * 8  # one compilation per 8 variables
        tables = model_tables(state, n_bins=self.system.policy_config.n_value_bins,
                              max_sets=self.system.online.max_sets)
        one = np.zeros(1, np.int32)
        problems = aq.GRPOProblems(aq.stack_inputs([aq.encode_state(state)], width),
                                   aq.stack_tables([tables], width), one, one,
                                   np.zeros(1, bool))
        metrics: dict[str, float] = {}
        start = time.perf_counter()
        for _ in range(self.system.online.updates_per_step):
            self.state, metrics = aq.grpo_step(
                self.state, problems, policy_config=self.system.policy_config,
                grpo_config=self.grpo, imitation_config=self.imitation)
        metrics["seconds"] = time.perf_counter() - start
        return self.state.params, metrics
