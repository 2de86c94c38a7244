import math

import jax
import numpy as np
import pytest

import acbo_acquisition as aq
import acbo_core as ac
from acbo_core.errors import ShapeMismatchError
from acbo_expert import ParentScaleConfig, run_parent_scale
from acbo_training.acquisition_pipeline import (
    AcquisitionTrainingExample,
    extract_acquisition_training_data,
    train_acquisition_with_expert_warmstart,
    updates_to_reach,
)
from acbo_training.trajectories import extract_expert_trajectory

TINY = ParentScaleConfig(n_obs=40, n_int=1, T=3, grid_size=16, refine_size=4, gp_steps=2,
                         gp_ensemble=1)
POLICY = aq.AcquisitionConfig(
    policy=aq.PolicyConfig(hidden_dim=16, n_layers=1, n_heads=2, n_value_bins=5),
    grpo=aq.GRPOConfig(group_size=4, batch_size=4),
    imitation=aq.ImitationConfig(imitation_epochs=3, batch_size=4), max_grpo_epochs=1)


@pytest.fixture(scope="module")
def trajectories():
    out = []
    for s in range(3):
        scm = ac.erdos_renyi_scm(5, key=jax.random.key(s))
        res = run_parent_scale(scm, key=jax.random.key(s), config=TINY)
        out.append(extract_expert_trajectory(res, scm, run_index=s))
    return out


def test_examples_follow_the_trajectories(trajectories):
    ex = extract_acquisition_training_data(trajectories)
    assert len(ex) == 9 and [e.step_id for e in ex[:3]] == [0, 1, 2]
    first = trajectories[0]
    assert ex[0].state is first.steps[0].acquisition_state
    assert ex[0].next_state is first.steps[1].acquisition_state
    assert ex[2].next_state.step == 3 and len(ex[2].next_state.buffer) == \
        len(first.steps[2].buffer_state) + 1
    assert ex[1].expert_action == first.steps[1].chosen_intervention

    calls = []

    def fake_surrogate(params, buffer, target):
        calls.append(params)
        return ac.ParentSetPosterior(target, (frozenset(),), [1.0])

    with_sur = extract_acquisition_training_data(trajectories[:1], fake_surrogate, "p")
    assert calls and set(calls) == {"p"}
    assert with_sur[0].state.posterior.map_set() == frozenset()


def test_warm_and_cold_start_train_and_resume(trajectories, tmp_path):
    ex = extract_acquisition_training_data(trajectories)
    kw = dict(key=jax.random.key(0), validation_examples=ex[6:], compare_cold_start=True,
              eval_every=1, checkpoint_dir=tmp_path)
    res = train_acquisition_with_expert_warmstart(ex[:6], POLICY, **kw)
    assert len(res.bc_history) == 3 and len(res.grpo_history) == 2
    assert [s for s, _ in res.convergence] == [0, 1, 2]
    assert res.cold_start_convergence is not None and len(res.cold_start_convergence) == 3
    assert 0.0 <= res.validation_metrics["bc_agreement"] <= 1.0
    again = train_acquisition_with_expert_warmstart(ex[:6], POLICY, **kw)  # resumes: no work
    for a, b in zip(jax.tree_util.tree_leaves(res.params),
                    jax.tree_util.tree_leaves(again.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ShapeMismatchError):
        train_acquisition_with_expert_warmstart([], POLICY, key=jax.random.key(0))


def test_updates_to_reach():
    curve = [(0, 0.1), (5, 0.4), (10, 0.6)]
    assert updates_to_reach(curve, 0.5) == 10 and updates_to_reach(curve, 0.9) is None
    assert math.isclose(updates_to_reach(curve, 0.0), 0)


def _toy_examples(n):
    """Decisions on the CBO toy graph (named, nonlinear mechanisms)."""
    scm = ac.toy_graph_scm()
    out = []
    for i in range(n):
        rows = np.asarray(ac.sample_observational(scm, 30, key=jax.random.key(100 + i)))
        buffer = ac.create_buffer(scm["variables"]).add_observations(rows)
        posterior = ac.ParentSetPosterior("Y", (frozenset({"Z"}), frozenset({"X"})), [0.7, 0.3])
        ranges = {v: scm["intervention_ranges"][v] for v in ("X", "Z")}
        state = ac.create_acquisition_state(buffer, posterior, intervention_ranges=ranges)
        out.append(AcquisitionTrainingExample(
            state=state, expert_action=ac.create_perfect_intervention("Z", -5.0), reward=0.0,
            next_state=state, trajectory_id=f"toy{i}", step_id=0, scm=scm))
    return out


def test_grpo_trains_on_nonlinear_examples(trajectories):
    # 6 examples of 5 variables at most, like the test above, so the jitted steps are shared
    mixed = extract_acquisition_training_data(trajectories)[:4] + _toy_examples(2)
    res = train_acquisition_with_expert_warmstart(mixed, POLICY, key=jax.random.key(1),
                                                  eval_every=1)
    # ceil(6 / batch_size 4) = 2 updates per epoch: the nonlinear examples are GRPO problems
    assert len(res.grpo_history) == 2 and len(res.convergence) == 3
    assert np.isfinite(res.validation_metrics["normalised_reward"])


def test_nothing_to_train_is_a_config_error(trajectories):
    from acbo_core.errors import ConfigError

    ex = extract_acquisition_training_data(trajectories)[:2]
    idle = aq.AcquisitionConfig(policy=POLICY.policy, max_grpo_epochs=0,
                                imitation=aq.ImitationConfig(use_behavioral_cloning=False))
    with pytest.raises(ConfigError, match="nothing to train"):
        train_acquisition_with_expert_warmstart(ex, idle, key=jax.random.key(0))
