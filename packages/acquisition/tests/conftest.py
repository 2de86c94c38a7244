"""Shared fixtures: small linear SCMs, states over them, and a scripted expert."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import acbo_acquisition as aq
import acbo_core as ac

# One tiny network for every test, so each jitted function compiles once per session.
TINY = aq.PolicyConfig(hidden_dim=16, n_layers=1, n_heads=2, widening_factor=2, n_value_bins=5)


def make_state(scm, key, *, n_obs=40, n_int=0, minimize=True, truth_prob=0.7):
    """A state with observational data, ``n_int`` random single-variable interventions and a
    posterior that puts ``truth_prob`` on the true parent set."""
    k_obs, k_int = jax.random.split(key)
    buf = ac.create_buffer(scm["variables"]).add_observations(
        np.asarray(ac.sample_observational(scm, n_obs, key=k_obs)))
    names = ac.intervenable_variables(scm)
    for i, k in enumerate(jax.random.split(k_int, n_int)):
        var = names[i % len(names)]
        lo, hi = scm["intervention_ranges"][var]
        iv = ac.create_perfect_intervention(var, float(lo + (hi - lo) * jax.random.uniform(k)))
        buf = buf.add_interventions(iv, np.asarray(ac.sample_interventional(scm, iv, 1, key=k)))
    target = scm["target"]
    truth = frozenset(ac.true_parents(scm))
    sets = [truth] + [frozenset({v}) for v in names if frozenset({v}) != truth]
    if frozenset() != truth:
        sets.append(frozenset())
    probs = np.full(len(sets), (1 - truth_prob) / (len(sets) - 1))
    probs[0] = truth_prob
    posterior = ac.ParentSetPosterior(target, sets, probs)
    ranges = {v: scm["intervention_ranges"][v] for v in names}
    return ac.create_acquisition_state(buf, posterior, intervention_ranges=ranges,
                                       step=n_int, minimize=minimize)


def scripted_action(state):
    """A rule the policy can learn from its features: the variable and range end with the
    largest gain predicted by the posterior-mean slope (features 8 and 9)."""
    x = aq.encode_state(state)
    gain = np.maximum(x.features[:, 8], x.features[:, 9])
    gain[~x.intervenable] = -np.inf
    j = int(np.argmax(gain))
    name = state.buffer.variables[j]
    lo, hi = state.intervention_ranges[name]
    return ac.create_perfect_intervention(name, lo if x.features[j, 8] > x.features[j, 9] else hi)


def make_problem_set(seeds, *, n_int=0):
    seeds = list(seeds)
    scms = [ac.erdos_renyi_scm(4 + s % 3, key=jax.random.key(s)) for s in seeds]
    states = [make_state(m, jax.random.key(1000 + s), n_int=n_int)
              for m, s in zip(scms, seeds, strict=True)]
    return scms, states


@pytest.fixture(scope="session")
def train_set():
    return make_problem_set(range(24))


@pytest.fixture(scope="session")
def test_set():
    return make_problem_set(range(500, 516))


@pytest.fixture(scope="session")
def small_scm():
    return ac.erdos_renyi_scm(5, key=jax.random.key(7))


@pytest.fixture(scope="session")
def small_state(small_scm):
    return make_state(small_scm, jax.random.key(8), n_int=3)


@pytest.fixture(scope="session")
def h():
    """The helpers above, for test modules (conftest is not importable under importlib mode)."""
    import types

    return types.SimpleNamespace(TINY=TINY, make_state=make_state,
                                 scripted_action=scripted_action,
                                 make_problem_set=make_problem_set)
