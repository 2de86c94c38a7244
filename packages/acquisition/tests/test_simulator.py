import jax
import numpy as np
import pytest

import acbo_acquisition as aq
import acbo_core as ac
from acbo_core import errors

K = 4


def test_means_are_exact(small_scm, small_state):
    tables = aq.simulator_tables(small_scm, small_state, n_bins=K)
    variables = small_state.buffer.variables
    grid = aq.value_grid(small_state, K)
    t = int(tables.target)
    assert bool(tables.has_rows)
    for var in small_state.intervenable:
        j = variables.index(var)
        for k, x in enumerate(grid[j]):
            iv = ac.create_perfect_intervention(var, float(x))
            assert tables.grid_mean[j, k] == pytest.approx(
                ac.target_interventional_mean(small_scm, iv), rel=1e-5, abs=1e-5)
            full = ac.exact_interventional_mean(small_scm, iv)  # [d] in SCM order
            mean_row = tables.offset[j] + x * tables.slope[j]
            np.testing.assert_allclose(
                mean_row, [full[small_scm["variables"].index(v)] for v in variables],
                rtol=1e-4, atol=1e-4)
    # Regression: the grid holds the law the row tables gave before (the old closed form of the
    # target's mean, offset + x * slope, and the norm of its noise column), so rewards of
    # linear SCMs are unchanged.
    old_mean = tables.offset[:, t][:, None] + grid * tables.slope[:, t][:, None]
    old_sd = np.linalg.norm(tables.noise[:, :, t], axis=1)[:, None] * np.ones(K)
    np.testing.assert_allclose(tables.grid_mean, old_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tables.grid_sd, old_sd, rtol=1e-5, atol=1e-6)
    off = [variables.index(v) for v in variables if v not in small_state.intervention_ranges]
    assert not np.asarray(tables.grid_mean)[off].any()


def test_samples_follow_core_sampler(small_scm, small_state):
    """Same law as acbo_core.sample_interventional: means and covariances agree, also when the
    target's noise is given (then the target is grid_mean + grid_sd * noise)."""
    tables = aq.simulator_tables(small_scm, small_state, n_bins=K)
    variables = small_state.buffer.variables
    perm = [small_scm["variables"].index(v) for v in variables]
    t = int(tables.target)
    n = 40_000
    z = np.asarray(jax.random.normal(jax.random.key(4), (n,)))
    for var in small_state.intervenable[:2]:
        j = variables.index(var)
        x = float(aq.value_grid(small_state, K)[j, 1])
        iv = ac.create_perfect_intervention(var, x)
        core = np.asarray(ac.sample_interventional(small_scm, iv, n, key=jax.random.key(2)))
        core = core[:, perm]
        scale = core.std(axis=0).max()
        for noise in (None, z):
            ours = np.asarray(aq.simulate_rows(tables, np.full(n, j), np.full(n, x),
                                               jax.random.key(1), target_noise=noise))
            assert (ours[:, j] == np.float32(x)).all()
            np.testing.assert_allclose(ours.mean(0), core.mean(0), atol=0.05 * scale)
            np.testing.assert_allclose(np.cov(ours.T), np.cov(core.T), atol=0.08 * scale**2)
        np.testing.assert_allclose(ours[:, t], tables.grid_mean[j, 1] + tables.grid_sd[j, 1] * z,
                                   rtol=1e-4, atol=1e-4 * scale)


def test_scale_is_the_observational_std(small_scm, small_state):
    tables = aq.simulator_tables(small_scm, small_state, n_bins=K)
    x = np.asarray(ac.sample_observational(small_scm, 50_000, key=jax.random.key(3)))
    t = small_scm["variables"].index(small_scm["target"])
    assert float(tables.scale) == pytest.approx(x[:, t].std(), rel=0.03)
    assert float(tables.best) == pytest.approx(small_state.best_value, rel=1e-6)


@pytest.fixture(scope="module")
def fourier(h):
    scm = ac.erdos_renyi_scm(6, key=jax.random.key(21), mechanism="fourier", expected_degree=2.0)
    return scm, h.make_state(scm, jax.random.key(22), n_int=2)


def test_nonlinear_grid_is_the_monte_carlo_law(fourier):
    scm, state = fourier
    n = 2000
    tables = aq.simulator_tables(scm, state, n_bins=K, key=jax.random.key(0), n_samples=n)
    again = aq.simulator_tables(scm, state, n_bins=K, key=jax.random.key(0), n_samples=n)
    for a, b in zip(tables, again, strict=True):
        np.testing.assert_array_equal(a, b)  # same key, same tables
    assert not bool(tables.has_rows)
    assert not np.asarray(tables.offset).any() and not np.asarray(tables.noise).any()
    names = state.buffer.variables
    t = scm["variables"].index(scm["target"])
    grid = aq.value_grid(state, K)
    for var in state.intervenable[:2]:
        j = names.index(var)
        for k in (0, K - 1):
            iv = ac.create_perfect_intervention(var, float(grid[j, k]))
            y = np.asarray(ac.sample_interventional(scm, iv, 20_000, key=jax.random.key(5)))[:, t]
            se = y.std() * np.sqrt(1 / n + 1 / 20_000)
            assert abs(tables.grid_mean[j, k] - y.mean()) <= 5 * se + 1e-5
            assert tables.grid_sd[j, k] == pytest.approx(y.std(), rel=0.1, abs=1e-4)
    x = np.asarray(ac.sample_observational(scm, 20_000, key=jax.random.key(6)))[:, t]
    assert float(tables.scale) == pytest.approx(x.std(), rel=0.1)
    with pytest.raises(errors.UnsupportedMechanismError, match="key"):
        aq.simulator_tables(scm, state, n_bins=K)


def test_stack_pads_the_grid(small_scm, small_state, fourier):
    scm, state = fourier
    a = aq.simulator_tables(small_scm, small_state, n_bins=K)
    b = aq.simulator_tables(scm, state, n_bins=K, key=jax.random.key(0), n_samples=64)
    both = aq.stack_tables([a, b], 8)
    assert both.grid_mean.shape == both.grid_sd.shape == (2, 8, K)
    np.testing.assert_array_equal(both.grid_mean[0, :5], a.grid_mean)
    np.testing.assert_array_equal(both.grid_sd[1, :6], b.grid_sd)
    assert not both.grid_mean[0, 5:].any() and both.has_rows.tolist() == [True, False]
    with pytest.raises(errors.ShapeMismatchError, match="value bins"):
        aq.stack_tables([a, aq.simulator_tables(small_scm, small_state, n_bins=K + 1)])


def test_refuses_what_it_cannot_simulate(small_scm, small_state):
    other = ac.erdos_renyi_scm(6, key=jax.random.key(8))
    with pytest.raises(errors.UnknownVariableError):
        aq.simulator_tables(other, small_state, n_bins=K)
    retargeted = ac.create_scm(
        small_scm["variables"], small_scm["edges"], small_scm["mechanisms"],
        small_state.intervenable[0], intervention_ranges=small_scm["intervention_ranges"])
    with pytest.raises(errors.InvalidStateError, match="target"):
        aq.simulator_tables(retargeted, small_state, n_bins=K)
    restricted = ac.create_scm(
        small_scm["variables"], small_scm["edges"], small_scm["mechanisms"],
        small_scm["target"], intervention_ranges=small_scm["intervention_ranges"],
        intervenable=small_state.intervenable[1:])
    with pytest.raises(errors.InvalidInterventionError, match="forbids"):
        aq.simulator_tables(restricted, small_state, n_bins=K)
    with pytest.raises(aq.ConfigError, match="n_bins"):
        aq.simulator_tables(small_scm, small_state, n_bins=1)
