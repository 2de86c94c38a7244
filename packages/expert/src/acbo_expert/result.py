"""ParentScaleResult: everything one run of PARENT_SCALE (or a baseline) did and saw."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pyrsistent as pyr

from acbo_core import (
    ExperienceBuffer,
    ParentSetPosterior,
    create_buffer,
    create_perfect_intervention,
)
from acbo_expert.config import ParentScaleConfig

__all__ = ["ParentScaleResult"]


@dataclasses.dataclass(frozen=True, eq=False)
class ParentScaleResult:
    """The record of one run.

    Step ``t`` (0-based) is the t-th intervention the method chose. Arrays are float64 with
    columns in ``variables`` order (the SCM's).

    Attributes:
      D_O: ``[n_obs, d]`` observational samples.
      intervention_set: per step, the intervened variables (one-tuples: single-variable
        interventions).
      intervention_values: per step, their values.
      current_y: per step, the target value observed: the interventional mean (exact or Monte
        Carlo) when ``config.noiseless``, else the mean of the step's samples.
      posterior_probabilities: ``T + 1`` posteriors over parent sets, each the real posterior
        the method held: entry 0 after D_I (used to choose step 0), entry t + 1 after step t's
        samples. Sets below the pruning threshold are left out.
      global_opt: per step, the best target value observed so far, the initial
        interventional samples included.
      target: the target variable.
      variables: column order of every array.
      method: ``"parent_scale"``, ``"random"``, ``"oracle"`` or ``"observational"``.
      D_I: the initial interventions: ``(intervention, samples [n, d], observed y)`` each.
      initial_best: best target value observed in D_I (``nan`` without D_I).
      step_samples: per step, the ``[samples_per_step, d]`` samples of the chosen intervention.
      exploration_sets: per step, the variables the method considered.
      acquisition_values: per step, the best expected improvement of each considered variable
        (empty for the random and observational baselines).
      step_seconds: per step, wall time of choosing and performing the intervention.
      setup_seconds: wall time before the first step (data, prior, posterior model).
      true_parents: the target's true parents, for evaluation only (the methods but the
        oracle never read it).
      minimize: whether lower target values are better.
      config: the settings of the run.
      model_key: ``uint32`` key data of the posterior model's key (random features, doubly
        robust prior): pass ``jax.random.wrap_key_data(model_key)`` to
        :func:`acbo_expert.parent_set_posterior` to reproduce the posteriors.
    """

    D_O: np.ndarray
    intervention_set: tuple[tuple[str, ...], ...]
    intervention_values: tuple[tuple[float, ...], ...]
    current_y: tuple[float, ...]
    posterior_probabilities: tuple[ParentSetPosterior, ...]
    global_opt: tuple[float, ...]
    target: str
    variables: tuple[str, ...]
    method: str
    D_I: tuple[tuple[pyr.PMap, np.ndarray, float], ...]
    initial_best: float
    step_samples: tuple[np.ndarray, ...]
    exploration_sets: tuple[tuple[str, ...], ...]
    acquisition_values: tuple[dict[str, float], ...]
    step_seconds: tuple[float, ...]
    setup_seconds: float
    true_parents: frozenset[str] | None
    minimize: bool
    config: ParentScaleConfig
    model_key: np.ndarray

    @property
    def T(self) -> int:
        return len(self.current_y)

    def buffer_at(self, step: int) -> ExperienceBuffer:
        """D_O, D_I and the samples of the first ``step`` steps: the data behind
        ``posterior_probabilities[step]``."""
        if not 0 <= step <= self.T:
            raise IndexError(f"step must be in [0, {self.T}], got {step}")
        buf = create_buffer(self.variables).add_observations(self.D_O)
        for intervention, rows, _ in self.D_I:
            buf = buf.add_interventions(intervention, rows)
        for t in range(step):
            do = create_perfect_intervention(self.intervention_set[t],
                                             self.intervention_values[t])
            buf = buf.add_interventions(do, self.step_samples[t])
        return buf

    @property
    def buffer(self) -> ExperienceBuffer:
        """All the data of the run."""
        return self.buffer_at(self.T)

    def best_intervention(self) -> tuple[tuple[str, ...], tuple[float, ...], float]:
        """``(variables, values, observed y)`` of the best intervention tried, D_I included."""
        candidates: list[tuple[tuple[str, ...], tuple[float, ...], float]] = [
            (tuple(sorted(do["targets"])),
             tuple(float(do["values"][v]) for v in sorted(do["targets"])), y)
            for do, _, y in self.D_I
        ]
        candidates += list(zip(self.intervention_set, self.intervention_values, self.current_y,
                               strict=True))
        sign = 1.0 if self.minimize else -1.0
        return min(candidates, key=lambda c: sign * c[2])

    def summary(self) -> dict[str, Any]:
        """A small JSON-friendly digest."""
        last = self.posterior_probabilities[-1]
        return {
            "method": self.method, "target": self.target, "T": self.T,
            "best": self.global_opt[-1] if self.global_opt else None,
            "map_set": sorted(last.map_set()), "map_prob": float(np.max(last.probs)),
            "true_parents": None if self.true_parents is None else sorted(self.true_parents),
            "seconds": self.setup_seconds + sum(self.step_seconds),
        }
