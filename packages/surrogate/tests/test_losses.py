"""Losses against direct numpy formulas."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import acbo_surrogate as sur


def _log_softmax(x):
    x = np.asarray(x, np.float64)
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(
        -1, keepdims=True)


def test_kl_matches_numpy_and_vanishes_at_equality():
    rng = np.random.default_rng(0)
    log_q = _log_softmax(rng.normal(size=(3, 10)))
    p = np.exp(_log_softmax(rng.normal(size=(3, 10))))
    p[1, :4] = 0.0
    p[1] /= p[1].sum()
    expected = [sum(pi * (np.log(pi) - lq) for pi, lq in zip(p[b], log_q[b], strict=True)
                    if pi > 0) for b in range(3)]
    np.testing.assert_allclose(np.asarray(sur.kl_to_expert(log_q, p)), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(sur.kl_to_expert(log_q, np.exp(log_q))), 0.0,
                               atol=1e-5)
    # -inf in the model where the expert has no mass is fine
    log_q2 = log_q.copy()
    log_q2[1, :4] = -np.inf
    assert np.isfinite(np.asarray(sur.kl_to_expert(log_q2, p))).all()


def test_true_set_nll_and_bce():
    log_q = _log_softmax(np.arange(12.0).reshape(2, 6))
    nll = np.asarray(sur.true_set_nll(log_q, np.asarray([4, -1])))
    assert nll[0] == pytest.approx(-log_q[0, 4], rel=1e-5) and nll[1] == 0.0
    m = np.asarray([[0.9, 0.2, 0.5, 0.7]])
    y = np.asarray([[1.0, 0.0, 1.0, 0.0]])
    mask = np.asarray([[True, True, True, False]])
    expected = -(np.log(0.9) + np.log(0.8) + np.log(0.5)) / 3
    assert float(sur.parent_bce(m, y, mask)[0]) == pytest.approx(expected, rel=1e-5)


def test_loss_fn_mixes_only_available_supervision():
    d, k_max = 4, 2
    table = sur.candidate_table(d, k_max)
    k = len(table)
    outputs = sur.ModelOutputs(jnp.zeros((2, d)), jnp.zeros((2, d, d)), jnp.zeros((2, 3)))
    expert = np.zeros((2, k), np.float32)
    expert[1, 0] = 1.0  # the empty set
    batch = sur.Batch(np.zeros((2, 8, d, 3), np.float32), np.ones((2, 8), bool),
                      np.ones((2, d), bool), np.asarray([0, 0], np.int32),
                      np.asarray([[0, 1, 0, 0], [0, 0, 0, 0]], np.float32),
                      np.asarray([1.0, 0.0], np.float32),
                      np.asarray([sur.set_index([1], d, k_max), -1], np.int32),
                      expert, np.asarray([0.0, 1.0], np.float32))
    cfg = sur.TrainConfig(kl_weight=2.0, set_nll_weight=3.0, bce_weight=5.0)
    loss, parts = sur.loss_fn(outputs, batch, table, cfg)
    log_q = np.asarray(sur.batch_log_probs(outputs, batch.target, batch.var_mask, table))
    kl = -log_q[1, 0]  # example 1 only
    nll = -log_q[0, sur.set_index([1], d, k_max)]  # example 0 only
    assert float(parts["kl"]) == pytest.approx(kl, rel=1e-5)
    assert float(parts["set_nll"]) == pytest.approx(nll, rel=1e-5)
    assert float(loss) == pytest.approx(2 * kl + 3 * nll + 5 * float(parts["bce"]), rel=1e-5)
