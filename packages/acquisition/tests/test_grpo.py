import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import acbo_acquisition as aq
import acbo_core as ac

GRPO = aq.GRPOConfig(group_size=32, batch_size=8, learning_rate=3e-3)
NO_BC = aq.ImitationConfig(use_behavioral_cloning=False)


@pytest.fixture(scope="module")
def problems(train_set, h):
    scms, states = train_set
    return aq.make_grpo_problems(states, scms, n_bins=h.TINY.n_value_bins, n_vars=6,
                                 expert_actions=[h.scripted_action(s) for s in states])


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, (3, 7), elements=st.floats(-100, 100)),
       st.floats(0.1, 10.0), st.floats(-10, 10))
def test_group_advantages(rewards, a, c):
    """Against a float64 formula; float32 round-off grows with |mean| / std."""
    for r in (rewards, a * rewards + c):
        r32 = r.astype(np.float32).astype(np.float64)
        adv = np.asarray(aq.group_advantages(jnp.asarray(r, jnp.float32)), np.float64)
        mean, std = r32.mean(-1, keepdims=True), r32.std(-1, keepdims=True)
        spread = (std > 1e-3 * (1 + np.abs(mean)))[:, 0]
        tol = 1e-5 * (1 + np.abs(mean[spread]) / std[spread])
        assert (np.abs(adv[spread] - (r32[spread] - mean[spread]) / std[spread]) <= tol).all()
        assert (np.abs(adv[spread].mean(-1, keepdims=True)) <= tol).all()
        assert (adv[np.ptp(r32, axis=-1) == 0] == 0).all()  # a constant group: no signal
    assert (np.asarray(aq.group_advantages(jnp.full((2, 5), c))) == 0).all()


def test_clipped_objective_and_k3():
    eps = 0.2
    logp = jnp.log(jnp.asarray([1.5, 1.5, 0.5, 0.5, 1.1]))
    old = jnp.zeros(5)
    adv = jnp.asarray([1.0, -1.0, 1.0, -1.0, 2.0])
    surrogate, kl, clipped = aq.grpo_loss_terms(logp, old, old, adv, eps)
    np.testing.assert_allclose(surrogate, [1.2, -1.5, 0.5, -0.8, 2.2], rtol=1e-6)
    np.testing.assert_array_equal(clipped, [True, True, True, True, False])
    r = np.exp(-np.asarray(logp))  # ref / policy
    np.testing.assert_allclose(kl, r - np.log(r) - 1, rtol=1e-5)
    assert (np.asarray(kl) >= 0).all()
    assert float(aq.grpo_loss_terms(old, old, old, adv, eps)[1].max()) == 0.0
    # no gradient through a clipped sample whose advantage pushes further out
    grad = jax.grad(lambda lp: aq.grpo_loss_terms(lp, old, old, adv, eps)[0].sum())(logp)
    np.testing.assert_allclose(grad, [0.0, -1.5, 0.5, 0.0, 2.2], rtol=1e-5)


def test_rollout_is_consistent(problems, h):
    state = aq.init_grpo(jax.random.key(0), policy_config=h.TINY, grpo_config=GRPO)
    new, roll = aq.grpo_rollout(state, problems, policy_config=h.TINY, grpo_config=GRPO)
    assert roll.variable.shape == (GRPO.batch_size, GRPO.group_size)
    assert not np.array_equal(jax.random.key_data(new.key), jax.random.key_data(state.key))
    idx = np.asarray(roll.idx)
    assert len(set(idx.tolist())) == GRPO.batch_size  # without replacement
    intervenable = np.asarray(problems.inputs.intervenable)[idx]
    assert np.take_along_axis(intervenable, np.asarray(roll.variable), 1).all()
    t = np.asarray(problems.tables.target)[idx]
    y = np.take_along_axis(np.asarray(roll.rows), t[:, None, None], axis=2)[..., 0]
    best = np.asarray(problems.tables.best)[idx][:, None]
    scale = np.asarray(problems.tables.scale)[idx][:, None]
    np.testing.assert_allclose(roll.improvement, (best - y) / scale, rtol=1e-4, atol=1e-5)
    lo = np.asarray(problems.inputs.lo)[idx]
    hi = np.asarray(problems.inputs.hi)[idx]
    v, b = np.asarray(roll.variable), np.asarray(roll.value_bin)
    x = np.take_along_axis(lo, v, 1) + np.take_along_axis(hi - lo, v, 1) * b / 4
    np.testing.assert_allclose(np.take_along_axis(np.asarray(roll.rows), v[..., None], 2)[..., 0],
                               x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(roll.old_logp, roll.ref_logp)  # the policy is its reference


@pytest.fixture(scope="module")
def cold_run(problems, h):
    state = aq.init_grpo(jax.random.key(1), policy_config=h.TINY, grpo_config=GRPO)
    before = aq.expected_rewards(state.params, problems, policy_config=h.TINY)
    final, history = aq.train_grpo(problems, state, n_updates=120, policy_config=h.TINY,
                                   grpo_config=GRPO, imitation_config=NO_BC)
    return state, final, history, before


def test_grpo_improves_the_expected_reward(cold_run, problems, h):
    start, final, history, before = cold_run
    after = aq.expected_rewards(final.params, problems, policy_config=h.TINY)
    gap = before["oracle"].mean() - before["policy"].mean()
    assert after["policy"].mean() - before["policy"].mean() > 0.5 * gap
    assert np.mean([m["reward_mean"] for m in history[-20:]]) > \
        np.mean([m["reward_mean"] for m in history[:20]]) + 0.3
    assert history[0]["kl"] == pytest.approx(0.0, abs=1e-6) and history[-1]["kl"] > 0
    for a, b in zip(jax.tree_util.tree_leaves(final.ref_params),
                    jax.tree_util.tree_leaves(start.params), strict=True):
        np.testing.assert_array_equal(a, b)  # the reference never moves
    assert int(final.step) == 120


def test_imitation_term_pulls_towards_the_expert(problems, h):
    cfg = GRPO
    strong = aq.ImitationConfig(imitation_weight=10.0)
    state = aq.init_grpo(jax.random.key(2), policy_config=h.TINY, grpo_config=cfg)
    nll = [m["imitation_nll"] for m in aq.train_grpo(
        problems, state, n_updates=60, policy_config=h.TINY, grpo_config=cfg,
        imitation_config=strong)[1]]
    assert np.mean(nll[-10:]) < 0.6 * np.mean(nll[:10])


def test_posterior_entropy_reward(problems, train_set, h):
    _, states = train_set
    cfg = aq.GRPOConfig(group_size=32, batch_size=8, learning_rate=3e-3, entropy_drop_weight=2.0)
    calls = []

    def certain(state, intervention, row):  # the new row settles the parent set
        calls.append((intervention, row))
        return ac.ParentSetPosterior(state.target, state.posterior.parent_sets[:1], [1.0])

    state = aq.init_grpo(jax.random.key(3), policy_config=h.TINY, grpo_config=cfg)
    with pytest.raises(aq.ConfigError, match="posterior_update"):
        aq.grpo_step(state, problems, policy_config=h.TINY, grpo_config=cfg)
    _, metrics = aq.grpo_step(state, problems, policy_config=h.TINY, grpo_config=cfg,
                              states=states, posterior_update=certain)
    _, roll = aq.grpo_rollout(state, problems, policy_config=h.TINY, grpo_config=cfg)
    drops = [states[int(i)].posterior.entropy() for i in np.asarray(roll.idx)]
    assert metrics["entropy_drop_mean"] == pytest.approx(np.mean(drops), rel=1e-5)
    assert metrics["reward_mean"] == pytest.approx(
        float(roll.improvement.mean()) + 2.0 * np.mean(drops), rel=1e-4)
    assert len(calls) == 32 * 8
    intervention, row = calls[0]
    (var,) = intervention["targets"]
    assert row[var] == intervention["values"][var]


def test_resuming_grpo_equals_running_through(problems, h, tmp_path):
    cfg = aq.AcquisitionConfig(policy=h.TINY, grpo=GRPO)
    fresh = aq.init_grpo(jax.random.key(4), policy_config=h.TINY, grpo_config=GRPO)
    run = lambda s, n: aq.train_grpo(problems, s, n_updates=n, policy_config=h.TINY,  # noqa
                                     grpo_config=GRPO, imitation_config=NO_BC)[0]
    straight = run(fresh, 4)
    aq.save_training_state(tmp_path / "g", run(fresh, 2), config=cfg)
    restored, _ = aq.load_training_state(tmp_path / "g", fresh, config=cfg)
    resumed = run(restored, 2)
    for a, b in zip(jax.tree_util.tree_leaves(straight), jax.tree_util.tree_leaves(resumed),
                    strict=True):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def mixed(train_set, h):
    """Linear and nonlinear (Fourier, named) problems in one set."""
    scms, states = train_set
    nonlinear = [ac.erdos_renyi_scm(6, key=jax.random.key(40 + s), mechanism="fourier")
                 for s in range(4)] + [ac.toy_graph_scm()]
    # 24 problems of 6 variables, like `problems`: the jitted steps compile once for both
    scms = list(scms[:19]) + nonlinear
    states = list(states[:19]) + [h.make_state(m, jax.random.key(60 + i))
                                  for i, m in enumerate(nonlinear)]
    problems = aq.make_grpo_problems(states, scms, n_bins=h.TINY.n_value_bins, n_vars=6,
                                     key=jax.random.key(7), n_samples=128)
    return states, problems


def test_grpo_runs_on_a_mixed_batch(mixed, h):
    states, problems = mixed
    assert np.asarray(problems.tables.has_rows).tolist() == [True] * 19 + [False] * 5
    cfg = GRPO
    state = aq.init_grpo(jax.random.key(0), policy_config=h.TINY, grpo_config=cfg)
    _, roll = aq.grpo_rollout(state, problems, policy_config=h.TINY, grpo_config=cfg)
    idx = np.asarray(roll.idx)
    assert (idx >= 19).sum() >= 2  # nonlinear problems in the batch
    t = np.asarray(problems.tables.target)[idx]
    y = np.take_along_axis(np.asarray(roll.rows), t[:, None, None], axis=2)[..., 0]
    pick = lambda a: np.asarray(a)[idx[:, None], np.asarray(roll.variable),  # noqa: E731
                                   np.asarray(roll.value_bin)]
    z = (y - pick(problems.tables.grid_mean)) / pick(problems.tables.grid_sd)
    assert abs(z.mean()) < 0.5 and 0.7 < z.std() < 1.3  # y ~ N(grid_mean, grid_sd^2)
    final, history = aq.train_grpo(problems, state, n_updates=3, policy_config=h.TINY,
                                   grpo_config=cfg, imitation_config=NO_BC)
    assert int(final.step) == 3 and all(np.isfinite(list(m.values())).all() for m in history)
    r = aq.expected_rewards(final.params, problems, policy_config=h.TINY)
    assert all(np.isfinite(v).all() and v.shape == (24,) for v in r.values())
    with pytest.raises(aq.ConfigError, match="linear"):  # nonlinear SCMs have no rows
        aq.grpo_step(state, problems, policy_config=h.TINY,
                     grpo_config=dataclasses.replace(GRPO, entropy_drop_weight=1.0),
                     states=states, posterior_update=lambda s, i, r: s.posterior)


def test_grpo_learns_a_nonlinear_toy_problem(h):
    """The CBO toy graph (named, nonlinear mechanisms): the greedy action's expected reward
    rises towards the best action's (do(Z = -5))."""
    scm = ac.toy_graph_scm()
    states = [h.make_state(scm, jax.random.key(80 + i)) for i in range(4)]
    problems = aq.make_grpo_problems(states, [scm] * 4, n_bins=h.TINY.n_value_bins,
                                     key=jax.random.key(0), n_samples=256)
    # one SCM and one set of ranges: the states share one Monte-Carlo grid, each its own best
    np.testing.assert_array_equal(problems.tables.grid_mean[0], problems.tables.grid_mean[3])
    np.testing.assert_allclose(problems.tables.best, [s.best_value for s in states], rtol=1e-6)
    cfg = aq.GRPOConfig(group_size=32, batch_size=4, learning_rate=3e-3)
    state = aq.init_grpo(jax.random.key(9), policy_config=h.TINY, grpo_config=cfg)
    before = aq.expected_rewards(state.params, problems, policy_config=h.TINY)
    final, _ = aq.train_grpo(problems, state, n_updates=40, policy_config=h.TINY,
                             grpo_config=cfg, imitation_config=NO_BC)
    after = aq.expected_rewards(final.params, problems, policy_config=h.TINY)
    gap = before["oracle"].mean() - before["greedy"].mean()
    assert gap > 0.1
    assert after["greedy"].mean() - before["greedy"].mean() > 0.5 * gap
    assert after["policy"].mean() > before["policy"].mean()


def test_bins_must_match_the_policy(problems, h):
    other = aq.PolicyConfig(hidden_dim=16, n_layers=1, n_heads=2, widening_factor=2,
                            n_value_bins=h.TINY.n_value_bins + 2)
    state = aq.init_grpo(jax.random.key(0), policy_config=other, grpo_config=GRPO)
    with pytest.raises(ac.errors.ShapeMismatchError, match="n_value_bins"):
        aq.grpo_rollout(state, problems, policy_config=other, grpo_config=GRPO)
    with pytest.raises(ac.errors.ShapeMismatchError, match="n_value_bins"):
        aq.expected_rewards(state.params, problems, policy_config=other)


def test_bad_problem_sets(train_set, h):
    scms, states = train_set
    with pytest.raises(ac.errors.ShapeMismatchError, match="SCMs"):
        aq.make_grpo_problems(states[:2], scms[:1], n_bins=5)
    with pytest.raises(ac.errors.ShapeMismatchError):
        aq.make_grpo_problems([], [], n_bins=5)
    with pytest.raises(ac.errors.UnknownVariableError):
        aq.make_grpo_problems(states[:2], scms[1:3], n_bins=5)
    toy = ac.toy_graph_scm()
    with pytest.raises(ac.errors.UnsupportedMechanismError, match="key"):
        aq.make_grpo_problems([h.make_state(toy, jax.random.key(0))], [toy], n_bins=5)
    with pytest.raises(aq.ConfigError, match="n_updates"):
        aq.train_grpo(aq.make_grpo_problems(states[:1], scms[:1], n_bins=5),
                      aq.init_grpo(jax.random.key(0), policy_config=h.TINY),
                      n_updates=-1, policy_config=h.TINY)
