import jax
import numpy as np
import pytest

import acbo_acquisition as aq


@pytest.fixture(scope="module")
def data(train_set, h):
    scms, states = train_set
    actions = [h.scripted_action(s) for s in states]
    bc = aq.make_bc_data(states, actions, n_bins=h.TINY.n_value_bins, n_vars=6)
    problems = aq.make_grpo_problems(states, scms, n_bins=h.TINY.n_value_bins, n_vars=6,
                                     expert_actions=actions)
    return bc, problems


def _config(h, **imitation):
    return aq.AcquisitionConfig(
        policy=h.TINY, grpo=aq.GRPOConfig(group_size=32, batch_size=8, learning_rate=3e-3),
        imitation=aq.ImitationConfig(batch_size=16, imitation_epochs=40, learning_rate=3e-3,
                                     **imitation),
        max_grpo_epochs=1)


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a),
                                                    jax.tree_util.tree_leaves(b), strict=True))


def test_warm_start_begins_where_cloning_ended(data, h):
    bc, problems = data
    cfg = _config(h)
    evals = lambda p: {"reward": float(aq.expected_rewards(  # noqa: E731
        p, problems, policy_config=h.TINY)["policy"].mean())}
    warm = aq.train_acquisition(key=jax.random.key(0), config=cfg, bc_data=bc, problems=problems,
                                eval_fn=evals, eval_every=3)
    clone = aq.train_acquisition(key=jax.random.key(0), config=cfg, bc_data=bc)
    assert _same(warm.ref_params, clone.params)  # GRPO's reference is the cloned policy
    assert len(warm.bc_history) == 40 and len(warm.grpo_history) == 3  # ceil(24 / 8)
    assert [u for u, _ in warm.eval_history] == [0, 3]
    cold = aq.train_acquisition(key=jax.random.key(0),
                                config=_config(h, use_behavioral_cloning=False),
                                problems=problems, eval_fn=evals, eval_every=3)
    assert cold.bc_history == [] and not _same(cold.ref_params, clone.params)
    # cloning a good rule gives a head start over a fresh network
    assert warm.eval_history[0][1]["reward"] > cold.eval_history[0][1]["reward"] + 0.3
    no_warm = aq.train_acquisition(key=jax.random.key(0), config=_config(h, grpo_warmstart=False),
                                   bc_data=bc, problems=problems, n_grpo_updates=1)
    assert _same(no_warm.ref_params, cold.ref_params)  # fresh start, same key


def test_needs_something_to_train(h):
    with pytest.raises(aq.ConfigError, match="bc_data"):
        aq.train_acquisition(key=jax.random.key(0), config=_config(h))
    with pytest.raises(aq.ConfigError, match="nothing to train"):
        aq.train_acquisition(key=jax.random.key(0),
                             config=_config(h, use_behavioral_cloning=False))
