"""Mechanisms: how one variable is computed from its parents and its own noise.

A mechanism is an immutable ``pyr.PMap`` (so SCMs hash, compare and serialise exactly) with a
``"type"`` and a ``"parents"`` tuple. Every variable's exogenous noise is a standard normal
``eps``; the mechanism turns it into the variable's noise term. Families:

- ``"linear"``: ``x = intercept + sum_p coefficient_p * x_p + noise_scale * eps``.
- ``"fourier"``: a random function of the parents drawn from a Gaussian process with an RBF
  kernel, approximated by random Fourier features (as AVICI and DiBS generate nonlinear data):
  ``x = intercept + sum_m amplitude_m * cos(weights_m . x_pa + phase_m) + noise_scale * eps``.
- ``"named"``: closed-form mechanisms of the named benchmarks (the CBO toy graph, the PSA
  healthcare graph), looked up by name in :data:`NAMED_MECHANISMS`; parents are positional.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pyrsistent as pyr

from acbo_core.errors import InvalidMechanismError

__all__ = [
    "linear_mechanism",
    "fourier_mechanism",
    "named_mechanism",
    "NamedMechanism",
    "NAMED_MECHANISMS",
    "evaluate_mechanism",
    "validate_mechanism",
    "is_linear",
]

MECHANISM_TYPES = ("linear", "fourier", "named")


class NamedMechanism(NamedTuple):
    """A closed-form mechanism of a named benchmark.

    Attributes:
      arity: number of parents, passed positionally in the mechanism's ``parents`` order.
      fn: ``fn(parent_values, eps, noise_scale) -> values``, all arrays of one shape.
      doc: the formula, for humans.
    """

    arity: int
    fn: Callable[[Sequence[jax.Array], jax.Array, float], jax.Array]
    doc: str


def _uniform_from_normal(eps: jax.Array, lo: float, hi: float) -> jax.Array:
    # Keeps one noise convention (standard normal eps) for every variable.
    return lo + (hi - lo) * jax.scipy.special.ndtr(eps)


NAMED_MECHANISMS: dict[str, NamedMechanism] = {
    # The CBO toy graph X -> Z -> Y (Aglietti et al. 2020).
    "toy_x": NamedMechanism(0, lambda p, e, s: s * e, "X = eps"),
    "toy_z": NamedMechanism(1, lambda p, e, s: jnp.exp(-p[0]) + s * e, "Z = exp(-X) + eps"),
    "toy_y": NamedMechanism(
        1, lambda p, e, s: jnp.cos(p[0]) - jnp.exp(-p[0] / 20.0) + s * e,
        "Y = cos(Z) - exp(-Z/20) + eps",
    ),
    # The PSA healthcare graph of CBO / MCBO (Ferro et al. 2015 as used by Aglietti et al.).
    "psa_age": NamedMechanism(0, lambda p, e, s: _uniform_from_normal(e, 55.0, 75.0),
                              "age ~ U(55, 75)"),
    "psa_bmi": NamedMechanism(1, lambda p, e, s: 27.0 - 0.01 * p[0] + s * e,
                              "bmi = 27 - 0.01 age + 0.7 eps"),
    "psa_aspirin": NamedMechanism(
        2, lambda p, e, s: jax.nn.sigmoid(-8.0 + 0.10 * p[0] + 0.03 * p[1]),
        "aspirin = sigmoid(-8 + 0.10 age + 0.03 bmi)",
    ),
    "psa_statin": NamedMechanism(
        2, lambda p, e, s: jax.nn.sigmoid(-13.0 + 0.10 * p[0] + 0.20 * p[1]),
        "statin = sigmoid(-13 + 0.10 age + 0.20 bmi)",
    ),
    "psa_cancer": NamedMechanism(
        4,
        lambda p, e, s: jax.nn.sigmoid(
            2.2 - 0.05 * p[0] + 0.01 * p[1] - 0.04 * p[2] + 0.02 * p[3]
        ),
        "cancer = sigmoid(2.2 - 0.05 age + 0.01 bmi - 0.04 statin + 0.02 aspirin)",
    ),
    "psa_psa": NamedMechanism(
        5,
        lambda p, e, s: 6.8 + 0.04 * p[0] - 0.15 * p[1] - 0.60 * p[2] + 0.55 * p[3]
        + 1.00 * p[4] + s * e,
        "PSA = 6.8 + 0.04 age - 0.15 bmi - 0.60 statin + 0.55 aspirin + cancer + 0.4 eps",
    ),
}


def _finite_float(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidMechanismError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise InvalidMechanismError(f"{what} must be finite, got {out}")
    return out


def _parents_tuple(parents: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(parents, str):
        raise InvalidMechanismError(f"{what}: parents must be a sequence of names, not a string")
    out = tuple(str(p) for p in parents)
    if len(set(out)) != len(out):
        raise InvalidMechanismError(f"{what}: duplicate parent in {out}")
    return out


def linear_mechanism(
    coefficients: Mapping[str, float], *, intercept: float = 0.0, noise_scale: float = 1.0
) -> pyr.PMap:
    """A linear Gaussian mechanism.

    Args:
      coefficients: weight of each parent, by parent name (empty for a root).
      intercept: constant term.
      noise_scale: standard deviation of the additive Gaussian noise (>= 0).

    Returns:
      The mechanism as an immutable map.

    Raises:
      InvalidMechanismError: a non-finite number or a negative noise scale.
    """
    mech = pyr.pmap({
        "type": "linear",
        "parents": tuple(str(p) for p in coefficients),
        "coefficients": tuple(float(c) for c in coefficients.values()),
        "intercept": intercept,
        "noise_scale": noise_scale,
    })
    return validate_mechanism(mech)


def fourier_mechanism(
    parents: Sequence[str],
    weights: Any,
    phases: Any,
    amplitudes: Any,
    *,
    intercept: float = 0.0,
    noise_scale: float = 1.0,
) -> pyr.PMap:
    """A random-Fourier-feature mechanism from explicit parameters.

    Args:
      parents: parent names, in the column order of ``weights``.
      weights: ``[M, k]`` frequencies (already divided by the length scale).
      phases: ``[M]`` phases.
      amplitudes: ``[M]`` amplitudes.
      intercept: constant term.
      noise_scale: standard deviation of the additive Gaussian noise.

    Returns:
      The mechanism as an immutable map.
    """
    mech = pyr.pmap({
        "type": "fourier",
        "parents": tuple(parents),
        "weights": np.asarray(weights, dtype=np.float64).tolist(),
        "phases": np.asarray(phases, dtype=np.float64).tolist(),
        "amplitudes": np.asarray(amplitudes, dtype=np.float64).tolist(),
        "intercept": intercept,
        "noise_scale": noise_scale,
    })
    return validate_mechanism(mech)


def random_fourier_arrays(
    rng: np.random.Generator, k: int, n_features: int, lengthscale: float, output_scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random Fourier parameters ``(weights [M, k], phases [M], amplitudes [M])``."""
    weights = rng.normal(size=(n_features, k)) / lengthscale
    phases = rng.uniform(0.0, 2.0 * np.pi, size=n_features)
    amplitudes = rng.normal(size=n_features) * output_scale * np.sqrt(2.0 / n_features)
    return weights, phases, amplitudes


def named_mechanism(name: str, parents: Sequence[str], *, noise_scale: float = 1.0) -> pyr.PMap:
    """A closed-form mechanism of a named benchmark (see :data:`NAMED_MECHANISMS`).

    Args:
      name: key of :data:`NAMED_MECHANISMS`.
      parents: parent names, in the order the formula takes them.
      noise_scale: scale of the additive noise where the formula has one.

    Returns:
      The mechanism as an immutable map.
    """
    mech = pyr.pmap(
        {"type": "named", "name": name, "parents": tuple(parents), "noise_scale": noise_scale}
    )
    return validate_mechanism(mech)


def validate_mechanism(mech: Any, variable: str = "?") -> pyr.PMap:
    """Checks a mechanism's fields and returns it in canonical form.

    Args:
      mech: a mapping with a ``"type"``.
      variable: the variable it belongs to, for error messages.

    Returns:
      The canonical immutable mechanism.

    Raises:
      InvalidMechanismError: naming the variable and the bad field.
    """
    where = f"mechanism of {variable!r}"
    if not isinstance(mech, Mapping):
        raise InvalidMechanismError(f"{where} must be a mapping, got {type(mech).__name__}")
    kind = mech.get("type")
    if kind not in MECHANISM_TYPES:
        raise InvalidMechanismError(f"{where}: unknown type {kind!r}; expected one of "
                                    f"{MECHANISM_TYPES}")
    parents = _parents_tuple(mech.get("parents", ()), where)
    noise = _finite_float(mech.get("noise_scale", 1.0), f"{where}: noise_scale")
    if noise < 0:
        raise InvalidMechanismError(f"{where}: noise_scale must be >= 0, got {noise}")
    out: dict[str, Any] = {"type": kind, "parents": parents, "noise_scale": noise}
    if kind == "linear":
        coefs = tuple(
            _finite_float(c, f"{where}: coefficient") for c in mech.get("coefficients", ())
        )
        if len(coefs) != len(parents):
            raise InvalidMechanismError(
                f"{where}: {len(coefs)} coefficients for {len(parents)} parents {parents}"
            )
        out["coefficients"] = coefs
        out["intercept"] = _finite_float(mech.get("intercept", 0.0), f"{where}: intercept")
    elif kind == "fourier":
        try:
            weights = np.asarray(mech.get("weights", ()), dtype=np.float64)
            phases = np.asarray(mech.get("phases", ()), dtype=np.float64)
            amps = np.asarray(mech.get("amplitudes", ()), dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidMechanismError(f"{where}: weights/phases/amplitudes must be numbers")\
                from None
        m = phases.shape[0] if phases.ndim == 1 else -1
        if m < 1 or amps.shape != (m,) or weights.shape != (m, len(parents)):
            if not (m >= 1 and amps.shape == (m,) and weights.size == 0 and not parents):
                raise InvalidMechanismError(
                    f"{where}: expected weights [M, {len(parents)}], phases [M], amplitudes "
                    f"[M] with M >= 1; got {weights.shape}, {phases.shape}, {amps.shape}"
                )
            weights = weights.reshape(m, 0)
        if not (np.isfinite(weights).all() and np.isfinite(phases).all()
                and np.isfinite(amps).all()):
            raise InvalidMechanismError(f"{where}: non-finite Fourier parameters")
        out["weights"] = tuple(tuple(float(v) for v in row) for row in weights)
        out["phases"] = tuple(float(v) for v in phases)
        out["amplitudes"] = tuple(float(v) for v in amps)
        out["intercept"] = _finite_float(mech.get("intercept", 0.0), f"{where}: intercept")
    else:
        name = mech.get("name")
        if name not in NAMED_MECHANISMS:
            raise InvalidMechanismError(
                f"{where}: unknown named mechanism {name!r}; known: {sorted(NAMED_MECHANISMS)}"
            )
        if NAMED_MECHANISMS[name].arity != len(parents):
            raise InvalidMechanismError(
                f"{where}: {name!r} takes {NAMED_MECHANISMS[name].arity} parents, "
                f"got {len(parents)} {parents}"
            )
        out["name"] = name
    return pyr.pmap(out)


def is_linear(mech: Mapping[str, Any]) -> bool:
    """Whether a mechanism is linear Gaussian."""
    return mech["type"] == "linear"


def evaluate_mechanism(
    mech: Mapping[str, Any], parent_values: Sequence[jax.Array], eps: jax.Array
) -> jax.Array:
    """Values of one variable given its parents' values (in ``mech["parents"]`` order).

    Args:
      mech: a validated mechanism.
      parent_values: one array ``[n]`` per parent.
      eps: standard normal noise ``[n]``.

    Returns:
      ``[n]`` values.
    """
    s = mech["noise_scale"]
    if mech["type"] == "linear":
        out = mech["intercept"] + s * eps
        for c, x in zip(mech["coefficients"], parent_values, strict=True):
            out = out + c * x
        return out
    if mech["type"] == "fourier":
        amps = jnp.asarray(mech["amplitudes"], dtype=eps.dtype)  # [M]
        phases = jnp.asarray(mech["phases"], dtype=eps.dtype)  # [M]
        if parent_values:
            w = jnp.asarray(mech["weights"], dtype=eps.dtype)  # [M, k]
            xs = jnp.stack(parent_values, axis=-1)  # [n, k]
            proj = xs @ w.T + phases  # [n, M]
        else:
            proj = jnp.broadcast_to(phases, eps.shape + phases.shape)
        return mech["intercept"] + jnp.cos(proj) @ amps + s * eps
    return NAMED_MECHANISMS[mech["name"]].fn(list(parent_values), eps, s)
