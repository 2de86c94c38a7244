"""One acquisition step: causal GP per exploration element, expected improvement maximised.

Everything for all elements runs in one jitted call: the per-set regressions on D_O, the
posterior-weighted do-effect (the GP's prior mean and variance term), the GP hyperparameters,
expected improvement on a dense grid over each variable's range, and a finer local grid around
the best grid point. Shapes are fixed per run (sets padded to ``max_surrogate_sets`` with zero
weight, elements to the number of intervenable variables, observations to ``n_int + T``
samples), so a run compiles this once, and runs of the same size share the compiled code.

Glossary of shape letters: E elements (intervenable variables), S surrogate sets, k slots,
n observations per element (padded), G grid points, R refinement points.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from acbo_expert.causal_gp import (
    Conditioned,
    GPData,
    expected_improvement,
    hyperparameter_ensemble,
    predict,
)
from acbo_expert.do_effect import SetRegressions, fit_set_regressions, mixture_do_effect

__all__ = ["Elements", "Acquisition", "acquire", "surrogate_minimum"]


class Elements(NamedTuple):
    """The candidate single-variable interventions (one per intervenable variable)."""

    variable: jax.Array  # [E] int32 column of the variable
    active: jax.Array  # [E] bool, in this step's exploration set
    low: jax.Array  # [E] intervention range
    high: jax.Array  # [E]
    mean: jax.Array  # [E] D_O mean of the variable
    std: jax.Array  # [E] D_O standard deviation


class Acquisition(NamedTuple):
    ei: jax.Array  # [E] best expected improvement per element (-inf if inactive)
    u: jax.Array  # [E] where, in [0, 1] over the range
    log_params: jax.Array  # [E, 3] MAP GP hyperparameters log (l, s_f^2, s_n^2)
    ei_preferred: jax.Array | None = None  # [E] expected improvement at ``preferred`` (if given)


def _prior(reg: SetRegressions, probs: jax.Array, sign: jax.Array, variable: jax.Array,
           low: jax.Array, high: jax.Array, mean: jax.Array, std: jax.Array, u: jax.Array
           ) -> tuple[jax.Array, jax.Array]:
    x_std = (low + u * (high - low) - mean) / std
    m, v = mixture_do_effect(reg, probs, variable, x_std)
    return sign * m, jnp.sqrt(v)


@functools.partial(jax.jit,
                   static_argnames=("grid_size", "refine_size", "gp_steps", "gp_ensemble"))
def acquire(x_obs: jax.Array, target: jax.Array, sets: jax.Array, probs: jax.Array,
            scale: jax.Array, rff_w: jax.Array | None, rff_b: jax.Array | None, sigma_y: jax.Array,
            sigma_theta: jax.Array, sign: jax.Array, elements: Elements, gp_u: jax.Array,
            gp_y: jax.Array, gp_mask: jax.Array, y_best: jax.Array, xi: jax.Array,
            preferred: jax.Array | None = None, *, grid_size: int, refine_size: int,
            gp_steps: int, gp_ensemble: int) -> Acquisition:
    """Best expected improvement and its location for every element.

    Args:
      x_obs: ``[n_obs, d]`` standardised D_O.
      target: the target's column.
      sets: ``[S, k]`` surrogate sets; ``probs [S]`` their weights (0 for padding); ``scale
        [S]`` their random features' inverse length scales.
      rff_w, rff_b: random Fourier features, or ``None`` for linear regressions.
      sigma_y, sigma_theta: the regressions' prior.
      sign: 1 to minimise the target, -1 to maximise (applied to the do-effects).
      elements: the candidate interventions.
      gp_u, gp_y, gp_mask: ``[E, n]`` observations per element (u in [0, 1], y standardised
        and signed so lower is better).
      y_best: the best (lowest) signed observation so far, over every element.
      xi: EI margin.
      preferred: ``[E]`` a value per element (u in [0, 1]) whose expected improvement is
        returned too (``ei_preferred``), e.g. another method's proposal to compare with.
      grid_size, refine_size: points of the dense and the local grid.
      gp_steps: Adam steps of the hyperparameter fit.
      gp_ensemble: hyperparameter settings expected improvement is averaged over.
    """
    reg = fit_set_regressions(x_obs, target, sets, scale, rff_w, rff_b, sigma_y, sigma_theta)
    grid = jnp.linspace(0.0, 1.0, grid_size, dtype=x_obs.dtype)  # [G]
    half = 1.0 / (grid_size - 1)
    offsets = jnp.linspace(-half, half, refine_size, dtype=x_obs.dtype)  # [R]

    def one(variable, active, low, high, mean, std, u, y, mask, pref):  # type: ignore[no-untyped-def]
        prior = functools.partial(_prior, reg, probs, sign, variable, low, high, mean, std)
        # The prior at the data and on the grid in one pass.
        m_all, sd_all = prior(jnp.concatenate([u, grid]))
        n = u.shape[0]
        data = GPData(u, y, mask, m_all[:n], sd_all[:n])
        params, weights, conds = hyperparameter_ensemble(data, gp_steps, gp_ensemble)

        def ei_at(points: jax.Array, m: jax.Array, sd: jax.Array) -> jax.Array:
            def ei_one(log_params: jax.Array, cond: Conditioned) -> jax.Array:
                mu, var = predict(data, log_params, points, m, sd, cond)
                return expected_improvement(mu, var, y_best, xi)

            return weights @ jax.vmap(ei_one)(params, conds)

        ei_grid = ei_at(grid, m_all[n:], sd_all[n:])
        centre = grid[jnp.argmax(ei_grid)]
        local = jnp.clip(centre + offsets, 0.0, 1.0)
        ei_local = ei_at(local, *prior(local))
        i = jnp.argmax(ei_local)
        best_ei, best_u = ei_local[i], local[i]
        ei_pref = None if pref is None else ei_at(pref[None], *prior(pref[None]))[0]
        return jnp.where(active, best_ei, -jnp.inf), best_u, params[0], ei_pref

    ei, u, log_params, ei_pref = jax.vmap(one)(*elements, gp_u, gp_y, gp_mask, preferred)
    return Acquisition(ei, u, log_params, ei_pref)


@functools.partial(jax.jit, static_argnames=("grid_size",))
def surrogate_minimum(x_obs: jax.Array, target: jax.Array, sets: jax.Array, probs: jax.Array,
                      scale: jax.Array, rff_w: jax.Array | None, rff_b: jax.Array | None,
                      sigma_y: jax.Array, sigma_theta: jax.Array, sign: jax.Array,
                      elements: Elements, *,
                      grid_size: int) -> tuple[jax.Array, jax.Array]:
    """Lowest posterior-weighted do-effect per element and where: ``([E], [E] u in [0, 1])``.

    What D_O alone recommends (the observational baseline): no GP, no interventional data.
    """
    reg = fit_set_regressions(x_obs, target, sets, scale, rff_w, rff_b, sigma_y, sigma_theta)
    grid = jnp.linspace(0.0, 1.0, grid_size, dtype=x_obs.dtype)

    def one(variable, active, low, high, mean, std):  # type: ignore[no-untyped-def]
        m, _ = _prior(reg, probs, sign, variable, low, high, mean, std, grid)
        i = jnp.argmin(m)
        return jnp.where(active, m[i], jnp.inf), grid[i]

    return jax.vmap(one)(*elements)
