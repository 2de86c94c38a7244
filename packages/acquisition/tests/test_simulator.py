import jax
import numpy as np
import pytest

import acbo_acquisition as aq
import acbo_core as ac
from acbo_core import errors


def test_means_are_exact(small_scm, small_state):
    tables = aq.simulator_tables(small_scm, small_state)
    variables = small_state.buffer.variables
    grid = np.stack([np.linspace(-3, 3, 4)] * len(variables))
    expected = np.asarray(aq.expected_target(tables, grid))
    for var in small_state.intervenable:
        j = variables.index(var)
        for k, x in enumerate(grid[j]):
            iv = ac.create_perfect_intervention(var, float(x))
            assert expected[j, k] == pytest.approx(ac.target_interventional_mean(small_scm, iv),
                                                   rel=1e-4, abs=1e-4)
            full = ac.exact_interventional_mean(small_scm, iv)  # [d] in SCM order
            mean_row = tables.offset[j] + x * tables.slope[j]
            np.testing.assert_allclose(
                mean_row, [full[small_scm["variables"].index(v)] for v in variables],
                rtol=1e-4, atol=1e-4)


def test_samples_follow_core_sampler(small_scm, small_state):
    """Same law as acbo_core.sample_interventional: means and covariances agree."""
    tables = aq.simulator_tables(small_scm, small_state)
    variables = small_state.buffer.variables
    perm = [small_scm["variables"].index(v) for v in variables]
    n = 40_000
    for var in small_state.intervenable[:2]:
        j = variables.index(var)
        iv = ac.create_perfect_intervention(var, 1.5)
        ours = np.asarray(aq.simulate_rows(tables, np.full(n, j), np.full(n, 1.5),
                                           jax.random.key(1)))
        core = np.asarray(ac.sample_interventional(small_scm, iv, n, key=jax.random.key(2)))
        core = core[:, perm]
        assert (ours[:, j] == np.float32(1.5)).all()
        scale = core.std(axis=0).max()
        np.testing.assert_allclose(ours.mean(0), core.mean(0), atol=0.05 * scale)
        np.testing.assert_allclose(np.cov(ours.T), np.cov(core.T), atol=0.08 * scale**2)


def test_scale_is_the_observational_std(small_scm, small_state):
    tables = aq.simulator_tables(small_scm, small_state)
    x = np.asarray(ac.sample_observational(small_scm, 50_000, key=jax.random.key(3)))
    t = small_scm["variables"].index(small_scm["target"])
    assert float(tables.scale) == pytest.approx(x[:, t].std(), rel=0.03)
    assert float(tables.best) == pytest.approx(small_state.best_value, rel=1e-6)


def test_refuses_what_it_cannot_simulate(small_scm, small_state):
    nonlinear = ac.erdos_renyi_scm(5, key=jax.random.key(7), mechanism="fourier")
    with pytest.raises(errors.UnsupportedMechanismError, match="linear"):
        aq.simulator_tables(nonlinear, small_state)
    other = ac.erdos_renyi_scm(6, key=jax.random.key(8))
    with pytest.raises(errors.UnknownVariableError):
        aq.simulator_tables(other, small_state)
    retargeted = ac.create_scm(
        small_scm["variables"], small_scm["edges"], small_scm["mechanisms"],
        small_state.intervenable[0], intervention_ranges=small_scm["intervention_ranges"])
    with pytest.raises(errors.InvalidStateError, match="target"):
        aq.simulator_tables(retargeted, small_state)
    restricted = ac.create_scm(
        small_scm["variables"], small_scm["edges"], small_scm["mechanisms"],
        small_scm["target"], intervention_ranges=small_scm["intervention_ranges"],
        intervenable=small_state.intervenable[1:])
    with pytest.raises(errors.InvalidInterventionError, match="forbids"):
        aq.simulator_tables(restricted, small_state)
