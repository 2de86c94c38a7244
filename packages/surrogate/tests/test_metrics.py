"""Metrics against brute-force definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acbo_surrogate as sur
from acbo_core import ParentSetPosterior


def test_f1():
    assert sur.f1_score({"a", "b"}, {"a", "b"}) == 1.0
    assert sur.f1_score({"a"}, {"a", "b"}) == pytest.approx(2 / 3)
    assert sur.f1_score(set(), {"a"}) == 0.0
    assert sur.f1_score(set(), set()) == 1.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=30))
def test_auroc_is_the_pairwise_probability(items):
    scores = [s / 5 for s, _ in items]
    labels = [y for _, y in items]
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        assert np.isnan(sur.auroc(scores, labels))
        return
    brute = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg])
    assert sur.auroc(scores, labels) == pytest.approx(brute)


def test_auprc_known_values():
    assert sur.auprc([0.9, 0.8, 0.7, 0.1], [1, 1, 0, 0]) == pytest.approx(1.0)
    # ranks: pos at 1 and 3 -> AP = (1/1 + 2/3) / 2
    assert sur.auprc([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    # all tied: precision is the base rate
    assert sur.auprc([0.5] * 4, [1, 0, 0, 0]) == pytest.approx(0.25)


def test_ece():
    assert sur.expected_calibration_error([0.95, 0.95, 0.05, 0.05], [1, 1, 0, 0]) == \
        pytest.approx(0.05)
    assert sur.expected_calibration_error([0.9] * 10, [1] * 5 + [0] * 5) == pytest.approx(0.4)


def test_kl_divergence():
    a = ParentSetPosterior("y", (frozenset(), frozenset({"x"})), [0.5, 0.5])
    b = ParentSetPosterior("y", (frozenset(), frozenset({"x"})), [0.9, 0.1])
    expected = 0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1)
    assert sur.kl_divergence(a, b) == pytest.approx(expected)
    assert sur.kl_divergence(a, a) == pytest.approx(0.0, abs=1e-12)
    pruned = ParentSetPosterior("y", (frozenset(),), [1.0])
    assert sur.kl_divergence(a, pruned, floor=1e-6) == pytest.approx(
        0.5 * np.log(0.5) + 0.5 * np.log(0.5 / 1e-6))


def test_posterior_metrics():
    names = ("a", "b", "c", "y")
    p1 = ParentSetPosterior("y", (frozenset({"a"}), frozenset({"b"})), [0.8, 0.2])
    p2 = ParentSetPosterior("y", (frozenset({"b", "c"}), frozenset({"c"})), [0.6, 0.4])
    out = sur.posterior_metrics([p1, p2], [{"a"}, {"c"}], [names, names], references=[p1, p1])
    assert out["f1"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert out["top1_accuracy"] == 0.5
    # median models: {a} (a=.8) and {b, c} (b=.6, c=1.0)
    assert out["median_f1"] == pytest.approx((1.0 + 2 / 3) / 2)
    # marginals: p1 a=.8 b=.2 c=0 ; p2 a=0 b=.6 c=1.0 ; truth a | c
    assert out["auroc"] == pytest.approx(sur.auroc([.8, .2, 0, 0, .6, 1.0],
                                                   [1, 0, 0, 0, 0, 1]))
    assert out["kl"] > 0
