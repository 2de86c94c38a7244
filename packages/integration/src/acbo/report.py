"""Evaluation report: one JSON document rendered as Markdown and PNG plots in a directory.

The report is a plain JSON-able dict; every section but ``success_criteria`` is optional and a
missing one is left out of the page (its plot is not drawn)::

    {"title": str, "created": str, "machine": {...}, "config": {...},
     "success_criteria": [Criterion.to_dict(), ...],
     "convergence": {method: {"steps": [...], "mean": [...], "lo": [...], "hi": [...]}},
     "end_to_end": {method: {"gap_closed_mean": x, "gap_closed_std": x, "n_runs": n}},
     "posterior_accuracy": [{"d": n, "source": "surrogate" | "expert", "f1": x, "n": n}],
     "decision_time": {method: {"mean_seconds": x, "median_seconds": x}},
     "components": {group: {metric: x}}, "timings": {stage: seconds}}

``report.json`` is strict JSON: NaN and infinities are written as ``null`` (so read back as
``None``). The directory is written atomically and whole (acbo_core.storage.write_directory).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import operator
import os
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

from acbo_core.errors import CheckpointError, ConfigError, SchemaError
from acbo_core.storage import write_directory, write_file

__all__ = ["Criterion", "write_report", "read_report", "REPORT_KIND"]

REPORT_KIND = "acbo.report"

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_CRITERION_KEYS = ("name", "value", "threshold", "comparison", "passed", "description")
_PER_METHOD_KEYS = {  # per-method sections -> the keys each method's entry needs
    "convergence": ("steps", "mean", "lo", "hi"),
    "end_to_end": ("gap_closed_mean", "gap_closed_std", "n_runs"),
    "decision_time": ("mean_seconds", "median_seconds"),
}


@dataclasses.dataclass(frozen=True)
class Criterion:
    """One success criterion: ``value <comparison> threshold``.

    Attributes:
        name: Short identifier, e.g. ``"gap_closed_vs_expert"``.
        value: The measured value; NaN when it could not be measured (then not passed).
        threshold: The bound the value is compared with.
        comparison: One of ``"<="``, ``"<"``, ``">="``, ``">"``.
        description: One sentence saying what is measured and why the bound.
    """

    name: str
    value: float
    threshold: float
    comparison: str
    description: str

    def __post_init__(self) -> None:
        if self.comparison not in _COMPARISONS:
            raise ConfigError(f"Criterion {self.name!r}: unknown comparison "
                              f"{self.comparison!r}; expected one of {sorted(_COMPARISONS)}")

    @property
    def passed(self) -> bool:
        """Whether the value meets the threshold (False when the value is NaN)."""
        value = float(self.value)
        return not math.isnan(value) and bool(
            _COMPARISONS[self.comparison](value, float(self.threshold)))

    def to_dict(self) -> dict[str, Any]:
        """The criterion as a JSON-able dict; a non-finite value or threshold becomes None."""
        return {"name": self.name, "value": _clean(float(self.value), "value"),
                "threshold": _clean(float(self.threshold), "threshold"),
                "comparison": self.comparison, "passed": self.passed,
                "description": self.description}


def _clean(obj: Any, path: str) -> Any:
    """Copies ``obj`` as strict-JSON data: non-finite floats -> None, arrays -> lists."""
    if hasattr(obj, "tolist") and not isinstance(obj, str | bytes):  # numpy / jax values
        obj = obj.tolist()
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v, f"{path}.{k}" if path else str(k)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v, f"{path}[{i}]") for i, v in enumerate(obj)]
    raise SchemaError(f"{path or 'report'}: {type(obj).__name__} is not JSON-serialisable")


def _is_number(x: Any) -> bool:
    return x is None or (isinstance(x, int | float) and not isinstance(x, bool))


def _require(entry: Any, keys: tuple[str, ...], path: str, numbers: tuple[str, ...] = ()) -> None:
    """Checks ``entry`` is an object with ``keys``, those in ``numbers`` numeric (or lists)."""
    if not isinstance(entry, Mapping):
        raise SchemaError(f"{path}: expected an object, got {type(entry).__name__}")
    for key in keys:
        if key not in entry:
            raise SchemaError(f"{path}.{key}: missing")
    for key in numbers:
        values = entry[key] if isinstance(entry[key], list) else [entry[key]]
        if not all(_is_number(v) for v in values):
            raise SchemaError(f"{path}.{key}: expected numbers or null, got {entry[key]!r}")


def _section(report: Mapping[str, Any], name: str, kind: type) -> Any:
    """A section of the report, empty when absent; SchemaError when of the wrong type."""
    value = report.get(name)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise SchemaError(f"{name}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _validate(report: Any) -> None:
    """Checks a cleaned report's structure so the renderers can index it without surprises."""
    if not isinstance(report, Mapping):
        raise SchemaError(f"report: expected an object, got {type(report).__name__}")
    if "success_criteria" not in report:
        raise SchemaError("success_criteria: missing")
    for i, c in enumerate(_section(report, "success_criteria", list)):
        path = f"success_criteria[{i}]"
        _require(c, _CRITERION_KEYS, path, ("value", "threshold"))
        if c["comparison"] not in _COMPARISONS:
            raise SchemaError(f"{path}.comparison: unknown comparison {c['comparison']!r}")
        if not isinstance(c["passed"], bool):
            raise SchemaError(f"{path}.passed: expected a bool, got {c['passed']!r}")
    for name, keys in _PER_METHOD_KEYS.items():
        for method, entry in _section(report, name, dict).items():
            _require(entry, keys, f"{name}.{method}", keys)
    for method, entry in _section(report, "convergence", dict).items():
        curves = [entry[k] for k in _PER_METHOD_KEYS["convergence"]]
        if not all(isinstance(c, list) for c in curves) or len(set(map(len, curves))) != 1:
            raise SchemaError(f"convergence.{method}: steps, mean, lo, hi must be lists of "
                              "one length")
    for i, row in enumerate(_section(report, "posterior_accuracy", list)):
        _require(row, ("d", "source", "f1", "n"), f"posterior_accuracy[{i}]", ("d", "f1", "n"))
        if row["d"] is None:
            raise SchemaError(f"posterior_accuracy[{i}].d: expected a number, got null")
    for group, metrics in _section(report, "components", dict).items():
        _require(metrics, (), f"components.{group}")
    _section(report, "timings", dict)
    _section(report, "machine", dict)


def _fmt(x: Any) -> str:
    """A table cell: numbers to 3 significant digits, None/NaN as ``n/a``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x).replace("|", "\\|").replace("\n", " ")
    return str(x) if isinstance(x, int) else f"{x:.3g}"


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows] + [""]


def _markdown(report: Mapping[str, Any], plots: Mapping[str, pathlib.Path]) -> str:
    machine = ", ".join(f"{k}: {v}" for k, v in _section(report, "machine", dict).items())
    lines = [f"# {report.get('title') or 'ACBO evaluation report'}", "",
             f"Created {report.get('created') or 'n/a'} on {machine or 'unknown machine'}.", ""]
    criteria = report["success_criteria"]
    lines += ["## Success criteria", ""] + _table(
        ("Criterion", "Value", "Threshold", "Passed", "Description"),
        [(c["name"], c["value"], f"{c['comparison']} {_fmt(c['threshold'])}",
          "✅" if c["passed"] else "❌", c["description"]) for c in criteria])
    lines += [f"**{sum(c['passed'] for c in criteria)} of {len(criteria)} criteria passed.**", ""]
    if end_to_end := _section(report, "end_to_end", dict):
        lines += ["## End-to-end", ""] + _table(("Method", "Gap closed (mean ± std)", "Runs"), [
            (m, f"{_fmt(e['gap_closed_mean'])} ± {_fmt(e['gap_closed_std'])}", e["n_runs"])
            for m, e in end_to_end.items()])
    if accuracy := _section(report, "posterior_accuracy", list):
        sources = list(dict.fromkeys(r["source"] for r in accuracy))
        cells = {(r["d"], r["source"]): f"{_fmt(r['f1'])} (n={_fmt(r['n'])})" for r in accuracy}
        lines += ["## Posterior accuracy", "", "F1 of the parent-set MAP, by graph size d.", ""]
        lines += _table(("d", *sources), [(d, *(cells.get((d, s), "n/a") for s in sources))
                                          for d in sorted({r["d"] for r in accuracy})])
    if times := _section(report, "decision_time", dict):
        lines += ["## Time per decision", ""] + _table(("Method", "Mean (s)", "Median (s)"), [
            (m, t["mean_seconds"], t["median_seconds"]) for m, t in times.items()])
    if components := _section(report, "components", dict):
        lines += ["## Components", ""]
        for group, metrics in components.items():
            lines += [f"### {group}", ""] + _table(("Metric", "Value"), list(metrics.items()))
    if timings := _section(report, "timings", dict):
        lines += ["## Timings", ""] + _table(("Stage", "Seconds"), list(timings.items()))
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{name}]({path.name})\n" for name, path in plots.items()]
    return "\n".join(lines).rstrip() + "\n"


def _floats(values: list[Any]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def _draw_convergence(ax: Any, section: Mapping[str, Any]) -> None:
    for method, e in section.items():
        steps = _floats(e["steps"])
        (line,) = ax.plot(steps, _floats(e["mean"]), label=method)
        ax.fill_between(steps, _floats(e["lo"]), _floats(e["hi"]), color=line.get_color(),
                        alpha=0.2, linewidth=0)
    ax.set(xlabel="Step", ylabel="Normalised gap closed (best so far)")
    ax.legend()


def _draw_posterior_accuracy(ax: Any, rows: list[Mapping[str, Any]]) -> None:
    for source in dict.fromkeys(r["source"] for r in rows):
        points = sorted(((r["d"], r["f1"]) for r in rows if r["source"] == source),
                        key=lambda p: p[0])
        ax.plot([d for d, _ in points], _floats([f1 for _, f1 in points]), marker="o",
                label=source)
    ax.set(xlabel="Number of variables d", ylabel="F1 of parent-set MAP", ylim=(0.0, 1.05),
           xticks=sorted({r["d"] for r in rows}))
    ax.legend()


def _draw_decision_time(ax: Any, section: Mapping[str, Any]) -> None:
    # A log axis cannot show zero or missing times; such methods are left out of the chart.
    bars = {m: t["mean_seconds"] for m, t in section.items() if (t["mean_seconds"] or 0) > 0}
    ax.bar_label(ax.bar(list(bars), list(bars.values())), fmt="%.3g")
    ax.set(yscale="log" if bars else "linear", ylabel="Mean seconds per decision")
    ax.tick_params(axis="x", labelrotation=20)


_PLOTS: dict[str, tuple[str, Callable[[Any, Any], None]]] = {  # section -> title, drawer
    "convergence": ("Convergence", _draw_convergence),
    "posterior_accuracy": ("Posterior accuracy", _draw_posterior_accuracy),
    "decision_time": ("Time per decision", _draw_decision_time),
}


def _save_plot(draw: Callable[[Any, Any], None], data: Any, title: str,
               path: pathlib.Path) -> None:
    # A bare Figure (no pyplot) draws with Agg and never touches the caller's global backend.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    draw(ax, data)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    write_file(path, buf.getvalue())


def write_report(report: Mapping[str, Any],
                 directory: str | os.PathLike[str]) -> dict[str, pathlib.Path]:
    """Writes ``report.json``, ``report.md`` and the plots of the sections present.

    Args:
        report: The report dict (schema in the module docstring).
        directory: Output directory: absent, empty, or a report written before (replaced whole
            and atomically; anything else is refused).

    Returns:
        The paths written, by name: ``"json"``, ``"markdown"`` and, for each section present,
        ``"convergence"``, ``"posterior_accuracy"``, ``"decision_time"``.

    Raises:
        SchemaError: The report is malformed (the message names the field).
        OverwriteRefusedError: ``directory`` holds something that is not an ACBO report.
    """
    doc = _clean(report, "")
    _validate(doc)
    out = pathlib.Path(directory)
    plots = {name: out / f"{name}.png" for name in _PLOTS if doc.get(name)}
    paths = {"json": out / "report.json", "markdown": out / "report.md"}

    def fill(tmp: pathlib.Path) -> None:
        for name, plot in plots.items():
            title, draw = _PLOTS[name]
            _save_plot(draw, doc[name], title, tmp / plot.name)
        write_file(tmp / "report.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
        write_file(tmp / "report.md", _markdown(doc, plots))

    write_directory(out, fill, kind=REPORT_KIND)
    return {**paths, **plots}


def read_report(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Loads ``report.json`` from ``directory``.

    Raises:
        CheckpointError: The file is missing or is not valid JSON.
        SchemaError: The document is not a well-formed report.
    """
    path = pathlib.Path(directory) / "report.json"
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"no report at {path}") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read it ({e.strerror or e})") from None
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: not valid UTF-8 JSON ({e})") from None
    _validate(doc)
    return dict(doc)
