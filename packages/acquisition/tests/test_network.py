import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acbo_acquisition as aq

CFG = aq.PolicyConfig(hidden_dim=16, n_layers=2, n_heads=2, n_value_bins=5)


def _random_inputs(seed, d=6):
    rng = np.random.default_rng(seed)
    intervenable = rng.random(d) < 0.7
    intervenable[0] = True
    return aq.PolicyInputs(rng.normal(size=(d, aq.N_FEATURES)).astype(np.float32),
                           np.ones(d, bool), intervenable, np.zeros(d, np.float32),
                           np.ones(d, np.float32))


@pytest.fixture(scope="module")
def params():
    return aq.init_policy_params(jax.random.key(0), CFG)


def _apply(params, x):
    return aq.apply_policy(params, aq.stack_inputs([x]), config=CFG)


def test_permutation_equivariance(params):
    x = _random_inputs(1)
    perm = np.random.default_rng(2).permutation(6)
    px = aq.PolicyInputs(*(np.asarray(a)[perm] for a in x))
    a, b = _apply(params, x), _apply(params, px)
    np.testing.assert_allclose(b.variable_logits[0], a.variable_logits[0][perm], atol=1e-5)
    np.testing.assert_allclose(b.value_logits[0], a.value_logits[0][perm], atol=1e-5)
    np.testing.assert_allclose(b.state_value, a.state_value, atol=1e-5)


def test_padding_changes_nothing(params):
    x = _random_inputs(3)
    alone = _apply(params, x)
    padded = aq.apply_policy(params, aq.stack_inputs([x], n_vars=9), config=CFG)
    np.testing.assert_allclose(padded.variable_logits[0, :6], alone.variable_logits[0], atol=1e-5)
    np.testing.assert_allclose(padded.value_logits[0, :6], alone.value_logits[0], atol=1e-5)
    np.testing.assert_allclose(padded.state_value, alone.state_value, atol=1e-5)
    assert (padded.variable_logits[0, 6:] == aq.NEG_INF).all()


def test_masked_variables_get_no_mass(params):
    x = _random_inputs(4)
    out = jax.tree_util.tree_map(lambda a: a[0], _apply(params, x))
    probs = np.asarray(aq.action_probs(out))
    assert probs[~x.intervenable].sum() == 0
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_log_prob_and_entropy_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    d, k = 4, 5
    mask = rng.random(d) < 0.7
    mask[rng.integers(d)] = True
    out = aq.PolicyOutputs(jnp.where(mask, jnp.asarray(rng.normal(size=d) * 3), aq.NEG_INF),
                           jnp.asarray(rng.normal(size=(d, k)) * 3), jnp.zeros(()))
    p_var = np.exp(out.variable_logits - out.variable_logits.max())
    p_var /= p_var.sum()
    p_bin = np.exp(out.value_logits - out.value_logits.max(-1, keepdims=True))
    p_bin /= p_bin.sum(-1, keepdims=True)
    joint = p_var[:, None] * p_bin
    vs, bs = np.meshgrid(np.arange(d), np.arange(k), indexing="ij")
    lp = np.asarray(aq.log_prob(out, vs, bs))
    np.testing.assert_allclose(np.exp(lp)[mask], joint[mask], rtol=1e-4, atol=1e-7)
    nz = joint > 0
    h = -(joint[nz] * np.log(joint[nz])).sum()
    assert float(aq.entropy(out)) == pytest.approx(h, rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(aq.action_probs(out), joint, rtol=1e-4, atol=1e-7)


def test_sampling_follows_the_distribution():
    out = aq.PolicyOutputs(jnp.asarray([0.0, 1.0, aq.NEG_INF]),
                           jnp.asarray([[0.0, 0.0], [2.0, 0.0], [0.0, 0.0]]), jnp.zeros(()))
    v, b = aq.sample_actions(out, jax.random.key(0), 20_000)
    joint = np.zeros((3, 2))
    np.add.at(joint, (np.asarray(v), np.asarray(b)), 1.0 / 20_000)
    np.testing.assert_allclose(joint, np.asarray(aq.action_probs(out)), atol=0.015)
    assert aq.mode_action(out) == (1, 0)


def test_bin_values_span_the_range():
    grid = np.asarray(aq.bin_values(np.array([-2.0, 0.0]), np.array([2.0, 10.0]), 5))
    np.testing.assert_allclose(grid, [[-2, -1, 0, 1, 2], [0, 2.5, 5, 7.5, 10]])
