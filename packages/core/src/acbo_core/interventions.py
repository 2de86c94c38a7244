"""Single samples and perfect (do) interventions."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyrsistent as pyr

from acbo_core.errors import InvalidInterventionError, NonFiniteDataError, UnknownVariableError

__all__ = [
    "Sample",
    "create_sample",
    "create_perfect_intervention",
    "validate_intervention",
    "intervention_values",
]


@dataclasses.dataclass(frozen=True)
class Sample:
    """One row of data: a value per variable, and which variables were set by intervention.

    Attributes:
      values: variable name -> value.
      intervened: the variables held fixed by the intervention that produced this row
        (empty for an observational sample).
    """

    values: pyr.PMap
    intervened: frozenset[str] = frozenset()

    @property
    def is_observational(self) -> bool:
        return not self.intervened

    def __getitem__(self, var: str) -> float:
        try:
            return self.values[var]
        except KeyError:
            raise UnknownVariableError(f"the sample has no variable {var!r}") from None


def _finite(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise NonFiniteDataError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise NonFiniteDataError(f"{what} is {out}; values must be finite")
    return out


def create_sample(values: Mapping[str, float], intervened: Iterable[str] = ()) -> Sample:
    """A validated :class:`Sample`.

    Raises:
      NonFiniteDataError: a value is NaN or infinite (named).
      UnknownVariableError: an intervened variable has no value.
    """
    vals = pyr.pmap({str(k): _finite(v, f"value of {k!r}") for k, v in values.items()})
    fixed = frozenset(str(v) for v in intervened)
    for v in sorted(fixed - set(vals)):
        raise UnknownVariableError(f"intervened variable {v!r} has no value in the sample")
    return Sample(vals, fixed)


def create_perfect_intervention(
    targets: Sequence[str] | str, values: Sequence[float] | float
) -> pyr.PMap:
    """A perfect (do) intervention setting each target to a constant.

    Args:
      targets: the variables to set (one name or a sequence).
      values: one value per target.

    Returns:
      ``pmap({"type": "perfect", "targets": frozenset, "values": pmap name -> value})``.

    Raises:
      InvalidInterventionError: no target, duplicate targets, or a count mismatch.
      NonFiniteDataError: a value is NaN or infinite.
    """
    names = (targets,) if isinstance(targets, str) else tuple(str(t) for t in targets)
    vals = (values,) if isinstance(values, int | float) else tuple(values)
    if not names:
        raise InvalidInterventionError("an intervention needs at least one target")
    if len(set(names)) != len(names):
        raise InvalidInterventionError(f"duplicate intervention targets in {names}")
    if len(vals) != len(names):
        raise InvalidInterventionError(
            f"{len(names)} targets {names} but {len(vals)} values"
        )
    return pyr.pmap({
        "type": "perfect",
        "targets": frozenset(names),
        "values": pyr.pmap({n: _finite(v, f"intervention value of {n!r}")
                            for n, v in zip(names, vals, strict=True)}),
    })


def validate_intervention(
    intervention: Mapping[str, Any],
    variables: Iterable[str],
    intervenable: Iterable[str] | None = None,
) -> pyr.PMap:
    """Checks an intervention against a set of variables.

    Args:
      intervention: a perfect intervention.
      variables: the known variables.
      intervenable: if given, the variables that may be intervened on.

    Returns:
      The intervention, unchanged.

    Raises:
      InvalidInterventionError: not a perfect intervention, or a forbidden target.
      UnknownVariableError: a target is not a variable.
    """
    if not isinstance(intervention, Mapping) or intervention.get("type") != "perfect":
        raise InvalidInterventionError(
            f"expected a perfect intervention from create_perfect_intervention, got "
            f"{intervention!r}"
        )
    known = set(variables)
    for t in sorted(intervention["targets"]):
        if t not in known:
            raise UnknownVariableError(f"intervention target {t!r} is not a variable")
    if intervenable is not None:
        allowed = set(intervenable)
        for t in sorted(intervention["targets"]):
            if t not in allowed:
                raise InvalidInterventionError(f"variable {t!r} may not be intervened on")
    return pyr.pmap(intervention)


def intervention_values(intervention: Mapping[str, Any]) -> pyr.PMap:
    """Target name -> value of an intervention."""
    return pyr.pmap(intervention["values"])
