"""The benchmark's report: ``benchmark.json``, ``benchmark.md`` and one anytime-regret plot per
family (gap closed against t, mean and interquartile band over problems and seeds), written
whole and atomically into one directory."""

from __future__ import annotations

import io
import json
import math
import os
import pathlib
from collections.abc import Mapping
from typing import Any

from acbo.benchmark import TIMES
from acbo_core.storage import dumps_json, write_directory, write_file

__all__ = ["REPORT_KIND", "write_benchmark", "markdown"]

REPORT_KIND = "acbo.benchmark-report"


def _saturated(problems: list[int]) -> str:
    """How many problems are saturated, and which: "none", "1 (problem #9)",
    "2 (problems #0, #4)"."""
    if not problems:
        return "none"
    which = ", ".join(f"#{p}" for p in problems)
    return f"{len(problems)} (problem{'s' if len(problems) > 1 else ''} {which})"


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        if abs(value) >= 100 or (value != 0 and abs(value) < 0.01):
            return f"{value:.3g}"
        return f"{value:.{digits}f}"
    return str(value)


def _variant_table(methods: Mapping[str, Any]) -> list[str]:
    times = [t for t in TIMES if any(f"gap_t{t}" in row for row in methods.values())]
    solved = next((k for row in methods.values() for k in row if k.startswith("solved_frac")),
                  None)
    head = (["method", *[f"t={t}" for t in times], "AUC 1-10", "AUC 1-20",
             f"solved (t={solved.rsplit('t', 1)[-1]})" if solved else "solved", "s/decision",
             "s/run", "run speed-up vs parent_scale", "MAP F1", "parent steps",
             "t=10 where the optimum is off the parents",
             "t=10 where the target has more than k_max parents"])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for method, row in methods.items():
        cells = [method, *[_fmt(row.get(f"gap_t{t}")) for t in times],
                 _fmt(row.get("auc_10")), _fmt(row.get("auc_20")),
                 _fmt(row.get(solved)) if solved else "n/a",
                 _fmt(row.get("seconds_per_decision"), 3), _fmt(row.get("seconds_per_run"), 1),
                 _fmt(row.get("speedup_vs_parent_scale"), 1),
                 _fmt(row.get("final_map_f1")), _fmt(row.get("chose_parent_frac")),
                 _fmt(row.get("non_parent_gap_t10")), _fmt(row.get("over_k_max_gap_t10"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(summary: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    """The report as Markdown."""
    cfg = summary["config"]
    machine = summary.get("machine", {})
    lines = [
        "# ACBO benchmark", "",
        f"Created {summary.get('created', '?')} on {machine.get('cpu', '?')} "
        f"({machine.get('cores', '?')} cores, jax {machine.get('jax', '?')}); "
        f"{cfg['workers']} worker process(es); this invocation's wall time "
        f"{_fmt(summary.get('wall_seconds', float('nan')) / 60, 1)} min (runs cached by "
        "earlier invocations are read back, not rerun).",
        f"Command: `{summary.get('command', 'acbo-train benchmark')}`.", "",
        f"Per family {cfg['n_problems']} problems x {len(cfg['seeds'])} seeds, T = {cfg['T']} "
        f"interventions chosen by each method, n_obs = {cfg['n_obs']}, k_max = {cfg['k_max']}, "
        f"problems from the `{cfg['split']}` split. Every method gets the same D_O and D_I for "
        "a (problem, seed). `t=0` is the gap after D_I alone.",
        "",
        "Gap closed after t steps = (y_obs - best_t) / (y_obs - y*), where best_t is the best "
        "*true* interventional mean among the interventions made so far (D_I included) and "
        "y* the true best single intervention over the declared ranges (exact for linear "
        "SCMs; Monte Carlo with standard error <= 1e-3 and a fine grid otherwise). Not "
        "clipped. Problems where random closes >= 0.95 of the gap by t = 5 are saturated: "
        "they are left out of the method rows (listed per family), unless every problem of "
        "the family is, in which case the rows cover all and the family is marked "
        "saturated. AUC 1-10 is the mean gap closed over t = 1..10. Solved: the fraction of "
        "runs whose best true mean is within 0.05 of y* at the last step.", ""]
    variants = [f"n_int={n}" for n in cfg["n_int"]]
    methods = list(cfg["methods"])
    lines += ["## Summary: mean gap closed at t = 10", ""]
    head = ["family", "variant", "d", "counted problems", "non-parent optimum", *methods]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, fam in summary["families"].items():
        for variant in variants:
            v = fam["variants"][variant]
            counted = ("all saturated" if v["all_saturated"]
                       else f"{v['counted_problems']} of {fam['problems']}")
            cells = [name, variant, ",".join(map(str, fam["d"])), counted,
                     _fmt(fam["non_parent_optimum_frac"])]
            cells += [_fmt(v["methods"].get(m, {}).get("gap_t10")) for m in methods]
            lines.append("| " + " | ".join(cells) + " |")
    posterior = {name: fam["posterior"] for name, fam in summary["families"].items()
                 if "posterior" in fam}
    if posterior:
        lines += ["", "## Posteriors on identical data", "",
                  "Per problem, D_O and D_I (2 samples per variable) of its first seed; the "
                  "system's surrogate against the expert's posterior with the uniform prior "
                  "(PARENT_SCALE's, with the family's features). F1 of the MAP set against the "
                  "true parents (mean); milliseconds per posterior (median, compiled): the "
                  "expert from scratch (per-set regressions on D_O, then the evidence of D_I: "
                  "what a new problem costs it) and its per-step update (the evidence given "
                  "fitted regressions: what each step of a run costs it).", ""]
        head = ["family", "d", "surrogate F1", "expert F1", "surrogate ms", "expert ms (scratch)",
                "speed-up vs scratch", "expert ms (update)", "speed-up vs update"]
        lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for name, post in posterior.items():
            fam = summary["families"][name]
            ms = {k: 1e3 * post[k] for k in ("surrogate_seconds", "expert_scratch_seconds",
                                             "expert_update_seconds")}
            cells = [name, ",".join(map(str, fam["d"])), _fmt(post["surrogate_f1"]),
                     _fmt(post["expert_f1"]), _fmt(ms["surrogate_seconds"], 1),
                     _fmt(ms["expert_scratch_seconds"], 1),
                     _fmt(ms["expert_scratch_seconds"] / ms["surrogate_seconds"], 1),
                     _fmt(ms["expert_update_seconds"], 1),
                     _fmt(ms["expert_update_seconds"] / ms["surrogate_seconds"], 1)]
            lines.append("| " + " | ".join(cells) + " |")
    for name, fam in summary["families"].items():
        lines += ["", f"## {name}: {fam['description']}", "",
                  f"d = {','.join(map(str, fam['d']))}; best single intervention on a "
                  f"non-parent of the target in {_fmt(fam['non_parent_optimum_frac'])} of the "
                  f"problems; target with more than k_max = {cfg['k_max']} parents in "
                  f"{_fmt(fam.get('over_k_max_frac'))} of them; true means "
                  f"{'exact' if fam['truth_exact'] else 'Monte Carlo'}."]
        for variant in variants:
            v = fam["variants"][variant]
            sat = v["saturated_problems"]
            lines += ["", f"**{variant}** (saturated: "
                      f"{_saturated(sat)}"
                      f"{'; every problem saturated' if v['all_saturated'] else ''})", ""]
            lines += _variant_table(v["methods"])
        if name in plots:
            lines += ["", f"![{name}]({plots[name]})"]
    return "\n".join(lines) + "\n"


def _plot(name: str, fam: Mapping[str, Any]) -> bytes:
    from matplotlib.figure import Figure

    variants = list(fam["variants"])
    fig = Figure(figsize=(5.0 * len(variants), 3.6), layout="constrained")
    axes = fig.subplots(1, len(variants), squeeze=False)[0]
    for ax, variant in zip(axes, variants, strict=True):
        for method, row in fam["variants"][variant]["methods"].items():
            mean = row["curve_mean"]
            steps = list(range(len(mean)))
            (line,) = ax.plot(steps, mean, label=method, linewidth=1.5)
            ax.fill_between(steps, row["curve_q25"], row["curve_q75"], alpha=0.15,
                            color=line.get_color(), linewidth=0)
        ax.set_title(f"{name}, {variant}")
        ax.set_xlabel("t (interventions chosen)")
        ax.set_ylabel("gap closed (true means)")
        ax.axhline(1.0, color="black", linewidth=0.5)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize="small")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def write_benchmark(summary: Mapping[str, Any], directory: str | os.PathLike[str]
                    ) -> dict[str, pathlib.Path]:
    """Writes the report into ``directory`` (absent, empty, or an earlier benchmark report).

    Returns:
      The paths written, by name (``"json"``, ``"markdown"``, and each family's plot).

    Raises:
      OverwriteRefusedError: ``directory`` holds something else.
    """
    out = pathlib.Path(directory)
    plots = {name: f"{name}.png" for name in summary["families"]}
    doc = json.loads(dumps_json(summary, indent=1))

    def fill(tmp: pathlib.Path) -> None:
        for name, file in plots.items():
            write_file(tmp / file, _plot(name, summary["families"][name]))
        write_file(tmp / "benchmark.json", dumps_json({"kind": "acbo.benchmark", **doc},
                                                      indent=1) + "\n")
        write_file(tmp / "benchmark.md", markdown(doc, plots))

    write_directory(out, fill, kind=REPORT_KIND)
    return {"json": out / "benchmark.json", "markdown": out / "benchmark.md",
            **{name: out / file for name, file in plots.items()}}
