"""The network: shapes, invariance to sample order, equivariance to variable order, padding,
and the parameter-free statistics checked against numpy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acbo_surrogate as sur
from acbo_surrogate.model import _spd_inverse

TINY_FIELDS = dict(k_max=2, cell_dim=8, cell_layers=1, cell_heads=2, inducing_points=4,
                   moment_channels=4, pair_dim=8, var_dim=16, var_layers=1, var_heads=2)

_APPLY = jax.jit(sur.forward_fn(sur.ModelConfig(**TINY_FIELDS)).apply)


def _apply(params, enc, sm=None, vm=None):
    n, d, _ = enc.shape
    sm = np.ones(n, bool) if sm is None else sm
    vm = np.ones(d, bool) if vm is None else vm
    return _APPLY(params, jnp.asarray(enc), sm, vm)


def _encoding(small_problem):
    scm, buffer = small_problem
    return np.asarray(buffer.network_encoding(None, scm["target"])), scm, buffer


def test_output_shapes_and_symmetry(tiny_params, small_problem):
    enc, _, _ = _encoding(small_problem)
    out = _apply(tiny_params, enc)
    d = enc.shape[1]
    assert out.parent_logits.shape == (d,)
    assert out.pair_logits.shape == (d, d)
    assert out.size_logits.shape == (TINY_FIELDS["k_max"] + 1,)
    v = np.asarray(out.pair_logits)
    np.testing.assert_allclose(v, v.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(v), 0.0)


def _nonzero_params(params):
    # The output layers start at zero; perturb every leaf so the checks see a generic network.
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(7), len(leaves))
    return jax.tree.unflatten(treedef, [x + 0.3 * jax.random.normal(k, x.shape)
                                        for x, k in zip(leaves, keys, strict=True)])


def test_invariant_to_sample_order(tiny_params, small_problem):
    params = _nonzero_params(tiny_params)
    enc, _, _ = _encoding(small_problem)
    perm = np.random.default_rng(0).permutation(enc.shape[0])
    a, b = _apply(params, enc), _apply(params, enc[perm])
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=2e-4, rtol=1e-4)


def test_equivariant_to_variable_order(tiny_params, small_problem):
    params = _nonzero_params(tiny_params)
    enc, _, _ = _encoding(small_problem)
    perm = np.random.default_rng(1).permutation(enc.shape[1])
    a, b = _apply(params, enc), _apply(params, enc[:, perm])
    np.testing.assert_allclose(np.asarray(a.parent_logits)[perm], np.asarray(b.parent_logits),
                               atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(a.pair_logits)[np.ix_(perm, perm)],
                               np.asarray(b.pair_logits), atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(a.size_logits), np.asarray(b.size_logits),
                               atol=2e-4, rtol=1e-4)


def test_padding_does_not_change_outputs(tiny_params, small_problem):
    params = _nonzero_params(tiny_params)
    enc, _, _ = _encoding(small_problem)
    n, d, _ = enc.shape
    padded = np.zeros((n + 13, d + 3, 3), np.float32)
    padded[:n, :d] = enc
    padded[n:, :, 0] = 5.0  # garbage in the padding must be ignored
    a = _apply(params, enc)
    b = _apply(params, padded, np.arange(n + 13) < n, np.arange(d + 3) < d)
    np.testing.assert_allclose(np.asarray(a.parent_logits), np.asarray(b.parent_logits)[:d],
                               atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(a.pair_logits),
                               np.asarray(b.pair_logits)[:d, :d], atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(a.size_logits), np.asarray(b.size_logits),
                               atol=2e-4, rtol=1e-4)


@settings(max_examples=20, deadline=None)
@given(d=st.integers(1, 30), seed=st.integers(0, 1000))
def test_spd_inverse_matches_numpy(d, seed):
    x = np.random.default_rng(seed).normal(size=(3 * d + 5, d))
    a = np.corrcoef(x.T).reshape(d, d) + 0.05 * np.eye(d)
    got = np.asarray(jax.jit(_spd_inverse)(jnp.asarray(a, jnp.float32)))
    np.testing.assert_allclose(got, np.linalg.inv(a), atol=2e-3 * max(1, np.abs(
        np.linalg.inv(a)).max()))


def test_pair_statistics_against_numpy():
    rng = np.random.default_rng(0)
    n, d = 300, 5
    x = rng.normal(size=(n, d))
    x[:, 1] += 0.8 * x[:, 0]
    x[:, 4] += x[:, 1] - 0.5 * x[:, 2]
    x = (x - x.mean(0)) / x.std(0)
    enc = np.zeros((n + 20, d + 2, 3), np.float32)
    enc[:n, :d, 0] = x
    enc[n - 10:n, 2, 1] = 1.0  # the last 10 rows intervene on variable 2
    sm, vm = np.arange(n + 20) < n, np.arange(d + 2) < d
    stats = np.asarray(sur.pair_statistics(jnp.asarray(enc), sm, vm, (0.05,)))
    assert stats.shape[:2] == (d + 2, d + 2)
    np.testing.assert_allclose(stats[:d, :d, 0], np.corrcoef(x.T), atol=1e-4)
    np.testing.assert_allclose(stats[:d, :d, 1], np.corrcoef(x[: n - 10].T), atol=1e-4)
    p = np.linalg.inv(np.corrcoef(x.T) + 0.05 * np.eye(d))
    pc = -p / np.sqrt(np.outer(np.diag(p), np.diag(p)))
    np.fill_diagonal(pc, 0.0)
    np.testing.assert_allclose(stats[:d, :d, 2], pc, atol=1e-4)
    co = x[n - 10:, 2] @ x[n - 10:] / 11.0
    co[2] = 0.0
    np.testing.assert_allclose(stats[2, :d, 3], co, atol=1e-4)
    assert np.all(stats[d:, :, :] == 0) and np.all(stats[:, d:, :] == 0)


def test_model_is_plain_haiku(tiny_config):
    params = sur.init_params(jax.random.key(1), tiny_config)
    assert all(k.startswith("parent_set_model") for k in params)
    n_params = sum(x.size for x in jax.tree.leaves(params))
    assert 1_000 < n_params < 100_000
    with pytest.raises(ValueError):  # haiku refuses parameters of another architecture
        big = sur.ModelConfig(cell_dim=16, cell_heads=2, var_dim=32, var_heads=2, k_max=2,
                              inducing_points=4, moment_channels=4, pair_dim=8, var_layers=1,
                              cell_layers=1)
        sur.forward_fn(big).apply(params, jnp.zeros((4, 3, 3)), jnp.ones(4, bool),
                                  jnp.ones(3, bool))
