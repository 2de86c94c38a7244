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
