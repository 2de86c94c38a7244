"""TrainedACBOSystem: decisions, runs, online GRPO, persistence, deployment, the expert's API."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo import (
    SYSTEM_FORMAT_VERSION,
    DecisionConfig,
    DeploymentConfig,
    deploy_trained_system,
    integrate_with_existing_pipeline,
    load_system,
    save_system,
)
from acbo_core.errors import CheckpointError, ConfigError, InvalidTargetError
from acbo_expert import ParentScaleResult, run_parent_scale


def _state(system, scm):
    buffer = ac.create_buffer(scm["variables"]).add_observations(
        np.asarray(ac.sample_observational(scm, 50, key=jax.random.key(0))))
    posterior = system.predict_posterior(buffer, scm["target"])
    ranges = {v: tuple(scm["intervention_ranges"][v]) for v in ac.intervenable_variables(scm)
              if v != scm["target"]}
    return ac.create_acquisition_state(buffer, posterior, intervention_ranges=ranges)


def test_predict_posterior_is_a_distribution_over_sets_of_the_target(system, scm):
    state = _state(system, scm)
    post = state.posterior
    assert post.target == scm["target"]
    assert np.isclose(post.probs.sum(), 1.0)
    assert all(scm["target"] not in s for s in post.parent_sets)


def test_select_intervention_is_a_perfect_intervention_in_range(system, scm):
    state = _state(system, scm)
    for seed in range(5):
        do = system.select_intervention(state, exploration_rate=0.5, key=jax.random.key(seed))
        (var,) = tuple(do["targets"])
        lo, hi = state.intervention_ranges[var]
        assert lo <= do["values"][var] <= hi
    with pytest.raises(ConfigError, match="exploration_rate"):
        system.select_intervention(state, exploration_rate=1.5)


def test_same_key_same_run_and_paired_with_the_expert(system, scm):
    a = system.run_optimization(scm, 3, use_online_grpo=True, key=jax.random.key(4))
    b = system.run_optimization(scm, 3, use_online_grpo=True, key=jax.random.key(4))
    assert a.outcomes == b.outcomes and a.interventions == b.interventions
    assert len(a.posteriors) == 4 and len(a.decision_seconds) == 3
    assert len(a.online_metrics) == 3 and all(np.isfinite(m["loss"]) for m in a.online_metrics)
    expert = run_parent_scale(scm, key=jax.random.key(4), config=system.run_config)
    np.testing.assert_array_equal(a.record.D_O, expert.D_O)
    assert a.record.initial_best == expert.initial_best
    # best so far is monotone and starts from the initial samples' best
    assert all(x >= y for x, y in zip(a.best_so_far, a.best_so_far[1:], strict=False))
    assert a.best_so_far[0] <= a.record.initial_best


def test_online_grpo_fine_tunes_a_copy_not_the_system(system, scm):
    before = jax.tree_util.tree_map(np.asarray, system.acquisition_params)
    result = system.run_optimization(scm, 3, use_online_grpo=True, key=jax.random.key(1))
    assert result.record.method == "acbo"
    after = jax.tree_util.tree_map(np.asarray, system.acquisition_params)
    jax.tree_util.tree_map(np.testing.assert_array_equal, before, after)
    offline = system.run_optimization(scm, 3, use_online_grpo=False, key=jax.random.key(1))
    assert offline.online_metrics == () and offline.record.method == "acbo_offline"


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_n_steps(system, scm, bad):
    with pytest.raises(ConfigError, match="n_steps"):
        system.run_optimization(scm, bad)


def test_scm_without_target(system, scm):
    with pytest.raises(InvalidTargetError):
        system.run_optimization(scm.set("target", None), 2)


def test_save_load_round_trip(system, scm, tmp_path):
    save_system(system, tmp_path / "sys")
    loaded = load_system(tmp_path / "sys")
    assert loaded.run_config == system.run_config and loaded.online == system.online
    assert loaded.decision == system.decision
    assert loaded.performance_metrics == system.performance_metrics
    assert loaded.variable_order == system.variable_order
    state = _state(system, scm)
    np.testing.assert_allclose(loaded.predict_posterior(state.buffer, scm["target"]).probs,
                               state.posterior.probs, rtol=1e-6)
    assert loaded.select_intervention(state, 0.0) == system.select_intervention(state, 0.0)
    save_system(system, tmp_path / "sys")  # overwriting an existing system is fine


@pytest.mark.parametrize("version, hint", [(SYSTEM_FORMAT_VERSION + 1, "upgrade acbo"),
                                           (0, "retrain")])
def test_other_format_version_is_refused(system, tmp_path, version, hint):
    path = save_system(system, tmp_path / "sys")
    meta = json.loads((path / "system.json").read_text())
    (path / "system.json").write_text(json.dumps({**meta, "format_version": version}))
    with pytest.raises(CheckpointError, match=f"format version {version}.*{hint}"):
        load_system(path)


def test_not_a_system(tmp_path):
    with pytest.raises(CheckpointError, match="not a saved ACBO system"):
        load_system(tmp_path)
    (tmp_path / "system.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_system(tmp_path)


def test_deployed_system_is_compiled_and_inference_only(system, scm):
    deployed = deploy_trained_system(system, DeploymentConfig(warmup_sizes=(5,),
                                                              warmup_samples=64))
    assert set(deployed.warmup_seconds) == {5}
    result = deployed.run_optimization(scm, 2, key=jax.random.key(0))
    assert result.online_metrics == ()
    with pytest.raises(ConfigError):
        DeploymentConfig(warmup_sizes=(1,))


def test_pipeline_has_the_experts_interface(system, scm):
    pipeline = integrate_with_existing_pipeline(system, use_online_grpo=False)
    cfg = dataclasses.replace(system.run_config, T=2)
    result = pipeline(scm, key=jax.random.key(2), config=cfg)
    assert isinstance(result, ParentScaleResult) and result.T == 2
    assert result.method == "acbo_offline"


def test_noiseless_runs_never_repeat_an_intervention(system, scm):
    assert system.run_config.noiseless
    result = system.run_optimization(scm, 6, use_online_grpo=False, key=jax.random.key(3))
    chosen = [(tuple(do["targets"])[0], round(float(next(iter(do["values"].values()))), 9))
              for do in result.interventions]
    assert len(set(chosen)) == len(chosen)


def test_values_are_refined_beyond_the_policys_grid(system):
    # The toy graph's optimum (Z = -3.2) lies between the policy's bins (spacing 1.25): the
    # causal GP sets values anywhere in the range.
    scm = ac.toy_graph_scm()
    result = system.run_optimization(scm, 6, key=jax.random.key(0))
    bins = system.policy_config.n_value_bins
    off_grid = []
    for do in result.interventions:
        (var,) = tuple(do["targets"])
        lo, hi = scm["intervention_ranges"][var]
        step = (float(do["values"][var]) - lo) / (hi - lo) * (bins - 1)
        off_grid.append(abs(step - round(step)) > 1e-3)
    assert any(off_grid)


def test_the_policy_alone_decides_when_told_to(system, scm):
    # exhausted_ratio 0 and an infinite value tolerance: the policy's own action, every time.
    policy_only = dataclasses.replace(system, decision=DecisionConfig(
        candidates=1, exhausted_ratio=0.0, value_tolerance=1e9))
    state = _state(system, scm)
    import acbo_acquisition as aq

    (v, b, _), = aq.ranked_actions(system.acquisition_params, state,
                                  config=system.policy_config, k=1)
    expected = aq.intervention_for_action(state, v, b, system.policy_config.n_value_bins)
    assert policy_only.select_intervention(state) == expected


@pytest.mark.parametrize("field, value", [("candidates", 0), ("exhausted_ratio", 1.5),
                                          ("value_tolerance", -0.1),
                                          ("exhausted_ratio", float("nan"))])
def test_bad_decision_config(field, value):
    with pytest.raises(ConfigError, match=field):
        DecisionConfig(**{field: value})
