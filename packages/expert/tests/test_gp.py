"""Causal GP, expected improvement and do-effects against independent formulas."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from acbo_expert.causal_gp import (
    GPData,
    expected_improvement,
    hyperparameter_ensemble,
    log_marginal_likelihood,
    predict,
)
from acbo_expert.do_effect import do_effect, fit_set_regressions, mixture_do_effect


def _data(rng, n, n_pad):
    u = np.zeros(n_pad, np.float32)
    y = np.zeros(n_pad, np.float32)
    mask = np.zeros(n_pad, bool)
    u[:n], y[:n], mask[:n] = rng.uniform(0, 1, n), rng.normal(size=n), True
    mean = np.where(mask, rng.normal(size=n_pad) * 0.3, 0).astype(np.float32)
    sd = np.where(mask, rng.uniform(0.1, 0.5, n_pad), 0).astype(np.float32)
    return GPData(*(jnp.asarray(a) for a in (u, y, mask, mean, sd)))


def _gram(u1, u2, sd1, sd2, p):
    ell, sf2 = np.exp(p[0]), np.exp(p[1])
    return sf2 * np.exp(-0.5 * np.subtract.outer(u1, u2) ** 2 / ell**2) + np.outer(sd1, sd2)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6))
def test_gp_matches_dense_formulas_and_ignores_padding(seed, n):
    rng = np.random.default_rng(seed)
    data = _data(rng, n, 8)
    p = np.log([0.2, 0.7, 0.05]).astype(np.float32)
    u, y, m, sd = (np.asarray(a, np.float64)[:n] for a in (data.u, data.y, data.mean, data.sd))
    k = _gram(u, u, sd, sd, p) + (np.exp(p[2]) + 1e-6) * np.eye(n)
    want_lml = scipy.stats.multivariate_normal(m, k).logpdf(y)
    np.testing.assert_allclose(float(log_marginal_likelihood(data, jnp.asarray(p))), want_lml,
                               rtol=1e-4, atol=1e-4)
    xs = np.linspace(0, 1, 5)
    m_star, sd_star = rng.normal(size=5) * 0.2, rng.uniform(0.1, 0.4, 5)
    ks = _gram(xs, u, sd_star, sd, p)
    want_mu = m_star + ks @ np.linalg.solve(k, y - m)
    want_var = np.exp(p[1]) + sd_star**2 - np.einsum("ij,ji->i", ks, np.linalg.solve(k, ks.T))
    mu, var = predict(data, jnp.asarray(p), jnp.asarray(xs, jnp.float32),
                      jnp.asarray(m_star, jnp.float32), jnp.asarray(sd_star, jnp.float32))
    np.testing.assert_allclose(mu, want_mu, atol=2e-4)
    np.testing.assert_allclose(var, np.maximum(want_var, 1e-12), atol=2e-4)


def test_expected_improvement_matches_quadrature():
    mu, var, best = 0.3, 0.5**2, 0.1
    f = np.linspace(mu - 10 * 0.5, mu + 10 * 0.5, 200_001)
    dens = scipy.stats.norm(mu, 0.5).pdf(f)
    want = scipy.integrate.trapezoid(np.maximum(best - f, 0) * dens, f)
    got = float(expected_improvement(jnp.float32(mu), jnp.float32(var), jnp.float32(best), 0.0))
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_hyperparameter_ensemble_prefers_the_likelier_settings():
    u = np.linspace(0, 1, 12)
    y = np.sin(2 * np.pi * 3 * u)  # wiggly, noiseless: short length scale, small noise
    data = GPData(jnp.asarray(u, jnp.float32), jnp.asarray(y, jnp.float32),
                  jnp.ones(12, bool), jnp.zeros(12), jnp.zeros(12))
    params, weights, _ = hyperparameter_ensemble(data, 10, 4)
    np.testing.assert_allclose(float(weights.sum()), 1.0, rtol=1e-5)
    assert float(jnp.exp(params[0, 0])) < 0.15  # MAP length scale
    assert float(jnp.exp(params[0, 2])) < 0.2  # MAP noise (y has variance 0.5)
    lml = [float(log_marginal_likelihood(data, p)) for p in params]
    assert lml[0] >= max(lml[1:]) - 1.0


def test_linear_do_effect_is_the_coefficient_times_the_value():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    x[:, 2] = 0.8 * x[:, 0] - 0.5 * x[:, 1] + 0.3 * rng.normal(size=300)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    sets = jnp.asarray([[0, 1], [0, -1]], jnp.int32)
    reg = fit_set_regressions(jnp.asarray(x), 2, sets, jnp.ones(2), None, None, 1.0, 1.0)
    xs = x[:, :2].astype(np.float64)
    cov = np.linalg.inv(xs.T @ xs + np.eye(2))
    theta = cov @ xs.T @ x[:, 2]
    mean, var = do_effect(reg, 0, 1, jnp.float32(1.5))
    np.testing.assert_allclose(float(mean), theta[1] * 1.5, rtol=1e-4)
    np.testing.assert_allclose(float(var), cov[1, 1] * 1.5**2, rtol=1e-3)
    mean, var = do_effect(reg, 1, 1, jnp.float32(1.5))  # variable 1 is not in set {0}
    np.testing.assert_allclose(float(mean), 0.0, atol=1e-5)
    # Mixture: law of total variance over the two sets.
    probs = jnp.asarray([0.3, 0.7])
    u = jnp.asarray([-1.0, 0.5, 2.0])
    mix_mean, mix_var = mixture_do_effect(reg, probs, 0, u)
    per = [jax.vmap(lambda v, s=s: do_effect(reg, s, 0, v))(u) for s in (0, 1)]
    m = 0.3 * per[0][0] + 0.7 * per[1][0]
    v = 0.3 * (per[0][1] + per[0][0] ** 2) + 0.7 * (per[1][1] + per[1][0] ** 2) - m**2
    np.testing.assert_allclose(mix_mean, m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mix_var, v, rtol=1e-4, atol=1e-6)


def test_rff_do_effect_equals_the_brute_force_row_average():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    w = rng.normal(size=(16, 2)).astype(np.float32)
    b = rng.uniform(0, 2 * np.pi, 16).astype(np.float32)
    sets = jnp.asarray([[0, 2]], jnp.int32)
    scale = jnp.asarray([1.7], jnp.float32)
    reg = fit_set_regressions(jnp.asarray(x), 3, sets, scale, jnp.asarray(w), jnp.asarray(b),
                              1.0, 1.0)
    u = 0.9
    rows = x[:, [0, 2]].astype(np.float64).copy()
    rows[:, 1] = u  # do(X2 = u): slot 1, the other slot keeps each row's X0
    phi = np.sqrt(2 / 16) * np.cos(rows * 1.7 @ w.T + b)
    a = phi.mean(0)
    mean, var = do_effect(reg, 0, 2, jnp.float32(u))
    np.testing.assert_allclose(float(mean), a @ np.asarray(reg.theta[0]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(var), a @ np.asarray(reg.cov[0]) @ a, rtol=1e-3, atol=1e-6)
