"""Random and named SCMs.

Random generators draw a DAG over topological positions, then name the variables ``X0..X{d-1}``
through a random permutation, so a variable's name says nothing about its place in the order.
Edge weights are ``+-U[lo, hi]`` (bounded away from zero); noise scales are a constant or
``U[lo, hi]`` per variable.

Target rule (Erdős–Rényi and scale-free): the latest variable in the SCM's topological order
(:func:`acbo_core.topological_order`) with between 1 and ``max_target_parents`` parents
(default 3, PARENT_SCALE's k_max); if there is none, the latest variable with any parent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import pyrsistent as pyr

from acbo_core._keys import numpy_rng
from acbo_core.errors import GraphGenerationError
from acbo_core.graph import _topological_order
from acbo_core.mechanisms import (
    fourier_mechanism,
    linear_mechanism,
    named_mechanism,
    random_fourier_arrays,
)
from acbo_core.scm import create_scm

__all__ = [
    "erdos_renyi_scm",
    "scale_free_scm",
    "chain_scm",
    "fork_scm",
    "collider_scm",
    "star_scm",
    "toy_graph_scm",
    "psa_healthcare_scm",
]

_MAX_RESAMPLES = 100


def _uniform_or_constant(rng: np.random.Generator, spec: float | Sequence[float], n: int,
                         what: str) -> np.ndarray:
    if isinstance(spec, int | float):
        lo = hi = float(spec)
    else:
        lo, hi = (float(v) for v in spec)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi < lo:
        raise GraphGenerationError(f"{what} must be >= 0 and lo <= hi, got {spec!r}")
    return rng.uniform(lo, hi, size=n) if hi > lo else np.full(n, lo)


def _pick_target(n_parents: list[int], max_target_parents: int | None) -> int:
    """Position of the target given each position's number of parents (see the module doc)."""
    cap = max_target_parents if max_target_parents is not None else len(n_parents)
    for pos in reversed(range(len(n_parents))):
        if 1 <= n_parents[pos] <= cap:
            return pos
    for pos in reversed(range(len(n_parents))):
        if n_parents[pos]:
            return pos
    raise GraphGenerationError("the graph has no edge, so no variable can be a target")


def _build_scm(
    parents: list[list[int]],
    rng: np.random.Generator,
    *,
    graph: str,
    mechanism: str,
    weight_range: tuple[float, float],
    noise_scale: float | Sequence[float],
    n_features: int,
    lengthscale: float,
    target_position: int | None,
    max_target_parents: int | None,
    metadata: dict[str, Any],
) -> pyr.PMap:
    """Names the positions of a DAG (``parents[p]`` are earlier positions) and adds mechanisms."""
    d = len(parents)
    lo, hi = (float(v) for v in weight_range)
    if not (0 < lo <= hi):
        raise GraphGenerationError(f"weight_range must satisfy 0 < lo <= hi, got {weight_range}")
    if mechanism not in ("linear", "fourier"):
        raise GraphGenerationError(f"mechanism must be 'linear' or 'fourier', got {mechanism!r}")
    names = [f"X{i}" for i in rng.permutation(d)]  # names[p]: the variable at position p
    noise = _uniform_or_constant(rng, noise_scale, d, "noise_scale")
    mechanisms = {}
    for p in range(d):
        pa = [names[q] for q in parents[p]]
        if mechanism == "linear" or not pa:
            signs = rng.choice([-1.0, 1.0], size=len(pa))
            coefs = signs * rng.uniform(lo, hi, size=len(pa))
            mechanisms[names[p]] = linear_mechanism(
                dict(zip(pa, coefs.tolist(), strict=True)), noise_scale=float(noise[p])
            )
        else:
            w, ph, amp = random_fourier_arrays(rng, len(pa), n_features, lengthscale, 1.0)
            mechanisms[names[p]] = fourier_mechanism(pa, w, ph, amp, noise_scale=float(noise[p]))
    edges = [(names[q], names[p]) for p in range(d) for q in parents[p]]
    variables = sorted(names, key=lambda v: int(v[1:]))
    if target_position is not None:
        target = names[target_position]
    else:  # the rule reads the SCM's own (canonical) topological order
        order = _topological_order(tuple(variables), frozenset(edges))
        counts = [len(mechanisms[v]["parents"]) for v in order]
        target = order[_pick_target(counts, max_target_parents)]
    return create_scm(
        variables, edges, mechanisms, target,
        metadata={"graph": graph, "mechanism": mechanism, "n_vars": d, **metadata},
    )


def _check_n_vars(n_vars: int, minimum: int) -> None:
    if isinstance(n_vars, bool) or not isinstance(n_vars, int) or n_vars < minimum:
        raise GraphGenerationError(f"n_vars must be an int >= {minimum}, got {n_vars!r}")


def erdos_renyi_scm(
    n_vars: int,
    *,
    key: jax.Array,
    expected_degree: float = 2.0,
    mechanism: str = "linear",
    weight_range: tuple[float, float] = (0.5, 2.0),
    noise_scale: float | Sequence[float] = 1.0,
    n_features: int = 32,
    lengthscale: float = 1.5,
    max_target_parents: int | None = 3,
) -> pyr.PMap:
    """An Erdős–Rényi DAG with linear or Fourier mechanisms.

    Each of the ``d (d - 1) / 2`` forward pairs is an edge with probability
    ``expected_degree / (d - 1)``, so a variable has ``expected_degree`` neighbours (in + out)
    on average. A draw without any edge is redrawn.

    Args:
      n_vars: number of variables d (>= 2).
      key: PRNG key; the same key gives the same SCM.
      expected_degree: mean number of neighbours per variable.
      mechanism: ``"linear"`` (Gaussian) or ``"fourier"`` (random GP-like functions).
      weight_range: edge weights are ``+-U[lo, hi]``.
      noise_scale: constant, or ``(lo, hi)`` for ``U[lo, hi]`` per variable.
      n_features: random features per Fourier mechanism.
      lengthscale: length scale of the Fourier mechanisms.
      max_target_parents: see the target rule in the module docstring.

    Returns:
      A validated SCM; ``metadata`` records the graph type and arguments.

    Raises:
      GraphGenerationError: arguments that cannot give such a graph.
    """
    _check_n_vars(n_vars, 2)
    if not 0 < expected_degree <= n_vars - 1:
        raise GraphGenerationError(
            f"expected_degree must be in (0, n_vars - 1 = {n_vars - 1}], got {expected_degree}"
        )
    rng = numpy_rng(key)
    p_edge = expected_degree / (n_vars - 1)
    for _ in range(_MAX_RESAMPLES):
        adj = np.triu(rng.random((n_vars, n_vars)) < p_edge, k=1)  # adj[q, p]: q -> p
        if adj.any():
            break
    else:
        raise GraphGenerationError("no edge after 100 draws; raise expected_degree")
    parents = [[int(q) for q in np.flatnonzero(adj[:, p])] for p in range(n_vars)]
    return _build_scm(
        parents, rng, graph="erdos_renyi", mechanism=mechanism, weight_range=weight_range,
        noise_scale=noise_scale, n_features=n_features, lengthscale=lengthscale,
        target_position=None, max_target_parents=max_target_parents,
        metadata={"expected_degree": float(expected_degree)},
    )


def scale_free_scm(
    n_vars: int,
    *,
    key: jax.Array,
    expected_degree: float = 2.0,
    mechanism: str = "linear",
    weight_range: tuple[float, float] = (0.5, 2.0),
    noise_scale: float | Sequence[float] = 1.0,
    n_features: int = 32,
    lengthscale: float = 1.5,
    max_target_parents: int | None = 3,
) -> pyr.PMap:
    """A scale-free DAG grown by preferential attachment (Barabási–Albert style).

    Variables arrive in topological order; each new one takes ``m = round(expected_degree / 2)``
    distinct parents among the earlier ones, chosen with probability proportional to their
    degree + 1, so early variables become hubs with many children.

    Args: as :func:`erdos_renyi_scm`.

    Returns:
      A validated SCM.
    """
    _check_n_vars(n_vars, 2)
    if expected_degree <= 0:
        raise GraphGenerationError(f"expected_degree must be > 0, got {expected_degree}")
    rng = numpy_rng(key)
    m = max(1, int(round(expected_degree / 2)))
    degree = np.zeros(n_vars)
    parents: list[list[int]] = [[]]
    for p in range(1, n_vars):
        weights = degree[:p] + 1.0
        chosen = rng.choice(p, size=min(m, p), replace=False, p=weights / weights.sum())
        parents.append(sorted(int(q) for q in chosen))
        degree[chosen] += 1
        degree[p] += len(chosen)
    return _build_scm(
        parents, rng, graph="scale_free", mechanism=mechanism, weight_range=weight_range,
        noise_scale=noise_scale, n_features=n_features, lengthscale=lengthscale,
        target_position=None, max_target_parents=max_target_parents,
        metadata={"expected_degree": float(expected_degree)},
    )


def _shaped_scm(graph: str, parents: list[list[int]], target_position: int, key: jax.Array,
                options: dict[str, Any]) -> pyr.PMap:
    settings: dict[str, Any] = {"mechanism": "linear", "weight_range": (0.5, 2.0),
                                "noise_scale": 1.0, "n_features": 32, "lengthscale": 1.5}
    for name, value in options.items():
        if name not in settings:
            raise GraphGenerationError(f"unknown option {name!r}; known: {sorted(settings)}")
        settings[name] = value
    return _build_scm(parents, numpy_rng(key), graph=graph, target_position=target_position,
                      max_target_parents=None, metadata={}, **settings)


def chain_scm(n_vars: int, *, key: jax.Array, **options: Any) -> pyr.PMap:
    """A chain ``V0 -> V1 -> ... -> V{d-1}``; the target is its last variable.

    Options (keyword): ``mechanism``, ``weight_range``, ``noise_scale``, ``n_features``,
    ``lengthscale`` as in :func:`erdos_renyi_scm`.
    """
    _check_n_vars(n_vars, 2)
    return _shaped_scm("chain", [[]] + [[p - 1] for p in range(1, n_vars)], n_vars - 1, key,
                       options)


def fork_scm(n_vars: int, *, key: jax.Array, **options: Any) -> pyr.PMap:
    """A fork: one common cause of every other variable; the target is one of its children."""
    _check_n_vars(n_vars, 2)
    return _shaped_scm("fork", [[]] + [[0] for _ in range(1, n_vars)], n_vars - 1, key, options)


def collider_scm(n_vars: int, *, key: jax.Array, **options: Any) -> pyr.PMap:
    """A collider: every other variable is a parent of the target."""
    _check_n_vars(n_vars, 2)
    return _shaped_scm("collider", [[] for _ in range(n_vars - 1)] + [list(range(n_vars - 1))],
                       n_vars - 1, key, options)


def star_scm(n_vars: int, *, key: jax.Array, n_parents: int | None = None,
             **options: Any) -> pyr.PMap:
    """A star centred on the target: ``n_parents`` causes of it, the other variables its effects.

    Optimising it needs telling the target's parents from its children, which are just as
    correlated with it.

    Args:
      n_vars: number of variables (>= 3).
      key: PRNG key.
      n_parents: parents of the target (default ``min(3, (n_vars - 1) // 2)``).
      **options: as :func:`chain_scm`.
    """
    _check_n_vars(n_vars, 3)
    k = min(3, (n_vars - 1) // 2) if n_parents is None else n_parents
    if not 1 <= k <= n_vars - 1:
        raise GraphGenerationError(f"n_parents must be in [1, {n_vars - 1}], got {k}")
    parents: list[list[int]] = [[] for _ in range(k)] + [list(range(k))]
    parents += [[k] for _ in range(n_vars - k - 1)]
    return _shaped_scm("star", parents, k, key, options)


def toy_graph_scm() -> pyr.PMap:
    """The CBO toy graph ``X -> Z -> Y`` (Aglietti et al. 2020), to be minimised.

    ``X = eps``, ``Z = exp(-X) + eps``, ``Y = cos(Z) - exp(-Z / 20) + eps`` with unit noise;
    interventions on X in [-5, 5] and Z in [-5, 20]. ``E[Y | do(Z = z)]`` has its global minimum
    of about -2.17 near z = -3.2 and a local one of about -1.86 near z = pi.
    """
    mechanisms = {
        "X": named_mechanism("toy_x", []),
        "Z": named_mechanism("toy_z", ["X"]),
        "Y": named_mechanism("toy_y", ["Z"]),
    }
    return create_scm(
        ["X", "Z", "Y"], [("X", "Z"), ("Z", "Y")], mechanisms, "Y",
        metadata={"name": "toy_graph", "minimize": True},
        intervention_ranges={"X": (-5.0, 5.0), "Z": (-5.0, 20.0)},
        intervenable=["X", "Z"],
    )


def psa_healthcare_scm() -> pyr.PMap:
    """The PSA healthcare graph of CBO and MCBO: minimise PSA by aspirin and statin doses.

    age ~ U(55, 75); bmi = 27 - 0.01 age + 0.7 eps; aspirin and statin are logistic in age and
    bmi; cancer is logistic in age, bmi, statin and aspirin; PSA = 6.8 + 0.04 age - 0.15 bmi -
    0.60 statin + 0.55 aspirin + cancer + 0.4 eps. Only aspirin and statin may be intervened on,
    each in [0, 1].
    """
    variables = ["age", "bmi", "aspirin", "statin", "cancer", "PSA"]
    mechanisms = {
        "age": named_mechanism("psa_age", []),
        "bmi": named_mechanism("psa_bmi", ["age"], noise_scale=0.7),
        "aspirin": named_mechanism("psa_aspirin", ["age", "bmi"], noise_scale=0.0),
        "statin": named_mechanism("psa_statin", ["age", "bmi"], noise_scale=0.0),
        "cancer": named_mechanism("psa_cancer", ["age", "bmi", "statin", "aspirin"],
                                  noise_scale=0.0),
        "PSA": named_mechanism("psa_psa", ["age", "bmi", "statin", "aspirin", "cancer"],
                               noise_scale=0.4),
    }
    edges = [(p, v) for v, m in mechanisms.items() for p in m["parents"]]
    return create_scm(
        variables, edges, mechanisms, "PSA",
        metadata={"name": "psa_healthcare", "minimize": True},
        intervention_ranges={"aspirin": (0.0, 1.0), "statin": (0.0, 1.0)},
        intervenable=["aspirin", "statin"],
    )
