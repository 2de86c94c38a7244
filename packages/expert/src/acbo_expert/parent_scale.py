"""PARENT_SCALE (CBO-U): causal Bayesian optimisation over a posterior of the target's parents.

Each step: the posterior over parent sets (every set scored by the kernel, pruned) gives the
exploration set (every intervenable variable in a surviving set) and the causal GPs' prior
(posterior-weighted do-effects of the most probable sets); expected improvement, maximised over
each variable's declared range, picks the variable and value; the SCM is sampled there; the
posterior and GPs are updated. See ``_loop`` for what the run may read of the SCM.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from acbo_expert._loop import Choice, Run, cbo_choice, loop, padded_sets, setup
from acbo_expert.config import ParentScaleConfig
from acbo_expert.posterior import prune
from acbo_expert.result import ParentScaleResult

__all__ = ["run_parent_scale"]


def run_parent_scale(scm: Mapping[str, Any], *, key: jax.Array,
                     config: ParentScaleConfig = ParentScaleConfig()) -> ParentScaleResult:  # noqa: B008
    """Runs PARENT_SCALE on an SCM, used as a black-box sampler.

    Args:
      scm: an acbo-core SCM with a target and at least one intervenable variable.
      key: PRNG key; the same key (and config) gives the same run.
      config: the settings.

    Returns:
      The full record of the run (:class:`ParentScaleResult`).

    Raises:
      InvalidTargetError: the SCM has no target, or nothing but the target is intervenable.
      UnknownVariableError: the target is not a variable.
      ConfigError: bad settings, e.g. fewer observational samples than features.
    """
    run = setup(scm, config, key, "parent_scale")
    state: dict[str, np.ndarray] = {}
    n_sets = min(config.max_surrogate_sets, run.posterior_model.sets.shape[0])
    columns = np.asarray([run.variables.index(v) for v in run.elements])

    def posterior(run: Run):  # type: ignore[no-untyped-def]
        keep, post = prune(run.posterior_model, run.log_posterior(), config.prune_threshold)
        state["keep"], state["probs"] = keep, post.probs
        return post

    def choose(run: Run, t: int) -> Choice:
        surviving = run.posterior_model.sets[state["keep"]]
        active = np.isin(columns, surviving[surviving >= 0])
        if not active.any():  # only the empty set survives: nothing is known to act on Y
            active[:] = True
        rows, weights, scale = padded_sets(run.posterior_model, state["keep"], state["probs"],
                                           n_sets)
        return cbo_choice(run, rows, weights, scale, active)

    return loop(run, choose, posterior)
