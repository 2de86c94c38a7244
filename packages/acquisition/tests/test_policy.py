import jax
import numpy as np
import pytest

import acbo_acquisition as aq
import acbo_core as ac
from acbo_core import errors


@pytest.fixture(scope="module")
def params(h):
    return aq.init_policy_params(jax.random.key(0), h.TINY)


def test_select_intervention_returns_a_valid_intervention(params, small_state, h):
    iv = aq.select_intervention(params, small_state, key=jax.random.key(1), config=h.TINY)
    assert iv["type"] == "perfect" and len(iv["targets"]) == 1
    (var,) = iv["targets"]
    lo, hi = small_state.intervention_ranges[var]
    grid = np.linspace(lo, hi, h.TINY.n_value_bins)
    assert np.isclose(grid, iv["values"][var]).any()  # greedy: a grid value
    ac.validate_intervention(iv, small_state.buffer.variables, small_state.intervenable)
    # greedy is deterministic whatever the key
    again = aq.select_intervention(params, small_state, key=jax.random.key(99), config=h.TINY)
    assert again == iv
    # and equals the network's mode
    out = jax.tree_util.tree_map(lambda a: a[0], aq.apply_policy(
        params, aq.stack_inputs([aq.encode_state(small_state)]), config=h.TINY))
    v, b = aq.mode_action(out)
    assert iv == aq.intervention_for_action(small_state, int(v), int(b), h.TINY.n_value_bins)


def test_exploration_rate_one_is_uniformly_random(params, small_state, h):
    seen = {}
    for i in range(200):
        iv = aq.select_intervention(params, small_state, key=jax.random.key(i),
                                    exploration_rate=1.0, config=h.TINY)
        (var,) = iv["targets"]
        lo, hi = small_state.intervention_ranges[var]
        assert lo <= iv["values"][var] <= hi
        seen.setdefault(var, []).append(iv["values"][var])
    assert set(seen) == set(small_state.intervenable)
    for vals in seen.values():  # every variable picked about equally often
        assert abs(len(vals) / 200 - 1 / len(seen)) < 0.12
    values = np.concatenate([np.asarray(v) for v in seen.values()])
    assert len(np.unique(values)) == len(values)  # continuous, not on the grid


def test_sampling_mode_is_stochastic(params, small_state, h):
    picks = {aq.select_intervention(params, small_state, key=jax.random.key(i), greedy=False,
                                    config=h.TINY) for i in range(30)}
    assert len(picks) > 1


def test_bad_arguments(params, small_state, h):
    with pytest.raises(aq.ConfigError, match="exploration_rate"):
        aq.select_intervention(params, small_state, key=jax.random.key(0), exploration_rate=1.5,
                               config=h.TINY)
    with pytest.raises(errors.ShapeMismatchError, match="PolicyConfig"):
        aq.select_intervention(params, small_state, key=jax.random.key(0),
                               config=aq.PolicyConfig(hidden_dim=16, n_layers=1, n_heads=2,
                                                      n_value_bins=7))


def test_action_round_trip_and_errors(small_state, h):
    k = h.TINY.n_value_bins
    for var in small_state.intervenable:
        lo, hi = small_state.intervention_ranges[var]
        for b in range(k):
            iv = aq.intervention_for_action(small_state, small_state.buffer.variables.index(var),
                                            b, k)
            assert aq.action_for_intervention(small_state, iv, k) == \
                (small_state.buffer.variables.index(var), b)
        # nearest bin
        iv = ac.create_perfect_intervention(var, lo + 0.26 * (hi - lo))
        assert aq.action_for_intervention(small_state, iv, k)[1] == 1
    var = small_state.intervenable[0]
    lo, hi = small_state.intervention_ranges[var]
    with pytest.raises(errors.InvalidInterventionError, match="outside its range"):
        aq.action_for_intervention(small_state, ac.create_perfect_intervention(var, hi + 1), k)
    with pytest.raises(errors.InvalidInterventionError, match="may not be intervened"):
        aq.action_for_intervention(
            small_state, ac.create_perfect_intervention(small_state.target, 0.0), k)
    two = small_state.intervenable[:2]
    with pytest.raises(errors.InvalidInterventionError, match="one variable"):
        aq.action_for_intervention(small_state, ac.create_perfect_intervention(two, [0, 0]), k)
    t = small_state.buffer.variables.index(small_state.target)
    with pytest.raises(errors.InvalidInterventionError, match="not intervenable"):
        aq.intervention_for_action(small_state, t, 0, k)


def test_avoid_takes_the_most_probable_untried_action(params, small_state, h):
    k = h.TINY.n_value_bins
    out = jax.tree_util.tree_map(lambda a: a[0], aq.apply_policy(
        params, aq.stack_inputs([aq.encode_state(small_state)]), config=h.TINY))
    d = len(small_state.buffer.variables)
    joint = np.asarray(aq.action_probs(out))[:d]
    order = np.argsort(-joint.ravel(), kind="stable")
    first, second = divmod(int(order[0]), k), divmod(int(order[1]), k)
    choose = lambda avoid: aq.select_intervention(  # noqa: E731
        params, small_state, key=jax.random.key(1), config=h.TINY, avoid=avoid)
    assert choose([]) == aq.intervention_for_action(small_state, *first, k)
    assert choose([first]) == aq.intervention_for_action(small_state, *second, k)
    # every action avoided: the constraint is dropped rather than choosing nothing
    everything = [(v, b) for v in range(d) for b in range(k)]
    assert choose(everything) == choose([])
    with pytest.raises(errors.InvalidInterventionError, match="avoided action"):
        choose([(d + 5, 0)])
