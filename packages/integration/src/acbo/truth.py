"""Honest regret: the true interventional means of a problem's target, and its true optimum.

A method is judged by the true mean ``E[target | do(X_v = x)]`` of each intervention it chose,
never by the noisy value it observed, and against ``y*``, the best such mean over the declared
ranges.

- Linear SCMs: everything is exact (:func:`acbo_core.exact_interventional_mean`); the mean is
  linear in ``x``, so each variable's optimum lies at an end of its range.
- Other SCMs: Monte Carlo with a requested standard error ``tol``. The noise is randomised
  quasi-Monte Carlo (16 independently scrambled Sobol sequences mapped to normals; the spread
  of the 16 replicate means gives the standard error), which converges about as 1/n rather
  than 1/sqrt(n) on these smooth integrands. From a small pilot the count doubles until the
  estimated standard error is below ``tol / 1.5`` (the margin covers the noise of that
  estimate: measured over 30 keys the actual spread stayed within ``tol``). Samples are drawn
  in chunks of at most ``2**18`` rows over the whole batch, so memory stays bounded. Three
  more things keep it cheap:

  * only the target's ancestors are simulated (an intervention on anything else leaves the
    target's distribution unchanged, and is answered by the observational mean);
  * the target's own noise is integrated out (Rao-Blackwell): linear and Fourier mechanisms
    add zero-mean noise, so the target is evaluated with noise 0; a named mechanism is
    averaged over its noise and the noise's mirror image, which is exact for additive noise
    and unbiased for any mechanism (the noise is a symmetric standard normal);
  * common random numbers: every intervention of a batch sees the same noise, so the
    differences between them (where the argmin is) are far more precise than each mean.

  Linear and Fourier SCMs are lowered to padded arrays and share one compiled sampler per
  shape (variables padded to a multiple of 8); SCMs with named mechanisms (the CBO benchmarks)
  get a sampler traced from their mechanisms, compiled once per SCM.

The true optimum of a nonlinear problem (:func:`problem_truth`) is found on a grid of 257
values per variable, refined on a finer grid around the best few grid minima, and estimated
precisely (to ``tol``) at the refined points.

Glossary of shape letters: B interventions, b interventions per compiled call, n samples,
D (padded) variables, k padded parents, M Fourier features.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import ndtri
from scipy.stats import qmc

import acbo_core as ac
from acbo_core.errors import (
    ACBOError,
    ConfigError,
    InvalidTargetError,
    NonFiniteDataError,
    SchemaError,
)
from acbo_core.mechanisms import evaluate_mechanism

__all__ = ["Truth", "ToleranceError", "true_means", "problem_truth"]

ROWS_PER_CALL = 2**18
"""Most sampled rows (interventions x samples) in memory at once."""
DEFAULT_MAX_SAMPLES = 2**24
"""Most samples per intervention before :class:`ToleranceError`."""
GRID = 257
"""Grid values per variable of :func:`problem_truth`'s first pass."""
_REFINE = 64  # values of the finer grid between a grid minimum's two neighbours
_CANDIDATES = 4  # grid minima refined
_GRID_TOL = 10.0  # the grid pass's standard error, in units of tol (locating, not measuring)
_REFINE_TOL = 3.0
_BATCH_SIZES = (64, 8, 1)  # interventions per compiled call (one compile per size and shape)
_REPLICATES = 16  # independent randomisations of the quasi-Monte Carlo points
# The estimated standard error (from 16 replicates) is itself noisy, and stopping at the first
# low estimate favours underestimates: stopping at tol / 1.5 keeps the actual error within tol.
_MARGIN = 1.5
_PILOT_FRACTION = 16  # the first call draws 1/16 of the most points a call may draw


class ToleranceError(ACBOError, RuntimeError):
    """The requested standard error needs more samples than allowed."""


@dataclasses.dataclass(frozen=True)
class Truth:
    """The true observational mean and optimum of a problem.

    Attributes:
      y_obs: the target's observational mean.
      y_star: the best single-variable perfect intervention's mean over the declared ranges.
      best_variable: the variable of that intervention.
      best_value: its value.
      best_is_parent: whether ``best_variable`` is a true parent of the target.
      exact: whether the numbers are closed-form (linear SCMs) rather than Monte Carlo.
      se: standard error of ``y_star`` (0 when exact).
      se_obs: standard error of ``y_obs`` (0 when exact).
      minimize: the direction ``y_star`` is best in.
    """

    y_obs: float
    y_star: float
    best_variable: str
    best_value: float
    best_is_parent: bool
    exact: bool
    se: float
    se_obs: float = 0.0
    minimize: bool = True

    def to_json(self) -> dict[str, Any]:
        """Plain data for :func:`acbo_core.dumps_json`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Truth:
        """Reads :meth:`to_json`'s data.

        Raises:
          SchemaError: not a mapping, a missing field, or a value of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise SchemaError(f"a problem truth must be a JSON object, got {type(data).__name__}")
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        missing = sorted(set(fields) - set(data))
        if unknown or missing:
            raise SchemaError(f"problem truth: unknown fields {unknown}, missing fields {missing}")
        out: dict[str, Any] = {}
        for name, kind in fields.items():
            value = data[name]
            if kind == "float":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise SchemaError(f"problem truth field {name!r} must be a number, got "
                                      f"{value!r}")
                value = float(value)
                if not math.isfinite(value):
                    raise SchemaError(f"problem truth field {name!r} must be finite, got {value}")
            elif kind == "bool" and not isinstance(value, bool):
                raise SchemaError(f"problem truth field {name!r} must be true or false, got "
                                  f"{value!r}")
            elif kind == "str" and not isinstance(value, str):
                raise SchemaError(f"problem truth field {name!r} must be a string, got {value!r}")
            out[name] = value
        if out["se"] < 0 or out["se_obs"] < 0:
            raise SchemaError(f"problem truth standard errors must be >= 0, got se={out['se']}, "
                              f"se_obs={out['se_obs']}")
        return cls(**out)


# ----------------------------------------------------------------------------- samplers

class _Dense(NamedTuple):
    """The target's ancestors as padded arrays (linear and Fourier mechanisms only)."""

    order: np.ndarray  # [D] int32, topological (padding variables last)
    parents: np.ndarray  # [D, k] int32, padded with 0 (weight 0)
    coefs: np.ndarray  # [D, k]
    intercepts: np.ndarray  # [D]
    noise: np.ndarray  # [D], 0 for the target (its noise is integrated out) and padding
    weights: np.ndarray  # [D, M, k]
    phases: np.ndarray  # [D, M]
    amplitudes: np.ndarray  # [D, M]


def _bucket(n: int, multiple: int) -> int:
    return max(multiple, -(-n // multiple) * multiple)


def _dense(scm: Mapping[str, Any], variables: tuple[str, ...], target: str) -> _Dense:
    index = {v: i for i, v in enumerate(variables)}
    mechs = [scm["mechanisms"][v] for v in variables]
    d = _bucket(len(variables), 8)
    k = _bucket(max((len(m["parents"]) for m in mechs), default=1), 4)
    m_feat = max((len(m["phases"]) for m in mechs if m["type"] == "fourier"), default=0)
    m_feat = 0 if m_feat == 0 else 1 << (m_feat - 1).bit_length()
    out = _Dense(
        order=np.arange(d, dtype=np.int32), parents=np.zeros((d, k), np.int32),
        coefs=np.zeros((d, k), np.float32), intercepts=np.zeros(d, np.float32),
        noise=np.zeros(d, np.float32), weights=np.zeros((d, m_feat, k), np.float32),
        phases=np.zeros((d, m_feat), np.float32), amplitudes=np.zeros((d, m_feat), np.float32))
    keep = set(variables)
    out.order[: len(variables)] = [index[v] for v in ac.topological_order(scm) if v in keep]
    for j, mech in enumerate(mechs):
        pa = [index[p] for p in mech["parents"]]
        out.parents[j, : len(pa)] = pa
        out.intercepts[j] = mech.get("intercept", 0.0)
        out.noise[j] = 0.0 if variables[j] == target else mech["noise_scale"]
        if mech["type"] == "linear":
            out.coefs[j, : len(pa)] = mech["coefficients"]
        else:
            m = len(mech["phases"])
            if pa:
                out.weights[j, :m, : len(pa)] = np.asarray(mech["weights"])
            out.phases[j, :m] = mech["phases"]
            out.amplitudes[j, :m] = mech["amplitudes"]
    return out


def _replicate_sums(y: jax.Array, replicates: int) -> jax.Array:
    return jnp.sum(y.reshape(replicates, -1), axis=1)  # [R]


@functools.partial(jax.jit, static_argnames="replicates")
def _dense_chunk(form: _Dense, masks: jax.Array, values: jax.Array, target: jax.Array,
                 eps: jax.Array, replicates: int) -> jax.Array:
    """Per intervention and replicate ``[b, R]``: the sum of the target over the replicate's
    columns of ``eps [D, n]`` (replicate-major), every intervention on the same noise."""
    d, n = eps.shape

    def one(mask: jax.Array, vals: jax.Array) -> jax.Array:
        def step(p: jax.Array, xt: jax.Array) -> jax.Array:
            j = form.order[p]
            xp = xt[form.parents[j]]  # [k, n]
            value = form.intercepts[j] + form.coefs[j] @ xp + form.noise[j] * eps[j]
            if form.phases.shape[1]:
                proj = form.weights[j] @ xp + form.phases[j][:, None]  # [M, n]
                value = value + form.amplitudes[j] @ jnp.cos(proj)
            return xt.at[j].set(jnp.where(mask[j], vals[j], value))

        xt = jax.lax.fori_loop(0, d, step, jnp.zeros((d, n), jnp.float32))
        return _replicate_sums(xt[target], replicates)

    return jax.vmap(one)(masks, values)


def _named_chunk(scm: Mapping[str, Any], variables: tuple[str, ...], target: str) -> Callable:
    """The sampler of an SCM with named mechanisms, traced from them (one compile per SCM)."""
    keep = set(variables)
    order = [v for v in ac.topological_order(scm) if v in keep]

    @functools.partial(jax.jit, static_argnames="replicates")
    def chunk(masks: jax.Array, values: jax.Array, eps: jax.Array, replicates: int
              ) -> jax.Array:
        def one(mask: jax.Array, vals: jax.Array) -> jax.Array:
            cols: dict[str, jax.Array] = {}
            for var in order:
                j = variables.index(var)
                mech = scm["mechanisms"][var]
                pa = [cols[p] for p in mech["parents"]]
                value = evaluate_mechanism(mech, pa, eps[j])
                if var == target:  # antithetic: exact for additive noise, unbiased for any
                    value = 0.5 * (value + evaluate_mechanism(mech, pa, -eps[j]))
                cols[var] = jnp.where(mask[j], vals[j], value)
            return _replicate_sums(cols[target], replicates)

        return jax.vmap(one)(masks, values)

    return chunk


@dataclasses.dataclass(frozen=True, eq=False)
class _Relevant:
    """The part of an SCM the target's mean depends on, and how to sample it."""

    variables: tuple[str, ...]  # the target's ancestors and the target, in SCM order
    columns: np.ndarray  # [d'] their columns in the SCM
    sample: Callable[[np.ndarray, np.ndarray, np.ndarray], jax.Array]  # masks, values, eps


@functools.lru_cache(maxsize=64)
def _relevant(scm: Any) -> _Relevant:
    target = scm["target"]
    keep = ac.get_ancestors(scm, target) | {target}
    variables = tuple(v for v in scm["variables"] if v in keep)
    columns = np.asarray([tuple(scm["variables"]).index(v) for v in variables], np.int64)
    if any(scm["mechanisms"][v]["type"] == "named" for v in variables):
        fn = _named_chunk(scm, variables, target)

        def sample(masks: np.ndarray, values: np.ndarray, eps: np.ndarray) -> Any:
            return fn(masks, values, eps, replicates=_REPLICATES)
    else:
        form = _dense(scm, variables, target)
        pad = form.intercepts.shape[0] - len(variables)
        t = jnp.int32(variables.index(target))

        def sample(masks: np.ndarray, values: np.ndarray, eps: np.ndarray) -> Any:
            masks = np.pad(masks, ((0, 0), (0, pad)))
            values = np.pad(values, ((0, 0), (0, pad)))
            eps = np.pad(eps, ((0, pad), (0, 0)))
            return _dense_chunk(form, masks, values, t, eps, replicates=_REPLICATES)

    return _Relevant(variables, columns, sample)


# ----------------------------------------------------------------------------- means

def _check_tol(tol: Any, what: str = "tol") -> float:
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not (
            math.isfinite(tol) and tol > 0):
        raise ConfigError(f"{what} must be a positive finite number, got {tol!r}")
    return float(tol)


def _batch_size(n_interventions: int) -> int:
    """The largest compiled batch that pads the interventions by at most half."""
    for b in _BATCH_SIZES:
        if -(-n_interventions // b) * b <= 1.5 * n_interventions:
            return b
    return 1


class _Noise:
    """Randomised quasi-Monte Carlo noise: R independently scrambled Sobol sequences.

    Each call returns the next ``n`` points of every replicate as standard normals
    ``[d, R * n]`` (replicate-major). The same key gives the same points, so separate batches
    drawn with one key share their noise too.
    """

    def __init__(self, dims: int, key: jax.Array) -> None:
        seeds = np.asarray(jax.random.bits(key, (4,), jnp.uint32)).tolist()
        self._sobol = [
            qmc.Sobol(dims, scramble=True, seed=np.random.default_rng([*seeds, r]))
            for r in range(_REPLICATES)]

    def next(self, n: int) -> np.ndarray:
        u = np.concatenate([s.random(n) for s in self._sobol])  # [R * n, d], each in [0, 1)
        return ndtri(np.clip(u, 2.0**-40, 1.0 - 2.0**-40)).T.astype(np.float32)


def _monte_carlo(rel: _Relevant, masks: np.ndarray, values: np.ndarray, key: jax.Array,
                 tol: float, max_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Means and standard errors ``[B]`` to ``tol``, all interventions on the same noise.

    Randomised QMC: the mean is the average of R replicate means, its standard error their
    standard deviation over sqrt(R). Each replicate's sample count doubles from a small pilot
    until the largest estimated standard error is at most ``tol / 1.5`` (powers of two keep the
    Sobol points balanced). Calls take ``pilot`` or ``per_call`` points per replicate (two
    compiles per batch size and shape).
    """
    n_iv = masks.shape[0]
    b = _batch_size(n_iv)
    per_call = ROWS_PER_CALL // (b * _REPLICATES)  # points per replicate per call, at most
    pilot = max(per_call // _PILOT_FRACTION, 1)
    padded = -(-n_iv // b) * b
    masks = np.pad(masks, ((0, padded - n_iv), (0, 0)))  # padding: observational
    values = np.pad(values, ((0, padded - n_iv), (0, 0)))
    noise = _Noise(masks.shape[1], key)
    sums = np.zeros((padded, _REPLICATES))
    cap = max(max_samples // _REPLICATES // pilot * pilot, pilot)  # points per replicate
    count, goal = 0, pilot  # points per replicate: so far, wanted
    while True:
        while count < goal:
            size = per_call if goal - count >= per_call else pilot
            eps = noise.next(size)  # the same noise for every block
            outs = [rel.sample(masks[i: i + b], values[i: i + b], eps)
                    for i in range(0, padded, b)]
            sums += np.concatenate([np.asarray(o, np.float64) for o in outs])
            count += size
        replicate_means = sums[:n_iv] / count  # [B, R]
        if not np.all(np.isfinite(replicate_means)):
            bad = int(np.flatnonzero(~np.all(np.isfinite(replicate_means), axis=1))[0])
            raise NonFiniteDataError(
                f"the target's interventional mean of intervention {bad} is not finite "
                "(a mechanism overflows)")
        means = replicate_means.mean(axis=1)
        se = replicate_means.std(axis=1, ddof=1) / math.sqrt(_REPLICATES)
        worst = float(np.max(se))
        if worst <= tol / _MARGIN:
            return means, se
        if count >= cap:
            raise ToleranceError(
                f"a standard error of {tol} needs more than max_samples={max_samples} samples "
                f"per intervention (the standard error is {worst:.3g} after "
                f"{count * _REPLICATES}); raise tol or max_samples")
        goal = min(2 * count, cap)


def true_means(scm: Mapping[str, Any], interventions: Sequence[Mapping[str, Any] | None], *,
               key: jax.Array, tol: float = 1e-3,
               max_samples: int = DEFAULT_MAX_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """The target's interventional mean under each intervention.

    Exact for linear SCMs; otherwise Monte Carlo with common random numbers (see the module
    docstring), each mean's standard error at most ``tol``.

    Args:
      scm: a validated SCM.
      interventions: perfect interventions (:func:`acbo_core.create_perfect_intervention`, on
        one or several variables); ``None`` is observational.
      key: PRNG key of the Monte-Carlo noise (unused for linear SCMs).
      tol: largest standard error of a Monte-Carlo mean.
      max_samples: most samples per intervention.

    Returns:
      ``(means [B], standard errors [B])``, float64; the errors are 0 for linear SCMs.

    Raises:
      UnknownVariableError, InvalidInterventionError: a bad intervention (it names an unknown
        variable or one that may not be intervened on).
      ConfigError: a tol or max_samples that is not positive.
      ToleranceError: tol needs more than max_samples samples per intervention.
      NonFiniteDataError: a mean is not finite.
    """
    tol = _check_tol(tol)
    if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
        raise ConfigError(f"max_samples must be a positive int, got {max_samples!r}")
    interventions = list(interventions)
    arrays = [ac.intervention_arrays(scm, iv) for iv in interventions]  # validates each
    n_iv = len(interventions)
    if n_iv == 0:
        return np.zeros(0), np.zeros(0)
    if ac.is_linear_scm(scm):
        j = tuple(scm["variables"]).index(scm["target"])
        means = np.asarray([ac.exact_interventional_mean(scm, iv)[j] for iv in interventions])
        return means, np.zeros(n_iv)
    rel = _relevant(scm)
    masks = np.stack([m[rel.columns] for m, _ in arrays])  # [B, d']
    values = np.stack([np.where(m, v, 0.0)[rel.columns] for m, v in arrays]).astype(np.float32)
    # Interventions that agree on the ancestors (e.g. all those on non-ancestors) are one.
    rows = np.concatenate([masks.astype(np.float32), values], axis=1)
    unique, inverse = np.unique(rows, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    d = masks.shape[1]
    means, se = _monte_carlo(rel, unique[:, :d] > 0.5, unique[:, d:], key, tol, max_samples)
    return means[inverse], se[inverse]


# ----------------------------------------------------------------------------- optimum

def _do(var: str, values: Sequence[float] | np.ndarray) -> list[Any]:
    return [ac.create_perfect_intervention(var, float(x)) for x in values]


def _grid_minima(f: np.ndarray) -> np.ndarray:
    """Indices of the local minima of a curve (ends compared with their one neighbour)."""
    left = np.concatenate([[np.inf], f[:-1]])
    right = np.concatenate([f[1:], [np.inf]])
    return np.flatnonzero((f <= left) & (f <= right))


def problem_truth(scm: Mapping[str, Any], *, key: jax.Array, minimize: bool = True,
                  tol: float = 1e-3, grid: int = GRID) -> Truth:
    """The observational mean and the best single-variable perfect intervention.

    Linear SCMs: exact, each variable's optimum at an end of its range. Otherwise a grid of
    ``grid`` values per intervenable ancestor of the target (common random numbers, standard
    error ``10 tol``), a finer grid (64 values, ``3 tol``) between the neighbours of the best
    four grid minima, and a final estimate to ``tol`` of each refined point; the best of those
    is ``y_star``. Interventions on other variables leave the target unchanged (mean
    ``y_obs``).

    Args:
      scm: a validated SCM.
      key: PRNG key of the Monte-Carlo noise (unused for linear SCMs).
      minimize: whether lower target values are better.
      tol: standard error of ``y_obs`` and ``y_star``.
      grid: grid values per variable (>= 3).

    Returns:
      The :class:`Truth`.

    Raises:
      InvalidTargetError: no variable but the target may be intervened on.
      ConfigError: a bad tol or grid.
      ToleranceError, NonFiniteDataError: see :func:`true_means`.
    """
    tol = _check_tol(tol)
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 3:
        raise ConfigError(f"grid must be an int >= 3, got {grid!r}")
    target = scm["target"]
    sign = 1.0 if minimize else -1.0
    parents = ac.true_parents(scm)
    candidates = [v for v in ac.intervenable_variables(scm) if v != target]
    if not candidates:
        raise InvalidTargetError(
            f"no variable but the target {target!r} can be intervened on, so there is no "
            "optimum")
    ranges = {v: (float(scm["intervention_ranges"][v][0]), float(scm["intervention_ranges"][v][1]))
              for v in candidates}

    def truth(y_obs: float, se_obs: float, y: float, var: str, x: float, se: float,
              exact: bool) -> Truth:
        return Truth(y_obs=float(y_obs), y_star=float(y), best_variable=var,
                     best_value=float(x), best_is_parent=var in parents, exact=exact,
                     se=float(se), se_obs=float(se_obs), minimize=bool(minimize))

    if ac.is_linear_scm(scm):
        j = tuple(scm["variables"]).index(target)
        y_obs = float(ac.exact_interventional_mean(scm, None)[j])
        best: tuple[float, str, float] | None = None
        for v in candidates:
            for x in ranges[v]:
                y = float(ac.exact_interventional_mean(
                    scm, ac.create_perfect_intervention(v, x))[j])
                if best is None or sign * y < sign * best[0]:
                    best = (y, v, x)
        assert best is not None
        return truth(y_obs, 0.0, best[0], best[1], best[2], 0.0, True)

    k_obs, k_grid, k_refine, k_final = jax.random.split(key, 4)
    (y_obs,), (se_obs,) = true_means(scm, [None], key=k_obs, tol=tol)
    ancestors = ac.get_ancestors(scm, target)
    effective = [v for v in candidates if v in ancestors]
    inert = [v for v in candidates if v not in ancestors]  # no effect: the mean is y_obs
    if not effective:
        v = inert[0]
        return truth(y_obs, se_obs, y_obs, v, ranges[v][0], se_obs, False)
    # 1. A grid per variable; its local minima.
    minima: list[tuple[float, str, np.ndarray, int]] = []
    for v in effective:
        xs = np.linspace(*ranges[v], grid)
        f = sign * true_means(scm, _do(v, xs), key=k_grid, tol=_GRID_TOL * tol)[0]
        minima += [(float(f[i]), v, xs, int(i)) for i in _grid_minima(f)]
    minima.sort(key=lambda m: m[0])
    # 2. A finer grid between the neighbours of the best few.
    points: list[tuple[str, float]] = []
    for _, v, xs, i in minima[:_CANDIDATES]:
        fine = np.linspace(xs[max(i - 1, 0)], xs[min(i + 1, len(xs) - 1)], _REFINE)
        f = sign * true_means(scm, _do(v, fine), key=k_refine, tol=_REFINE_TOL * tol)[0]
        points.append((v, float(fine[int(np.argmin(f))])))
    # 3. The refined points to tol; the best one.
    means, se = true_means(scm, [ac.create_perfect_intervention(v, x) for v, x in points],
                           key=k_final, tol=tol)
    e = int(np.argmin(sign * means))
    if inert and sign * y_obs < sign * means[e]:  # doing nothing useful beats every do()
        v = inert[0]
        return truth(y_obs, se_obs, y_obs, v, ranges[v][0], se_obs, False)
    return truth(y_obs, se_obs, means[e], points[e][0], points[e][1], se[e], False)
