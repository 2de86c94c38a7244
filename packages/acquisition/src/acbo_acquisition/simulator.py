"""The training simulator: exact interventional samples of a linear-Gaussian SCM, as arrays.

GRPO simulates ``B x G`` interventions per update inside one jit-compiled step, so the SCM is
lowered once per state to tables in the state's variable order. Under ``do(v = x)`` a linear
SCM with weights ``W``, intercepts ``b`` and noise scales ``s`` gives the row

    row = (x e_v + (1 - e_v) * (b + s * eps)) (I - W diag(1 - e_v))^-1,   eps ~ N(0, I_d)
        = offset[v] + x * slope[v] + eps @ noise[v],

which is the same law ``acbo_core.sample_interventional`` samples from (checked in the tests).
Nonlinear SCMs are refused: their interventional law has no such closed form.

Glossary of shape letters: d variables (D after padding), P states, G samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from acbo_core import AcquisitionState, is_linear_scm, linear_coefficients
from acbo_core.errors import (
    InvalidInterventionError,
    InvalidStateError,
    ShapeMismatchError,
    UnknownVariableError,
    UnsupportedMechanismError,
)

__all__ = ["SimulatorTables", "simulator_tables", "stack_tables", "simulate_rows",
           "expected_target"]


class SimulatorTables(NamedTuple):
    """One state's SCM as arrays (or a batch, with a leading axis), variables in state order.

    Attributes:
      offset: ``[d, d]`` row ``v``: mean row under ``do(v = 0)``.
      slope: ``[d, d]`` row ``v``: change of the mean row per unit of ``x`` under ``do(v = x)``.
      noise: ``[d, d, d]`` ``noise[v]`` maps standard normal noise ``[d]`` to the row's noise.
      target: ``[]`` int32 index of the target.
      best: ``[]`` best target value of the state (original units).
      scale: ``[]`` the target's observational standard deviation in the SCM.
      sign: ``[]`` +1 when the target is minimised, -1 when maximised.
    """

    offset: np.ndarray | jax.Array
    slope: np.ndarray | jax.Array
    noise: np.ndarray | jax.Array
    target: np.ndarray | jax.Array
    best: np.ndarray | jax.Array
    scale: np.ndarray | jax.Array
    sign: np.ndarray | jax.Array


def simulator_tables(scm: Mapping[str, Any], state: AcquisitionState) -> SimulatorTables:
    """Lowers ``scm`` to :class:`SimulatorTables` for ``state`` (rows only for the variables the
    state may intervene on; the others stay zero).

    Raises:
      UnsupportedMechanismError: a nonlinear SCM.
      UnknownVariableError: the SCM's variables differ from the state's buffer.
      InvalidStateError: the SCM optimises another target than the state.
      InvalidInterventionError: the state allows an intervention the SCM forbids.
    """
    if not is_linear_scm(scm):
        raise UnsupportedMechanismError(
            "GRPO's simulator needs a linear-Gaussian SCM (its interventional law is exact in "
            "closed form); this SCM has a nonlinear mechanism")
    order = state.buffer.variables
    if set(order) != set(scm["variables"]) or len(order) != len(scm["variables"]):
        raise UnknownVariableError(f"the SCM's variables {list(scm['variables'])} differ from "
                                   f"the state's {list(order)}")
    if scm["target"] != state.target:
        raise InvalidStateError(f"the SCM's target is {scm['target']!r} but the state's is "
                                f"{state.target!r}")
    for var in state.intervenable:
        if var not in scm["intervenable"]:
            raise InvalidInterventionError(f"the state may intervene on {var!r} but the SCM "
                                           f"forbids it")
    w, b, s = linear_coefficients(scm, order)
    d, t = len(order), order.index(state.target)
    eye = np.eye(d)
    offset, slope, noise = np.zeros((d, d)), np.zeros((d, d)), np.zeros((d, d, d))
    for var in state.intervenable:
        v = order.index(var)
        keep = 1.0 - eye[v]  # 0 for the intervened variable
        inv = np.linalg.inv(eye - w * keep[None, :])
        offset[v] = (keep * b) @ inv
        slope[v] = inv[v]
        noise[v] = (keep * s)[:, None] * inv
    inv0 = np.linalg.inv(eye - w)
    scale = float(np.sqrt(np.sum((s * inv0[:, t]) ** 2)))
    f32 = np.float32
    return SimulatorTables(offset.astype(f32), slope.astype(f32), noise.astype(f32),
                           np.asarray(t, np.int32), np.asarray(state.best_value, f32),
                           np.asarray(max(scale, 1e-8), f32),
                           np.asarray(1.0 if state.minimize else -1.0, f32))


def stack_tables(tables: Sequence[SimulatorTables], n_vars: int | None = None) -> SimulatorTables:
    """Stacks per-state tables into a batch, zero-padding the variable axes to ``n_vars``.

    Raises:
      ShapeMismatchError: no tables, or a state with more than ``n_vars`` variables.
    """
    if not tables:
        raise ShapeMismatchError("stack_tables needs at least one table")
    sizes = [np.shape(t.offset)[0] for t in tables]
    width = max(sizes) if n_vars is None else int(n_vars)
    if max(sizes) > width:
        raise ShapeMismatchError(f"a state has {max(sizes)} variables, more than n_vars={width}")
    p = len(tables)
    offset = np.zeros((p, width, width), np.float32)
    slope = np.zeros((p, width, width), np.float32)
    noise = np.zeros((p, width, width, width), np.float32)
    for i, (t, d) in enumerate(zip(tables, sizes, strict=True)):
        offset[i, :d, :d], slope[i, :d, :d], noise[i, :d, :d, :d] = t.offset, t.slope, t.noise
    col = lambda name: np.stack([np.asarray(getattr(t, name)) for t in tables])  # noqa: E731
    return SimulatorTables(offset, slope, noise, col("target"), col("best"), col("scale"),
                           col("sign"))


def simulate_rows(tables: SimulatorTables, variable: ArrayLike, value: ArrayLike,
                  key: jax.Array) -> jax.Array:
    """``[G, d]`` one sample row per intervention ``do(variable[g] = value[g])`` of one state."""
    variable = jnp.asarray(variable)
    value = jnp.asarray(value, jnp.float32)
    eps = jax.random.normal(key, (variable.shape[0], tables.offset.shape[-1]))  # [G, d]
    mean = tables.offset[variable] + value[:, None] * tables.slope[variable]  # [G, d]
    return mean + jnp.einsum("gi,gij->gj", eps, tables.noise[variable])


def expected_target(tables: SimulatorTables, values: ArrayLike) -> jax.Array:
    """``E[target | do(v = values[v, k])]`` of one state for a grid ``values [d, K]``."""
    t = tables.target
    offset, slope = jnp.asarray(tables.offset), jnp.asarray(tables.slope)
    return offset[:, t][:, None] + jnp.asarray(values) * slope[:, t][:, None]
