"""The training simulator: an SCM's interventional law on a state's action grid, as arrays.

GRPO simulates ``B x G`` interventions per update inside one jit-compiled step, so the SCM is
lowered once per state to tables in the state's variable order. Every action ``(v, k)`` of the
policy sets variable ``v`` to bin ``k`` of its range (:func:`value_grid`); the tables hold the
target's mean and standard deviation under each one (``acbo_core.target_moments``: exact for
linear SCMs, Monte Carlo otherwise), and a rollout draws the target as
``grid_mean[v, k] + grid_sd[v, k] * eps``. For a nonlinear SCM that is a moment-matched
Gaussian: expected rewards (linear in the target) are right up to Monte-Carlo error, only the
spread's shape is approximate.

A linear SCM also gets row tables, for rewards that need the whole new row (the posterior's
entropy drop). Under ``do(v = x)`` a linear SCM with weights ``W``, intercepts ``b`` and noise
scales ``s`` gives the row

    row = (x e_v + (1 - e_v) * (b + s * eps)) (I - W diag(1 - e_v))^-1,   eps ~ N(0, I_d)
        = offset[v] + x * slope[v] + eps @ noise[v],

the law ``acbo_core.sample_interventional`` samples from (checked in the tests), whose target
column has exactly the grid's law.

Glossary of shape letters: d variables (D after padding), K value bins, P states, G samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from acbo_acquisition.errors import ConfigError
from acbo_core import (
    STD_FLOOR,
    AcquisitionState,
    is_linear_scm,
    linear_coefficients,
    target_moments,
)
from acbo_core.errors import (
    InvalidInterventionError,
    InvalidStateError,
    ShapeMismatchError,
    UnknownVariableError,
)

__all__ = ["SimulatorTables", "simulator_tables", "stack_tables", "simulate_rows", "value_grid",
           "DEFAULT_MC_SAMPLES"]

DEFAULT_MC_SAMPLES = 512
"""Monte-Carlo samples per action for a nonlinear SCM's tables (means to ~4% of a sd)."""


class SimulatorTables(NamedTuple):
    """One state's SCM as arrays (or a batch, with a leading axis), variables in state order.

    Attributes:
      grid_mean: ``[d, K]`` ``E[target | do(v = value_grid[v, k])]`` (original units; 0 for
        variables the state may not intervene on).
      grid_sd: ``[d, K]`` the target's standard deviation under the same interventions.
      offset: ``[d, d]`` row ``v``: mean row under ``do(v = 0)`` (linear SCMs; else 0).
      slope: ``[d, d]`` row ``v``: change of the mean row per unit of ``x`` under ``do(v = x)``.
      noise: ``[d, d, d]`` ``noise[v]`` maps standard normal noise ``[d]`` to the row's noise.
      has_rows: ``[]`` bool, the row tables hold the SCM's law (a linear SCM).
      target: ``[]`` int32 index of the target.
      best: ``[]`` best target value of the state (original units).
      scale: ``[]`` the target's observational standard deviation in the SCM.
      sign: ``[]`` +1 when the target is minimised, -1 when maximised.
    """

    grid_mean: np.ndarray | jax.Array
    grid_sd: np.ndarray | jax.Array
    offset: np.ndarray | jax.Array
    slope: np.ndarray | jax.Array
    noise: np.ndarray | jax.Array
    has_rows: np.ndarray | jax.Array
    target: np.ndarray | jax.Array
    best: np.ndarray | jax.Array
    scale: np.ndarray | jax.Array
    sign: np.ndarray | jax.Array


def value_grid(state: AcquisitionState, n_bins: int) -> np.ndarray:
    """``[d, K]`` float64 the value of each action ``(v, k)`` of ``state`` (buffer order): bin
    ``k`` of ``K`` equally spaced values over ``v``'s range, both ends included, as
    :func:`~acbo_acquisition.intervention_for_action` sets it; 0 where ``v`` is not intervenable.

    Raises:
      ConfigError: ``n_bins`` is not an int >= 2.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 2:
        raise ConfigError(f"n_bins must be an int >= 2, got {n_bins!r}")
    names = state.buffer.variables
    grid = np.zeros((len(names), int(n_bins)))
    frac = np.arange(n_bins) / (n_bins - 1)
    for var, (lo, hi) in state.intervention_ranges.items():
        grid[names.index(var)] = lo + (hi - lo) * frac
    return grid


def _check_fits(scm: Mapping[str, Any], state: AcquisitionState) -> None:
    order = state.buffer.variables
    if set(order) != set(scm["variables"]) or len(order) != len(scm["variables"]):
        raise UnknownVariableError(f"the SCM's variables {list(scm['variables'])} differ from "
                                   f"the state's {list(order)}")
    if scm["target"] != state.target:
        raise InvalidStateError(f"the SCM's target is {scm['target']!r} but the state's is "
                                f"{state.target!r}")
    for var in state.intervenable:
        if var not in scm["intervenable"]:
            raise InvalidInterventionError(f"the state may intervene on {var!r} but the SCM "
                                           f"forbids it")


def _row_tables(scm: Mapping[str, Any], state: AcquisitionState
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = state.buffer.variables
    w, b, s = linear_coefficients(scm, order)
    d = len(order)
    eye = np.eye(d)
    offset, slope, noise = np.zeros((d, d)), np.zeros((d, d)), np.zeros((d, d, d))
    for var in state.intervenable:
        v = order.index(var)
        keep = 1.0 - eye[v]  # 0 for the intervened variable
        inv = np.linalg.inv(eye - w * keep[None, :])
        offset[v] = (keep * b) @ inv
        slope[v] = inv[v]
        noise[v] = (keep * s)[:, None] * inv
    return offset, slope, noise


def simulator_tables(scm: Mapping[str, Any], state: AcquisitionState, *, n_bins: int,
                     key: jax.Array | None = None,
                     n_samples: int = DEFAULT_MC_SAMPLES) -> SimulatorTables:
    """Lowers ``scm`` to :class:`SimulatorTables` for ``state``'s ``n_bins``-value grid (only
    the variables the state may intervene on; the others stay zero).

    A linear SCM's tables are exact. A nonlinear one's grid (and the target's observational
    scale) are Monte-Carlo estimates from ``n_samples`` draws per action, the same draws for
    every action: ``d * n_bins + 1`` interventions in one vectorised call (see
    ``acbo_core.target_moments`` for the cost); its row tables are zero.

    Args:
      scm: the SCM behind ``state`` (same variables and target).
      state: the decision context.
      n_bins: K, the policy's number of value bins.
      key: PRNG key of the Monte Carlo; needed for a nonlinear SCM (same key, same tables).
      n_samples: Monte-Carlo samples per action (nonlinear SCMs).

    Raises:
      ConfigError: ``n_bins`` is not an int >= 2.
      UnsupportedMechanismError: a nonlinear SCM and no ``key``.
      UnknownVariableError: the SCM's variables differ from the state's buffer.
      InvalidStateError: the SCM optimises another target than the state.
      InvalidInterventionError: the state allows an intervention the SCM forbids.
    """
    grid = value_grid(state, n_bins)  # [d, K]
    _check_fits(scm, state)
    order = state.buffer.variables
    d, t = len(order), order.index(state.target)
    rows = [order.index(v) for v in state.intervenable]
    variables = [None] + [order[v] for v in rows for _ in range(n_bins)]
    values = np.concatenate([[0.0], grid[rows].ravel()])
    mean, sd = target_moments(scm, variables, values, key=key, n_samples=n_samples)
    grid_mean, grid_sd = np.zeros((d, n_bins)), np.zeros((d, n_bins))
    grid_mean[rows] = mean[1:].reshape(len(rows), n_bins)
    grid_sd[rows] = sd[1:].reshape(len(rows), n_bins)
    linear = is_linear_scm(scm)
    if linear:
        offset, slope, noise = _row_tables(scm, state)
    else:
        offset, slope, noise = np.zeros((d, d)), np.zeros((d, d)), np.zeros((d, d, d))
    f32 = np.float32
    return SimulatorTables(
        grid_mean=grid_mean.astype(f32), grid_sd=grid_sd.astype(f32), offset=offset.astype(f32),
        slope=slope.astype(f32), noise=noise.astype(f32), has_rows=np.asarray(linear),
        target=np.asarray(t, np.int32), best=np.asarray(state.best_value, f32),
        scale=np.asarray(max(float(sd[0]), STD_FLOOR), f32),
        sign=np.asarray(1.0 if state.minimize else -1.0, f32))


def stack_tables(tables: Sequence[SimulatorTables], n_vars: int | None = None) -> SimulatorTables:
    """Stacks per-state tables into a batch, zero-padding the variable axes to ``n_vars``.

    Raises:
      ShapeMismatchError: no tables, tables with different numbers of value bins, or a state
        with more than ``n_vars`` variables.
    """
    if not tables:
        raise ShapeMismatchError("stack_tables needs at least one table")
    sizes = [np.shape(t.offset)[0] for t in tables]
    bins = {np.shape(t.grid_mean)[-1] for t in tables}
    if len(bins) > 1:
        raise ShapeMismatchError(f"tables with different numbers of value bins {sorted(bins)}")
    width = max(sizes) if n_vars is None else int(n_vars)
    if max(sizes) > width:
        raise ShapeMismatchError(f"a state has {max(sizes)} variables, more than n_vars={width}")
    p, k = len(tables), bins.pop()
    grid_mean = np.zeros((p, width, k), np.float32)
    grid_sd = np.zeros((p, width, k), np.float32)
    offset = np.zeros((p, width, width), np.float32)
    slope = np.zeros((p, width, width), np.float32)
    noise = np.zeros((p, width, width, width), np.float32)
    for i, (t, d) in enumerate(zip(tables, sizes, strict=True)):
        grid_mean[i, :d], grid_sd[i, :d] = t.grid_mean, t.grid_sd
        offset[i, :d, :d], slope[i, :d, :d], noise[i, :d, :d, :d] = t.offset, t.slope, t.noise
    col = lambda name: np.stack([np.asarray(getattr(t, name)) for t in tables])  # noqa: E731
    return SimulatorTables(grid_mean, grid_sd, offset, slope, noise, col("has_rows"),
                           col("target"), col("best"), col("scale"), col("sign"))


def simulate_rows(tables: SimulatorTables, variable: ArrayLike, value: ArrayLike,
                  key: jax.Array, *, target_noise: ArrayLike | None = None) -> jax.Array:
    """``[G, d]`` one sample row per intervention ``do(variable[g] = value[g])`` of one state,
    from its row tables (zero rows for a nonlinear SCM).

    Args:
      tables: one state's tables.
      variable: ``[G]`` int the intervened variables.
      value: ``[G]`` their values.
      key: PRNG key.
      target_noise: ``[G]`` optional standard normal draws that fix the target's noise: the
        target of row ``g`` is then ``mean + sd * target_noise[g]`` (the grid's law), and the
        rest of the row is drawn given it (the joint law is unchanged).
    """
    variable = jnp.asarray(variable)
    value = jnp.asarray(value, jnp.float32)
    noise = tables.noise[variable]  # [G, d, d]
    eps = jax.random.normal(key, (variable.shape[0], tables.offset.shape[-1]))  # [G, d]
    if target_noise is not None:
        # The target's noise is eps @ n with n = noise[:, :, t]; replace eps's component along
        # n / |n| by target_noise (still N(0, I), and eps @ n = |n| * target_noise).
        n = noise[:, :, tables.target]  # [G, d]
        norm = jnp.linalg.norm(n, axis=-1, keepdims=True)
        u = n / jnp.where(norm > 0, norm, 1.0)
        z = jnp.asarray(target_noise, jnp.float32)[:, None]
        eps = eps + (z - (eps * u).sum(-1, keepdims=True)) * u
    mean = tables.offset[variable] + value[:, None] * tables.slope[variable]  # [G, d]
    return mean + jnp.einsum("gi,gij->gj", eps, noise)

