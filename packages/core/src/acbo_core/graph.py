"""Queries on an SCM built by :func:`acbo_core.create_scm`: its graph (topological order,
parents, children, ancestors, descendants), its mechanisms (linear or not, the linear
coefficients) and its declared interventions. Pure functions of the SCM map; nothing here
samples (so :mod:`acbo_core.sampling` can use them, and :mod:`acbo_core.scm`, which builds SCMs
and fills in default ranges by sampling, can use both without an import cycle).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from acbo_core.errors import CyclicGraphError, UnknownVariableError, UnsupportedMechanismError

__all__ = [
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
