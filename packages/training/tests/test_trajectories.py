import dataclasses

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo_expert import ParentScaleConfig, run_parent_scale
from acbo_training import shards
from acbo_training.demonstrations import (
    SCMDistribution,
    generate_demonstrations,
    load_demonstrations,
    load_expert_trajectories,
    record_to_result,
    result_to_record,
)
from acbo_training.errors import DatasetMismatchError
from acbo_training.trajectories import (
    InvalidTrajectoryError,
    extract_expert_demonstrations,
    extract_expert_trajectory,
    graph_id,
    validate_trajectory_consistency,
)

TINY = ParentScaleConfig(n_obs=40, n_int=1, T=3, grid_size=16, refine_size=4, gp_steps=2,
                         gp_ensemble=1)


@pytest.fixture(scope="module")
def runs():
    scms = [ac.erdos_renyi_scm(5, key=jax.random.key(s)) for s in (1, 2, 3)]
    scms.append(scms[0])  # a second run on the first graph
    results = [run_parent_scale(scm, key=jax.random.key(10 + i), config=TINY)
               for i, scm in enumerate(scms)]
    return results, scms


def test_extracted_trajectory_matches_the_run(runs):
    (res, *_), (scm, *_) = runs
    traj = extract_expert_trajectory(res, scm)
    assert validate_trajectory_consistency(traj, raise_on_error=True)
    assert traj.n_interventions == len(traj.steps) == TINY.T
    assert traj.final_value == res.global_opt[-1]
    n0 = TINY.n_obs + TINY.n_int * len(ac.intervenable_variables(scm))
    for t, step in enumerate(traj.steps):
        assert len(step.buffer_state) == n0 + t * TINY.samples_per_step
        assert step.posterior is res.posterior_probabilities[t]
        assert step.chosen_intervention["values"] == dict(zip(
            res.intervention_set[t], res.intervention_values[t], strict=True))
        best_before = res.initial_best if t == 0 else res.global_opt[t - 1]
        assert step.acquisition_state.best_value == best_before
        assert step.reward == pytest.approx(max(0.0, best_before - res.global_opt[t]))
        assert step.outcome_sample.intervened == set(res.intervention_set[t])


def test_tampered_trajectory_is_caught(runs):
    (res, *_), (scm, *_) = runs
    traj = extract_expert_trajectory(res, scm)
    steps = list(traj.steps)
    steps[2] = dataclasses.replace(steps[2], buffer_state=steps[0].buffer_state)
    bad = dataclasses.replace(traj, steps=tuple(steps))
    assert not validate_trajectory_consistency(bad)
    with pytest.raises(InvalidTrajectoryError, match="step 2"):
        validate_trajectory_consistency(bad, raise_on_error=True)
    var = next(iter(steps[1].chosen_intervention["targets"]))
    far = ac.create_perfect_intervention(var, 1e6)
    steps = list(traj.steps)
    steps[1] = dataclasses.replace(steps[1], chosen_intervention=far)
    with pytest.raises(InvalidTrajectoryError, match="outside"):
        validate_trajectory_consistency(dataclasses.replace(traj, steps=tuple(steps)),
                                        raise_on_error=True)
    with pytest.raises(InvalidTrajectoryError, match="does not belong"):
        extract_expert_trajectory(res, runs[1][1])


def test_split_by_graph(runs):
    results, scms = runs
    train, val = extract_expert_demonstrations(results, scms, validation_split=0.34,
                                               key=jax.random.key(0))
    assert len(train) + len(val) == 4 and val
    assert not {graph_id(t.scm) for t in train} & {graph_id(t.scm) for t in val}


def test_record_round_trip(runs):
    (res, *_), (scm, *_) = runs
    back, scm2 = record_to_result(*result_to_record(res, scm))
    assert scm2 == scm and back.intervention_set == res.intervention_set
    np.testing.assert_array_equal(back.D_O, res.D_O)
    for a, b in zip(back.posterior_probabilities, res.posterior_probabilities, strict=True):
        assert a.parent_sets == b.parent_sets
        np.testing.assert_array_equal(a.probs, b.probs)
    assert back.config == res.config


def test_generate_resume_and_corruption(tmp_path):
    dist = SCMDistribution(n_vars=(4, 5))
    kw = dict(key=jax.random.key(0), config=TINY, shard_size=2, executor="inline")
    first = generate_demonstrations(dist, 3, output_dir=tmp_path / "a", **kw)
    assert (first.shards, first.generated) == (2, 2)
    again = generate_demonstrations(dist, 3, output_dir=tmp_path / "a", **kw)
    assert again.generated == 0  # finished shards are skipped
    arrays_path, _ = shards.shard_paths(tmp_path / "a", 1)
    arrays_path.write_bytes(arrays_path.read_bytes()[:-20])
    fixed = generate_demonstrations(dist, 3, output_dir=tmp_path / "a", **kw)
    assert fixed.generated == 1  # the corrupt shard was regenerated
    trajs = load_expert_trajectories(tmp_path / "a")
    assert len(trajs) == 3 and all(validate_trajectory_consistency(t) for t in trajs)
    local = generate_demonstrations(dist, 3, output_dir=tmp_path / "b",
                                    **{**kw, "executor": "local"}, max_workers=2)
    assert local.generated == 2
    for (r1, s1), (r2, s2) in zip(load_demonstrations(tmp_path / "a"),
                                  load_demonstrations(tmp_path / "b"), strict=True):
        assert s1 == s2 and r1.current_y == r2.current_y
        np.testing.assert_array_equal(r1.D_O, r2.D_O)
    with pytest.raises(DatasetMismatchError, match="n"):
        generate_demonstrations(dist, 4, output_dir=tmp_path / "a", **kw)
