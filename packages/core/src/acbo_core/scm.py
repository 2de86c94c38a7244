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

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyrsistent as pyr

from acbo_core.errors import (
    CyclicGraphError,
    InvalidInterventionError,
    InvalidMechanismError,
    InvalidTargetError,
    UnknownVariableError,
    UnsupportedMechanismError,
)
from acbo_core.mechanisms import validate_mechanism

__all__ = [
    "create_scm",
    "topological_order",
    "get_parents",
    "get_children",
    "get_ancestors",
    "get_descendants",
    "true_parents",
    "is_linear_scm",
    "linear_coefficients",
    "intervention_range",
    "intervenable_variables",
]


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return pyr.pmap({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _find_cycle(variables: Sequence[str], children: Mapping[str, list[str]]) -> list[str]:
    """A directed cycle as a list of names (first == last), by depth-first search."""
    color = dict.fromkeys(variables, 0)
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        color[v] = 1
        stack.append(v)
        for c in children[v]:
            if color[c] == 1:
                return stack[stack.index(c):] + [c]
            if color[c] == 0 and (cycle := visit(c)) is not None:
                return cycle
        color[v] = 2
        stack.pop()
        return None

    for v in variables:
        if color[v] == 0 and (cycle := visit(v)) is not None:
            return cycle
    return []


@functools.lru_cache(maxsize=256)
def _topological_order(variables: tuple[str, ...], edges: frozenset) -> tuple[str, ...]:
    # Kahn's algorithm; ties broken by declaration order so the order is deterministic.
    indeg = dict.fromkeys(variables, 0)
    children: dict[str, list[str]] = {v: [] for v in variables}
    for u, v in edges:
        indeg[v] += 1
        children[u].append(v)
    position = {v: i for i, v in enumerate(variables)}
    ready = sorted((v for v in variables if indeg[v] == 0), key=position.__getitem__)
    order: list[str] = []
    while ready:
        v = ready.pop(0)
        order.append(v)
        for c in children[v]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
        ready.sort(key=position.__getitem__)
    if len(order) != len(variables):
        cycle = _find_cycle(variables, children)
        raise CyclicGraphError("the graph has a cycle: " + " -> ".join(cycle))
    return tuple(order)


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
        from acbo_core.sampling import default_intervention_ranges  # sampling imports us

        defaults = default_intervention_ranges(scm)
        ranges = {v: ranges.get(v, defaults[v]) for v in names}
        scm = scm.set("intervention_ranges", pyr.pmap(ranges))
    return scm


def topological_order(scm: Mapping[str, Any]) -> tuple[str, ...]:
    """Variables in a topological order (parents first; ties in declaration order)."""
    return _topological_order(tuple(scm["variables"]), frozenset(scm["edges"]))


def _check_variable(scm: Mapping[str, Any], var: str) -> None:
    if var not in scm["mechanisms"]:
        raise UnknownVariableError(f"{var!r} is not a variable of the SCM")


def get_parents(scm: Mapping[str, Any], var: str) -> frozenset[str]:
    """The parents of ``var``."""
    _check_variable(scm, var)
    return frozenset(scm["mechanisms"][var]["parents"])


def get_children(scm: Mapping[str, Any], var: str) -> frozenset[str]:
    """The children of ``var``."""
    _check_variable(scm, var)
    return frozenset(v for u, v in scm["edges"] if u == var)


def _closure(scm: Mapping[str, Any], var: str, step: Any) -> frozenset[str]:
    _check_variable(scm, var)
    seen: set[str] = set()
    todo = [var]
    while todo:
        for nxt in step(scm, todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return frozenset(seen)


def get_ancestors(scm: Mapping[str, Any], var: str) -> frozenset[str]:
    """Every variable with a directed path to ``var`` (``var`` excluded)."""
    return _closure(scm, var, get_parents)


def get_descendants(scm: Mapping[str, Any], var: str) -> frozenset[str]:
    """Every variable reachable from ``var`` (``var`` excluded)."""
    return _closure(scm, var, get_children)


def true_parents(scm: Mapping[str, Any]) -> frozenset[str]:
    """The target's parent set (for evaluation only: optimisers never read it)."""
    return get_parents(scm, scm["target"])


def is_linear_scm(scm: Mapping[str, Any]) -> bool:
    """Whether every mechanism is linear Gaussian."""
    return all(m["type"] == "linear" for m in scm["mechanisms"].values())


def linear_coefficients(
    scm: Mapping[str, Any], variable_order: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weight matrix, intercepts and noise scales of a linear SCM.

    Args:
      scm: a linear SCM.
      variable_order: the order of rows/columns (default: ``scm["variables"]``); must be a
        permutation of the SCM's variables.

    Returns:
      ``(W [d, d], intercepts [d], noise_scales [d])`` in float64, ``W[i, j]`` the weight of
      the edge ``order[i] -> order[j]``.

    Raises:
      UnsupportedMechanismError: the SCM has a nonlinear mechanism (named in the message).
      UnknownVariableError: ``variable_order`` is not a permutation of the variables.
    """
    order = tuple(scm["variables"]) if variable_order is None else tuple(variable_order)
    if set(order) != set(scm["variables"]) or len(order) != len(scm["variables"]):
        unknown = sorted(set(order) - set(scm["variables"]))
        missing = sorted(set(scm["variables"]) - set(order))
        raise UnknownVariableError(
            f"variable_order must be a permutation of the SCM's variables "
            f"(unknown {unknown}, missing {missing}, length {len(order)})"
        )
    index = {v: i for i, v in enumerate(order)}
    d = len(order)
    w = np.zeros((d, d))
    intercepts = np.zeros(d)
    noise = np.zeros(d)
    for var in order:
        mech = scm["mechanisms"][var]
        if mech["type"] != "linear":
            raise UnsupportedMechanismError(
                f"linear_coefficients needs a linear SCM; {var!r} has a {mech['type']!r} "
                "mechanism"
            )
        j = index[var]
        for parent, coef in zip(mech["parents"], mech["coefficients"], strict=True):
            w[index[parent], j] = coef
        intercepts[j] = mech["intercept"]
        noise[j] = mech["noise_scale"]
    return w, intercepts, noise


def intervention_range(scm: Mapping[str, Any], var: str) -> tuple[float, float]:
    """The ``(lo, hi)`` range the SCM declares for interventions on ``var``."""
    _check_variable(scm, var)
    return tuple(scm["intervention_ranges"][var])  # type: ignore[return-value]


def intervenable_variables(scm: Mapping[str, Any]) -> tuple[str, ...]:
    """The variables that may be intervened on, in declaration order."""
    return tuple(v for v in scm["variables"] if v in scm["intervenable"])
