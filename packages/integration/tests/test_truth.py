"""Honest regret: true interventional means and the true optimum (acbo.truth)."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo import true_optimum
from acbo.truth import ToleranceError, Truth, problem_truth, true_means
from acbo_core.errors import (
    ConfigError,
    InvalidInterventionError,
    InvalidTargetError,
    SchemaError,
    UnknownVariableError,
)

TOL = 1e-3


@pytest.fixture(scope="module")
def toy():
    return ac.toy_graph_scm()


@pytest.fixture(scope="module")
def fourier():
    return ac.erdos_renyi_scm(6, key=jax.random.key(4), mechanism="fourier")


def _toy_mean_given_z_mean(mu: np.ndarray) -> np.ndarray:
    """E[cos Z - exp(-Z / 20)] for Z ~ N(mu, 1), in closed form."""
    return np.cos(mu) * math.exp(-0.5) - np.exp(-mu / 20.0 + 1.0 / 800.0)


def _toy_observational_mean() -> float:
    # Z | X ~ N(exp(-X), 1), X ~ N(0, 1): integrate the closed form over X on a fine grid.
    x = np.linspace(-8.0, 8.0, 400_001)
    density = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return float(np.trapezoid(_toy_mean_given_z_mean(np.exp(-x)) * density, x))


def _do(var, *values):
    return [ac.create_perfect_intervention(var, float(v)) for v in values]


def test_true_means_of_a_linear_scm_are_exact(scm):
    target = tuple(scm["variables"]).index(scm["target"])
    v = next(v for v in ac.intervenable_variables(scm) if v != scm["target"])
    ivs = [None, *_do(v, -1.0, 2.5)]
    means, se = true_means(scm, ivs, key=jax.random.key(0))
    expected = [ac.exact_interventional_mean(scm, iv)[target] for iv in ivs]
    np.testing.assert_array_equal(means, expected)
    np.testing.assert_array_equal(se, 0.0)


def test_true_means_of_the_toy_graph_match_the_closed_form(toy):
    z = np.asarray([-3.2, 0.0, 7.5])
    x = np.asarray([-1.0, 0.3, 2.0])
    means, se = true_means(toy, [None, *_do("Z", *z), *_do("X", *x)], key=jax.random.key(1))
    assert np.all(se <= TOL)
    # do(Z): the target's own noise is integrated out, so the mean is exact.
    np.testing.assert_allclose(means[1:4], np.cos(z) - np.exp(-z / 20.0), atol=1e-5)
    assert np.all(se[1:4] < 1e-6)  # float32 rounding only
    # do(X) and observational: Monte Carlo, within a few standard errors of the closed form.
    np.testing.assert_allclose(means[4:], _toy_mean_given_z_mean(np.exp(-x)), atol=4 * TOL)
    assert means[0] == pytest.approx(_toy_observational_mean(), abs=4 * TOL)


def test_true_means_agree_with_plain_monte_carlo(fourier):
    target = tuple(fourier["variables"]).index(fourier["target"])
    ancestors = sorted(ac.get_ancestors(fourier, fourier["target"]))
    lo, hi = fourier["intervention_ranges"][ancestors[0]]
    ivs = [None, *_do(ancestors[0], lo, 0.5 * (lo + hi), hi)]
    means, se = true_means(fourier, ivs, key=jax.random.key(2))
    assert np.all(se <= TOL) and np.all(se > 0)
    for iv, mean, err in zip(ivs, means, se, strict=True):
        y = np.asarray(ac.sample_interventional(fourier, iv, 2**20, key=jax.random.key(3))
                       if iv is not None else
                       ac.sample_observational(fourier, 2**20, key=jax.random.key(3)),
                       np.float64)[:, target]
        plain_se = y.std() / math.sqrt(y.size)
        assert abs(mean - y.mean()) <= 5 * math.hypot(plain_se, err)


def test_common_random_numbers_and_determinism(fourier):
    target = fourier["target"]
    variables = [v for v in ac.intervenable_variables(fourier) if v != target]
    inert = [v for v in variables if v not in ac.get_ancestors(fourier, target)]
    ancestor = sorted(set(variables) - set(inert))[0]
    ivs = [None, *_do(ancestor, 0.5, 0.5), *_do(inert[0], 1.0)]
    key = jax.random.key(5)
    means, se = true_means(fourier, ivs, key=key)
    again, se_again = true_means(fourier, list(reversed(ivs)), key=key)
    np.testing.assert_array_equal(means, again[::-1])  # same key, same answer, any order
    np.testing.assert_array_equal(se, se_again[::-1])
    assert means[1] == means[2]  # the same intervention twice
    assert means[3] == means[0]  # a non-ancestor changes nothing: the observational mean
    assert not np.array_equal(true_means(fourier, ivs, key=jax.random.key(6))[0], means)


def test_true_means_errors(toy, fourier):
    key = jax.random.key(0)
    with pytest.raises(UnknownVariableError):
        true_means(toy, _do("W", 1.0), key=key)
    with pytest.raises(InvalidInterventionError):  # the target may not be intervened on
        true_means(toy, _do("Y", 1.0), key=key)
    for tol in (0.0, -1.0, float("nan"), True):
        with pytest.raises(ConfigError):
            true_means(toy, [None], key=key, tol=tol)
    with pytest.raises(ConfigError):
        true_means(toy, [None], key=key, max_samples=0)
    with pytest.raises(ToleranceError):  # too precise for 1,024 samples
        true_means(fourier, [None], key=key, tol=1e-7, max_samples=1024)
    assert true_means(toy, [], key=key)[0].shape == (0,)


def test_toy_graph_optimum(toy):
    truth = problem_truth(toy, key=jax.random.key(0))
    assert truth.best_variable == "Z" and truth.best_is_parent and not truth.exact
    assert truth.y_star == pytest.approx(-2.1718, abs=2e-3)
    assert truth.best_value == pytest.approx(-3.200, abs=0.02)
    assert truth.y_obs == pytest.approx(_toy_observational_mean(), abs=4 * TOL)
    assert 0.0 <= truth.se <= TOL and 0.0 < truth.se_obs <= TOL
    assert true_optimum(toy) == truth.y_star  # the evaluation harness's y* is this one
    # Maximising: cos(z) - exp(-z/20) is highest near z = 6 pi within [-5, 20].
    z = np.linspace(17.0, 20.0, 300_001)
    f = np.cos(z) - np.exp(-z / 20.0)
    top = problem_truth(toy, key=jax.random.key(0), minimize=False)
    assert top.best_variable == "Z" and top.best_value == pytest.approx(z[f.argmax()], abs=0.02)
    assert top.y_star == pytest.approx(f.max(), abs=2e-3)


def test_linear_optimum_is_exact_at_an_end_of_a_range(scm):
    target = tuple(scm["variables"]).index(scm["target"])
    for minimize in (True, False):
        truth = problem_truth(scm, key=jax.random.key(0), minimize=minimize)
        sign = 1.0 if minimize else -1.0
        ends = [(float(ac.exact_interventional_mean(
                    scm, ac.create_perfect_intervention(v, x))[target]), v, x)
                for v in ac.intervenable_variables(scm) if v != scm["target"]
                for x in scm["intervention_ranges"][v]]
        best = min(ends, key=lambda e: sign * e[0])
        assert truth.exact and truth.se == truth.se_obs == 0.0
        assert (truth.y_star, truth.best_variable, truth.best_value) == best
        assert truth.best_is_parent == (best[1] in ac.true_parents(scm))
        assert truth.y_obs == ac.exact_interventional_mean(scm, None)[target]


def test_best_intervention_on_a_non_parent():
    # A -> B -> Y: B's range is narrow, A's wide, so the best do() is on A, not a parent.
    mech = {"A": ac.linear_mechanism({}), "B": ac.linear_mechanism({"A": 1.0}),
            "Y": ac.linear_mechanism({"B": 1.0})}
    scm = ac.create_scm(["A", "B", "Y"], [("A", "B"), ("B", "Y")], mech, "Y",
                        intervention_ranges={"A": (-10.0, 10.0), "B": (-1.0, 1.0)})
    truth = problem_truth(scm, key=jax.random.key(0))
    assert (truth.best_variable, truth.best_value, truth.y_star) == ("A", -10.0, -10.0)
    assert not truth.best_is_parent


def test_nonlinear_optimum_is_at_least_as_good_as_a_grid(fourier):
    truth = problem_truth(fourier, key=jax.random.key(0))
    assert not truth.exact and 0.0 < truth.se <= TOL
    best_grid = math.inf
    for v in ac.intervenable_variables(fourier):
        if v == fourier["target"]:
            continue
        xs = np.linspace(*fourier["intervention_ranges"][v], 101)
        best_grid = min(best_grid, float(np.min(
            true_means(fourier, _do(v, *xs), key=jax.random.key(8))[0])))
    # The refined optimum is no worse than a 101-point grid (up to the means' errors), and
    # its variable's mean at the reported value is what it says.
    assert truth.y_star <= best_grid + 3 * TOL
    check, _ = true_means(fourier, _do(truth.best_variable, truth.best_value),
                          key=jax.random.key(9))
    assert check[0] == pytest.approx(truth.y_star, abs=4 * TOL)
    assert truth.best_is_parent == (truth.best_variable in ac.true_parents(fourier))


def test_truth_json_round_trip_and_schema_errors(toy):
    truth = problem_truth(toy, key=jax.random.key(0))
    data = json.loads(ac.dumps_json(truth.to_json()))
    assert Truth.from_json(data) == truth
    with pytest.raises(SchemaError):
        Truth.from_json([1, 2])
    with pytest.raises(SchemaError):
        Truth.from_json({k: v for k, v in data.items() if k != "y_star"})
    with pytest.raises(SchemaError):
        Truth.from_json({**data, "extra": 1})
    for field, bad in (("y_star", "x"), ("y_obs", None), ("exact", 1), ("best_variable", 3),
                       ("se", -1.0), ("best_value", True)):
        with pytest.raises(SchemaError):
            Truth.from_json({**data, field: bad})


def test_problem_truth_errors(toy):
    stuck = ac.create_scm(["A", "B"], [("A", "B")],
                          {"A": ac.linear_mechanism({}), "B": ac.linear_mechanism({"A": 1.0})},
                          "B", intervenable=[])
    with pytest.raises(InvalidTargetError):
        problem_truth(stuck, key=jax.random.key(0))
    with pytest.raises(ConfigError):
        problem_truth(toy, key=jax.random.key(0), grid=2)
    with pytest.raises(ConfigError):
        problem_truth(toy, key=jax.random.key(0), tol=0.0)
