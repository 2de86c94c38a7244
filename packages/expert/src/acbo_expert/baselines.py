"""Baselines with PARENT_SCALE's result type, on the same D_O and D_I for the same key.

- ``run_random``: each step a uniformly drawn intervenable variable at a uniform value in its
  range (its posterior is still computed from the data it gathers, for comparison).
- ``run_oracle``: CBO given the true parents: the posterior is a point mass on them, the
  exploration set is the intervenable true parents (all intervenable variables if none is).
  It is the only method that reads the graph.
- ``run_observational``: no interventions. From D_O alone (the observational posterior
  ``p(S | D_O) ∝ p(S) ML(D_O; S)`` and its do-effects) it recommends the intervention with the
  best predicted effect; that one intervention is then evaluated, for the record only (one
  step, no D_I, nothing fed back).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import acbo_core as ac
from acbo_core import ParentSetPosterior
from acbo_expert._loop import (
    Choice,
    Run,
    cbo_choice,
    loop,
    model_posterior,
    padded_sets,
    record,
    setup,
    step_key,
)
from acbo_expert._rng import host_rng
from acbo_expert.acquisition import Elements, surrogate_minimum
from acbo_expert.config import ParentScaleConfig
from acbo_expert.posterior import normalise, prune
from acbo_expert.result import ParentScaleResult

__all__ = ["run_random", "run_oracle", "run_observational"]

_DEFAULT = ParentScaleConfig()


def run_random(scm: Mapping[str, Any], *, key: jax.Array,
               config: ParentScaleConfig = _DEFAULT) -> ParentScaleResult:
    """Uniformly random single-variable interventions (same errors as run_parent_scale)."""
    run = setup(scm, config, key, "random")

    def choose(run: Run, t: int) -> Choice:
        rng = host_rng(jax.random.fold_in(step_key(run, t), 1))
        e = int(rng.integers(len(run.elements)))
        value = float(rng.uniform(run.low[e], run.high[e]))
        return run.elements[e], value, run.elements, {}

    return loop(run, choose, model_posterior)


def run_oracle(scm: Mapping[str, Any], *, key: jax.Array,
               config: ParentScaleConfig = _DEFAULT) -> ParentScaleResult:
    """CBO with the true parent set known (reads the graph; same errors as run_parent_scale)."""
    parents = ac.true_parents(scm)
    cols = sorted(tuple(scm["variables"]).index(v) for v in parents)
    rows = np.full((1, max(len(cols), 1)), -1, np.int32)
    rows[0, : len(cols)] = cols
    # The oracle's only candidate is the truth: no set table, no doubly robust prior.
    run = setup(scm, config, key, "oracle", candidate_sets=rows)
    active = np.isin([run.variables.index(v) for v in run.elements], cols)
    if not active.any():  # no intervenable parent: nothing better to do than try everything
        active[:] = True
    point_mass = ParentSetPosterior(run.target, (frozenset(parents),), np.ones(1))
    # The model's table, not ``rows``: random features pad it to their own width.
    model_rows, scale = run.posterior_model.sets, run.posterior_model.set_scale[:1]

    def choose(run: Run, t: int) -> Choice:
        return cbo_choice(run, model_rows, np.ones(1), scale, active)

    return loop(run, choose, lambda run: point_mass)


def run_observational(scm: Mapping[str, Any], *, key: jax.Array,
                      config: ParentScaleConfig = _DEFAULT) -> ParentScaleResult:
    """The intervention D_O alone recommends, evaluated once (T = 1 step, no D_I)."""
    run = setup(scm, config, key, "observational", with_initial=False)
    model, cfg = run.posterior_model, run.config
    logw = normalise(model.log_prior + model.lml_obs)
    keep, post = prune(model, logw, cfg.prune_threshold)
    run.posteriors.append(post)
    run.setup_seconds = time.perf_counter() - run.start
    t0 = time.perf_counter()
    n_sets = min(cfg.max_surrogate_sets, model.sets.shape[0])
    rows, weights, scale = padded_sets(model, keep, post.probs, n_sets)
    col = np.asarray([run.variables.index(v) for v in run.elements], np.int32)
    elements = Elements(
        variable=jnp.asarray(col), active=jnp.ones(len(col), bool),
        low=jnp.asarray(run.low, jnp.float32), high=jnp.asarray(run.high, jnp.float32),
        mean=jnp.asarray(model.mean[col], jnp.float32),
        std=jnp.asarray(model.std[col], jnp.float32))
    best, u = surrogate_minimum(
        jnp.asarray(model.x_obs), jnp.int32(model.target), jnp.asarray(rows),
        jnp.asarray(weights, jnp.float32), jnp.asarray(scale),
        None if model.rff_w is None else jnp.asarray(model.rff_w),
        None if model.rff_b is None else jnp.asarray(model.rff_b),
        jnp.float32(cfg.sigma_y), jnp.float32(cfg.sigma_theta), jnp.float32(run.sign),
        elements, grid_size=cfg.grid_size)
    e = int(np.argmin(np.asarray(best)))
    value = float(run.low[e] + float(u[e]) * (run.high[e] - run.low[e]))
    do = ac.create_perfect_intervention(run.elements[e], value)
    k_sample, k_eval = jax.random.split(step_key(run, 0))
    rows_e = np.asarray(ac.sample_interventional(scm, do, cfg.samples_per_step, key=k_sample),
                        np.float64)
    y = run.evaluate(do, rows_e, k_eval)
    run.rows.append(rows_e)
    run.steps.append({"var": run.elements[e], "value": value, "y": y,
                      "exploration": run.elements, "acq": {}, "best": y,
                      "seconds": time.perf_counter() - t0})
    run.posteriors.append(post)  # nothing is fed back: the posterior stays the observational one
    return record(run)
