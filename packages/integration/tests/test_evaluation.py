"""The evaluation harness: gap curves, the exact optimum, paired and resumable runs."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo import (
    BASELINES,
    EvaluationReport,
    RunSummary,
    evaluate_methods,
    evaluate_system_performance,
    gap_curve,
    true_optimum,
)
from acbo_core.errors import ConfigError
from acbo_expert import run_random


def test_true_optimum_of_a_linear_scm_is_at_an_end_of_a_range(scm):
    grid_best = min(
        float(ac.target_interventional_mean(scm, ac.create_perfect_intervention(v, float(x))))
        for v in ac.intervenable_variables(scm) if v != scm["target"]
        for x in np.linspace(*scm["intervention_ranges"][v], 41))
    assert true_optimum(scm) == pytest.approx(grid_best, abs=1e-6)
    assert true_optimum(scm, minimize=False) >= true_optimum(scm)


def test_gap_curve(system, scm):
    result = run_random(scm, key=jax.random.key(0), config=system.run_config)
    obs, opt = 1.0, -3.0
    curve = gap_curve(result, obs, opt)
    best = [result.initial_best, *result.global_opt]
    np.testing.assert_allclose(curve, (obs - np.asarray(best)) / 4.0)  # not clipped
    assert len(curve) == result.T + 1
    assert np.all(np.diff(curve) >= 0)
    assert np.all(gap_curve(result, opt, opt) == 1.0)  # no gap to close


def test_runs_are_paired_cached_and_resumed(system, scm, tmp_path):
    calls = []

    def counted(name):
        def method(s, key, cfg):
            calls.append(name)
            return BASELINES[name](s, key, cfg)
        return method

    methods = {"random": counted("random"), "oracle": counted("oracle")}
    cfg = dataclasses.replace(system.run_config, T=2)
    first = evaluate_methods(methods, [scm], seeds=(0, 1), config=cfg, cache_dir=tmp_path,
                             baseline="oracle")
    assert len(calls) == 4 and len(first.runs) == 4
    again = evaluate_methods(methods, [scm], seeds=(0, 1), config=cfg, cache_dir=tmp_path,
                             baseline="oracle")
    assert len(calls) == 4, "finished runs are read back, not rerun"
    assert again.runs == first.runs
    ends = first.end_to_end()
    assert set(ends) == {"random", "oracle"} and ends["oracle"]["n_runs"] == 2
    conv = first.convergence()["random"]
    assert len(conv["mean"]) == 3 and all(lo <= m <= hi for lo, m, hi in
                                          zip(conv["lo"], conv["mean"], conv["hi"], strict=True))


def test_report_summaries():
    runs = tuple(RunSummary(m, "g", s, 5, (0.0, 0.5, g), (0.1, 0.3), 1.0, f)
                 for m, g, f in (("a", 1.0, 1.0), ("b", 0.5, 0.0)) for s in (0, 1))
    rep = EvaluationReport(runs, baseline="b")
    assert rep.methods() == ["a", "b"]
    np.testing.assert_allclose(rep.final_gap("b"), [0.5, 0.5])
    assert rep.decision_time()["a"]["median_seconds"] == pytest.approx(0.2)
    assert rep.setup_time() == {"a": 1.0, "b": 1.0}
    assert {"d": 5, "source": "a", "f1": 1.0, "n": 2} in rep.posterior_accuracy()


def test_system_against_the_expert(system, scm, tmp_path):
    report = evaluate_system_performance(system, [scm], "per_graph_training",
                                         baselines=("random",), seeds=(0,), n_steps=2,
                                         cache_dir=tmp_path)
    assert report.methods() == ["acbo", "parent_scale", "random"]
    assert report.baseline == "parent_scale"
    acbo, expert = (r for r in report.runs if r.method in ("acbo", "parent_scale"))
    assert acbo.seed == expert.seed and len(acbo.gap_closed) == 3


def test_bad_evaluation_requests(system, scm):
    with pytest.raises(ConfigError, match="unknown baseline"):
        evaluate_system_performance(system, [scm], "bogus")
    with pytest.raises(ConfigError, match="at least one"):
        evaluate_methods({"random": BASELINES["random"]}, [], seeds=(0,))


def test_another_system_is_never_read_from_the_cache(system, scm, tmp_path):
    import jax.numpy as jnp

    from acbo import system_fingerprint

    kw = dict(baselines=(), seeds=(0,), n_steps=2, cache_dir=tmp_path)
    evaluate_system_performance(system, [scm], "random", **kw)
    n_files = len(list(tmp_path.glob("acbo-*.json")))
    other = dataclasses.replace(system, acquisition_params=jax.tree_util.tree_map(
        lambda a: jnp.asarray(a) + 0.01, system.acquisition_params))
    assert system_fingerprint(other) != system_fingerprint(system)
    evaluate_system_performance(other, [scm], "random", **kw)
    assert len(list(tmp_path.glob("acbo-*.json"))) == 2 * n_files
    evaluate_system_performance(system, [scm], "random", **kw)  # the first one: read back
    assert len(list(tmp_path.glob("acbo-*.json"))) == 2 * n_files
