"""State encoding: an :class:`~acbo_core.AcquisitionState` -> one feature token per variable.

All features are in standardised units (each variable centred and scaled by its observational
mean and standard deviation), and the target is sign-flipped when it is maximised, so "lower is
better" everywhere and a trained policy transfers across SCMs of different scales and sizes.
Nothing in a token depends on the variable's name or position, which keeps the network
permutation-equivariant.

Per-variable features (index, :class:`Feature` name: meaning):

 0 is the target                        12 best target (std.) among its interventions - best
 1 may be intervened on                 13 where in its range that best was found, in [-1, 1]
 2 posterior P(parent of the target)    14 interventional slope of the target on it (std.)
 3 observational correlation with the   15 gain predicted by 14 at the range's low end
   target                               16 gain predicted by 14 at the range's high end
 4 posterior-mean regression slope of   17 it was the last variable intervened on
   the target on it (do-effect, std.)   18 where in its range the last intervention set it
 5 posterior std of that slope          19 best value so far (std.)           [global]
 6 range low end (std.)                 20 log(1 + step)                      [global]
 7 range high end (std.)                21 posterior entropy / log(#sets)     [global]
 8 gain predicted by 4 at the low end   22 log(1 + interventional rows)       [global]
 9 gain predicted by 4 at the high end
10 log(1 + times it was intervened on)
11 mean target (std.) under those interventions - best value

A "gain" is ``best - predicted target`` (positive: an expected improvement). Feature 4 is what
PARENT_SCALE's surrogate uses for a linear SCM: for each candidate parent set a least-squares
regression of the target on the set (rows where the target was not intervened on), averaged
with the posterior's weights.

Glossary of shape letters: N rows of data, d variables (D after padding), F features.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np

from acbo_core import STD_FLOOR, AcquisitionState, standardisation
from acbo_core.errors import (
    InvalidInterventionError,
    InvalidStateError,
    ShapeMismatchError,
    UnknownVariableError,
)

__all__ = ["Feature", "N_FEATURES", "PolicyInputs", "encode_state", "stack_inputs", "check_state"]

class Feature(enum.IntEnum):
    """The columns of a token (the module docstring says what each one is)."""

    IS_TARGET = 0
    INTERVENABLE = 1
    PARENT_PROB = 2
    OBS_CORRELATION = 3
    SLOPE = 4
    SLOPE_STD = 5
    RANGE_LOW = 6
    RANGE_HIGH = 7
    GAIN_LOW = 8
    GAIN_HIGH = 9
    LOG_N_INTERVENED = 10
    MEAN_OUTCOME = 11
    BEST_OUTCOME = 12
    BEST_POSITION = 13
    INT_SLOPE = 14
    INT_GAIN_LOW = 15
    INT_GAIN_HIGH = 16
    LAST_INTERVENED = 17
    LAST_POSITION = 18
    BEST_VALUE = 19
    LOG_STEP = 20
    POSTERIOR_ENTROPY = 21
    LOG_N_INTERVENTIONAL = 22


N_FEATURES = len(Feature)
_CLIP = 10.0
_RIDGE = 1e-3
_MIN_SET_PROB = 1e-4


class PolicyInputs(NamedTuple):
    """Network input for one state (or a batch, with a leading axis).

    Attributes:
      features: ``[d, F]`` float32 tokens (see the module docstring).
      valid: ``[d]`` bool, False for padding tokens of a batch.
      intervenable: ``[d]`` bool, the variables the policy may choose.
      lo: ``[d]`` float32, low end of each intervenable variable's range (0 elsewhere).
      hi: ``[d]`` float32, high end (1 elsewhere).
    """

    features: np.ndarray | jax.Array
    valid: np.ndarray | jax.Array
    intervenable: np.ndarray | jax.Array
    lo: np.ndarray | jax.Array
    hi: np.ndarray | jax.Array


def check_state(state: AcquisitionState) -> None:
    """Re-checks the invariants the policy relies on (a state may have been altered in place).

    Raises:
      InvalidStateError: not an AcquisitionState, a posterior for another target, no
        intervenable variable, an empty buffer, or the target among the intervenable variables.
      UnknownVariableError: a range or a candidate parent for a variable not in the buffer.
      InvalidInterventionError: a range that is not finite with lo < hi.
    """
    if not isinstance(state, AcquisitionState):
        raise InvalidStateError(f"expected an acbo_core.AcquisitionState, got "
                                f"{type(state).__name__}")
    variables = state.buffer.variables
    if state.posterior.target != state.target:
        raise InvalidStateError(f"the posterior is over parents of {state.posterior.target!r} but "
                                f"the state's target is {state.target!r}")
    if not state.intervention_ranges:
        raise InvalidStateError("no intervenable variable: intervention_ranges is empty")
    for var, (lo, hi) in state.intervention_ranges.items():
        if var not in variables:
            raise UnknownVariableError(f"intervention range for unknown variable {var!r}")
        if var == state.target:
            raise InvalidStateError(f"the target {var!r} cannot be intervened on")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InvalidInterventionError(
                f"intervention range of {var!r} must be finite with lo < hi, got ({lo}, {hi})")
    for s in state.posterior.parent_sets:
        for v in s:
            if v not in variables:
                raise UnknownVariableError(f"candidate parent {v!r} is not a variable of the "
                                           f"buffer {list(variables)}")
    if len(state.buffer) == 0:
        raise InvalidStateError("the buffer is empty: the policy needs data to look at")


def _position(value: float, lo: float, hi: float) -> float:
    return float(np.clip(2.0 * (value - lo) / (hi - lo) - 1.0, -1.0, 1.0))


def encode_state(state: AcquisitionState) -> PolicyInputs:
    """The policy's input for one state, variables in ``state.buffer.variables`` order.

    Args:
      state: the decision context.

    Returns:
      :class:`PolicyInputs` of numpy arrays, ``d = len(state.buffer.variables)``.

    Raises:
      InvalidStateError, UnknownVariableError, InvalidInterventionError: see
        :func:`check_state`.
    """
    check_state(state)
    variables = state.buffer.variables
    index = {v: i for i, v in enumerate(variables)}
    d, t = len(variables), index[state.target]
    sign = 1.0 if state.minimize else -1.0
    values, mask = state.buffer.to_arrays()  # [N, d]
    obs = ~mask.any(axis=1)
    ref = values[obs] if obs.sum() >= 2 else values
    mu, sd = standardisation(ref)
    z = (values - mu) / sd  # [N, d]
    y = sign * z[:, t]  # [N] standardised target, lower is better
    best = sign * (state.best_value - mu[t]) / sd[t]

    F = Feature
    feats = np.zeros((d, N_FEATURES))
    feats[t, F.IS_TARGET] = 1.0
    intervenable = np.zeros(d, bool)
    lo = np.zeros(d)
    hi = np.ones(d)
    for var, (a, b) in state.intervention_ranges.items():
        j = index[var]
        intervenable[j], lo[j], hi[j] = True, a, b
    feats[:, F.INTERVENABLE] = intervenable
    marginals = state.posterior.marginal_parent_probs(variables)
    feats[:, F.PARENT_PROB] = [marginals[v] for v in variables]

    zo = z[obs] if obs.sum() >= 2 else z
    yo = sign * zo[:, t]
    feats[:, F.OBS_CORRELATION] = ((zo * yo[:, None]).mean(axis=0)
                                   / np.maximum(zo.std(axis=0) * yo.std(), STD_FLOOR))
    feats[t, F.OBS_CORRELATION] = 0.0

    # Posterior-weighted regression of the target on each candidate set (sufficient statistics
    # once, then one small solve per set).
    rows = ~mask[:, t]
    zr, yr = z[rows], y[rows]
    n = max(int(rows.sum()), 1)
    gram, cross = zr.T @ zr / n, zr.T @ yr / n
    slope, slope_sq = np.zeros(d), np.zeros(d)
    by_size: dict[int, tuple[list[list[int]], list[float]]] = {}
    for s, p in zip(state.posterior.parent_sets, state.posterior.probs, strict=True):
        if s and p >= _MIN_SET_PROB:
            sets, probs = by_size.setdefault(len(s), ([], []))
            sets.append(sorted(index[v] for v in s))
            probs.append(float(p))
    for size, (sets, probs) in by_size.items():  # one batched solve per set size
        idx = np.asarray(sets)  # [S, size]
        a = gram[idx[:, :, None], idx[:, None, :]] + _RIDGE * np.eye(size)  # [S, size, size]
        beta = np.linalg.solve(a, cross[idx][..., None])[..., 0]  # [S, size]
        w = np.asarray(probs)[:, None]
        np.add.at(slope, idx, w * beta)
        np.add.at(slope_sq, idx, w * beta**2)
    feats[:, F.SLOPE] = slope
    feats[:, F.SLOPE_STD] = np.sqrt(np.maximum(slope_sq - slope**2, 0.0))
    lo_z, hi_z = (lo - mu) / sd, (hi - mu) / sd
    feats[:, F.RANGE_LOW], feats[:, F.RANGE_HIGH] = lo_z * intervenable, hi_z * intervenable
    feats[:, F.GAIN_LOW] = (best - slope * lo_z) * intervenable
    feats[:, F.GAIN_HIGH] = (best - slope * hi_z) * intervenable

    for j in map(int, np.flatnonzero(intervenable)):
        r = mask[:, j]
        n_j = int(r.sum())
        if n_j == 0:
            continue
        yj, xj = y[r], z[r, j]
        feats[j, F.LOG_N_INTERVENED] = math.log1p(n_j)
        feats[j, F.MEAN_OUTCOME] = yj.mean() - best
        k = int(np.argmin(yj))
        feats[j, F.BEST_OUTCOME] = yj[k] - best
        feats[j, F.BEST_POSITION] = _position(values[r][k, j], lo[j], hi[j])
        int_slope = 0.0
        if n_j >= 2 and np.ptp(xj) > 1e-6:
            xc = xj - xj.mean()
            int_slope = float(xc @ (yj - yj.mean()) / (xc @ xc))
        feats[j, F.INT_SLOPE] = int_slope
        feats[j, F.INT_GAIN_LOW] = best - (yj.mean() + int_slope * (lo_z[j] - xj.mean()))
        feats[j, F.INT_GAIN_HIGH] = best - (yj.mean() + int_slope * (hi_z[j] - xj.mean()))

    history = state.buffer.interventions()
    if history:
        last = history[-1][0]
        for var, val in last["values"].items():
            j = index[var]
            feats[j, F.LAST_INTERVENED] = 1.0
            if intervenable[j]:
                feats[j, F.LAST_POSITION] = _position(val, lo[j], hi[j])
    n_sets = len(state.posterior)
    feats[:, F.BEST_VALUE] = best
    feats[:, F.LOG_STEP] = math.log1p(state.step)
    feats[:, F.POSTERIOR_ENTROPY] = (state.posterior.entropy() / math.log(n_sets) if n_sets > 1
                                     else 0.0)
    feats[:, F.LOG_N_INTERVENTIONAL] = math.log1p(int((~obs).sum()))
    feats = np.clip(np.nan_to_num(feats), -_CLIP, _CLIP)
    return PolicyInputs(feats.astype(np.float32), np.ones(d, bool), intervenable,
                        lo.astype(np.float32), hi.astype(np.float32))


def stack_inputs(inputs: Sequence[PolicyInputs], n_vars: int | None = None) -> PolicyInputs:
    """Stacks single-state inputs into a batch, padding the variable axis.

    Args:
      inputs: outputs of :func:`encode_state` (any number of variables each).
      n_vars: D, the padded number of variables (default: the largest d).

    Returns:
      :class:`PolicyInputs` with a leading batch axis: features ``[B, D, F]``, the rest
      ``[B, D]``; padding tokens are zero, not valid and not intervenable.

    Raises:
      ShapeMismatchError: no inputs, a malformed input, or a state with more than ``n_vars``
        variables.
    """
    if not inputs:
        raise ShapeMismatchError("stack_inputs needs at least one input")
    sizes = []
    for x in inputs:
        f = np.asarray(x.features)
        if f.ndim != 2 or f.shape[1] != N_FEATURES:
            raise ShapeMismatchError(f"expected features of shape [d, {N_FEATURES}], got "
                                     f"{f.shape}")
        sizes.append(f.shape[0])
    width = max(sizes) if n_vars is None else int(n_vars)
    if max(sizes) > width:
        raise ShapeMismatchError(f"a state has {max(sizes)} variables, more than n_vars={width}")
    b = len(inputs)
    out = PolicyInputs(np.zeros((b, width, N_FEATURES), np.float32), np.zeros((b, width), bool),
                       np.zeros((b, width), bool), np.zeros((b, width), np.float32),
                       np.ones((b, width), np.float32))
    for i, (x, d) in enumerate(zip(inputs, sizes, strict=True)):
        for field, src in zip(out, x, strict=True):
            field[i, :d] = np.asarray(src)
    return out
