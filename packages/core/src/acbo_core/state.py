"""AcquisitionState: everything an acquisition policy may look at when choosing an intervention."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pyrsistent as pyr

from acbo_core.buffer import ExperienceBuffer
from acbo_core.errors import InvalidInterventionError, InvalidStateError, UnknownVariableError
from acbo_core.posterior import ParentSetPosterior

__all__ = ["AcquisitionState", "create_acquisition_state", "best_target_value"]


@dataclasses.dataclass(frozen=True, eq=False)
class AcquisitionState:
    """The decision context of one optimisation step (plain data; no model, no SCM).

    Attributes:
      buffer: all data seen so far.
      posterior: the current belief over the target's parent sets.
      best_value: the best target value achieved so far (see :func:`best_target_value`).
      target: the variable being optimised.
      step: number of interventions chosen so far.
      intervention_ranges: ``(lo, hi)`` for each variable that may be intervened on.
      minimize: whether lower target values are better.
      history: ``(variable, value, observed target)`` of every single-variable intervention so
        far, in order (initial ones included): the outcomes as the method observed them,
        which need not be the rows in ``buffer`` (a noiseless run observes the interventional
        mean, a noisy one the mean of the samples).
    """

    buffer: ExperienceBuffer
    posterior: ParentSetPosterior
    best_value: float
    target: str
    step: int
    intervention_ranges: pyr.PMap
    minimize: bool = True
    history: tuple[tuple[str, float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.target not in self.buffer.variables:
            raise UnknownVariableError(
                f"target {self.target!r} is not a variable of the buffer "
                f"{list(self.buffer.variables)}"
            )
        if self.posterior.target != self.target:
            raise InvalidStateError(
                f"the posterior is over parents of {self.posterior.target!r} but the target is "
                f"{self.target!r}"
            )
        if not self.intervention_ranges:
            raise InvalidStateError("no intervenable variable: intervention_ranges is empty")
        ranges = {}
        for var, rng in self.intervention_ranges.items():
            if var not in self.buffer.variables:
                raise UnknownVariableError(f"intervention range for unknown variable {var!r}")
            if var == self.target:
                raise InvalidStateError(f"the target {var!r} cannot be intervened on")
            lo, hi = (float(v) for v in rng)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise InvalidInterventionError(
                    f"intervention range of {var!r} must be finite with lo < hi, got ({lo}, {hi})"
                )
            ranges[var] = (lo, hi)
        if not math.isfinite(self.best_value):
            raise InvalidStateError(f"best_value must be finite, got {self.best_value}")
        if self.step < 0:
            raise InvalidStateError(f"step must be >= 0, got {self.step}")
        object.__setattr__(self, "intervention_ranges", pyr.pmap(ranges))
        history = []
        for entry in self.history:
            var, value, y = entry
            if var not in self.buffer.variables:
                raise UnknownVariableError(f"history names an unknown variable {var!r}")
            if not (math.isfinite(float(value)) and math.isfinite(float(y))):
                raise InvalidStateError(f"history entry {entry!r} is not finite")
            history.append((str(var), float(value), float(y)))
        object.__setattr__(self, "history", tuple(history))

    @property
    def intervenable(self) -> tuple[str, ...]:
        """Variables that may be intervened on, in buffer order."""
        return tuple(v for v in self.buffer.variables if v in self.intervention_ranges)


def best_target_value(buffer: ExperienceBuffer, target: str, *, minimize: bool = True) -> float:
    """The best target value among interventional rows; the observational mean if there are none.

    Raises:
      InvalidStateError: the buffer is empty.
    """
    if len(buffer) == 0:
        raise InvalidStateError("the buffer is empty: there is no best value yet")
    values, mask = buffer.to_arrays()
    y = values[:, buffer.variables.index(target)]
    interventional = mask.any(axis=1)
    if not interventional.any():
        return float(y.mean())
    y = y[interventional]
    return float(np.min(y) if minimize else np.max(y))


def create_acquisition_state(
    buffer: ExperienceBuffer,
    posterior: ParentSetPosterior,
    *,
    intervention_ranges: Mapping[str, tuple[float, float]],
    step: int = 0,
    best_value: float | None = None,
    minimize: bool = True,
    history: Sequence[tuple[str, float, float]] = (),
) -> AcquisitionState:
    """An :class:`AcquisitionState` for ``posterior.target``; ``best_value`` defaults to
    :func:`best_target_value` of the buffer.

    Raises:
      InvalidStateError, UnknownVariableError, InvalidInterventionError: parts that disagree.
    """
    target = posterior.target
    if target not in buffer.variables:
        raise UnknownVariableError(
            f"the posterior's target {target!r} is not a variable of the buffer"
        )
    if best_value is None:
        best_value = best_target_value(buffer, target, minimize=minimize)
    return AcquisitionState(buffer, posterior, float(best_value), target, int(step),
                            pyr.pmap(intervention_ranges), bool(minimize), tuple(history))
