"""The system's model of the target (online GRPO's rewards) against direct formulas."""

from __future__ import annotations

import jax
import numpy as np

import acbo_core as ac
from acbo import model_tables
from acbo.target_model import do_effect_table, set_regressions


def _data(seed=0, n=4000):
    rng = np.random.default_rng(seed)
    x0 = rng.normal(1.0, 1.0, n)
    x1 = rng.normal(-2.0, 2.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    y = 0.5 + 2.0 * x0 - 1.0 * x1 + rng.normal(0, 0.1, n)
    return np.stack([x0, x1, x2, y], axis=1)


def test_regression_recovers_the_coefficients():
    values = _data()
    c, w = set_regressions(values, 3, [[0, 1], [2], []])
    np.testing.assert_allclose([c[0], *w[0]], [0.5, 2.0, -1.0], atol=0.02)
    # against ordinary least squares (the prior is weak)
    x = np.c_[np.ones(len(values)), values[:, 2]]
    np.testing.assert_allclose([c[1], *w[1]], np.linalg.lstsq(x, values[:, 3], rcond=None)[0],
                               rtol=1e-3, atol=1e-3)
    assert w[2].shape == (0,) and np.isclose(c[2], values[:, 3].mean())


def test_do_effect_is_the_posterior_weighted_mixture():
    values = _data()
    mean = values.mean(axis=0)
    sets, probs = [[0, 1], [2]], np.array([0.75, 0.25])
    offset, slope = do_effect_table(values, mean, 3, sets, probs)
    c, w = set_regressions(values, 3, sets)
    for v, x in ((0, 3.0), (1, -1.5), (2, 0.7)):
        per_set = []
        for (ci, wi, members) in zip(c, w, sets, strict=True):
            row = {j: mean[j] for j in members}
            if v in row:
                row[v] = x
            per_set.append(ci + sum(wj * row[j] for wj, j in zip(wi, members, strict=True)))
        np.testing.assert_allclose(offset[v] + slope[v] * x, probs @ np.array(per_set),
                                   rtol=1e-9, atol=1e-9)


def test_tables_predict_the_target_of_a_linear_scm():
    # Independent root parents: the model's do-effect is then exact, E[Y | do(X0 = x)] =
    # b + w0 x + w1 E[X1], so the tables must reproduce the SCM's interventional means.
    lin = ac.linear_mechanism
    scm = ac.create_scm(
        ["X0", "X1", "X2", "Y"], [("X0", "Y"), ("X1", "Y")],
        {"X0": lin({}, intercept=1.0), "X1": lin({}, intercept=-2.0, noise_scale=2.0),
         "X2": lin({}), "Y": lin({"X0": 2.0, "X1": -1.0}, intercept=0.5, noise_scale=0.1)},
        "Y", intervention_ranges={v: (-3.0, 3.0) for v in ("X0", "X1", "X2")})
    names = tuple(scm["variables"])
    rows = np.asarray(ac.sample_observational(scm, 4000, key=jax.random.key(0)))
    buffer = ac.create_buffer(names).add_observations(rows)
    post = ac.ParentSetPosterior("Y", (frozenset({"X0", "X1"}), frozenset({"X2"})),
                                 np.array([0.9, 0.1]))
    state = ac.create_acquisition_state(
        buffer, post, intervention_ranges={v: (-3.0, 3.0) for v in ("X0", "X1", "X2")},
        best_value=0.0)
    tables = model_tables(state, n_bins=3)  # the grid is -3, 0, 3 for every variable
    t = names.index("Y")
    pred = np.asarray(tables.grid_mean)  # [d, 3]
    assert not pred[t].any() and not np.asarray(tables.grid_sd).any()
    assert not bool(tables.has_rows)
    y_obs = rows[:, t].mean()
    for var in ("X0", "X1", "X2"):
        v = names.index(var)
        exact = np.array([ac.target_interventional_mean(scm, ac.create_perfect_intervention(
            var, x)) for x in (-3.0, 0.0, 3.0)])
        # 0.9 of the truth's effect plus 0.1 of the {X2} set's: X2 has no effect on Y, so
        # under {X2} every intervention leaves Y at its observational mean
        expected = 0.9 * exact + 0.1 * y_obs
        np.testing.assert_allclose(pred[v], expected, atol=0.1)
    assert float(tables.scale) == np.float32(rows[:, t].std())
