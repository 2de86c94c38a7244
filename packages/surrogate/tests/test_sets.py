"""The set distribution: normalisation, masking, and the formula checked by brute force."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acbo_kernels
import acbo_surrogate as sur
from acbo_core import ParentSetPosterior
from acbo_core.errors import ShapeMismatchError, UnknownVariableError


def brute_force_log_q(u, v, s, target, d_real, k_max):
    """Independent: enumerate subsets with itertools and apply the formula directly."""
    cands = [i for i in range(d_real) if i != target]
    scores = {}
    for k in range(min(k_max, len(cands)) + 1):
        for combo in itertools.combinations(cands, k):
            val = sum(u[i] for i in combo) + s[k] - math.log(math.comb(len(cands), k))
            val += sum(v[i, j] for i, j in itertools.combinations(combo, 2))
            scores[combo] = val
    top = max(scores.values())
    log_z = top + math.log(sum(math.exp(x - top) for x in scores.values()))
    return {c: x - log_z for c, x in scores.items()}


@settings(max_examples=15, deadline=None)
@given(d_real=st.integers(2, 6), extra=st.integers(0, 2), k_max=st.integers(0, 3),
       seed=st.integers(0, 10_000))
def test_set_log_probs_matches_brute_force(d_real, extra, k_max, seed):
    rng = np.random.default_rng(seed)
    d = d_real + extra
    target = int(rng.integers(d_real))
    u = rng.normal(size=d) * 2
    v = rng.normal(size=(d, d))
    v = (v + v.T) / 2
    s = rng.normal(size=k_max + 1)
    table = sur.candidate_table(d, k_max)
    log_q = np.asarray(sur.set_log_probs(u, v, s, target, np.arange(d) < d_real, table))
    expected = brute_force_log_q(u, v, s, target, d_real, k_max)
    got = {tuple(int(i) for i in row if i >= 0): lq for row, lq in zip(table, log_q,
                                                                        strict=True)}
    for combo, lq in got.items():
        if combo in expected:
            assert lq == pytest.approx(expected[combo], abs=2e-4)
        else:  # holds the target or a padded variable
            assert lq == -np.inf
    assert len([x for x in log_q if np.isfinite(x)]) == len(expected)


def test_zero_logits_give_equal_mass_per_size():
    d, k_max = 12, 3
    log_q = sur.set_log_probs(jnp.zeros(d), jnp.zeros((d, d)), jnp.zeros(k_max + 1), 0,
                              jnp.ones(d, bool), sur.candidate_table(d, k_max))
    sizes = (sur.candidate_table(d, k_max) >= 0).sum(1)
    mass = [float(jnp.exp(log_q)[sizes == k].sum()) for k in range(k_max + 1)]
    np.testing.assert_allclose(mass, 0.25, rtol=1e-5)


def test_marginals_match_sum_over_sets():
    rng = np.random.default_rng(0)
    d, k_max = 6, 3
    table = sur.candidate_table(d, k_max)
    log_q = np.asarray(sur.set_log_probs(rng.normal(size=d), np.zeros((d, d)),
                                         rng.normal(size=k_max + 1), 2, np.ones(d, bool),
                                         table))
    marg = np.asarray(sur.marginals_from_sets(log_q, table, d))
    q = np.exp(log_q)
    for i in range(d):
        assert marg[i] == pytest.approx(sum(p for row, p in zip(table, q, strict=True)
                                            if i in row), abs=1e-6)
    assert marg[2] == 0.0


def test_candidate_table_is_the_kernels_and_set_index_inverts_it():
    table = sur.candidate_table(7, 3)
    np.testing.assert_array_equal(table, acbo_kernels.enumerate_parent_sets(7, None, 3))
    for r in range(len(table)):
        assert sur.set_index([i for i in table[r] if i >= 0], 7, 3) == r
    assert sur.set_index([0, 1, 2, 3], 7, 3) == -1
    with pytest.raises(ShapeMismatchError):
        sur.set_index([9], 7, 3)


def test_posterior_to_probs_roundtrip_and_errors():
    names = ("A", "B", "C", "D")
    post = ParentSetPosterior("D", (frozenset(), frozenset({"A"}), frozenset({"A", "C"}),
                                    frozenset({"A", "B", "C"})), [0.1, 0.2, 0.3, 0.4])
    probs = sur.posterior_to_probs(post, names, 8, 2)  # the 3-set is not representable
    table = sur.candidate_table(8, 2)
    back = {frozenset(names[i] for i in table[r] if i >= 0): p for r, p in enumerate(probs)
            if p > 0}
    assert back == pytest.approx({frozenset(): 1 / 6, frozenset({"A"}): 2 / 6,
                                  frozenset({"A", "C"}): 3 / 6})
    with pytest.raises(UnknownVariableError):
        sur.posterior_to_probs(post, ("A", "B", "D"), 8, 2)


def test_set_log_probs_jits_and_differentiates():
    d = 5
    table = sur.candidate_table(d, 2)

    def f(u):
        return sur.set_log_probs(u, jnp.zeros((d, d)), jnp.zeros(3), 0, jnp.ones(d, bool),
                                 table)[3]

    g = jax.jit(jax.grad(f))(jnp.zeros(d))
    assert np.isfinite(np.asarray(g)).all() and float(jnp.abs(g).sum()) > 0
