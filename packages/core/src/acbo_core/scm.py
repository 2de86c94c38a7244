"""Structural causal models as validated immutable maps.

An SCM is a ``pyr.PMap`` with the fields

- ``"variables"``: tuple of names (the column order of every array the SCM produces);
- ``"edges"``: ``pset`` of ``(parent, child)`` pairs;
- ``"mechanisms"``: ``pmap`` name -> mechanism (see :mod:`acbo_core.mechanisms`);
- ``"target"``: the variable to optimise;
- ``"intervention_ranges"``: ``pmap`` name -> ``(lo, hi)`` for every variable;
- ``"intervenable"``: ``pset`` of the variables that may be intervened on (never the target);
- ``"metadata"``: ``pmap`` of free-form, JSON-serialisable information.

Build one with :func:`create_scm`, which validates everything and names what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyrsistent as pyr

from acbo_core.errors import (
    CyclicGraphError,
    InvalidInterventionError,
    InvalidMechanismError,
    InvalidTargetError,
    UnknownVariableError,
)
from acbo_core.graph import _topological_order
from acbo_core.mechanisms import validate_mechanism
from acbo_core.sampling import default_intervention_ranges

__all__ = ["create_scm"]


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return pyr.pmap({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _check_range(var: str, rng: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in rng)
    except (TypeError, ValueError):
        raise InvalidInterventionError(
            f"intervention range of {var!r} must be a pair (lo, hi), got {rng!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise InvalidInterventionError(
            f"intervention range of {var!r} must be finite with lo < hi, got ({lo}, {hi})"
        )
    return (lo, hi)


def create_scm(
    variables: Sequence[str],
    edges: Iterable[tuple[str, str]],
    mechanisms: Mapping[str, Mapping[str, Any]],
    target: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    intervention_ranges: Mapping[str, tuple[float, float]] | None = None,
    intervenable: Iterable[str] | None = None,
) -> pyr.PMap:
    """Builds and validates an SCM.

    Args:
      variables: unique variable names; their order is the column order of all arrays.
      edges: ``(parent, child)`` pairs.
      mechanisms: a mechanism per variable whose ``parents`` are exactly its incoming edges.
      target: the variable to optimise.
      metadata: free-form JSON-serialisable information (graph type, seed, ...).
      intervention_ranges: ``(lo, hi)`` per variable; variables left out get the default, the
        observational mean +- 2 standard deviations (exact for linear SCMs, else estimated from
        4,000 samples with a fixed key).
      intervenable: variables that may be intervened on; default every variable but the target.

    Returns:
      The SCM as an immutable map (fields in the module docstring).

    Raises:
      UnknownVariableError: an edge endpoint, mechanism, range or target names an unknown variable.
      CyclicGraphError: the edges have a directed cycle (named in the message).
      InvalidMechanismError: a variable lacks a mechanism or its parents differ from its edges.
      InvalidTargetError: the target is declared intervenable.
      InvalidInterventionError: a range is not finite with lo < hi.
    """
    if isinstance(variables, str):
        raise UnknownVariableError("variables must be a sequence of names, not one string")
    names = tuple(str(v) for v in variables)
    if not names:
        raise UnknownVariableError("an SCM needs at least one variable")
    if len(set(names)) != len(names):
        dup = sorted({v for v in names if names.count(v) > 1})
        raise UnknownVariableError(f"duplicate variable names: {dup}")
    known = set(names)

    edge_set: set[tuple[str, str]] = set()
    for edge in edges:
        try:
            u, v = edge
        except (TypeError, ValueError):
            raise UnknownVariableError(f"an edge must be a (parent, child) pair, got {edge!r}")\
                from None
        for end in (u, v):
            if end not in known:
                raise UnknownVariableError(f"edge {u!r} -> {v!r}: unknown variable {end!r}")
        if u == v:
            raise CyclicGraphError(f"the graph has a cycle: self-loop {u!r} -> {u!r}")
        edge_set.add((str(u), str(v)))
    frozen_edges = frozenset(edge_set)
    _topological_order(names, frozen_edges)

    for var in mechanisms:
        if var not in known:
            raise UnknownVariableError(f"mechanism given for unknown variable {var!r}")
    mechs: dict[str, pyr.PMap] = {}
    for var in names:
        if var not in mechanisms:
            raise InvalidMechanismError(f"no mechanism for variable {var!r}")
        mech = validate_mechanism(mechanisms[var], var)
        expected = {u for u, v in frozen_edges if v == var}
        got = set(mech["parents"])
        if got != expected:
            missing, extra = sorted(expected - got), sorted(got - expected)
            raise InvalidMechanismError(
                f"mechanism of {var!r}: parents {sorted(got)} differ from its incoming edges "
                f"{sorted(expected)} (missing {missing}, not edges {extra})"
            )
        mechs[var] = mech

    if target not in known:
        raise UnknownVariableError(f"target {target!r} is not a variable of the SCM")

    if intervenable is None:
        allowed = frozenset(v for v in names if v != target)
    else:
        allowed = frozenset(str(v) for v in intervenable)
        for v in sorted(allowed - known):
            raise UnknownVariableError(f"intervenable variable {v!r} is not a variable")
        if target in allowed:
            raise InvalidTargetError(f"the target {target!r} cannot be intervenable")

    given = dict(intervention_ranges or {})
    for v in given:
        if v not in known:
            raise UnknownVariableError(f"intervention range given for unknown variable {v!r}")
    ranges = {v: _check_range(v, r) for v, r in given.items()}

    scm = pyr.pmap({
        "variables": names,
        "edges": pyr.pset(frozen_edges),
        "mechanisms": pyr.pmap(mechs),
        "target": str(target),
        "intervention_ranges": pyr.pmap(ranges),
        "intervenable": pyr.pset(allowed),
        "metadata": _freeze(dict(metadata or {})),
    })
    if len(ranges) < len(names):
        defaults = default_intervention_ranges(scm)
        ranges = {v: ranges.get(v, defaults[v]) for v in names}
        scm = scm.set("intervention_ranges", pyr.pmap(ranges))
    return scm
