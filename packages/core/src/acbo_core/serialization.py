"""JSON files for SCMs, buffers and posteriors, with a versioned schema.

Every document is an object with ``"schema"`` (``"acbo.scm"``, ``"acbo.buffer"`` or
``"acbo.posterior"``) and ``"version"``. Numbers are written with Python's shortest exact
``repr``, so ``x_from_json(x_to_json(x))`` reproduces ``x`` exactly. A malformed document raises
:class:`~acbo_core.errors.SchemaError` naming the field (``scm.mechanisms.X1.coefficients``).

A hand-written SCM needs ``variables``, ``edges``, ``mechanisms`` and ``target``; the rest is
optional. Mechanisms look like::

    {"type": "linear", "coefficients": {"X0": 1.5}, "intercept": 0.0, "noise_scale": 1.0}
    {"type": "fourier", "parents": ["X0"], "weights": [[0.7]], "phases": [1.2],
     "amplitudes": [0.9], "intercept": 0.0, "noise_scale": 0.5}
    {"type": "named", "name": "toy_z", "parents": ["X"], "noise_scale": 1.0}
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyrsistent as pyr

from acbo_core.buffer import ExperienceBuffer
from acbo_core.errors import SchemaError
from acbo_core.interventions import create_perfect_intervention
from acbo_core.posterior import ParentSetPosterior
from acbo_core.scm import create_scm
from acbo_core.storage import save_json

__all__ = [
    "SCHEMA_VERSION",
    "scm_to_json",
    "scm_from_json",
    "buffer_to_json",
    "buffer_from_json",
    "posterior_to_json",
    "posterior_from_json",
    "load_scm",
    "save_scm",
]

SCHEMA_VERSION = 1


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list | pyr.PVector):
        return [_thaw(v) for v in value]
    if isinstance(value, frozenset | set | pyr.PSet):
        return sorted(_thaw(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, allow_nan=False)


def _sorted_keys(value: Any) -> Any:
    """Maps with their keys sorted (recursively): a pmap iterates in hash order, so without
    this the same SCM's metadata would be written differently under another hash seed."""
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def _load(text: str | bytes, schema: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except UnicodeDecodeError as err:
        raise SchemaError(f"{schema}: not UTF-8 text ({err.reason} at byte {err.start})"
                          ) from None
    except ValueError as err:
        raise SchemaError(f"{schema}: not valid JSON ({err})") from None
    except RecursionError:
        raise SchemaError(f"{schema}: JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise SchemaError(f"{schema}: the document must be a JSON object")
    if doc.get("schema", schema) != schema:
        raise SchemaError(f"{schema}: field 'schema' is {doc.get('schema')!r}, expected {schema!r}")
    version = doc.get("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"{schema}: unsupported 'version' {version!r}; this acbo-core reads version "
            f"{SCHEMA_VERSION}"
        )
    return doc


def _field(doc: Mapping[str, Any], name: str, kind: type | tuple[type, ...], path: str,
           default: Any = ...) -> Any:
    if name not in doc:
        if default is ...:
            raise SchemaError(f"{path}.{name}: required field is missing")
        return default
    value = doc[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        names = " or ".join(k.__name__ for k in kinds)
        raise SchemaError(f"{path}.{name}: expected {names}, got {type(value).__name__}")
    return value


def _number_list(value: Any, path: str, depth: int = 1) -> Any:
    if not isinstance(value, list):
        raise SchemaError(f"{path}: expected a list")
    if depth > 1:
        return [_number_list(v, f"{path}[{i}]", depth - 1) for i, v in enumerate(value)]
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise SchemaError(f"{path}[{i}]: expected a number, got {v!r}")
    return value


# -- SCM ----------------------------------------------------------------------------------------


def _mechanism_to_doc(mech: Mapping[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": mech["type"]}
    if mech["type"] == "linear":
        doc["coefficients"] = dict(zip(mech["parents"], mech["coefficients"], strict=True))
        doc["intercept"] = mech["intercept"]
    elif mech["type"] == "fourier":
        doc.update(parents=list(mech["parents"]), weights=_thaw(mech["weights"]),
                   phases=list(mech["phases"]), amplitudes=list(mech["amplitudes"]),
                   intercept=mech["intercept"])
    else:
        doc.update(name=mech["name"], parents=list(mech["parents"]))
    doc["noise_scale"] = mech["noise_scale"]
    return doc


def _mechanism_from_doc(doc: Any, path: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise SchemaError(f"{path}: expected an object")
    kind = _field(doc, "type", str, path)
    out: dict[str, Any] = {"type": kind,
                           "noise_scale": _field(doc, "noise_scale", float, path, 1.0)}
    if kind == "linear":
        coefs = _field(doc, "coefficients", dict, path, {})
        for name, c in coefs.items():
            if isinstance(c, bool) or not isinstance(c, int | float):
                raise SchemaError(f"{path}.coefficients.{name}: expected a number, got {c!r}")
        out.update(parents=tuple(coefs), coefficients=tuple(coefs.values()),
                   intercept=_field(doc, "intercept", float, path, 0.0))
    elif kind == "fourier":
        out.update(
            parents=tuple(_field(doc, "parents", list, path)),
            weights=_number_list(_field(doc, "weights", list, path), f"{path}.weights", 2),
            phases=_number_list(_field(doc, "phases", list, path), f"{path}.phases"),
            amplitudes=_number_list(_field(doc, "amplitudes", list, path), f"{path}.amplitudes"),
            intercept=_field(doc, "intercept", float, path, 0.0),
        )
    elif kind == "named":
        out.update(name=_field(doc, "name", str, path),
                   parents=tuple(_field(doc, "parents", list, path, [])))
    else:
        raise SchemaError(f"{path}.type: unknown mechanism type {kind!r}")
    return out


def scm_to_json(scm: Mapping[str, Any]) -> str:
    """The SCM as a JSON document (exact; edges sorted)."""
    return _dump({
        "schema": "acbo.scm",
        "version": SCHEMA_VERSION,
        "variables": list(scm["variables"]),
        "edges": sorted([list(e) for e in scm["edges"]]),
        "mechanisms": {v: _mechanism_to_doc(scm["mechanisms"][v]) for v in scm["variables"]},
        "target": scm["target"],
        "intervention_ranges": {v: list(scm["intervention_ranges"][v]) for v in scm["variables"]},
        "intervenable": [v for v in scm["variables"] if v in scm["intervenable"]],
        "metadata": _sorted_keys(_thaw(scm["metadata"])),
    })


def scm_from_json(text: str | bytes) -> pyr.PMap:
    """Parses and validates an SCM document.

    Raises:
      SchemaError: malformed JSON or a field of the wrong shape (named).
      CyclicGraphError, UnknownVariableError, InvalidMechanismError, ...: an invalid SCM.
    """
    doc = _load(text, "acbo.scm")
    variables = _field(doc, "variables", list, "scm")
    edges = _field(doc, "edges", list, "scm")
    for i, e in enumerate(edges):
        if not (isinstance(e, list) and len(e) == 2 and all(isinstance(v, str) for v in e)):
            raise SchemaError(f"scm.edges[{i}]: expected [parent, child], got {e!r}")
    mechs = _field(doc, "mechanisms", dict, "scm")
    ranges = _field(doc, "intervention_ranges", dict, "scm", {})
    for v, r in ranges.items():
        _number_list(r, f"scm.intervention_ranges.{v}")
    intervenable = _field(doc, "intervenable", list, "scm", None)
    return create_scm(
        variables,
        [tuple(e) for e in edges],
        {v: _mechanism_from_doc(m, f"scm.mechanisms.{v}") for v, m in mechs.items()},
        _field(doc, "target", str, "scm"),
        _field(doc, "metadata", dict, "scm", {}),
        intervention_ranges={v: tuple(r) for v, r in ranges.items()},
        intervenable=intervenable,
    )


# -- buffer -------------------------------------------------------------------------------------


def buffer_to_json(buffer: ExperienceBuffer) -> str:
    """The buffer as a JSON document: one entry per block (intervention, rows)."""
    blocks = []
    for values, intervention in buffer.blocks():
        blocks.append({
            "intervention": None if intervention is None
            else {v: intervention["values"][v] for v in sorted(intervention["targets"])},
            "values": values.tolist(),
        })
    return _dump({"schema": "acbo.buffer", "version": SCHEMA_VERSION,
                  "variables": list(buffer.variables), "blocks": blocks})


def buffer_from_json(text: str | bytes) -> ExperienceBuffer:
    """Parses a buffer document.

    Raises:
      SchemaError: malformed document (field named); the buffer's own errors for bad rows.
    """
    doc = _load(text, "acbo.buffer")
    buffer = ExperienceBuffer.create(_field(doc, "variables", list, "buffer"))
    for i, block in enumerate(_field(doc, "blocks", list, "buffer")):
        path = f"buffer.blocks[{i}]"
        if not isinstance(block, dict):
            raise SchemaError(f"{path}: expected an object")
        values = _number_list(_field(block, "values", list, path), f"{path}.values", 2)
        intervention = _field(block, "intervention", (dict, type(None)), path, None)
        if intervention is None:
            buffer = buffer.add_observations(values)
        else:
            buffer = buffer.add_interventions(
                create_perfect_intervention(list(intervention), list(intervention.values())),
                values,
            )
    return buffer


# -- posterior ----------------------------------------------------------------------------------


def posterior_to_json(posterior: ParentSetPosterior) -> str:
    """The posterior as a JSON document (each set as a sorted list of names)."""
    return _dump({"schema": "acbo.posterior", "version": SCHEMA_VERSION,
                  "target": posterior.target,
                  "parent_sets": [sorted(s) for s in posterior.parent_sets],
                  "probs": posterior.probs.tolist()})


def posterior_from_json(text: str | bytes) -> ParentSetPosterior:
    """Parses a posterior document.

    Raises:
      SchemaError: malformed document; InvalidPosteriorError: invalid probabilities or sets.
    """
    doc = _load(text, "acbo.posterior")
    sets = _field(doc, "parent_sets", list, "posterior")
    for i, s in enumerate(sets):
        if not (isinstance(s, list) and all(isinstance(v, str) for v in s)):
            raise SchemaError(f"posterior.parent_sets[{i}]: expected a list of names")
    probs = _number_list(_field(doc, "probs", list, "posterior"), "posterior.probs")
    return ParentSetPosterior(_field(doc, "target", str, "posterior"),
                              tuple(frozenset(s) for s in sets), np.asarray(probs, np.float64))


# -- files --------------------------------------------------------------------------------------


def save_scm(scm: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Writes an SCM file atomically (an existing file only if it is an SCM document).

    Raises:
      OverwriteRefusedError: ``path`` holds something else.
    """
    save_json(scm_to_json(scm), path)


def load_scm(path: str | os.PathLike[str]) -> pyr.PMap:
    """Reads and validates an SCM file.

    Raises:
      SchemaError: the file does not exist or is malformed (the message names it).
    """
    try:
        text = pathlib.Path(path).read_bytes()
    except OSError as err:
        raise SchemaError(f"cannot read SCM file {str(path)!r}: {err.strerror}") from None
    try:
        return scm_from_json(text)
    except SchemaError as err:
        raise SchemaError(f"SCM file {str(path)!r}: {err}") from None
