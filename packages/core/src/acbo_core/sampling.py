"""Ancestral sampling from SCMs, observational and under perfect interventions.

Two compiled paths share one interface:

- SCMs whose mechanisms are linear or Fourier are lowered to padded arrays
  (:class:`DenseSCM`), so every SCM of the same size reuses one compiled sampler (training data
  is generated from thousands of random SCMs; compiling per SCM would dominate). Purely linear
  SCMs are sampled in closed form, ``X = base (I - W')^-1``; otherwise a ``fori_loop`` walks the
  topological order.
- SCMs with named closed-form mechanisms (the benchmarks) get a sampler traced from their
  mechanisms, compiled once per SCM and cached.

Glossary of shape letters: n samples, d variables, k padded parents per variable, M Fourier
features.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from acbo_core.errors import InvalidInterventionError, UnsupportedMechanismError
from acbo_core.mechanisms import evaluate_mechanism
from acbo_core.samples import validate_intervention
from acbo_core.scm import is_linear_scm, linear_coefficients, topological_order

__all__ = [
    "sample_observational",
    "sample_interventional",
    "exact_interventional_mean",
    "monte_carlo_interventional_mean",
    "target_interventional_mean",
    "default_intervention_ranges",
    "intervention_arrays",
]

_DEFAULT_RANGE_SAMPLES = 4000


class DenseSCM(NamedTuple):
    """Array form of an SCM with linear and Fourier mechanisms (variables in SCM order)."""

    order: np.ndarray  # [d] int32, topological order
    parent_index: np.ndarray  # [d, k] int32, padded with 0 (weight 0)
    coefficients: np.ndarray  # [d, k] linear weights
    intercepts: np.ndarray  # [d]
    noise_scales: np.ndarray  # [d]
    fourier_weights: np.ndarray  # [d, M, k]
    fourier_phases: np.ndarray  # [d, M]
    fourier_amplitudes: np.ndarray  # [d, M]


def _bucket(n: int, multiple: int) -> int:
    return max(multiple, -(-n // multiple) * multiple)


@functools.lru_cache(maxsize=64)
def _dense_form(scm: Any) -> DenseSCM:
    variables = tuple(scm["variables"])
    index = {v: i for i, v in enumerate(variables)}
    d = len(variables)
    mechs = [scm["mechanisms"][v] for v in variables]
    # Pad to buckets so SCMs of one size share a compiled sampler.
    k = _bucket(max((len(m["parents"]) for m in mechs), default=1), 4)
    m_feat = max((len(m["phases"]) for m in mechs if m["type"] == "fourier"), default=0)
    m_feat = 0 if m_feat == 0 else 1 << (m_feat - 1).bit_length()
    parent_index = np.zeros((d, k), np.int32)
    coefs = np.zeros((d, k), np.float32)
    weights = np.zeros((d, m_feat, k), np.float32)
    phases = np.zeros((d, m_feat), np.float32)
    amps = np.zeros((d, m_feat), np.float32)
    for j, mech in enumerate(mechs):
        pa = [index[p] for p in mech["parents"]]
        parent_index[j, : len(pa)] = pa
        if mech["type"] == "linear":
            coefs[j, : len(pa)] = mech["coefficients"]
        else:
            m = len(mech["phases"])
            if pa:
                weights[j, :m, : len(pa)] = np.asarray(mech["weights"])
            phases[j, :m] = mech["phases"]
            amps[j, :m] = mech["amplitudes"]
    return DenseSCM(
        order=np.asarray([index[v] for v in topological_order(scm)], np.int32),
        parent_index=parent_index,
        coefficients=coefs,
        intercepts=np.asarray([m.get("intercept", 0.0) for m in mechs], np.float32),
        noise_scales=np.asarray([m["noise_scale"] for m in mechs], np.float32),
        fourier_weights=weights,
        fourier_phases=phases,
        fourier_amplitudes=amps,
    )


@functools.partial(jax.jit, static_argnames="n")
def _sample_linear(
    w: jax.Array, b: jax.Array, s: jax.Array, mask: jax.Array, values: jax.Array,
    key: jax.Array, n: int,
) -> jax.Array:
    d = b.shape[0]
    eps = jax.random.normal(key, (n, d))  # [n, d]
    base = jnp.where(mask, values, b + s * eps)  # [n, d]
    # An intervened variable ignores its parents: drop its incoming weights.
    a = jnp.eye(d) - w * (~mask)[None, :]  # [d, d]
    x = jnp.linalg.solve(a.T, base.T).T  # X (I - W') = base
    # The solve is exact only up to rounding; a do() must hold its variable exactly.
    return jnp.where(mask, values, x)


@functools.partial(jax.jit, static_argnames="n")
def _sample_dense(
    form: DenseSCM, mask: jax.Array, values: jax.Array, key: jax.Array, n: int
) -> jax.Array:
    d = form.intercepts.shape[0]
    eps = jax.random.normal(key, (d, n))  # [d, n]

    def step(p: jax.Array, xt: jax.Array) -> jax.Array:
        j = form.order[p]
        xp = xt[form.parent_index[j]]  # [k, n]
        value = form.intercepts[j] + form.coefficients[j] @ xp + form.noise_scales[j] * eps[j]
        if form.fourier_phases.shape[1]:
            proj = form.fourier_weights[j] @ xp + form.fourier_phases[j][:, None]  # [M, n]
            value = value + form.fourier_amplitudes[j] @ jnp.cos(proj)
        return xt.at[j].set(jnp.where(mask[j], values[j], value))

    xt = jax.lax.fori_loop(0, d, step, jnp.zeros((d, n), jnp.float32))
    return xt.T  # [n, d]


@functools.lru_cache(maxsize=32)
def _traced_sampler(scm: Any) -> Any:
    variables = tuple(scm["variables"])
    order = topological_order(scm)

    @functools.partial(jax.jit, static_argnames="n")
    def sample(mask: jax.Array, values: jax.Array, key: jax.Array, n: int) -> jax.Array:
        eps = jax.random.normal(key, (len(variables), n))  # [d, n]
        cols: dict[str, jax.Array] = {}
        for var in order:
            j = variables.index(var)
            mech = scm["mechanisms"][var]
            value = evaluate_mechanism(mech, [cols[p] for p in mech["parents"]], eps[j])
            cols[var] = jnp.where(mask[j], values[j], value)
        return jnp.stack([cols[v] for v in variables], axis=1)  # [n, d]

    return sample


def intervention_arrays(
    scm: Mapping[str, Any], intervention: Mapping[str, Any] | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(mask [d] bool, values [d] float32)`` of an intervention, in SCM variable order.

    Raises:
      UnknownVariableError: a target is not a variable.
      InvalidInterventionError: a target may not be intervened on.
    """
    variables = tuple(scm["variables"])
    mask = np.zeros(len(variables), bool)
    values = np.zeros(len(variables), np.float32)
    if intervention is not None:
        validate_intervention(intervention, variables, scm["intervenable"])
        for var, val in intervention["values"].items():
            j = variables.index(var)
            mask[j], values[j] = True, val
    return mask, values


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidInterventionError(f"the number of samples must be a positive int, got {n!r}")
    return int(n)


def _sample(scm: Any, intervention: Any, n: int, key: jax.Array) -> jax.Array:
    n = _check_n(n)
    mask, values = intervention_arrays(scm, intervention)
    if any(m["type"] == "named" for m in scm["mechanisms"].values()):
        return _traced_sampler(scm)(mask, values, key, n)
    if is_linear_scm(scm):
        w, b, s = linear_coefficients(scm)
        return _sample_linear(
            w.astype(np.float32), b.astype(np.float32), s.astype(np.float32), mask, values,
            key, n,
        )
    return _sample_dense(_dense_form(scm), mask, values, key, n)


def sample_observational(scm: Mapping[str, Any], n: int, *, key: jax.Array) -> jax.Array:
    """``n`` observational samples.

    Args:
      scm: a validated SCM.
      n: number of samples.
      key: PRNG key.

    Returns:
      ``[n, d]`` float32, columns in ``scm["variables"]`` order.
    """
    return _sample(scm, None, n, key)


def sample_interventional(
    scm: Mapping[str, Any], intervention: Mapping[str, Any], n: int, *, key: jax.Array
) -> jax.Array:
    """``n`` samples under a perfect intervention on one or several variables.

    Args:
      scm: a validated SCM.
      intervention: from :func:`acbo_core.create_perfect_intervention`; its targets must be
        intervenable.
      n: number of samples.
      key: PRNG key.

    Returns:
      ``[n, d]`` float32, columns in ``scm["variables"]`` order; intervened columns are constant.

    Raises:
      UnknownVariableError, InvalidInterventionError: a bad intervention.
    """
    return _sample(scm, intervention, n, key)


def exact_interventional_mean(
    scm: Mapping[str, Any], intervention: Mapping[str, Any] | None
) -> np.ndarray:
    """``E[X | do(intervention)]`` of every variable of a linear SCM, in closed form.

    Returns:
      ``[d]`` float64 means in ``scm["variables"]`` order.

    Raises:
      UnsupportedMechanismError: the SCM is not linear.
    """
    if not is_linear_scm(scm):
        raise UnsupportedMechanismError(
            "exact interventional means need a linear SCM; use monte_carlo_interventional_mean"
        )
    mask, values = intervention_arrays(scm, intervention)
    w, b, _ = linear_coefficients(scm)
    a = np.eye(len(b)) - w * (~mask)[None, :]
    base = np.where(mask, values.astype(np.float64), b)
    return np.linalg.solve(a.T, base)


def monte_carlo_interventional_mean(
    scm: Mapping[str, Any],
    intervention: Mapping[str, Any] | None,
    *,
    key: jax.Array,
    n_samples: int = 100_000,
) -> np.ndarray:
    """Monte-Carlo estimate of ``E[X | do(intervention)]`` for any SCM.

    Returns:
      ``[d]`` float64 means in ``scm["variables"]`` order.
    """
    x = _sample(scm, intervention, n_samples, key)
    return np.asarray(jnp.mean(x, axis=0), np.float64)


def target_interventional_mean(
    scm: Mapping[str, Any],
    intervention: Mapping[str, Any] | None,
    *,
    key: jax.Array | None = None,
    n_samples: int = 100_000,
) -> float:
    """The target's interventional mean: exact for linear SCMs, else Monte Carlo (needs ``key``).

    Raises:
      UnsupportedMechanismError: a nonlinear SCM and no ``key``.
    """
    j = tuple(scm["variables"]).index(scm["target"])
    if is_linear_scm(scm):
        return float(exact_interventional_mean(scm, intervention)[j])
    if key is None:
        raise UnsupportedMechanismError("a nonlinear SCM needs a key for a Monte-Carlo mean")
    return float(monte_carlo_interventional_mean(scm, intervention, key=key,
                                                 n_samples=n_samples)[j])


def default_intervention_ranges(scm: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Observational mean +- 2 standard deviations per variable.

    Exact for linear SCMs; otherwise from 4,000 samples drawn with the fixed key 0, so the same
    SCM always gets the same ranges. A constant variable gets mean +- 1.
    """
    if is_linear_scm(scm):
        w, b, s = linear_coefficients(scm)
        inv = np.linalg.inv(np.eye(len(b)) - w)  # X = base @ inv
        mean = b @ inv
        std = np.sqrt(np.einsum("ij,i,ij->j", inv, s**2, inv))
    else:
        x = np.asarray(_sample(scm, None, _DEFAULT_RANGE_SAMPLES, jax.random.key(0)), np.float64)
        mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(np.isfinite(std) & (std > 1e-12), std, 0.5)
    return {v: (float(mean[j] - 2 * std[j]), float(mean[j] + 2 * std[j]))
            for j, v in enumerate(scm["variables"])}
