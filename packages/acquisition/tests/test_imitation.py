import jax
import numpy as np
import pytest

import acbo_acquisition as aq
import acbo_core as ac
from acbo_core import errors

IMIT = aq.ImitationConfig(batch_size=16, imitation_epochs=40, learning_rate=3e-3)


@pytest.fixture(scope="module")
def bc_sets(train_set, test_set, h):
    def data(pair):
        _, states = pair
        return aq.make_bc_data(states, [h.scripted_action(s) for s in states],
                               n_bins=h.TINY.n_value_bins, n_vars=6)
    return data(train_set), data(test_set)


@pytest.fixture(scope="module")
def cloned(bc_sets, h):
    state = aq.init_bc(jax.random.key(0), policy_config=h.TINY, imitation_config=IMIT)
    return aq.train_bc(bc_sets[0], state, policy_config=h.TINY, imitation_config=IMIT)


def test_cloning_learns_a_scripted_expert(cloned, bc_sets, h):
    state, history = cloned
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    before = aq.evaluate_bc(aq.init_policy_params(jax.random.key(0), h.TINY), bc_sets[1],
                            policy_config=h.TINY)
    after = aq.evaluate_bc(state.params, bc_sets[1], policy_config=h.TINY)
    assert after["agreement"] >= 0.8 > before["agreement"]  # held-out SCMs
    assert after["nll"] < before["nll"]
    assert after["top2_agreement"] >= after["agreement"]
    assert int(state.epoch) == IMIT.imitation_epochs
    assert int(state.step) == IMIT.imitation_epochs * 2  # 24 pairs, batches of 16


def test_value_labels_are_range_ends(bc_sets, h):
    data, _ = bc_sets
    assert set(np.unique(data.value_bin)) <= {0, h.TINY.n_value_bins - 1}


def test_resuming_equals_running_through(bc_sets, h, tmp_path):
    data, _ = bc_sets
    cfg = aq.AcquisitionConfig(policy=h.TINY, imitation=IMIT)
    fresh = aq.init_bc(jax.random.key(5), policy_config=h.TINY, imitation_config=IMIT)
    straight, _ = aq.train_bc(data, fresh, policy_config=h.TINY, imitation_config=IMIT,
                              n_epochs=4)
    half, _ = aq.train_bc(data, fresh, policy_config=h.TINY, imitation_config=IMIT, n_epochs=2)
    aq.save_training_state(tmp_path / "bc", half, config=cfg, metadata={"note": "half"})
    restored, info = aq.load_training_state(tmp_path / "bc", fresh, config=cfg)
    assert info["metadata"]["note"] == "half" and int(restored.epoch) == 2
    resumed, _ = aq.train_bc(data, restored, policy_config=h.TINY, imitation_config=IMIT,
                             n_epochs=2)
    for a, b in zip(jax.tree_util.tree_leaves(straight.params),
                    jax.tree_util.tree_leaves(resumed.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(resumed.step) == int(straight.step)


def test_same_key_same_result(bc_sets, h):
    data, _ = bc_sets
    runs = [aq.train_bc(data, aq.init_bc(jax.random.key(9), policy_config=h.TINY,
                                         imitation_config=IMIT),
                        policy_config=h.TINY, imitation_config=IMIT, n_epochs=1)[0]
            for _ in range(2)]
    for a, b in zip(*(jax.tree_util.tree_leaves(r.params) for r in runs), strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_pairs(small_state, h):
    k = h.TINY.n_value_bins
    var = small_state.intervenable[0]
    good = ac.create_perfect_intervention(var, small_state.intervention_ranges[var][0])
    with pytest.raises(errors.ShapeMismatchError, match="2 states but 1 actions"):
        aq.make_bc_data([small_state, small_state], [good], n_bins=k)
    with pytest.raises(errors.ShapeMismatchError):
        aq.make_bc_data([], [], n_bins=k)
    on_target = ac.create_perfect_intervention(small_state.target, 0.0)
    with pytest.raises(errors.InvalidInterventionError):
        aq.make_bc_data([small_state], [on_target], n_bins=k)
    with pytest.raises(errors.ShapeMismatchError):
        aq.init_bc(jax.random.key(0), policy_config=h.TINY,
                   params=aq.init_policy_params(jax.random.key(0), aq.PolicyConfig(
                       hidden_dim=8, n_layers=1, n_heads=2, n_value_bins=5)))
