"""PARENT_SCALE's expected improvement for proposals made by another method.

A method that proposes interventions (the trained system's policy, say) can have each proposal
scored and its value refined by the expert's own acquisition: the causal GP of the proposed
variable (acbo_expert.causal_gp), whose prior mean and variance term are the do-effect of the
state's most probable parent sets fitted on the observational rows, conditioned on the outcomes
observed so far (``state.history``), and its expected improvement maximised over the variable's
range (the dense grid and local refinement of :func:`acbo_expert.acquisition.acquire`). Only the
state is read: its buffer, posterior, ranges, best value and history.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from acbo_core import AcquisitionState, standardisation
from acbo_core.errors import InvalidInterventionError, InvalidStateError
from acbo_expert.acquisition import Elements, acquire
from acbo_expert.config import ParentScaleConfig

__all__ = ["ScoredProposal", "score_proposals"]


@dataclasses.dataclass(frozen=True)
class ScoredProposal:
    """One proposal scored by expected improvement (standardised target units).

    Attributes:
      variable: the proposed variable.
      value: where expected improvement is highest in its range.
      ei: the expected improvement there.
      preferred: the value the proposer preferred (``None`` if it gave none).
      ei_preferred: the expected improvement at ``preferred`` (``nan`` without one).
    """

    variable: str
    value: float
    ei: float
    preferred: float | None
    ei_preferred: float


def _pad(n: int, multiple: int = 8) -> int:
    return max(multiple, -(-n // multiple) * multiple)


def score_proposals(state: AcquisitionState, proposals: Sequence[tuple[str, float | None]], *,
                    config: ParentScaleConfig = ParentScaleConfig()  # noqa: B008
                    ) -> list[ScoredProposal]:
    """Scores ``(variable, preferred value or None)`` proposals in one jitted call.

    Args:
      state: the decision state; its observational rows fit the per-set regressions (linear
        features), its history conditions the causal GPs.
      proposals: the variables to score (intervenable, distinct), each with an optional value.
      config: the expert's acquisition settings (``max_surrogate_sets``, ``grid_size``,
        ``refine_size``, ``gp_steps``, ``gp_ensemble``, ``ei_xi``, ``sigma_y``,
        ``sigma_theta``).

    Returns:
      One :class:`ScoredProposal` per proposal, in order.

    Raises:
      InvalidInterventionError: a variable that may not be intervened on, or named twice.
      InvalidStateError: a state with fewer than two observational rows.
    """
    names = state.buffer.variables
    elements = state.intervenable
    wanted = [v for v, _ in proposals]
    if not wanted:
        return []
    if len(set(wanted)) != len(wanted):
        raise InvalidInterventionError(f"a variable is proposed twice in {wanted}")
    for var in wanted:
        if var not in state.intervention_ranges:
            raise InvalidInterventionError(f"{var!r} may not be intervened on")
    obs = np.asarray(state.buffer.observational().to_arrays().values, np.float64)
    if obs.shape[0] < 2:
        raise InvalidStateError("scoring proposals needs at least two observational rows")
    mean, std = standardisation(obs)
    x_obs = ((obs - mean) / std).astype(np.float32)
    t = names.index(state.target)
    sign = 1.0 if state.minimize else -1.0

    top = state.posterior.top_k(config.max_surrogate_sets)
    width = max(1, config.k_max, max(len(s) for s, _ in top))  # one compilation per run
    sets = np.full((config.max_surrogate_sets, width), -1, np.int32)
    probs = np.zeros(config.max_surrogate_sets)
    for i, (members, p) in enumerate(top):
        sets[i, : len(members)] = sorted(names.index(v) for v in members)
        probs[i] = p
    probs /= probs.sum()

    # The best outcome so far counts every intervenable variable's history; the causal GPs
    # (the costly part) are fitted for the proposed variables only.
    outcomes = [(var, x, sign * (y - mean[t]) / std[t]) for var, x, y in state.history
                if var in elements]  # standardised and signed: lower is better
    y_best = min((y for _, _, y in outcomes), default=0.0)
    col = np.asarray([names.index(v) for v in wanted], np.int32)
    low = np.asarray([state.intervention_ranges[v][0] for v in wanted])
    high = np.asarray([state.intervention_ranges[v][1] for v in wanted])
    seen: list[list[tuple[float, float]]] = [[] for _ in wanted]
    for var, x, y in outcomes:
        if var in wanted:
            e = wanted.index(var)
            seen[e].append(((x - low[e]) / (high[e] - low[e]), y))
    n_max = _pad(max(len(s) for s in seen))
    gp_u = np.zeros((len(wanted), n_max), np.float32)
    gp_y = np.zeros((len(wanted), n_max), np.float32)
    gp_mask = np.zeros((len(wanted), n_max), bool)
    for e, pts in enumerate(seen):
        if pts:
            gp_u[e, : len(pts)], gp_y[e, : len(pts)] = np.asarray(pts).T
            gp_mask[e, : len(pts)] = True
    preferred = np.zeros(len(wanted), np.float32)
    for e, (_, x) in enumerate(proposals):
        if x is not None:
            preferred[e] = np.clip((float(x) - low[e]) / (high[e] - low[e]), 0.0, 1.0)
    out = acquire(
        jnp.asarray(x_obs), jnp.int32(t), jnp.asarray(sets), jnp.asarray(probs, jnp.float32),
        jnp.ones(len(probs), jnp.float32), None, None, jnp.float32(config.sigma_y),
        jnp.float32(config.sigma_theta), jnp.float32(sign),
        Elements(variable=jnp.asarray(col), active=jnp.ones(len(wanted), bool),
                 low=jnp.asarray(low, jnp.float32), high=jnp.asarray(high, jnp.float32),
                 mean=jnp.asarray(mean[col], jnp.float32),
                 std=jnp.asarray(std[col], jnp.float32)),
        jnp.asarray(gp_u), jnp.asarray(gp_y), jnp.asarray(gp_mask), jnp.float32(y_best),
        jnp.float32(config.ei_xi), jnp.asarray(preferred), grid_size=config.grid_size,
        refine_size=config.refine_size, gp_steps=config.gp_steps,
        gp_ensemble=config.gp_ensemble)
    ei, u = np.asarray(out.ei, np.float64), np.asarray(out.u, np.float64)
    ei_pref = np.asarray(out.ei_preferred, np.float64)
    return [ScoredProposal(variable=var, value=float(low[e] + u[e] * (high[e] - low[e])),
                           ei=float(ei[e]), preferred=None if x is None else float(x),
                           ei_preferred=float("nan") if x is None else float(ei_pref[e]))
            for e, (var, x) in enumerate(proposals)]
