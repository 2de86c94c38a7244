"""The causal Gaussian process of one exploration element, and expected improvement.

A GP over the intervention value of one variable (inputs rescaled to [0, 1] over its range):

    f(u) ~ GP(m(u), k(u, u')),  k(u, u') = s_f^2 exp(-(u - u')^2 / (2 l^2)) + sd(u) sd(u'),

with ``m`` the posterior-weighted do-effect and ``sd^2`` its variance (the causal GP of CBO,
Aglietti et al. 2020), and Gaussian observation noise ``s_n^2``. Hyperparameters ``(l, s_f^2,
s_n^2)`` maximise the marginal likelihood times weak log-normal priors (with two or three points
per element early on, the bare likelihood is often maximised at a degenerate length scale): a
grid search, then Adam on the log parameters. Data are padded to a fixed size with a mask, so
the compiled code does not change as observations arrive.

Glossary of shape letters: n observations (padded), P prediction points.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = ["GPData", "Conditioned", "condition", "hyperparameter_ensemble",
           "fit_hyperparameters", "log_marginal_likelihood", "predict", "expected_improvement"]

_JITTER = 1e-6
# Bounds and log-normal priors (centre, scale) of log l, log s_f^2, log s_n^2.
_LOW = np.log([0.01, 1e-4, 1e-6])
_HIGH = np.log([5.0, 20.0, 5.0])
_PRIOR_CENTRE = np.log([0.2, 0.5, 1e-2])
_PRIOR_SCALE = np.array([1.0, 1.5, 3.0])
_GRID = np.log(np.array(list(itertools.product(
    np.geomspace(0.015, 1.2, 8), [0.05, 0.3, 1.5, 6.0], [1e-5, 1e-3, 1e-2, 0.1, 0.5, 2.0]))))


class GPData(NamedTuple):
    """Observations of one element, padded to a fixed size."""

    u: jax.Array  # [n] inputs in [0, 1]
    y: jax.Array  # [n] observed target (standardised, sign set so lower is better)
    mask: jax.Array  # [n] bool, real observations
    mean: jax.Array  # [n] prior mean m(u) at the inputs
    sd: jax.Array  # [n] do-effect standard deviation at the inputs


def _kernel(u1: jax.Array, u2: jax.Array, sd1: jax.Array, sd2: jax.Array,
            log_params: jax.Array) -> jax.Array:
    ell2, sf2 = jnp.exp(2 * log_params[0]), jnp.exp(log_params[1])
    return sf2 * jnp.exp(-0.5 * (u1[:, None] - u2[None, :]) ** 2 / ell2) + sd1[:, None] * sd2[None]


class Conditioned(NamedTuple):
    """A GP conditioned on its data under one hyperparameter setting."""

    chol: jax.Array  # [n, n] Cholesky factor of the (padded) Gram matrix plus noise
    alpha: jax.Array  # [n] chol^-1 (y - m)


def condition(data: GPData, log_params: jax.Array) -> Conditioned:
    """Cholesky factor and whitened residuals; padding rows become identity rows, which change
    neither the fit nor the determinant."""
    n = data.u.shape[0]
    both = data.mask[:, None] & data.mask[None, :]
    k = _kernel(data.u, data.u, data.sd, data.sd, log_params)
    k = k + (jnp.exp(log_params[2]) + _JITTER) * jnp.eye(n)
    chol = jnp.linalg.cholesky(jnp.where(both, k, jnp.eye(n)))
    r = jnp.where(data.mask, data.y - data.mean, 0.0)
    return Conditioned(chol, jax.scipy.linalg.solve_triangular(chol, r, lower=True))


def log_marginal_likelihood(data: GPData, log_params: jax.Array,
                            cond: Conditioned | None = None) -> jax.Array:
    """``log p(y | u, hyperparameters)`` over the unmasked observations."""
    cond = condition(data, log_params) if cond is None else cond
    n = data.mask.sum()
    return (-0.5 * cond.alpha @ cond.alpha - jnp.sum(jnp.log(jnp.diagonal(cond.chol)))
            - 0.5 * n * math.log(2 * math.pi))


def _log_prior(log_params: jax.Array) -> jax.Array:
    z = (log_params - _PRIOR_CENTRE) / _PRIOR_SCALE
    return -0.5 * jnp.sum(z**2)


def _objective(data: GPData, log_params: jax.Array) -> jax.Array:
    return log_marginal_likelihood(data, log_params) + _log_prior(log_params)


def hyperparameter_ensemble(data: GPData, steps: int, size: int
                            ) -> tuple[jax.Array, jax.Array, Conditioned]:
    """The MAP hyperparameters and the next best grid settings, with posterior weights.

    The MAP point maximises the penalised marginal likelihood over a grid of 192 settings
    (then ``steps`` Adam steps within the bounds, if any). It comes first, followed by the
    ``size - 1`` best other grid settings; weights are proportional to the penalised marginal
    likelihood of each. Averaging expected improvement over them keeps the short length scales
    that a handful of points cannot rule out in play (a single point estimate from three
    observations is often confidently smooth and stops exploration).

    Returns:
      ``(log_params [size, 3], weights [size], the GP conditioned under each [size, ...])``.
    """
    grid = jnp.asarray(_GRID, data.y.dtype)
    conds = jax.vmap(lambda p: condition(data, p))(grid)
    scores = jax.vmap(lambda p, c: log_marginal_likelihood(data, p, c) + _log_prior(p))(grid,
                                                                                      conds)
    scores = jnp.where(jnp.isfinite(scores), scores, -jnp.inf)
    top_scores, top = jax.lax.top_k(scores, size)
    params = grid[top]
    picked = jax.tree.map(lambda a: a[top], conds)
    if steps > 0:
        best = fit_hyperparameters(data, steps, params[0])
        best_cond = condition(data, best)
        params = params.at[0].set(best)
        top_scores = top_scores.at[0].set(
            log_marginal_likelihood(data, best, best_cond) + _log_prior(best))
        picked = jax.tree.map(lambda a, b: a.at[0].set(b), picked, best_cond)
    return params, jax.nn.softmax(top_scores), picked


def fit_hyperparameters(data: GPData, steps: int, start: jax.Array) -> jax.Array:
    """``log (l, s_f^2, s_n^2)`` maximising the penalised marginal likelihood from ``start``
    (``steps`` Adam steps within the bounds; ``start`` is kept if it scores higher)."""
    if steps == 0:
        return start
    opt = optax.adam(0.05)
    low, high = jnp.asarray(_LOW, data.y.dtype), jnp.asarray(_HIGH, data.y.dtype)
    grad = jax.grad(lambda p: -_objective(data, p))

    def step(carry: tuple, _: None) -> tuple:
        p, state = carry
        g = grad(p)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        updates, state = opt.update(g, state)
        return (jnp.clip(optax.apply_updates(p, updates), low, high), state), None

    (best, _), _ = jax.lax.scan(step, (start, opt.init(start)), None, length=steps)
    better = _objective(data, best) >= _objective(data, start)
    return jnp.where(better, best, start)


def predict(data: GPData, log_params: jax.Array, u: jax.Array, mean: jax.Array,
            sd: jax.Array, cond: Conditioned | None = None) -> tuple[jax.Array, jax.Array]:
    """Posterior mean and variance ``[P]`` of the latent f at ``u`` (prior mean/sd given there;
    ``cond`` reuses a conditioning already computed for these hyperparameters)."""
    cond = condition(data, log_params) if cond is None else cond
    k_star = _kernel(u, data.u, sd, data.sd, log_params) * data.mask[None]  # [P, n]
    v = jax.scipy.linalg.solve_triangular(cond.chol, k_star.T, lower=True)  # [n, P]
    mu = mean + v.T @ cond.alpha
    prior_var = jnp.exp(log_params[1]) + sd**2
    return mu, jnp.maximum(prior_var - jnp.sum(v * v, axis=0), 1e-12)


def expected_improvement(mu: jax.Array, var: jax.Array, best: jax.Array, xi: float | jax.Array
                         ) -> jax.Array:
    """EI of minimisation below ``best - xi``: ``E[max(best - xi - f, 0)]``."""
    sigma = jnp.sqrt(var)
    imp = best - xi - mu
    z = imp / sigma
    return imp * jax.scipy.stats.norm.cdf(z) + sigma * jax.scipy.stats.norm.pdf(z)
