import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acbo_core as ac
from acbo_core import errors
from acbo_core.sampling import _dense_form, _sample_dense, _traced_sampler


@settings(max_examples=12, deadline=None)
@given(d=st.integers(2, 8), seed=st.integers(0, 2**31 - 1))
def test_linear_covariance_matches_closed_form(d, seed):
    scm = ac.erdos_renyi_scm(d, key=jax.random.key(seed), expected_degree=min(2.0, d - 1),
                             noise_scale=(0.5, 1.5))
    w, b, s = ac.linear_coefficients(scm)
    inv = np.linalg.inv(np.eye(d) - w)
    cov = inv.T @ np.diag(s**2) @ inv  # independent of the sampler: (I - W)^-T S^2 (I - W)^-1
    n = 50_000
    x = np.asarray(ac.sample_observational(scm, n, key=jax.random.key(seed + 1)), np.float64)
    emp = np.cov(x, rowvar=False)
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(emp - cov) <= 6 * se + 1e-6)
    assert np.all(np.abs(x.mean(0) - b @ inv) <= 6 * np.sqrt(np.diag(cov) / n))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), value=st.floats(-3, 3))
def test_do_fixes_variable_and_spares_non_descendants(seed, value):
    scm = ac.erdos_renyi_scm(8, key=jax.random.key(seed), expected_degree=2.0)
    var = ac.topological_order(scm)[3]
    if var == scm["target"]:
        var = ac.topological_order(scm)[2]
    do = ac.create_perfect_intervention(var, value)
    n = 20_000
    xi = np.asarray(ac.sample_interventional(scm, do, n, key=jax.random.key(1)), np.float64)
    xo = np.asarray(ac.sample_observational(scm, n, key=jax.random.key(2)), np.float64)
    j = scm["variables"].index(var)
    np.testing.assert_allclose(xi[:, j], value, rtol=1e-6, atol=1e-6)
    desc = ac.get_descendants(scm, var)
    for k, v in enumerate(scm["variables"]):
        if v == var or v in desc:
            continue
        # two independent sample sets: means within 6 standard errors, stds within 5%
        se = np.sqrt((xi[:, k].var() + xo[:, k].var()) / n)
        assert abs(xi[:, k].mean() - xo[:, k].mean()) <= 6 * se + 1e-9
        assert xi[:, k].std() == pytest.approx(xo[:, k].std(), rel=0.05)


def test_exact_and_monte_carlo_means_agree():
    scm = ac.erdos_renyi_scm(10, key=jax.random.key(7))
    var = ac.intervenable_variables(scm)[0]
    do = ac.create_perfect_intervention(var, 1.5)
    exact = ac.exact_interventional_mean(scm, do)
    mc = ac.monte_carlo_interventional_mean(scm, do, key=jax.random.key(0), n_samples=200_000)
    x = np.asarray(ac.sample_interventional(scm, do, 200_000, key=jax.random.key(0)))
    np.testing.assert_allclose(mc, exact, atol=6 * x.std(0).max() / np.sqrt(200_000) + 1e-3)
    assert ac.target_interventional_mean(scm, do) == pytest.approx(
        exact[scm["variables"].index(scm["target"])])
    with pytest.raises(errors.UnsupportedMechanismError):
        ac.exact_interventional_mean(ac.toy_graph_scm(), None)


def test_dense_fourier_lowering_matches_traced_mechanisms():
    scm = ac.erdos_renyi_scm(12, key=jax.random.key(5), mechanism="fourier", expected_degree=3.0)
    var = ac.intervenable_variables(scm)[2]
    mask, values = ac.intervention_arrays(scm, ac.create_perfect_intervention(var, 0.7))
    key = jax.random.key(9)
    dense = _sample_dense(_dense_form(scm), mask, values, key, 500)
    traced = _traced_sampler(scm)(mask, values, key, 500)
    np.testing.assert_allclose(np.asarray(dense), np.asarray(traced), rtol=1e-4, atol=1e-4)


def test_same_key_same_samples():
    scm = ac.scale_free_scm(6, key=jax.random.key(0))
    a = ac.sample_observational(scm, 100, key=jax.random.key(1))
    b = ac.sample_observational(scm, 100, key=jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bad_interventions():
    scm = ac.toy_graph_scm()
    with pytest.raises(errors.UnknownVariableError, match="'Q'"):
        ac.sample_interventional(scm, ac.create_perfect_intervention("Q", 1.0), 5,
                                 key=jax.random.key(0))
    with pytest.raises(errors.InvalidInterventionError, match="'Y' may not"):
        ac.sample_interventional(scm, ac.create_perfect_intervention("Y", 1.0), 5,
                                 key=jax.random.key(0))
    with pytest.raises(errors.NonFiniteDataError):
        ac.create_perfect_intervention("X", float("nan"))
    with pytest.raises(errors.InvalidInterventionError, match="2 targets"):
        ac.create_perfect_intervention(["X", "Z"], [1.0])
    with pytest.raises(errors.InvalidInterventionError, match="positive int"):
        ac.sample_observational(scm, 0, key=jax.random.key(0))


def test_do_holds_the_value_exactly_regression():
    # Found by hypothesis: the closed-form linear solve left rounding noise (~1e-6) in the
    # intervened column.
    scm = ac.erdos_renyi_scm(8, key=jax.random.key(13194), expected_degree=2.0)
    var = ac.topological_order(scm)[3]
    if var == scm["target"]:
        var = ac.topological_order(scm)[2]
    x = np.asarray(ac.sample_interventional(scm, ac.create_perfect_intervention(var, 0.0), 20_000,
                                            key=jax.random.key(1)))
    assert (x[:, scm["variables"].index(var)] == 0.0).all()


def test_target_moments_linear_are_exact():
    scm = ac.erdos_renyi_scm(6, key=jax.random.key(3), noise_scale=(0.5, 1.5))
    names = ac.intervenable_variables(scm)
    variables = [None, *names, names[0]]
    values = np.array([0.0, *np.linspace(-2, 2, len(names)), 3.0])
    mean, sd = ac.target_moments(scm, variables, values)
    w, b, s = ac.linear_coefficients(scm)
    t = scm["variables"].index(scm["target"])
    for i, (var, x) in enumerate(zip(variables, values, strict=True)):
        do = None if var is None else ac.create_perfect_intervention(var, float(x))
        assert mean[i] == pytest.approx(ac.exact_interventional_mean(scm, do)[t], abs=1e-9)
        # analytic variance: noise of every non-intervened variable through (I - W')^-1
        keep = np.ones(len(b))
        if var is not None:
            keep[scm["variables"].index(var)] = 0.0
        inv = np.linalg.inv(np.eye(len(b)) - w * keep[None, :])
        assert sd[i] == pytest.approx(np.sqrt(np.sum((keep * s * inv[:, t]) ** 2)), rel=1e-9)
    assert mean.dtype == np.float64 and sd.shape == (len(variables),)


@pytest.mark.parametrize("scm", [ac.toy_graph_scm(),
                                 ac.erdos_renyi_scm(6, key=jax.random.key(4), mechanism="fourier")],
                         ids=["named", "fourier"])
def test_target_moments_monte_carlo(scm):
    names = ac.intervenable_variables(scm)
    variables = [names[0], names[-1], None]
    values = np.array([0.5, -1.0, 0.0])
    n = 4000
    mean, sd = ac.target_moments(scm, variables, values, key=jax.random.key(0), n_samples=n)
    again = ac.target_moments(scm, variables, values, key=jax.random.key(0), n_samples=n)
    np.testing.assert_array_equal(mean, again[0])
    np.testing.assert_array_equal(sd, again[1])
    t = scm["variables"].index(scm["target"])
    for i, (var, x) in enumerate(zip(variables, values, strict=True)):
        do = None if var is None else ac.create_perfect_intervention(var, float(x))
        y = np.asarray(ac.sample_interventional(scm, do, 40_000, key=jax.random.key(1))
                       if do else ac.sample_observational(scm, 40_000, key=jax.random.key(1))
                       )[:, t]
        assert abs(mean[i] - y.mean()) <= 6 * y.std() * np.sqrt(1 / n + 1 / 40_000) + 1e-6
        assert sd[i] == pytest.approx(y.std(), rel=0.08, abs=1e-6)


def test_target_moments_bad_input():
    scm = ac.toy_graph_scm()
    with pytest.raises(errors.UnsupportedMechanismError, match="key"):
        ac.target_moments(scm, ["X"], [0.0])
    with pytest.raises(errors.ShapeMismatchError):
        ac.target_moments(scm, ["X", "Z"], [0.0], key=jax.random.key(0))
    with pytest.raises(errors.UnknownVariableError, match="'Q'"):
        ac.target_moments(scm, ["Q"], [0.0], key=jax.random.key(0))
    with pytest.raises(errors.InvalidInterventionError, match="'Y'"):
        ac.target_moments(scm, ["Y"], [0.0], key=jax.random.key(0))
    with pytest.raises(errors.NonFiniteDataError):
        ac.target_moments(scm, ["X"], [np.nan], key=jax.random.key(0))
    with pytest.raises(errors.InvalidInterventionError, match="n_samples"):
        ac.target_moments(scm, ["X"], [0.0], key=jax.random.key(0), n_samples=1)
