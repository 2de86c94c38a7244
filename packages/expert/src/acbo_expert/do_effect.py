"""Do-effects of single-variable interventions under each candidate parent set.

Under a parent set S, ``E[Y | do(X_i = x)]`` is estimated from S's Bayesian regression fitted
on D_O (the same model that scores S in the posterior) by averaging the other members of S over
the rows of D_O:

    mu_S,i(x) = mean_r phi_S(x, x_r,S\\i)^T theta_S,  var_S,i(x) = a^T Cov(theta_S) a,
    a = mean_r phi_S(x, x_r,S\\i).

For linear features, ``a`` is x in i's slot and the (zero) D_O means elsewhere. For random
Fourier features the row average of ``cos(w_i x + c_r)`` is ``Re[exp(i w_i x) mean_r
exp(i c_r)]``: the row means are computed once, and each new x costs O(M). When i is not in S,
the intervention does not act through S's regression and the effect is the regression's mean
over D_O. Everything is in standardised units (D_O mean and std), target included.

Glossary of shape letters: n D_O rows, d variables, S sets, k slots per set, F features
(k for linear, M for random Fourier features), P points.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from acbo_expert.posterior import gather_slots, rff_features

__all__ = ["SetRegressions", "fit_set_regressions", "do_effect", "mixture_do_effect"]


class SetRegressions(NamedTuple):
    """Per-set Bayesian regressions of the target fitted on D_O (standardised units)."""

    sets: jax.Array  # [S, k] variable per slot, -1 padded
    theta: jax.Array  # [S, F] posterior mean of the coefficients
    cov: jax.Array  # [S, F, F] posterior covariance of the coefficients
    mean_features: jax.Array  # [S, F] features averaged over D_O rows
    slot_re: jax.Array  # [S, k, M] Re of mean_r exp(i c_r) with slot j's term left out (rff)
    slot_im: jax.Array  # [S, k, M] Im of the same (rff); [S, k, 0] for linear features
    rff_w: jax.Array  # [M, k] ([0, k] for linear features)
    scale: jax.Array  # [S] inverse length scale of each set's features (rff)


def fit_set_regressions(x_obs: jax.Array, target: int | jax.Array, sets: jax.Array,
                        scale: jax.Array, rff_w: jax.Array | None, rff_b: jax.Array | None,
                        sigma_y: float | jax.Array, sigma_theta: float | jax.Array
                        ) -> SetRegressions:
    """Closed-form Bayesian regressions of the target on each set's features.

    Args:
      x_obs: ``[n, d]`` standardised D_O.
      target: the target's column.
      sets: ``[S, k]`` sets, -1 padded.
      scale: ``[S]`` inverse length scales of the sets' random features (unused for linear).
      rff_w, rff_b: random Fourier features ``[M, k]``, ``[M]``; ``None`` for linear features.
      sigma_y, sigma_theta: noise and coefficient prior standard deviations.

    Returns:
      The regressions.
    """
    xs = gather_slots(x_obs, sets)  # [S, n, k]
    y = x_obs[:, target]  # [n]
    n_sets, n, k = xs.shape
    if rff_w is None or rff_b is None:
        phi = xs  # [S, n, k]
        slot_re = slot_im = jnp.zeros((n_sets, k, 0), x_obs.dtype)
        rff_w = jnp.zeros((0, k), x_obs.dtype)
    else:
        xs = xs * scale[:, None, None]
        phi = rff_features(xs, rff_w, rff_b)  # [S, n, M]
        proj = xs @ rff_w.T + rff_b  # [S, n, M]
        rest = proj[:, None] - xs.transpose(0, 2, 1)[..., None] * rff_w.T[None, :, None, :]
        slot_re = jnp.mean(jnp.cos(rest), axis=2)  # [S, k, M]
        slot_im = jnp.mean(jnp.sin(rest), axis=2)
    f = phi.shape[-1]
    precision = jnp.einsum("snf,sng->sfg", phi, phi) / sigma_y**2 \
        + jnp.eye(f) / sigma_theta**2  # [S, F, F]
    chol = jnp.linalg.cholesky(precision)
    cov = jax.vmap(lambda c: jax.scipy.linalg.cho_solve((c, True), jnp.eye(f)))(chol)
    theta = jnp.einsum("sfg,sng,n->sf", cov, phi, y) / sigma_y**2
    return SetRegressions(sets, theta, cov, phi.mean(axis=1), slot_re, slot_im, rff_w, scale)


def _do_features(reg: SetRegressions, s: int | jax.Array, slot: jax.Array, u: jax.Array
                 ) -> jax.Array:
    """Row-averaged features ``[F]`` of set ``s`` with slot ``slot`` (-1: none) set to ``u``."""
    k = reg.sets.shape[1]
    j = jnp.maximum(slot, 0)
    if reg.slot_re.shape[-1] == 0:  # linear: the other slots average to D_O's mean, 0
        a = jax.nn.one_hot(j, k, dtype=u.dtype) * u
    else:
        m = reg.slot_re.shape[-1]
        wu = reg.rff_w[:, j] * (u * reg.scale[s])  # [M]
        a = jnp.sqrt(2.0 / m) * (jnp.cos(wu) * reg.slot_re[s, j] - jnp.sin(wu) * reg.slot_im[s, j])
    return jnp.where(slot >= 0, a, reg.mean_features[s])


def do_effect(reg: SetRegressions, s: int | jax.Array, variable: int | jax.Array,
              u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and variance of ``E[Y | do(X_variable = u)]`` under set ``s`` (standardised ``u``)."""
    hit = reg.sets[s] == variable  # [k]
    slot = jnp.where(hit.any(), jnp.argmax(hit), -1)
    a = _do_features(reg, s, slot, u)
    return a @ reg.theta[s], a @ reg.cov[s] @ a


def mixture_do_effect(reg: SetRegressions, probs: jax.Array, variable: int | jax.Array,
                      u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Posterior-weighted do-effect: mean ``[P]`` and variance ``[P]`` (law of total variance).

    Args:
      reg: the regressions of S sets.
      probs: ``[S]`` weights summing to 1 (0 for padding sets).
      variable: the intervened variable.
      u: ``[P]`` standardised intervention values.
    """
    n_sets = reg.sets.shape[0]
    per_set = jax.vmap(lambda s: jax.vmap(lambda x: do_effect(reg, s, variable, x))(u))
    mean, var = per_set(jnp.arange(n_sets))  # [S, P] each
    mix = probs @ mean
    second = probs @ (var + mean**2)
    return mix, jnp.maximum(second - mix**2, 0.0)
