"""Doubly robust prior: Benjamini–Yekutieli, the feature test, the edge cases."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import acbo_core as ac
from acbo_core import standardisation
from acbo_expert import ParentScaleConfig
from acbo_expert.doubly_robust import benjamini_yekutieli, doubly_robust_log_prior
from acbo_expert.posterior import build_parent_set_model

FAST = ParentScaleConfig(prior="doubly_robust", n_bootstrap=4, dr_steps=40, dr_uniform_mix=0.0)


@settings(max_examples=60, deadline=None)
@given(p=st.lists(st.floats(0, 1), min_size=1, max_size=12), alpha=st.floats(0.01, 0.3))
def test_benjamini_yekutieli_matches_adjusted_p_values(p, alpha):
    # Independent formulation: BY-adjusted p-values (step-up cumulative minimum) <= alpha.
    p = np.asarray(p)
    m = len(p)
    c = np.sum(1.0 / np.arange(1, m + 1))
    order = np.argsort(p)
    adjusted = np.minimum.accumulate((p[order] * m * c / np.arange(1, m + 1))[::-1])[::-1]
    want = np.zeros(m, bool)
    want[order] = np.minimum(adjusted, 1.0) <= alpha
    np.testing.assert_array_equal(benjamini_yekutieli(p, alpha), want)


def _collider(n_obs, seed, strength=1.0):
    """Y <- {A, B}; C, D independent noise; E a cause of A."""
    names = ["A", "B", "C", "D", "E", "Y"]
    mech = {v: ac.linear_mechanism({}) for v in names}
    mech["A"] = ac.linear_mechanism({"E": 0.7})
    mech["Y"] = ac.linear_mechanism({"A": strength, "B": -strength}, noise_scale=0.5)
    scm = ac.create_scm(names, [("E", "A"), ("A", "Y"), ("B", "Y")], mech, "Y")
    return scm, np.asarray(ac.sample_observational(scm, n_obs, key=jax.random.key(seed)),
                           np.float64)


def _prior(scm, xo, config, seed=0):
    model = build_parent_set_model(scm["variables"], "Y", xo, config=config,
                                   key=jax.random.key(seed))
    return model, np.exp(model.log_prior)


def test_selects_the_true_parents():
    scm, xo = _collider(200, 0)
    model, prior = _prior(scm, xo, FAST)
    assert model.set_names[int(np.argmax(prior))] == frozenset({"A", "B"})
    np.testing.assert_allclose(prior.sum(), 1.0)


def test_empty_selection_votes_for_every_singleton():
    scm, xo = _collider(200, 1, strength=0.0)  # Y is noise: nothing should be selected
    model, prior = _prior(scm, xo, dataclasses.replace(FAST, dr_alpha=1e-6))
    singletons = [i for i, s in enumerate(model.set_names) if len(s) == 1]
    np.testing.assert_allclose(prior[singletons], 1.0 / len(singletons))
    assert prior.sum() - prior[singletons].sum() < 1e-12


def test_oversized_selection_keeps_the_strongest():
    scm, xo = _collider(200, 2)
    model, prior = _prior(scm, xo, dataclasses.replace(FAST, k_max=1))
    assert all(len(s) <= 1 for s in model.set_names)
    top = model.set_names[int(np.argmax(prior))]
    assert top <= {"A", "B"} and len(top) == 1


def test_uniform_mix_keeps_every_set_possible():
    scm, xo = _collider(200, 0)
    _, prior = _prior(scm, xo, dataclasses.replace(FAST, dr_uniform_mix=0.05))
    assert prior.min() >= 0.05 / len(prior) - 1e-12


def test_same_key_same_prior():
    scm, xo = _collider(120, 3)
    x = ((xo - standardisation(xo)[0]) / standardisation(xo)[1]).astype(np.float32)
    sets = np.asarray([[-1, -1], [0, -1], [1, -1], [0, 1]], np.int32)
    a = doubly_robust_log_prior(x, 5, sets, key=jax.random.key(4), config=FAST)
    b = doubly_robust_log_prior(x, 5, sets, key=jax.random.key(4), config=FAST)
    np.testing.assert_array_equal(a, b)
