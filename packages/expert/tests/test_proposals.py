"""score_proposals: the expert's causal-GP expected improvement for another method's proposals."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo_core.errors import InvalidInterventionError
from acbo_expert import score_proposals

CFG_SETTINGS = dict(n_obs=60, grid_size=64, refine_size=16, gp_steps=5, max_surrogate_sets=8)


def _chain_state(history=()):
    """X -> Y with Y = 2 X + noise: Y is minimised by X at the low end of its range."""
    scm = ac.create_scm(
        ["X", "Y"], [("X", "Y")],
        {"X": ac.linear_mechanism({}), "Y": ac.linear_mechanism({"X": 2.0}, noise_scale=0.1)},
        "Y", intervention_ranges={"X": (-2.0, 2.0)}, intervenable=["X"])
    x_obs = np.asarray(ac.sample_observational(scm, 60, key=jax.random.key(0)))
    buffer = ac.create_buffer(scm["variables"]).add_observations(x_obs)
    posterior = ac.ParentSetPosterior("Y", (frozenset({"X"}), frozenset()), np.array([0.99, 0.01]))
    return ac.create_acquisition_state(buffer, posterior, intervention_ranges={"X": (-2.0, 2.0)},
                                       history=history)


@pytest.fixture(scope="module")
def config():
    from acbo_expert import ParentScaleConfig

    return ParentScaleConfig(**CFG_SETTINGS)


def test_a_known_linear_effect_is_set_at_the_better_end(config):
    (scored,) = score_proposals(_chain_state(), [("X", 2.0)], config=config)
    assert scored.value == pytest.approx(-2.0, abs=0.05)
    assert scored.ei > 0 and scored.ei_preferred < 0.5 * scored.ei  # the wrong end is poor
    (none,) = score_proposals(_chain_state(), [("X", None)], config=config)
    assert none.preferred is None and np.isnan(none.ei_preferred)
    assert none.value == pytest.approx(scored.value)


def test_observed_outcomes_condition_the_gp(config):
    # Outcomes that contradict the prior (low values are bad, 0.5 is best) move the choice.
    history = [("X", -2.0, 3.0), ("X", -1.0, 1.0), ("X", 0.5, -2.5), ("X", 2.0, 3.0)]
    (scored,) = score_proposals(_chain_state(history), [("X", None)], config=config)
    assert -0.5 < scored.value < 1.5


def test_bad_proposals_are_named(config):
    state = _chain_state()
    with pytest.raises(InvalidInterventionError, match="twice"):
        score_proposals(state, [("X", None), ("X", 1.0)], config=config)
    with pytest.raises(InvalidInterventionError, match="'Y' may not be intervened on"):
        score_proposals(state, [("Y", None)], config=config)


def _two_cause_state(history=()):
    """X -> Y <- W, both intervenable; Y = 2 X - W + noise."""
    scm = ac.create_scm(
        ["X", "W", "Y"], [("X", "Y"), ("W", "Y")],
        {"X": ac.linear_mechanism({}), "W": ac.linear_mechanism({}),
         "Y": ac.linear_mechanism({"X": 2.0, "W": -1.0}, noise_scale=0.1)},
        "Y", intervention_ranges={"X": (-2.0, 2.0), "W": (-2.0, 2.0)}, intervenable=["X", "W"])
    x_obs = np.asarray(ac.sample_observational(scm, 60, key=jax.random.key(0)))
    buffer = ac.create_buffer(scm["variables"]).add_observations(x_obs)
    posterior = ac.ParentSetPosterior("Y", (frozenset({"X", "W"}), frozenset({"X"})),
                                      np.array([0.9, 0.1]))
    return ac.create_acquisition_state(
        buffer, posterior, intervention_ranges={"X": (-2.0, 2.0), "W": (-2.0, 2.0)},
        history=history)


def test_each_proposal_is_scored_alone_but_against_the_best_outcome_of_every_variable(config):
    # Only the proposed variables' GPs are fitted: X's score is the same whether W is proposed
    # beside it or not ...
    history = [("X", 1.0, 2.0), ("W", -1.0, 1.5)]
    state = _two_cause_state(history)
    (alone,) = score_proposals(state, [("X", 0.0)], config=config)
    _, beside = score_proposals(state, [("W", None), ("X", 0.0)], config=config)
    assert (alone.value, alone.ei_preferred) == pytest.approx(
        (beside.value, beside.ei_preferred), rel=1e-4, abs=1e-6)
    assert alone.ei == pytest.approx(beside.ei, rel=1e-4)
    # ... while the best outcome so far counts W's history too: a very good outcome on W
    # leaves less to improve on with X.
    (better_w,) = score_proposals(_two_cause_state([("X", 1.0, 2.0), ("W", 2.0, -6.0)]),
                                  [("X", 0.0)], config=config)
    assert better_w.ei < alone.ei
    assert score_proposals(state, [], config=config) == []
