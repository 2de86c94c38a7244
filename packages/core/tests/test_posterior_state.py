import numpy as np
import pytest

import acbo_core as ac
from acbo_core import errors

SETS = (frozenset(), frozenset({"A"}), frozenset({"B"}), frozenset({"A", "B"}))


def test_posterior_queries():
    post = ac.ParentSetPosterior("Y", SETS, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(post.probs, [0.1, 0.2, 0.3, 0.4])
    assert post.map_set() == {"A", "B"}
    assert post.prob_of({"B", "A"}) == pytest.approx(0.4) and post.prob_of({"C"}) == 0.0
    assert post.top_k(2) == (({"A", "B"}, pytest.approx(0.4)), ({"B"}, pytest.approx(0.3)))
    marg = post.marginal_parent_probs(["A", "B", "C"])
    assert marg["A"] == pytest.approx(0.6) and marg["B"] == pytest.approx(0.7) and marg["C"] == 0
    p = np.array([0.1, 0.2, 0.3, 0.4])
    assert post.entropy() == pytest.approx(-(p * np.log(p)).sum())


def test_from_log_weights_does_not_underflow():
    post = ac.ParentSetPosterior.from_log_weights("Y", SETS, [-5000.0, -5001.0, -np.inf, -6000.0])
    np.testing.assert_allclose(post.probs, [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)),
                                            0, 0], atol=1e-12)
    with pytest.raises(errors.InvalidPosteriorError, match="-inf"):
        ac.ParentSetPosterior.from_log_weights("Y", SETS[:1], [-np.inf])


def test_posterior_errors():
    with pytest.raises(errors.ShapeMismatchError):
        ac.ParentSetPosterior("Y", SETS, [1.0])
    with pytest.raises(errors.InvalidPosteriorError, match="contains the target"):
        ac.ParentSetPosterior("Y", (frozenset({"Y"}),), [1.0])
    with pytest.raises(errors.InvalidPosteriorError, match="duplicate"):
        ac.ParentSetPosterior("Y", (frozenset({"A"}), frozenset({"A"})), [0.5, 0.5])
    with pytest.raises(errors.InvalidPosteriorError, match="finite"):
        ac.ParentSetPosterior("Y", SETS[:2], [np.nan, 1.0])
    with pytest.raises(errors.InvalidPosteriorError, match="sum to 0"):
        ac.ParentSetPosterior("Y", SETS[:2], [0.0, 0.0])


def _buffer():
    buf = ac.create_buffer(["A", "B", "Y"]).add_observations([[0.0, 0.0, 1.0], [0.0, 0.0, 3.0]])
    return buf.add_interventions(ac.create_perfect_intervention("A", 1.0), [[1.0, 0.0, -2.0]])


def test_acquisition_state():
    post = ac.ParentSetPosterior("Y", SETS, [1, 1, 1, 1])
    state = ac.create_acquisition_state(_buffer(), post,
                                        intervention_ranges={"A": (-1, 1), "B": (0, 2)})
    assert state.best_value == -2.0 and state.target == "Y" and state.intervenable == ("A", "B")
    obs_only = ac.create_buffer(["A", "B", "Y"]).add_observations([[0, 0, 1.0], [0, 0, 3.0]])
    assert ac.best_target_value(obs_only, "Y") == 2.0


def test_acquisition_state_errors():
    post_x = ac.ParentSetPosterior("B", (frozenset(), frozenset({"A"})), [1, 1])
    post_y = ac.ParentSetPosterior("Y", SETS, [1, 1, 1, 1])
    with pytest.raises(errors.InvalidStateError, match="posterior is over parents of 'B'"):
        ac.AcquisitionState(_buffer(), post_x, 0.0, "Y", 0, {"A": (0, 1)})
    with pytest.raises(errors.InvalidStateError, match="no intervenable"):
        ac.create_acquisition_state(_buffer(), post_y, intervention_ranges={})
    with pytest.raises(errors.InvalidInterventionError, match="'A'"):
        ac.create_acquisition_state(_buffer(), post_y, intervention_ranges={"A": (1, 1)})
    with pytest.raises(errors.InvalidStateError, match="target 'Y' cannot"):
        ac.create_acquisition_state(_buffer(), post_y, intervention_ranges={"Y": (0, 1)})
    with pytest.raises(errors.UnknownVariableError, match="'Z'"):
        ac.create_acquisition_state(_buffer(), ac.ParentSetPosterior("Z", SETS, [1, 1, 1, 1]),
                                    intervention_ranges={"A": (0, 1)})


def test_acquisition_state_history():
    post = ac.ParentSetPosterior("Y", SETS, [1, 1, 1, 1])
    ranges = {"A": (-1, 1), "B": (0, 2)}
    state = ac.create_acquisition_state(_buffer(), post, intervention_ranges=ranges,
                                        history=[("A", 1, -2), ("B", 0.5, 3.0)])
    assert state.history == (("A", 1.0, -2.0), ("B", 0.5, 3.0))
    with pytest.raises(errors.UnknownVariableError, match="'Z'"):
        ac.create_acquisition_state(_buffer(), post, intervention_ranges=ranges,
                                    history=[("Z", 0.0, 1.0)])
    with pytest.raises(errors.InvalidStateError, match="not finite"):
        ac.create_acquisition_state(_buffer(), post, intervention_ranges=ranges,
                                    history=[("A", float("nan"), 1.0)])


def test_kept_sets_prunes_most_probable_first_and_keeps_the_map_set():
    probs = np.array([0.1, 0.5, 0.0, 0.5, 1e-6])
    assert ac.kept_sets(probs, 0.05).tolist() == [1, 3, 0]  # ties in table order
    assert ac.kept_sets(probs, 0.0).tolist() == [1, 3, 0, 4]  # impossible sets never kept
    assert ac.kept_sets(probs, 0.9).tolist() == [1]  # none passes: the MAP set alone
    keep = ac.kept_sets(probs, 0.05)
    post = ac.ParentSetPosterior("Y", [frozenset({f"X{i}"}) for i in keep], probs[keep])
    np.testing.assert_allclose(post.probs, [0.5 / 1.1, 0.5 / 1.1, 0.1 / 1.1])
