"""Expert demonstrations as structured trajectories (:class:`ExpertTrajectory`).

A PARENT_SCALE run (:class:`acbo_expert.ParentScaleResult`) becomes an :class:`ExpertTrajectory`:
per step, the data the expert had, the posterior it held, the decision context, what it chose,
what came out, and the improvement it achieved. Trajectories can be validated, filtered,
split by graph and augmented by relabelling and reordering variables.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import pyrsistent as pyr

from acbo_core import (
    AcquisitionState,
    ExperienceBuffer,
    ParentSetPosterior,
    Sample,
    create_acquisition_state,
    create_perfect_intervention,
    create_sample,
    numpy_rng,
)
from acbo_core.errors import ACBOError

__all__ = [
    "TrajectoryStep",
    "ExpertTrajectory",
    "InvalidTrajectoryError",
    "extract_expert_trajectory",
    "validate_trajectory_consistency",
    "extract_multiple_trajectories",
    "extract_expert_demonstrations",
    "graph_id",
    "split_by_graph",
]


class InvalidTrajectoryError(ACBOError, ValueError):
    """A trajectory that is not self-consistent (the step and the problem are named)."""


@dataclasses.dataclass(frozen=True, eq=False)
class TrajectoryStep:
    """One decision of the expert.

    Attributes:
      buffer_state: the data available when deciding (D_O, D_I and earlier steps' samples).
      posterior: the expert's posterior over the target's parent sets at decision time.
      acquisition_state: the decision context built from the two above.
      chosen_intervention: what the expert did.
      outcome_samples: the samples that intervention produced (appended to the next buffer).
      reward: improvement of the best target value achieved by this step (>= 0).
      step_number: 0-based position in the trajectory.
      timestamp: seconds since the start of the run when the step ended, if known.
    """

    buffer_state: ExperienceBuffer
    posterior: ParentSetPosterior
    acquisition_state: AcquisitionState
    chosen_intervention: pyr.PMap
    outcome_samples: tuple[Sample, ...]
    reward: float
    step_number: int
    timestamp: float | None = None

    @property
    def outcome_sample(self) -> Sample:
        """The (first) sample the intervention produced."""
        return self.outcome_samples[0]


@dataclasses.dataclass(frozen=True, eq=False)
class ExpertTrajectory:
    """A structured expert demonstration.

    Attributes:
      scm: the causal model (used in training only: rewards, evaluation, augmentation).
      target_variable: the optimised variable.
      variable_order: column order of every array of the trajectory.
      observational_samples: D_O.
      steps: the decisions in order.
      final_value: best target value at the end.
      n_interventions: number of steps.
      final_posterior: the posterior after the last step's outcome.
      trajectory_id: stable identifier (graph id + run index).
      source: who produced it.
    """

    scm: pyr.PMap
    target_variable: str
    variable_order: tuple[str, ...]
    observational_samples: tuple[Sample, ...]
    steps: tuple[TrajectoryStep, ...]
    final_value: float
    n_interventions: int
    final_posterior: ParentSetPosterior
    trajectory_id: str = ""
    source: str = "PARENT_SCALE"


def graph_id(scm: Mapping[str, Any]) -> str:
    """A digest of the SCM's graph (variables, edges, target), independent of its weights.

    Two SCMs on the same graph get the same id, so splits by it never put one graph on both
    sides.
    """
    doc = {"variables": sorted(scm["variables"]), "edges": sorted(map(list, scm["edges"])),
           "target": scm["target"]}
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:16]


def _ranges(scm: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    return {v: tuple(scm["intervention_ranges"][v]) for v in scm["variables"]
            if v in scm["intervenable"]}


def _row_samples(variables: Sequence[str], rows: np.ndarray,
                 intervened: Sequence[str] = ()) -> tuple[Sample, ...]:
    return tuple(create_sample(dict(zip(variables, row.tolist(), strict=True)), intervened)
                 for row in np.asarray(rows, np.float64))


def extract_expert_trajectory(parent_scale_output: Any, scm: Mapping[str, Any],
                              *, run_index: int = 0) -> ExpertTrajectory:
    """Converts one PARENT_SCALE run into an :class:`ExpertTrajectory`.

    Args:
      parent_scale_output: an :class:`acbo_expert.ParentScaleResult`.
      scm: the SCM it ran on.
      run_index: distinguishes several runs on one SCM in ``trajectory_id``.

    Raises:
      InvalidTrajectoryError: the run does not belong to the SCM (variables or target differ),
        or it has no step.
    """
    res = parent_scale_output
    if tuple(res.variables) != tuple(scm["variables"]) or res.target != scm["target"]:
        raise InvalidTrajectoryError(
            f"the run (target {res.target!r}, variables {list(res.variables)}) does not belong to "
            f"the SCM (target {scm['target']!r}, variables {list(scm['variables'])})"
        )
    if res.T < 1:
        raise InvalidTrajectoryError("the run has no intervention step")
    ranges = _ranges(scm)
    sign = 1.0 if res.minimize else -1.0
    steps = []
    best_before = res.initial_best
    elapsed = res.setup_seconds
    buffer = res.buffer_at(0)
    history = [(next(iter(do["targets"])), float(next(iter(do["values"].values()))), float(y))
               for do, _, y in res.D_I]
    for t in range(res.T):
        posterior = res.posterior_probabilities[t]
        if not np.isfinite(best_before):
            best_before = float(np.mean(res.D_O[:, res.variables.index(res.target)]))
        state = create_acquisition_state(buffer, posterior, intervention_ranges=ranges, step=t,
                                         best_value=best_before, minimize=res.minimize,
                                         history=history)
        chosen = create_perfect_intervention(res.intervention_set[t], res.intervention_values[t])
        best_after = res.global_opt[t]
        elapsed += res.step_seconds[t]
        steps.append(TrajectoryStep(
            buffer_state=buffer, posterior=posterior, acquisition_state=state,
            chosen_intervention=chosen,
            outcome_samples=_row_samples(res.variables, res.step_samples[t], chosen["targets"]),
            reward=max(0.0, sign * (best_before - best_after)), step_number=t, timestamp=elapsed,
        ))
        buffer = buffer.add_interventions(chosen, res.step_samples[t])
        history = [*history, (res.intervention_set[t][0], float(res.intervention_values[t][0]),
                              float(res.current_y[t]))]
        best_before = best_after
    return ExpertTrajectory(
        scm=pyr.pmap(scm), target_variable=res.target, variable_order=tuple(res.variables),
        observational_samples=_row_samples(res.variables, res.D_O), steps=tuple(steps),
        final_value=float(res.global_opt[-1]), n_interventions=res.T,
        final_posterior=res.posterior_probabilities[-1],
        trajectory_id=f"{graph_id(scm)}-{run_index}", source=f"PARENT_SCALE:{res.method}",
    )


def _fail(message: str, raise_on_error: bool) -> bool:
    if raise_on_error:
        raise InvalidTrajectoryError(message)
    return False


def validate_trajectory_consistency(trajectory: ExpertTrajectory, *,
                                    raise_on_error: bool = False) -> bool:
    """Checks that a trajectory is self-consistent and complete.

    Every step's buffer is the previous step's plus that step's outcome; the first buffer
    starts with the observational samples; posteriors are normalised and over the target;
    every chosen intervention is intervenable and inside its range; rewards are >= 0.

    Args:
      trajectory: the trajectory.
      raise_on_error: raise :class:`InvalidTrajectoryError` naming the step instead of
        returning False.

    Returns:
      Whether the trajectory is consistent.
    """
    traj = trajectory
    order = traj.variable_order
    if not traj.steps or traj.n_interventions != len(traj.steps):
        return _fail("the trajectory has no steps or a wrong n_interventions", raise_on_error)
    obs = np.asarray([[s.values[v] for v in order] for s in traj.observational_samples])
    first = traj.steps[0].buffer_state.to_arrays(order).values
    if first.shape[0] < obs.shape[0] or not np.array_equal(first[: obs.shape[0]], obs):
        return _fail("step 0: the buffer does not start with the observational samples",
                     raise_on_error)
    ranges = _ranges(traj.scm)
    posteriors = [s.posterior for s in traj.steps] + [traj.final_posterior]
    for t, post in enumerate(posteriors):
        if post.target != traj.target_variable:
            return _fail(f"posterior {t} is over {post.target!r}, not the target "
                         f"{traj.target_variable!r}", raise_on_error)
        if abs(float(post.probs.sum()) - 1.0) > 1e-6:
            return _fail(f"posterior {t} is not normalised", raise_on_error)
    for t, step in enumerate(traj.steps):
        if step.step_number != t or step.acquisition_state.step != t:
            return _fail(f"step {t}: wrong step number", raise_on_error)
        if step.reward < 0 or not np.isfinite(step.reward):
            return _fail(f"step {t}: reward {step.reward} is not a finite improvement",
                         raise_on_error)
        if step.acquisition_state.buffer is not step.buffer_state and (
                len(step.acquisition_state.buffer) != len(step.buffer_state)):
            return _fail(f"step {t}: the acquisition state holds other data", raise_on_error)
        for var, value in step.chosen_intervention["values"].items():
            if var not in ranges:
                return _fail(f"step {t}: {var!r} may not be intervened on", raise_on_error)
            lo, hi = ranges[var]
            if not lo - 1e-9 <= value <= hi + 1e-9:
                return _fail(f"step {t}: value {value} of {var!r} is outside [{lo}, {hi}]",
                             raise_on_error)
        if t + 1 < len(traj.steps):
            before = step.buffer_state.to_arrays(order).values
            after = traj.steps[t + 1].buffer_state.to_arrays(order)
            outcome = np.asarray([[s.values[v] for v in order] for s in step.outcome_samples])
            expected = np.concatenate([before, outcome])
            if after.values.shape != expected.shape or not np.array_equal(after.values, expected):
                return _fail(f"step {t + 1}: the buffer is not step {t}'s plus its outcome",
                             raise_on_error)
            fixed = after.intervened[before.shape[0]:]
            targets = {order.index(v) for v in step.chosen_intervention["targets"]}
            if not all(set(np.flatnonzero(row)) == targets for row in fixed):
                return _fail(f"step {t}: the outcome is not marked with its intervention",
                             raise_on_error)
    return True


def extract_multiple_trajectories(parent_scale_runs: Sequence[Any],
                                  scms: Sequence[Mapping[str, Any]],
                                  max_trajectories: int | None = None) -> list[ExpertTrajectory]:
    """Converts several runs (``runs[i]`` on ``scms[i]``), at most ``max_trajectories``.

    Raises:
      InvalidTrajectoryError: the two lists differ in length.
    """
    if len(parent_scale_runs) != len(scms):
        raise InvalidTrajectoryError(
            f"{len(parent_scale_runs)} runs but {len(scms)} SCMs")
    n = len(scms) if max_trajectories is None else min(max_trajectories, len(scms))
    return [extract_expert_trajectory(r, s, run_index=i)
            for i, (r, s) in enumerate(zip(parent_scale_runs[:n], scms[:n], strict=True))]


def extract_expert_demonstrations(
    parent_scale_runs: Sequence[Any],
    scms: Sequence[Mapping[str, Any]],
    validation_split: float = 0.2,
    *,
    key: jax.Array | None = None,
) -> tuple[list[ExpertTrajectory], list[ExpertTrajectory]]:
    """Extracts trajectories and splits them into train and validation sets by graph.

    All runs on one graph (:func:`graph_id`) land on the same side; about
    ``validation_split`` of the graphs are held out (at least one when the split is > 0 and
    there are two graphs or more).

    Args:
      parent_scale_runs: runs, ``runs[i]`` on ``scms[i]``.
      scms: their SCMs.
      validation_split: fraction of graphs to hold out, in [0, 1).
      key: PRNG key of the split (default ``key(0)``).

    Returns:
      ``(train, validation)``.
    """
    return split_by_graph(extract_multiple_trajectories(parent_scale_runs, scms),
                          validation_split, key=key)


def split_by_graph(trajectories: Sequence[ExpertTrajectory], validation_split: float = 0.2, *,
                   key: jax.Array | None = None
                   ) -> tuple[list[ExpertTrajectory], list[ExpertTrajectory]]:
    """Splits trajectories into train and validation sets so no graph is on both sides.

    About ``validation_split`` of the graphs (:func:`graph_id`) are held out, at least one when
    the split is > 0 and there are two graphs or more.

    Raises:
      InvalidTrajectoryError: a split outside [0, 1).
    """
    if not 0.0 <= validation_split < 1.0:
        raise InvalidTrajectoryError(f"validation_split must be in [0, 1), got {validation_split}")
    graphs = sorted({graph_id(t.scm) for t in trajectories})
    rng = numpy_rng(jax.random.key(0) if key is None else key)
    rng.shuffle(graphs)
    n_val = int(round(validation_split * len(graphs)))
    if validation_split > 0 and n_val == 0 and len(graphs) >= 2:
        n_val = 1
    held_out = set(graphs[:n_val])
    train = [t for t in trajectories if graph_id(t.scm) not in held_out]
    val = [t for t in trajectories if graph_id(t.scm) in held_out]
    return train, val
