"""Machinery shared by PARENT_SCALE and the baselines: checks, data, the step loop, the record.

The SCM is used only as a black box: ``sample_observational``, ``sample_interventional`` and,
for noiseless evaluation, ``target_interventional_mean``; its intervention ranges and
intervenable variables are the problem's declared settings. Nothing here reads its edges or
mechanisms (the oracle baseline reads the true parents through ``true_parents`` itself).

Keys: the run key splits into D_O, D_I, the posterior model and the steps, so every method
given the same key sees the same D_O and D_I (paired comparisons), and the same key gives the
same run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import acbo_core as ac
from acbo_core import ParentSetPosterior
from acbo_core.errors import ACBOError, ConfigError, InvalidTargetError, UnknownVariableError
from acbo_expert._rng import host_rng
from acbo_expert.acquisition import Elements, acquire
from acbo_expert.config import ParentScaleConfig
from acbo_expert.posterior import ParentSetModel, build_parent_set_model, prune
from acbo_expert.result import ParentScaleResult

Choice = tuple[str, float, tuple[str, ...], dict[str, float]]


def validate(scm: Mapping[str, Any], config: ParentScaleConfig) -> tuple[str, tuple[str, ...]]:
    """The target and the intervenable variables, or a typed error for a problem with none."""
    if not isinstance(config, ParentScaleConfig):
        raise ConfigError(f"config must be a ParentScaleConfig, got {type(config).__name__}")
    target = scm.get("target") if isinstance(scm, Mapping) else None
    if target is None:
        raise InvalidTargetError("the SCM has no target variable to optimise")
    variables = tuple(scm["variables"])
    if target not in variables:
        raise UnknownVariableError(f"target {target!r} is not a variable of the SCM")
    elements = tuple(v for v in ac.intervenable_variables(scm) if v != target)
    if not elements:
        raise InvalidTargetError(
            f"no variable but the target {target!r} can be intervened on, so there is nothing "
            "to optimise")
    n_feat = config.n_features(len(variables) - 1)
    if config.n_obs < max(n_feat, 2):
        raise ConfigError(
            f"n_obs={config.n_obs} observational samples but the regressions need at least "
            f"{max(n_feat, 2)} ({config.features} features of {len(variables) - 1} candidates)")
    return target, elements


@dataclasses.dataclass
class Run:
    """The mutable state of one run (host side)."""

    scm: Any
    config: ParentScaleConfig
    method: str
    variables: tuple[str, ...]
    target: str
    elements: tuple[str, ...]
    low: np.ndarray  # [E]
    high: np.ndarray  # [E]
    keys: dict[str, jax.Array]
    d_obs: np.ndarray
    model: ParentSetModel | None
    start: float
    d_i: list[tuple[Any, np.ndarray, float]] = dataclasses.field(default_factory=list)
    rows: list[np.ndarray] = dataclasses.field(default_factory=list)  # interventional rows
    masks: list[np.ndarray] = dataclasses.field(default_factory=list)
    gp_obs: list[list[tuple[float, float]]] = dataclasses.field(default_factory=list)
    steps: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    posteriors: list[ParentSetPosterior] = dataclasses.field(default_factory=list)
    setup_seconds: float = 0.0

    @property
    def posterior_model(self) -> ParentSetModel:
        """The expert's posterior model (absent for a method with its own posterior)."""
        if self.model is None:
            raise RuntimeError(f"the {self.method!r} run was set up without the expert's "
                               "posterior model")
        return self.model

    @property
    def sign(self) -> float:
        return 1.0 if self.config.minimize else -1.0

    def evaluate(self, intervention: Any, rows: np.ndarray, key: jax.Array) -> float:
        """The observed target value of an intervention (see ``config.noiseless``)."""
        if self.config.noiseless:
            return float(ac.target_interventional_mean(
                self.scm, intervention, key=key, n_samples=self.config.noiseless_mc_samples))
        return float(np.mean(rows[:, self.variables.index(self.target)]))

    def intervene(self, var: str, value: float, n: int, key: jax.Array
                  ) -> tuple[np.ndarray, float, float]:
        """Samples ``do(var = value)`` (value clipped to the range), records the rows and the
        observation; returns ``(rows, observed y, value)``."""
        lo, hi = self.low[self.elements.index(var)], self.high[self.elements.index(var)]
        value = float(np.clip(value, lo, hi))
        do = ac.create_perfect_intervention(var, value)
        k_sample, k_eval = jax.random.split(key)
        rows = np.asarray(ac.sample_interventional(self.scm, do, n, key=k_sample), np.float64)
        y = self.evaluate(do, rows, k_eval)
        mask = np.zeros(rows.shape, bool)
        mask[:, self.variables.index(var)] = True
        self.rows.append(rows)
        self.masks.append(mask)
        e = self.elements.index(var)
        self.gp_obs[e].append(((value - lo) / (hi - lo), y))
        return rows, y, value

    def log_posterior(self) -> np.ndarray:
        rows = np.concatenate(self.rows) if self.rows else np.zeros((0, len(self.variables)))
        masks = np.concatenate(self.masks) if self.masks else np.zeros(rows.shape, bool)
        return self.posterior_model.log_weights(rows, masks)

    def best_so_far(self) -> float:
        ys = [y for _, _, y in self.d_i] + [s["y"] for s in self.steps]
        if not ys:
            return float("nan")
        return float(min(ys)) if self.config.minimize else float(max(ys))


def setup(scm: Mapping[str, Any], config: ParentScaleConfig, key: jax.Array, method: str, *,
          candidate_sets: np.ndarray | None = None, with_initial: bool = True,
          with_model: bool = True) -> Run:
    """Checks the problem, draws D_O and D_I and fits the posterior model (unless
    ``with_model`` is false: a method that brings its own posterior)."""
    start = time.perf_counter()
    target, elements = validate(scm, config)
    variables = tuple(scm["variables"])
    k_obs, k_int, k_model, k_steps = jax.random.split(key, 4)
    ranges = scm["intervention_ranges"]
    low = np.asarray([float(ranges[v][0]) for v in elements])
    high = np.asarray([float(ranges[v][1]) for v in elements])
    d_obs = np.asarray(ac.sample_observational(scm, config.n_obs, key=k_obs), np.float64)
    model = build_parent_set_model(variables, target, d_obs, config=config, key=k_model,
                                   candidate_sets=candidate_sets) if with_model else None
    run = Run(scm=scm, config=config, method=method, variables=variables, target=target,
              elements=elements, low=low, high=high,
              keys={"model": k_model, "steps": k_steps}, d_obs=d_obs, model=model, start=start,
              gp_obs=[[] for _ in elements])
    if with_initial and config.n_int:
        rng = host_rng(k_int)
        for e, var in enumerate(elements):
            for j in range(config.n_int):
                value = float(rng.uniform(low[e], high[e]))
                rows, y, value = run.intervene(var, value, 1,
                                               jax.random.fold_in(k_int, e * config.n_int + j))
                run.d_i.append((ac.create_perfect_intervention(var, value), rows, y))
    return run


def step_key(run: Run, t: int) -> jax.Array:
    return jax.random.fold_in(run.keys["steps"], t)


def loop(run: Run, choose: Callable[[Run, int], Choice],
         posterior: Callable[[Run], ParentSetPosterior]) -> ParentScaleResult:
    """T steps of choose -> intervene -> update posterior, then the record."""
    run.posteriors.append(posterior(run))
    run.setup_seconds = time.perf_counter() - run.start
    for t in range(run.config.T):
        t0 = time.perf_counter()
        var, value, exploration, acq = choose(run, t)
        _, y, value = run.intervene(var, value, run.config.samples_per_step, step_key(run, t))
        run.steps.append({"var": var, "value": value, "y": y, "exploration": exploration,
                          "acq": acq})
        run.steps[-1]["best"] = run.best_so_far()
        run.posteriors.append(posterior(run))
        run.steps[-1]["seconds"] = time.perf_counter() - t0
    return record(run)


def record(run: Run) -> ParentScaleResult:
    n_init = len(run.d_i)
    steps = run.steps
    try:
        parents = ac.true_parents(run.scm)  # for evaluation only
    except (KeyError, TypeError, ACBOError):  # an SCM given without its graph has no truth
        parents = None
    return ParentScaleResult(
        D_O=run.d_obs,
        intervention_set=tuple((s["var"],) for s in steps),
        intervention_values=tuple((s["value"],) for s in steps),
        current_y=tuple(float(s["y"]) for s in steps),
        posterior_probabilities=tuple(run.posteriors),
        global_opt=tuple(float(s["best"]) for s in steps),
        target=run.target,
        variables=run.variables,
        method=run.method,
        D_I=tuple(run.d_i),
        initial_best=float(min(y for *_, y in run.d_i) if run.config.minimize
                           else max(y for *_, y in run.d_i)) if run.d_i else float("nan"),
        step_samples=tuple(run.rows[n_init:]),
        exploration_sets=tuple(tuple(s["exploration"]) for s in steps),
        acquisition_values=tuple(dict(s["acq"]) for s in steps),
        step_seconds=tuple(float(s["seconds"]) for s in steps),
        setup_seconds=float(run.setup_seconds),
        true_parents=parents,
        minimize=run.config.minimize,
        config=run.config,
        model_key=np.asarray(jax.random.key_data(run.keys["model"])),
    )


def model_posterior(run: Run) -> ParentSetPosterior:
    """The pruned posterior of the run's model given every interventional row so far."""
    return prune(run.posterior_model, run.log_posterior(), run.config.prune_threshold)[1]


def _pad(n: int, multiple: int = 8) -> int:
    return max(multiple, -(-n // multiple) * multiple)


def cbo_choice(run: Run, set_rows: np.ndarray, probs: np.ndarray, scale: np.ndarray,
               active: np.ndarray) -> Choice:
    """Causal-GP expected improvement over the active elements; the best one and its value.

    Args:
      run: the run.
      set_rows: ``[S, k]`` sets (variable columns, -1 padded) of the surrogate.
      probs: ``[S]`` their weights (0 for padding).
      scale: ``[S]`` their random features' inverse length scales.
      active: ``[E]`` bool, the exploration set.
    """
    cfg, model = run.config, run.posterior_model
    t = model.target
    n_max = _pad(cfg.n_int + cfg.T)
    n_e = len(run.elements)
    gp_u = np.zeros((n_e, n_max), np.float32)
    gp_y = np.zeros((n_e, n_max), np.float32)
    gp_mask = np.zeros((n_e, n_max), bool)
    observed = []
    for e, obs in enumerate(run.gp_obs):
        obs = obs[-n_max:]
        if obs:
            u, y = np.asarray(obs).T
            ys = run.sign * (y - model.mean[t]) / model.std[t]
            gp_u[e, : len(obs)], gp_y[e, : len(obs)], gp_mask[e, : len(obs)] = u, ys, True
            observed.append(ys)
    y_best = float(np.min(np.concatenate(observed))) if observed else 0.0
    col = np.asarray([run.variables.index(v) for v in run.elements], np.int32)
    elements = Elements(
        variable=jnp.asarray(col), active=jnp.asarray(active),
        low=jnp.asarray(run.low, jnp.float32), high=jnp.asarray(run.high, jnp.float32),
        mean=jnp.asarray(model.mean[col], jnp.float32),
        std=jnp.asarray(model.std[col], jnp.float32))
    out = acquire(
        jnp.asarray(model.x_obs), jnp.int32(t), jnp.asarray(set_rows, jnp.int32),
        jnp.asarray(probs, jnp.float32), jnp.asarray(scale, jnp.float32),
        None if model.rff_w is None else jnp.asarray(model.rff_w),
        None if model.rff_b is None else jnp.asarray(model.rff_b),
        jnp.float32(cfg.sigma_y), jnp.float32(cfg.sigma_theta), jnp.float32(run.sign),
        elements, jnp.asarray(gp_u), jnp.asarray(gp_y), jnp.asarray(gp_mask),
        jnp.float32(y_best), jnp.float32(cfg.ei_xi),
        grid_size=cfg.grid_size, refine_size=cfg.refine_size, gp_steps=cfg.gp_steps,
        gp_ensemble=cfg.gp_ensemble)
    ei, u = np.asarray(out.ei, np.float64), np.asarray(out.u, np.float64)
    ei_active = np.where(active, np.nan_to_num(ei, nan=-np.inf), -np.inf)
    e = int(np.argmax(ei_active))
    value = float(run.low[e] + u[e] * (run.high[e] - run.low[e]))
    exploration = tuple(v for v, a in zip(run.elements, active, strict=True) if a)
    acq = {v: float(ei[i]) for i, v in enumerate(run.elements) if active[i]}
    return run.elements[e], value, exploration, acq


def padded_sets(model: ParentSetModel, indices: np.ndarray, probs: np.ndarray, size: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``size`` of the given sets, padded with weight 0, weights renormalised:
    ``(rows [size, k], weights [size], inverse length scales [size])``."""
    indices, probs = indices[:size], probs[:size]
    rows = np.full((size, model.sets.shape[1]), -1, np.int32)
    rows[: len(indices)] = model.sets[indices]
    weights = np.zeros(size)
    weights[: len(indices)] = probs / probs.sum()
    scale = np.ones(size, np.float32)
    scale[: len(indices)] = model.set_scale[indices]
    return rows, weights, scale
