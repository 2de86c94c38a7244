"""The batched kernel posterior against a plain per-set sequential Bayesian update."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acbo_core as ac
from acbo_expert import ParentScaleConfig, parent_set_posterior
from acbo_expert.posterior import build_parent_set_model, normalise, prune


def _features(model, x, s):
    """Features of set s for standardised rows x, in float64 (independent of the JAX code)."""
    members = [int(v) for v in model.sets[s] if v >= 0]
    if model.features == "linear":
        return x[:, members]
    xs = np.zeros((x.shape[0], model.sets.shape[1]))
    xs[:, : len(members)] = x[:, members] * model.set_scale[s]
    m = model.rff_b.shape[0]
    return np.sqrt(2.0 / m) * np.cos(xs @ model.rff_w.T.astype(np.float64) + model.rff_b)


def sequential_log_weights(model, values_int, sigma_y=1.0, sigma_theta=1.0):
    """log p(S) + sum_n log p(y_n | x_n, D_O, y_<n; S): one sample at a time, per set."""
    t = model.target
    xo = (model.x_obs.astype(np.float64) * 1.0)
    xi = (np.asarray(values_int, np.float64) - model.mean) / model.std
    xi = xi.astype(np.float32).astype(np.float64)  # the kernel sees float32 data
    out = []
    for s in range(model.sets.shape[0]):
        fo, fi = _features(model, xo, s), _features(model, xi, s)
        f = fo.shape[1]
        precision = np.eye(f) / sigma_theta**2 + fo.T @ fo / sigma_y**2
        h = fo.T @ xo[:, t] / sigma_y**2
        total = 0.0
        for n in range(xi.shape[0]):
            cov = np.linalg.inv(precision)
            mean = fi[n] @ cov @ h
            var = sigma_y**2 + fi[n] @ cov @ fi[n]
            total += -0.5 * np.log(2 * np.pi * var) - 0.5 * (xi[n, t] - mean) ** 2 / var
            precision += np.outer(fi[n], fi[n]) / sigma_y**2
            h += fi[n] * xi[n, t] / sigma_y**2
        out.append(model.log_prior[s] + total)
    return normalise(np.asarray(out))


def _interventional(scm, n_per_var, seed):
    rng = np.random.default_rng(seed)
    values, masks = [], []
    variables = scm["variables"]
    for i, v in enumerate(ac.intervenable_variables(scm)):
        lo, hi = scm["intervention_ranges"][v]
        for j in range(n_per_var):
            do = ac.create_perfect_intervention(v, float(rng.uniform(lo, hi)))
            x = np.asarray(ac.sample_interventional(scm, do, 1,
                                                    key=jax.random.key(seed * 1000 + 10 * i + j)))
            values.append(x[0])
            mask = np.zeros(len(variables), bool)
            mask[variables.index(v)] = True
            masks.append(mask)
    return np.asarray(values, np.float64), np.asarray(masks)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(3, 6))
def test_linear_posterior_matches_sequential_update(seed, d):
    scm = ac.erdos_renyi_scm(d, key=jax.random.key(seed), expected_degree=min(2.0, d - 1))
    xo = np.asarray(ac.sample_observational(scm, 40, key=jax.random.key(seed + 1)), np.float64)
    model = build_parent_set_model(scm["variables"], scm["target"], xo,
                                   config=ParentScaleConfig(k_max=2), key=None)
    values, masks = _interventional(scm, 2, seed)
    got = np.exp(model.log_weights(values, masks))
    want = np.exp(sequential_log_weights(model, values))
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("n_rff", [20, 100])  # 100 features: wider than the native kernel takes
def test_rff_posterior_matches_sequential_update(n_rff):
    scm = ac.toy_graph_scm()
    xo = np.asarray(ac.sample_observational(scm, 120, key=jax.random.key(2)), np.float64)
    cfg = ParentScaleConfig(features="rff", n_rff=n_rff)
    model = build_parent_set_model(scm["variables"], "Y", xo, config=cfg, key=jax.random.key(3))
    values, masks = _interventional(scm, 3, 7)
    got = np.exp(model.log_weights(values, masks))
    want = np.exp(sequential_log_weights(model, values))
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_rff_length_scale_maximises_observational_evidence():
    scm = ac.toy_graph_scm()
    xo = np.asarray(ac.sample_observational(scm, 100, key=jax.random.key(2)), np.float64)
    cfg = ParentScaleConfig(features="rff", n_rff=20, rff_lengthscales=(0.3, 1.0, 3.0))
    model = build_parent_set_model(scm["variables"], "Y", xo, config=cfg, key=jax.random.key(3))
    for scale in (1 / 0.3, 1.0, 1 / 3.0):
        other = model.__class__(**{**model.__dict__, "set_scale": np.full(4, scale, np.float32)})
        other.__dict__.pop("set_names", None)
        lml = other.log_marginal(model.x_obs, np.zeros(model.x_obs.shape, bool))
        assert np.all(model.lml_obs >= lml - 1e-4)


def test_log_sum_exp_survives_huge_evidence():
    logw = normalise(np.array([-50_000.0, -1_000.0, -1_001.0, -np.inf]))
    p = np.exp(logw)
    assert np.isfinite(logw[:3]).all() and p[3] == 0.0
    np.testing.assert_allclose(p[1:3], [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1))])


def test_two_parent_truth_is_found_not_a_single_parent():
    # The original code's precision-for-covariance slip put 0.88 on {X2} and 6e-5 on the true
    # {X2, X9} of a 10-node graph. Build such a graph: X9 -> X2 -> Y <- X9, X9 -> X4, plus
    # unrelated nodes; {X2} alone explains much of Y (X2 carries X9's signal).
    names = [f"X{i}" for i in range(10)] + ["Y"]
    mech = {v: ac.linear_mechanism({}) for v in names[:10]}
    mech["X2"] = ac.linear_mechanism({"X9": 0.8})
    mech["X4"] = ac.linear_mechanism({"X9": 1.0})
    mech["Y"] = ac.linear_mechanism({"X2": 1.0, "X9": -0.7})
    edges = [("X9", "X2"), ("X9", "X4"), ("X2", "Y"), ("X9", "Y")]
    scm = ac.create_scm(names, edges, mech, "Y")
    xo = np.asarray(ac.sample_observational(scm, 200, key=jax.random.key(0)), np.float64)
    model = build_parent_set_model(names, "Y", xo, config=ParentScaleConfig(), key=None)
    values, masks = _interventional(scm, 3, 1)
    _, post = prune(model, model.log_weights(values, masks), 1e-4)
    assert post.map_set() == frozenset({"X2", "X9"})
    # Supersets with an irrelevant extra member share the rest; the single parent is out.
    assert post.prob_of({"X2", "X9"}) > 20 * post.prob_of({"X2"})
    marginal = post.marginal_parent_probs()
    assert marginal["X2"] > 0.99 and marginal["X9"] > 0.8


def test_parent_set_posterior_reproduces_the_run(runs):
    result = runs["parent_scale"]
    cfg = result.config
    for t in (0, result.T):
        post = parent_set_posterior(result.buffer_at(t), result.target, config=cfg)
        want = result.posterior_probabilities[t]
        assert post.parent_sets == want.parent_sets
        np.testing.assert_allclose(post.probs, want.probs, atol=1e-12)


def test_parent_set_posterior_keeps_the_configs_settings_unless_told(runs):
    result = runs["parent_scale"]
    cfg = dataclasses.replace(result.config, k_max=2, prune_threshold=0.0)
    buffer = result.buffer_at(result.T)
    from_config = parent_set_posterior(buffer, result.target, config=cfg)
    assert max(map(len, from_config.parent_sets)) == 2  # the config's k_max, not 3
    assert len(from_config.parent_sets) == 1 + 5 + 10  # 5 candidates: none pruned at 0
    told = parent_set_posterior(buffer, result.target, k_max=1, config=cfg)
    assert max(map(len, told.parent_sets)) == 1


def test_parent_set_posterior_checks_its_input(er_scm):
    from acbo_core.errors import ConfigError, UnknownVariableError
    buf = ac.create_buffer(er_scm["variables"]).add_observations(
        np.asarray(ac.sample_observational(er_scm, 3, key=jax.random.key(0))))
    with pytest.raises(UnknownVariableError):
        parent_set_posterior(buf, "nope")
    with pytest.raises(ConfigError):  # 3 rows, 5 candidate parents
        parent_set_posterior(buf, er_scm["target"])
    with pytest.raises(ConfigError):  # random features need a key
        parent_set_posterior(buf, er_scm["target"], features="rff")


def test_pruning_keeps_the_most_probable_sets_in_order():
    scm = ac.chain_scm(4, key=jax.random.key(0))
    xo = np.asarray(ac.sample_observational(scm, 50, key=jax.random.key(1)), np.float64)
    model = build_parent_set_model(scm["variables"], scm["target"], xo,
                                   config=ParentScaleConfig(), key=None)
    logw = normalise(np.linspace(-20, 0, model.sets.shape[0]))
    keep, post = prune(model, logw, 1e-3)
    p = np.exp(logw)
    assert set(keep) == set(np.flatnonzero(p >= 1e-3))
    assert list(post.probs) == sorted(post.probs, reverse=True)
    np.testing.assert_allclose(post.probs.sum(), 1.0)
