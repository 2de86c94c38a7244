"""The system's own model of the target, for online GRPO rewards (never the hidden SCM).

For each of the most probable parent sets S under the system's posterior, a Bayesian linear
regression of the target on S is fitted on all data so far: the regression of a variable on its
true parents is invariant to interventions on other variables, so observational and
interventional rows both inform it. The do-effect of ``do(X_v = x)`` under S is then

    E_S[Y | do(X_v = x)] = c_S + w_S,v x + sum_{j in S, j != v} w_S,j m_j      (v in S)
                         = c_S + sum_{j in S} w_S,j m_j                         (v not in S)

with m_j the observational mean of X_j (the approximation the expert's causal GP prior makes
too), and the model's prediction is the posterior-weighted mixture over sets. It is linear in x,
so it is tabulated on the policy's value grid as GRPO's simulator tables (``grid_mean``) and
GRPO's rollouts score sampled interventions by it.

Glossary of shape letters: N rows, d variables, k members of a set, S sets.
"""

from __future__ import annotations

import numpy as np

import acbo_acquisition as aq
from acbo_core import AcquisitionState

__all__ = ["set_regressions", "do_effect_table", "model_tables"]

_PRIOR_VAR = 100.0  # coefficient prior variance, in units of the data's standard deviations


def set_regressions(values: np.ndarray, target: int, sets: list[list[int]]
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Posterior-mean intercepts ``[S]`` and coefficients (one ``[k]`` array per set).

    Args:
      values: ``[N, d]`` all rows so far.
      target: the target's column.
      sets: the members of each set (column indices, the target excluded).
    """
    y = values[:, target]
    scale = values.std(axis=0) + 1e-12  # a weakly informative prior in the data's own units
    intercepts, coefs = np.zeros(len(sets)), list[np.ndarray]()
    for s, members in enumerate(sets):
        x = np.concatenate([np.ones((len(y), 1)), values[:, members]], axis=1)  # [N, 1 + k]
        prior = np.concatenate([[1e-8], (scale[target] / scale[members]) ** 2 / _PRIOR_VAR])
        noise_var = max(float(np.var(y)), 1e-12)
        theta = np.linalg.solve(x.T @ x + noise_var * np.diag(prior), x.T @ y)
        intercepts[s], coefs = theta[0], [*coefs, theta[1:]]
    return intercepts, coefs


def do_effect_table(values: np.ndarray, obs_mean: np.ndarray, target: int,
                    sets: list[list[int]], probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(offset [d], slope [d])``: the mixture's ``E[Y | do(X_v = x)] = offset_v + slope_v x``.

    Args:
      values: ``[N, d]`` all rows so far.
      obs_mean: ``[d]`` observational means.
      target: the target's column.
      sets: the members of each set.
      probs: ``[S]`` the sets' posterior probabilities (renormalised here).
    """
    d = values.shape[1]
    probs = np.asarray(probs, np.float64) / np.sum(probs)
    intercepts, coefs = set_regressions(values, target, sets)
    offset, slope = np.zeros(d), np.zeros(d)
    for p, c, members, w in zip(probs, intercepts, sets, coefs, strict=True):
        base = c + float(w @ obs_mean[members]) if members else c
        offset += p * base
        for j, wj in zip(members, w, strict=True):  # v = j acts through its own coefficient
            offset[j] -= p * wj * obs_mean[j]
            slope[j] += p * wj
    return offset, slope


def model_tables(state: AcquisitionState, *, n_bins: int, max_sets: int = 16
                 ) -> aq.SimulatorTables:
    """GRPO simulator tables whose target law is the system's model of the target.

    ``grid_mean[v, k]`` is the model's do-effect at bin ``k`` of ``v``'s range; the model is
    noiseless (``grid_sd = 0``), so a rollout's reward is the model's expected improvement.
    It models the target only, so the tables have no rows (no posterior-entropy reward).

    Args:
      state: the decision state (its buffer and the system's posterior).
      n_bins: K, the policy's number of value bins.
      max_sets: the most probable sets the mixture keeps.

    Raises:
      ConfigError: ``n_bins`` is not an int >= 2.
    """
    buffer = state.buffer
    names = buffer.variables
    grid = aq.value_grid(state, n_bins)  # [d, K]
    values = np.asarray(buffer.to_arrays().values, np.float64)  # [N, d]
    obs = buffer.observational()
    obs_values = np.asarray(obs.to_arrays().values, np.float64) if len(obs) else values
    t = names.index(state.target)
    top = state.posterior.top_k(max_sets)
    sets = [sorted(names.index(v) for v in s) for s, _ in top]
    probs = np.asarray([p for _, p in top])
    offset, slope = do_effect_table(values, obs_values.mean(axis=0), t, sets, probs)
    d = len(names)
    intervenable = np.asarray([v in state.intervention_ranges for v in names])
    grid_mean = np.where(intervenable[:, None], offset[:, None] + slope[:, None] * grid, 0.0)
    scale = float(obs_values[:, t].std()) or 1.0
    f32 = np.float32
    return aq.SimulatorTables(
        grid_mean=grid_mean.astype(f32), grid_sd=np.zeros_like(grid_mean, f32),
        offset=np.zeros((d, d), f32), slope=np.zeros((d, d), f32),
        noise=np.zeros((d, d, d), f32), has_rows=np.asarray(False),
        target=np.asarray(t, np.int32), best=np.asarray(state.best_value, f32),
        scale=np.asarray(scale, f32), sign=np.asarray(1.0 if state.minimize else -1.0, f32))
