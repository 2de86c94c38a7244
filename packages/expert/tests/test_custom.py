"""run_method: any method on the expert's loop sees the expert's data and is recorded alike."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo_core.errors import InvalidInterventionError
from acbo_expert import parent_set_posterior, run_method, run_parent_scale


def _lowest(state, key):  # always the first intervenable variable at the bottom of its range
    var = state.intervenable[0]
    return ac.create_perfect_intervention(var, state.intervention_ranges[var][0])


def _posterior(buffer, target):
    return parent_set_posterior(buffer, target, k_max=2)


def test_same_key_same_data_as_the_expert(tiny):
    TINY = tiny
    scm = ac.erdos_renyi_scm(5, key=jax.random.key(3))
    expert = run_parent_scale(scm, key=jax.random.key(7), config=TINY)
    mine = run_method(scm, _lowest, _posterior, key=jax.random.key(7), config=TINY,
                      method="lowest")
    np.testing.assert_array_equal(expert.D_O, mine.D_O)
    assert [y for *_, y in expert.D_I] == [y for *_, y in mine.D_I]
    assert mine.method == "lowest" and mine.T == TINY.T
    var = [v for v in ac.intervenable_variables(scm) if v != scm["target"]][0]
    assert all(s == (var,) for s in mine.intervention_set)
    # the observation is the noiseless interventional mean, as for the expert
    do = ac.create_perfect_intervention(var, scm["intervention_ranges"][var][0])
    np.testing.assert_allclose(mine.current_y[0], ac.target_interventional_mean(scm, do),
                               rtol=1e-6, atol=1e-6)
    # the posterior is the method's own, after every step
    assert len(mine.posterior_probabilities) == TINY.T + 1
    assert mine.buffer_at(TINY.T).n_interventional == len(mine.D_I) + TINY.T * TINY.samples_per_step


def test_state_carries_data_best_value_and_step(tiny):
    TINY = tiny
    seen = []

    def record(state, key):
        seen.append((state.step, len(state.buffer), state.best_value))
        return _lowest(state, key)

    scm = ac.erdos_renyi_scm(5, key=jax.random.key(4))
    result = run_method(scm, record, _posterior, key=jax.random.key(0), config=TINY)
    assert [s for s, _, _ in seen] == list(range(TINY.T))
    assert [n for _, n, _ in seen] == [TINY.n_obs + len(result.D_I) + t * TINY.samples_per_step
                                      for t in range(TINY.T)]
    assert seen[0][2] == pytest.approx(result.initial_best)


@pytest.mark.parametrize("bad", [
    {"type": "perfect", "targets": ("nope",), "values": {"nope": 0.0}},
    "X0=1",
    None,
])
def test_bad_choice_is_a_typed_error(bad, tiny):
    scm = ac.erdos_renyi_scm(5, key=jax.random.key(3))
    with pytest.raises(InvalidInterventionError):
        run_method(scm, lambda s, k: bad, _posterior, key=jax.random.key(0), config=tiny)
