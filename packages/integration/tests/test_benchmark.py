"""The benchmark: families, honest regret from true means, the quick run end to end."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo.benchmark import BenchmarkConfig, RunRecord, judge, quick_config, run_config, summarise
from acbo.benchmark_families import FAMILIES, family
from acbo.benchmark_report import markdown
from acbo.cli import EXIT_CONFIG, EXIT_INPUT, main
from acbo.truth import problem_truth
from acbo_core.errors import ConfigError
from acbo_expert import run_random

LOCAL = [name for name, f in FAMILIES.items() if f.needs is None]


@pytest.mark.parametrize("name", LOCAL)
def test_each_family_gives_the_same_problems_and_keeps_the_tuning_split_apart(name):
    fam = family(name)
    a, b = fam.problem(3), fam.problem(3)
    assert ac.scm_to_json(a) == ac.scm_to_json(b)
    if name not in ("toy", "psa"):  # single-SCM families: problems differ by run key only
        assert ac.scm_to_json(fam.problem(4)) != ac.scm_to_json(a)
        assert ac.scm_to_json(fam.problem(3, split="tune")) != ac.scm_to_json(a)


def test_unknown_names_and_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="unknown benchmark family 'nope'"):
        family("nope")
    with pytest.raises(ConfigError, match=r"BenchmarkConfig.methods\[0\] must be one of"):
        BenchmarkConfig(methods=("magic",))
    with pytest.raises(ConfigError, match=r"BenchmarkConfig.families\[1\] must be one of"):
        BenchmarkConfig(families=("toy", "nope"))
    with pytest.raises(ConfigError, match="T must be"):
        BenchmarkConfig(T=0)
    with pytest.raises(ConfigError, match="split"):
        BenchmarkConfig(split="test")


def test_regret_is_judged_by_true_means_and_not_clipped():
    fam = family("er20")
    scm = fam.problem(0)
    cfg = dataclasses.replace(quick_config(), T=4)
    result = run_random(scm, key=jax.random.key(0), config=run_config(cfg, fam, 2, "random"))
    truth = problem_truth(scm, key=jax.random.key(0))
    record = judge(result, scm, truth, key=jax.random.key(1), family_name="er20", problem=0,
                   seed=0, n_int=2, method="random")
    # Independently: exact means of every intervention made, the best so far, the gap.
    j = scm["variables"].index(scm["target"])
    exact = [float(ac.exact_interventional_mean(scm, do)[j]) for do, _, _ in result.D_I]
    y_obs = float(ac.exact_interventional_mean(scm, None)[j])
    assert truth.y_obs == pytest.approx(y_obs)
    best = min(exact)
    expected = [(y_obs - best) / (y_obs - truth.y_star)]
    for v, x in zip(result.intervention_set, result.intervention_values, strict=True):
        do = ac.create_perfect_intervention(v[0], x[0])
        best = min(best, float(ac.exact_interventional_mean(scm, do)[j]))
        expected.append((y_obs - best) / (y_obs - truth.y_star))
    np.testing.assert_allclose(record.gap, expected, rtol=1e-9)
    assert [m for _, _, m in record.chosen] == pytest.approx(
        [float(ac.exact_interventional_mean(scm, ac.create_perfect_intervention(v, x))[j])
         for v, x, _ in record.chosen])
    # y* is the best end of some range: nothing a method tries can beat it.
    assert min(exact) >= truth.y_star - 1e-9


def test_without_initial_data_the_curve_starts_at_zero():
    fam = family("er20")
    scm = fam.problem(1)
    cfg = dataclasses.replace(quick_config(), T=2)
    result = run_random(scm, key=jax.random.key(0), config=run_config(cfg, fam, 0, "random"))
    record = judge(result, scm, problem_truth(scm, key=jax.random.key(0)), key=jax.random.key(1),
                   family_name="er20", problem=1, seed=0, n_int=0, method="random")
    assert record.gap[0] == 0.0 and len(record.gap) == 3


def test_quick_benchmark_end_to_end_resumes_and_refuses_foreign_directories(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["benchmark", "--quick", "-q", "-o", str(out), "--families", "er20,toy",
            "--methods", "parent_scale,random,oracle", "--n-int", "2,0"]
    assert main(argv) == 0
    report = out / "report"
    doc = json.loads((report / "benchmark.json").read_text())
    assert doc["kind"] == "acbo.benchmark" and set(doc["families"]) == {"er20", "toy"}
    for fam in doc["families"].values():
        assert set(fam["variants"]) == {"n_int=2", "n_int=0"}
        for variant in fam["variants"].values():
            assert set(variant["methods"]) == {"parent_scale", "random", "oracle"}
            for row in variant["methods"].values():
                assert {"gap_t0", "gap_t1", "gap_t3", "seconds_per_run"} <= set(row)
    assert (report / "er20.png").read_bytes()[:4] == b"\x89PNG"
    md = (report / "benchmark.md").read_text()
    assert "## toy" in md
    for fam in doc["families"].values():  # each variant says how many problems are saturated
        for name, variant in fam["variants"].items():
            sat = variant["saturated_problems"]
            said = f"**{name}** (saturated: " + (f"{len(sat)} (problem" if sat else "none")
            assert said in md
    runs = sorted((out / "runs").iterdir())
    stamps = [p.stat().st_mtime_ns for p in runs]
    assert main(argv) == 0  # resumes: nothing is run again
    assert [p.stat().st_mtime_ns for p in sorted((out / "runs").iterdir())] == stamps
    capsys.readouterr()

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("x")
    assert main(["benchmark", "--quick", "-o", str(foreign), "--families", "er20"]) == EXIT_INPUT
    assert "not written by ACBO" in capsys.readouterr().err
    assert main(["benchmark", "--quick", "-o", str(tmp_path / "b2"), "--families",
                 "er20", "--methods", "acbo"]) == EXIT_CONFIG
    assert "need a trained system" in capsys.readouterr().err


def test_targets_with_more_parents_than_k_max_are_counted_and_their_gap_reported(tmp_path):
    # er20's problem 0 has one parent, problem 1 three: with k_max = 2 only problem 1 counts.
    fam = family("er20")
    assert [len(ac.true_parents(fam.problem(i))) for i in (0, 1)] == [1, 3]
    cfg = quick_config(families=("er20",), methods=("random",), n_problems=2, k_max=2)
    records = [RunRecord(family="er20", problem=i, seed=0, n_int=2, method="random", d=20,
                         gap=(0.0, gap, gap, gap), chosen=(), step_seconds=(0.1,) * 3,
                         setup_seconds=0.0, final_map_f1=0.5, chose_parent_frac=0.0)
               for i, gap in ((0, 0.25), (1, 0.75))]
    summary = summarise(cfg, records, tmp_path)
    entry = summary["families"]["er20"]
    assert entry["over_k_max_frac"] == 0.5
    row = entry["variants"]["n_int=2"]["methods"]["random"]
    assert row["over_k_max_gap_t10"] == row["over_k_max_gap_t3"] == 0.75  # problem 1's alone
    assert row["gap_t3"] == 0.5
    summary["machine"] = {}
    md = markdown({**summary, "wall_seconds": 1.0}, {})
    assert "target with more than k_max = 2 parents in 0.50 of them" in md
    assert "| t=10 where the target has more than k_max parents |" in md
    assert md.count("| 0.75 |") >= 1
