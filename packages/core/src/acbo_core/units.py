"""Re-expressing an SCM in other units of measurement.

Real systems measure their variables in arbitrary units (grams or tonnes, Celsius or Kelvin):
intercepts and scales that vary by orders of magnitude. :func:`change_units` turns an SCM into
the same causal system measured in new units, ``X_i' = offset_i + scale_i * X_i`` for every
variable, by folding the affine map into the mechanisms, so a model trained on many such SCMs
learns that units carry no causal information.

With ``X_p = (X_p' - o_p) / s_p`` for the parents and ``X_j' = o_j + s_j X_j`` for the child:

- linear: ``x' = (o_j + s_j (b - sum_p c_p o_p / s_p)) + sum_p (s_j c_p / s_p) x_p' + s_j sigma
  eps``;
- Fourier: ``w_mp' = w_mp / s_p``, ``phase_m' = phase_m - sum_p w_mp' o_p`` (reduced modulo
  2 pi, an exact identity that keeps float32 cosines accurate), ``a_m' = s_j a_m``,
  ``intercept' = o_j + s_j intercept``, ``noise' = s_j noise``.

The same standard normal noise drives both SCMs, so sampling them with the same key gives
samples related by the affine map (up to float32 rounding).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyrsistent as pyr

from acbo_core.errors import InvalidUnitsError, UnknownVariableError, UnsupportedMechanismError
from acbo_core.mechanisms import fourier_mechanism, linear_mechanism
from acbo_core.scm import create_scm

__all__ = ["change_units"]

UNITS_KEY = "units"
"""The metadata entry :func:`change_units` writes: ``{"scale": {name: s}, "offset": {name: o}}``,
the affine map from the units the SCM was first built in to its current ones."""


def _factors(scm: Mapping[str, Any], values: Mapping[str, Any] | None, what: str,
             default: float, positive: bool) -> dict[str, float]:
    """One float per variable from a mapping by name (variables left out get ``default``)."""
    variables = tuple(scm["variables"])
    if values is None:
        return dict.fromkeys(variables, default)
    if not isinstance(values, Mapping):
        raise InvalidUnitsError(f"{what} must map variable names to numbers, got a "
                                f"{type(values).__name__}")
    for var in values:
        if var not in scm["mechanisms"]:
            raise UnknownVariableError(f"{what} names {var!r}, which is not a variable of the "
                                       f"SCM (variables: {list(variables)})")
    out = {}
    for var in variables:
        value = values.get(var, default)
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
        number = float(value) if ok else math.nan
        if not (ok and math.isfinite(number) and (number > 0 or not positive)):
            rule = "a finite number > 0" if positive else "a finite number"
            raise InvalidUnitsError(f"{what}[{var!r}] must be {rule}, got {value!r}")
        out[var] = number
    return out


def _linear(mech: Mapping[str, Any], var: str, scale: Mapping[str, float],
            offset: Mapping[str, float]) -> pyr.PMap:
    s_j, o_j = scale[var], offset[var]
    parents, coefs = mech["parents"], mech["coefficients"]
    shift = sum(c * offset[p] / scale[p] for p, c in zip(parents, coefs, strict=True))
    return linear_mechanism(
        {p: s_j * c / scale[p] for p, c in zip(parents, coefs, strict=True)},
        intercept=o_j + s_j * (mech["intercept"] - shift),
        noise_scale=s_j * mech["noise_scale"],
    )


def _fourier(mech: Mapping[str, Any], var: str, scale: Mapping[str, float],
             offset: Mapping[str, float]) -> pyr.PMap:
    s_j, o_j = scale[var], offset[var]
    parents = mech["parents"]
    phases = np.asarray(mech["phases"], np.float64)  # [M]
    weights = np.asarray(mech["weights"], np.float64).reshape(len(phases), len(parents))
    weights = weights / np.asarray([scale[p] for p in parents], np.float64)  # [M, k]
    shift = weights @ np.asarray([offset[p] for p in parents], np.float64)  # [M]
    return fourier_mechanism(
        parents, weights, phases - np.mod(shift, 2 * np.pi),
        s_j * np.asarray(mech["amplitudes"], np.float64),
        intercept=o_j + s_j * mech["intercept"], noise_scale=s_j * mech["noise_scale"],
    )


def _composed(metadata: Mapping[str, Any], scale: Mapping[str, float],
              offset: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """The metadata's units map followed by this one (``o + s (o0 + s0 x)``)."""
    before = metadata.get(UNITS_KEY)
    if before is None:
        return {"scale": dict(scale), "offset": dict(offset)}
    try:
        s0 = {v: float(before["scale"][v]) for v in scale}
        o0 = {v: float(before["offset"][v]) for v in scale}
    except (KeyError, TypeError, ValueError):
        raise InvalidUnitsError(
            f"metadata[{UNITS_KEY!r}] must be {{'scale': {{name: s}}, 'offset': {{name: o}}}} "
            "for every variable (change_units writes it)") from None
    return {"scale": {v: scale[v] * s0[v] for v in scale},
            "offset": {v: offset[v] + scale[v] * o0[v] for v in scale}}


def change_units(scm: Mapping[str, Any], scales: Mapping[str, float] | None = None,
                 offsets: Mapping[str, float] | None = None) -> pyr.PMap:
    """The SCM measured in new units: every variable becomes ``offset + scale * X``.

    Args:
      scm: an SCM whose mechanisms are linear or Fourier.
      scales: the new unit's scale of each variable, by name (finite, > 0); variables left out
        (or ``None``: all) keep scale 1.
      offsets: the offset of each variable, by name, in the new units; left out: 0.

    Returns:
      The re-expressed SCM: the same variables, edges, target and intervenable variables;
      intervention ranges mapped through the affine map (so default ranges, the observational
      mean +- 2 standard deviations, stay the new SCM's defaults); ``metadata`` as before plus
      ``metadata["units"]``, the map from the units the SCM was first built in (changes of
      units compose).

    Raises:
      UnsupportedMechanismError: a named (closed-form benchmark) mechanism, which cannot absorb
        a change of units; the variable is named.
      UnknownVariableError: ``scales`` or ``offsets`` names an unknown variable.
      InvalidUnitsError: ``scales`` or ``offsets`` is not a mapping, a scale is not a finite
        number > 0, an offset is not finite (the variable is named), or the metadata holds a
        malformed ``"units"`` entry.
    """
    for var in scm["variables"]:
        if scm["mechanisms"][var]["type"] not in ("linear", "fourier"):
            raise UnsupportedMechanismError(
                f"change_units needs linear or Fourier mechanisms; {var!r} has a "
                f"{scm['mechanisms'][var]['type']!r} mechanism")
    scale = _factors(scm, scales, "scales", 1.0, positive=True)
    offset = _factors(scm, offsets, "offsets", 0.0, positive=False)
    mechanisms = {}
    for var in scm["variables"]:
        mech = scm["mechanisms"][var]
        change = _linear if mech["type"] == "linear" else _fourier
        mechanisms[var] = change(mech, var, scale, offset)
    ranges = {var: (offset[var] + scale[var] * float(lo), offset[var] + scale[var] * float(hi))
              for var, (lo, hi) in scm["intervention_ranges"].items()}
    metadata = {**scm["metadata"], UNITS_KEY: _composed(scm["metadata"], scale, offset)}
    return create_scm(scm["variables"], scm["edges"], mechanisms, scm["target"], metadata,
                      intervention_ranges=ranges, intervenable=scm["intervenable"])
