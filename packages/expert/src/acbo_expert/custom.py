"""Any method on the expert's loop: the same D_O, D_I, observations and record.

A method that brings its own posterior and its own choice of intervention (the trained ACBO
system, for instance) runs through :func:`run_method`, so that for the same key it sees exactly
the D_O and D_I that PARENT_SCALE and the baselines see, observes outcomes the same way
(``config.noiseless``) and returns the same :class:`ParentScaleResult`: one evaluation harness
compares them all, paired by key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
import pyrsistent as pyr

import acbo_core as ac
from acbo_core import AcquisitionState, ExperienceBuffer, ParentSetPosterior
from acbo_core.errors import InvalidInterventionError
from acbo_expert._loop import Choice, Run, loop, setup, step_key
from acbo_expert.config import ParentScaleConfig
from acbo_expert.result import ParentScaleResult

__all__ = ["run_method", "initial_buffer", "ChooseFn", "PosteriorFn"]

PosteriorFn = Callable[[ExperienceBuffer, str], ParentSetPosterior]
"""``(all data so far, target) -> the method's posterior over the target's parent sets``."""

ChooseFn = Callable[[AcquisitionState, jax.Array], Mapping[str, Any]]
"""``(decision state, key) -> a single-variable perfect intervention`` (acbo-core's)."""


class _Data:
    """The run's data as an ExperienceBuffer, extended as blocks arrive (no rebuilds)."""

    def __init__(self, run: Run) -> None:
        self.buffer = ac.create_buffer(run.variables).add_observations(run.d_obs)
        self.n_blocks = 0

    def update(self, run: Run) -> ExperienceBuffer:
        blocks = [(do, rows) for do, rows, _ in run.d_i]
        n_init = len(run.d_i)
        blocks += [(ac.create_perfect_intervention(s["var"], s["value"]), run.rows[n_init + i])
                   for i, s in enumerate(run.steps)]
        for do, rows in blocks[self.n_blocks:]:
            self.buffer = self.buffer.add_interventions(do, rows)
        self.n_blocks = len(blocks)
        return self.buffer


def initial_buffer(scm: Mapping[str, Any], *, key: jax.Array,
                   config: ParentScaleConfig = ParentScaleConfig()  # noqa: B008
                   ) -> ExperienceBuffer:
    """D_O and D_I of a run with this key, as a buffer: exactly the data every method starts
    from (see :func:`run_method`).

    Raises:
      The errors of :func:`acbo_expert.run_parent_scale` for a bad problem or config.
    """
    run = setup(scm, config, key, "data", with_model=False)
    return _Data(run).update(run)


def run_method(scm: Mapping[str, Any], choose: ChooseFn, posterior: PosteriorFn, *,
               key: jax.Array, config: ParentScaleConfig = ParentScaleConfig(),  # noqa: B008
               method: str = "custom") -> ParentScaleResult:
    """Runs a method given as two functions on the expert's loop.

    Step ``t``: ``posterior(buffer, target)`` on all data so far, then ``choose(state, key_t)``
    with the :class:`acbo_core.AcquisitionState` built from it; the intervention is performed on
    the SCM (values clipped to the declared range) and observed as PARENT_SCALE observes it.

    Args:
      scm: the problem, used as a black-box sampler.
      choose: the method's decision.
      posterior: the method's posterior.
      key: the run key: the same key gives the same D_O and D_I as
        :func:`acbo_expert.run_parent_scale` with that key.
      config: n_obs, n_int, T, samples per step, noiseless, minimise (the expert's model and
        acquisition settings are unused).
      method: the name recorded in the result.

    Returns:
      The record; ``acquisition_values`` are empty and ``exploration_sets`` list every
      intervenable variable.

    Raises:
      The errors of :func:`acbo_expert.run_parent_scale` for a bad problem or config;
      InvalidInterventionError: ``choose`` returned something other than a single-variable
      perfect intervention on an intervenable variable.
    """
    run = setup(scm, config, key, method, with_model=False)
    data = _Data(run)

    def posterior_of(run: Run) -> ParentSetPosterior:
        return posterior(data.update(run), run.target)

    ranges = {v: (float(lo), float(hi))
              for v, lo, hi in zip(run.elements, run.low, run.high, strict=True)}

    def choice(run: Run, t: int) -> Choice:
        best = run.best_so_far()
        if not np.isfinite(best):
            best = float(np.mean(run.d_obs[:, run.variables.index(run.target)]))
        history = [(next(iter(do["targets"])), float(next(iter(do["values"].values()))), y)
                   for do, _, y in run.d_i] + [(s["var"], s["value"], s["y"]) for s in run.steps]
        state = ac.create_acquisition_state(data.buffer, run.posteriors[-1],
                                            intervention_ranges=ranges, step=t,
                                            best_value=best, minimize=run.config.minimize,
                                            history=history)
        intervention = choose(state, step_key(run, t))
        var, value = _single(intervention, run.elements)
        return var, value, run.elements, {}

    return loop(run, choice, posterior_of)


def _single(intervention: Any, elements: tuple[str, ...]) -> tuple[str, float]:
    if not isinstance(intervention, pyr.PMap | Mapping) or \
            intervention.get("type") != "perfect" or len(intervention.get("targets", ())) != 1:
        raise InvalidInterventionError(
            f"a method must choose one single-variable perfect intervention, got {intervention!r}")
    (var,) = tuple(intervention["targets"])
    if var not in elements:
        raise InvalidInterventionError(f"{var!r} is not an intervenable variable of the problem "
                                       f"(intervenable: {list(elements)})")
    value = float(intervention["values"][var])
    if not np.isfinite(value):
        raise InvalidInterventionError(f"intervention value {value} of {var!r} is not finite")
    return var, value
