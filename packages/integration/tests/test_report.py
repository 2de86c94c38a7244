import json
import math
import re

import numpy as np
import pytest

from acbo.report import Criterion, read_report, write_report
from acbo_core.errors import CheckpointError, ConfigError, SchemaError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = ("convergence", "posterior_accuracy", "decision_time")


def _criteria():
    return [
        Criterion("gap_closed", 0.8123, 0.7, ">=", "ACBO closes most of the gap | vs expert"),
        Criterion("decision_time_ratio", 0.004, 0.01, "<", "seconds per decision vs expert"),
        Criterion("surrogate_f1_d20", 0.55, 0.6, ">", "F1 of the parent-set MAP at d=20"),
        Criterion("unmeasured", math.nan, 1.0, "<=", "could not be run"),
    ]


def _full_report():
    steps = list(range(11))
    curve = lambda top: [top * (1 - math.exp(-t / 3)) for t in steps]
    return {
        "title": "ACBO evaluation report",
        "created": "2026-11-25 22:30",
        "machine": {"cpu": "test cpu", "cores": 2},
        "config": {"seeds": [0, 1, 2], "tolerance": math.inf},
        "success_criteria": [c.to_dict() for c in _criteria()],
        "convergence": {
            m: {"steps": steps, "mean": curve(top),
                "lo": [v - 0.1 for v in curve(top)], "hi": [v + 0.1 for v in curve(top)]}
            for m, top in (("acbo", 0.9), ("expert", 0.95), ("random", 0.4))},
        "end_to_end": {"acbo": {"gap_closed_mean": 0.81234, "gap_closed_std": 0.05,
                                "n_runs": 30},
                       "random": {"gap_closed_mean": np.float32(0.4), "gap_closed_std": math.nan,
                                  "n_runs": 30}},
        "posterior_accuracy": [
            {"d": d, "source": s, "f1": f1, "n": 20}
            for d, s, f1 in ((5, "surrogate", 0.9), (10, "surrogate", 0.8), (20, "surrogate", 0.55),
                             (5, "expert", 0.95), (10, "expert", 0.85))],
        "decision_time": {"acbo": {"mean_seconds": 0.002, "median_seconds": 0.0019},
                          "expert": {"mean_seconds": 1.7, "median_seconds": 1.5}},
        "components": {"surrogate": {"f1": 0.8, "nll": 1.234567},
                       "acquisition": {"reward": np.array(0.42)}},
        "timings": {"train_surrogate": 123.4, "evaluate": 56.0},
    }


@pytest.mark.parametrize("comparison, value, threshold, expected", [
    ("<=", 1.0, 1.0, True), ("<=", 1.1, 1.0, False),
    ("<", 1.0, 1.0, False), ("<", 0.9, 1.0, True),
    (">=", 1.0, 1.0, True), (">=", 0.9, 1.0, False),
    (">", 1.0, 1.0, False), (">", 1.1, 1.0, True),
])
def test_criterion_comparisons(comparison, value, threshold, expected):
    c = Criterion("c", value, threshold, comparison, "")
    assert c.passed is expected
    assert c.to_dict() == {"name": "c", "value": value, "threshold": threshold,
                           "comparison": comparison, "passed": expected, "description": ""}


@pytest.mark.parametrize("comparison", ["<=", "<", ">=", ">"])
def test_criterion_nan_value_is_not_passed(comparison):
    c = Criterion("c", math.nan, 1.0, comparison, "not measured")
    assert c.passed is False
    assert c.to_dict()["value"] is None and c.to_dict()["passed"] is False
    json.dumps(c.to_dict(), allow_nan=False)


def test_criterion_bad_comparison():
    with pytest.raises(ConfigError, match="=="):
        Criterion("c", 1.0, 1.0, "==", "")


def test_full_report_writes_every_file_and_round_trips(tmp_path):
    out = tmp_path / "new" / "report"
    paths = write_report(_full_report(), out)
    assert set(paths) == {"json", "markdown", *PLOTS}
    assert all(p.parent == out and p.is_file() for p in paths.values())
    # no temporary files left behind: only the marker that lets a later report replace it
    assert [p.name for p in out.glob(".*")] == [".acbo-directory.json"]
    assert not list(out.parent.glob(".*"))

    text = paths["json"].read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    back = read_report(out)
    assert back["config"]["tolerance"] is None
    assert back["end_to_end"]["random"]["gap_closed_std"] is None
    assert back["end_to_end"]["random"]["gap_closed_mean"] == pytest.approx(0.4)
    assert back["success_criteria"] == [c.to_dict() for c in _criteria()]
    assert back["success_criteria"][3]["value"] is None
    # Writing the read-back report again gives the same document.
    write_report(back, tmp_path / "again")
    assert read_report(tmp_path / "again") == back


def test_markdown_tables(tmp_path):
    md = write_report(_full_report(), tmp_path)["markdown"].read_text()
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in md.splitlines()
            if line.startswith("| ")}
    for c in _criteria():
        assert c.name in rows, c.name
        assert rows[c.name].count("✅" if c.passed else "❌") == 1
        assert ("❌" if c.passed else "✅") not in rows[c.name]
    assert "| gap_closed | 0.812 | >= 0.7 | ✅ |" in md
    assert "most of the gap \\| vs expert" in rows["gap_closed"]  # pipe escaped in a cell
    assert "| unmeasured | n/a | <= 1 | ❌ |" in md
    assert "2 of 4 criteria passed" in md
    assert "| acbo | 0.812 ± 0.05 | 30 |" in md
    assert "| random | 0.4 ± n/a | 30 |" in md
    assert "| 20 | 0.55 (n=20) | n/a |" in md
    assert "| expert | 1.7 | 1.5 |" in md
    assert "| nll | 1.23 |" in md and "| train_surrogate | 123 |" in md
    assert "2026-11-25 22:30" in md and "test cpu" in md
    for name in PLOTS:
        assert f"({name}.png)" in md
    for section in ("Success criteria", "End-to-end", "Posterior accuracy", "Time per decision",
                    "Components", "Timings"):
        assert f"## {section}" in md


def test_plots_are_png_files(tmp_path):
    paths = write_report(_full_report(), tmp_path)
    for name in PLOTS:
        data = paths[name].read_bytes()
        assert data[:8] == PNG_SIGNATURE, name
        assert len(data) > 5_000, name


def test_criteria_only_report(tmp_path):
    paths = write_report({"success_criteria": [_criteria()[0].to_dict()]}, tmp_path)
    assert set(paths) == {"json", "markdown"}
    assert not list(tmp_path.glob("*.png"))
    md = paths["markdown"].read_text()
    assert "## Success criteria" in md and "## End-to-end" not in md and ".png" not in md
    assert read_report(tmp_path)["success_criteria"][0]["name"] == "gap_closed"


@pytest.mark.parametrize("mutate, field", [
    (lambda r: r.pop("success_criteria"), "success_criteria"),
    (lambda r: r.update(success_criteria={"a": 1}), "success_criteria"),
    (lambda r: r["success_criteria"].append("gap_closed"), "success_criteria[4]"),
    (lambda r: r["success_criteria"][1].pop("threshold"), "success_criteria[1].threshold"),
    (lambda r: r["success_criteria"][0].update(comparison="=="), "success_criteria[0].comparison"),
    (lambda r: r["success_criteria"][0].update(value="high"), "success_criteria[0].value"),
    (lambda r: r["success_criteria"][2].update(passed="yes"), "success_criteria[2].passed"),
    (lambda r: r["end_to_end"]["acbo"].pop("n_runs"), "end_to_end.acbo.n_runs"),
    (lambda r: r["convergence"]["acbo"]["hi"].pop(), "convergence.acbo"),
    (lambda r: r["posterior_accuracy"][1].pop("f1"), "posterior_accuracy[1].f1"),
    (lambda r: r.update(timings=[1.0]), "timings"),
    (lambda r: r["config"].update(fn=print), "config.fn"),
])
def test_malformed_report_raises_schema_error(tmp_path, mutate, field):
    report = _full_report()
    mutate(report)
    with pytest.raises(SchemaError, match="^" + re.escape(field)):
        write_report(report, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # validated before anything is written


def test_read_report_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=re.escape(str(tmp_path / "report.json"))):
        read_report(tmp_path)


def test_degenerate_values_still_render(tmp_path):
    report = {
        "success_criteria": [_criteria()[3].to_dict()],
        "convergence": {"acbo": {"steps": [0, 1], "mean": [math.nan, None],
                                 "lo": [None, None], "hi": [None, None]}},
        "posterior_accuracy": [{"d": 3, "source": "surrogate", "f1": math.nan, "n": 0}],
        "decision_time": {"acbo": {"mean_seconds": 0.0, "median_seconds": math.nan}},
    }
    paths = write_report(report, tmp_path)
    assert set(paths) == {"json", "markdown", *PLOTS}
    assert all(paths[name].read_bytes()[:8] == PNG_SIGNATURE for name in PLOTS)
    assert "| 3 | n/a (n=0) |" in paths["markdown"].read_text()
