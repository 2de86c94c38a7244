"""The expert's posterior over the target's parent sets.

Every candidate set S (|S| <= k_max) has a Bayesian regression of the target on features of S
(the standardised parents, or random Fourier features of them), with known noise
``y = phi(x_S) theta + N(0, sigma_y^2)``, ``theta ~ N(0, sigma_theta^2 I)``. The regression is
fitted on D_O, and a set is scored by the predictive likelihood of the interventional samples
only:

    p(S | D) ∝ p(S) p(y_I | X_I, S, D_O) = p(S) ML(D_O ∪ D_I; S) / ML(D_O; S),

the product of one-step-ahead predictive densities as the samples arrive. Both marginal
likelihoods come from ``acbo_kernels.score_parent_sets`` for all K sets in one call; ML(D_O; S)
is computed once per run. Weights are normalised with log-sum-exp in float64.

Glossary of shape letters: N rows, d variables, K candidate sets, k slots per set (k_max),
M random Fourier features.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

import acbo_kernels
from acbo_core import ExperienceBuffer, ParentSetPosterior, kept_sets, standardisation
from acbo_core.errors import ConfigError, ShapeMismatchError, UnknownVariableError
from acbo_expert._rng import host_rng
from acbo_expert.config import ParentScaleConfig

__all__ = ["ParentSetModel", "build_parent_set_model", "parent_set_posterior", "prune"]

_ROW_BUCKET = 64
_RFF_CHUNK = 128


def _row_bucket(n: int) -> int:
    return max(_ROW_BUCKET, -(-n // _ROW_BUCKET) * _ROW_BUCKET)


@dataclasses.dataclass(frozen=True, eq=False)
class ParentSetModel:
    """Per-set Bayesian regressions fitted on D_O, ready to score interventional data.

    Attributes:
      variables: column order of all arrays.
      target: index of the target.
      sets: ``[K, k]`` int32 candidate sets (acbo_kernels order: empty set first), -1 padded.
      mean, std: ``[d]`` D_O standardisation (applied to every variable, target included).
      x_obs: ``[n_obs, d]`` standardised D_O, float32.
      log_prior: ``[K]`` float64 log prior (``-inf`` allowed).
      lml_obs: ``[K]`` float64 ``log ML(D_O; S)``.
      features: ``"linear"`` or ``"rff"``.
      rff_w: ``[M, k]`` unit-length-scale frequencies of the random Fourier features
        (``"rff"`` only).
      rff_b: ``[M]`` phases (``"rff"`` only).
      set_scale: ``[K]`` inverse length scale of each set's features (ones for linear).
      prior: the kernel's prior (known noise).
    """

    variables: tuple[str, ...]
    target: int
    sets: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    x_obs: np.ndarray
    log_prior: np.ndarray
    lml_obs: np.ndarray
    features: str
    rff_w: np.ndarray | None
    rff_b: np.ndarray | None
    set_scale: np.ndarray
    prior: acbo_kernels.GaussianPrior

    @functools.cached_property
    def set_names(self) -> tuple[frozenset[str], ...]:
        return tuple(frozenset(self.variables[i] for i in row if i >= 0) for row in self.sets)

    def standardise(self, values: ArrayLike) -> np.ndarray:
        return ((np.asarray(values, np.float64) - self.mean) / self.std).astype(np.float32)

    def log_marginal(self, x_std: np.ndarray, intervened: np.ndarray) -> np.ndarray:
        """``log ML(rows; S)`` for every set, ``[K]`` float64, rows standardised ``[N, d]``."""
        n, d = x_std.shape
        nb = _row_bucket(n)
        x = np.zeros((nb, d), np.float32)
        x[:n] = x_std
        iv = np.zeros((nb, d), bool)
        iv[:n] = intervened
        used = np.arange(nb) < n
        if self.features == "linear":
            out = _score_linear(jnp.asarray(x), jnp.asarray(iv), jnp.int32(self.target),
                                jnp.asarray(self.sets), jnp.asarray(used), prior=self.prior)
        else:
            used = used & ~iv[:, self.target]
            out = _score_rff(jnp.asarray(x), jnp.asarray(used), self.target,
                             jnp.asarray(self.sets), jnp.asarray(self.set_scale),
                             jnp.asarray(self.rff_w), jnp.asarray(self.rff_b), prior=self.prior)
        return np.asarray(out, np.float64)

    def log_weights(self, values_int: ArrayLike, intervened_int: ArrayLike) -> np.ndarray:
        """Normalised log posterior ``[K]`` given the interventional rows (raw units)."""
        values_int = np.asarray(values_int, np.float64).reshape(-1, len(self.variables))
        iv = np.asarray(intervened_int, bool).reshape(values_int.shape)
        x = np.concatenate([self.x_obs, self.standardise(values_int)])
        mask = np.concatenate([np.zeros(self.x_obs.shape, bool), iv])
        logw = self.log_prior + (self.log_marginal(x, mask) - self.lml_obs)
        return normalise(logw)


def normalise(logw: np.ndarray) -> np.ndarray:
    """Log-sum-exp normalisation in float64 (``-inf`` stays ``-inf``)."""
    logw = np.asarray(logw, np.float64)
    top = np.max(logw)
    return logw - (top + np.log(np.sum(np.exp(logw - top))))


def prune(model: ParentSetModel, logw: np.ndarray, threshold: float
          ) -> tuple[np.ndarray, ParentSetPosterior]:
    """The sets with probability >= threshold (at least the MAP set), most probable first.

    Returns:
      ``(indices into model.sets [S], ParentSetPosterior over them, renormalised)``. Ties are
      broken by table order, so the result does not depend on hashing.
    """
    probs = np.exp(logw)
    keep = kept_sets(probs, threshold)
    names = model.set_names
    post = ParentSetPosterior(model.variables[model.target], tuple(names[i] for i in keep),
                              probs[keep])
    return keep, post


def rff_features(xs: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    """Random Fourier features ``sqrt(2/M) cos(x_S W^T + b)`` of padded slot values ``[..., k]``.

    Padded slots hold 0, so they add nothing to the projection.
    """
    m = b.shape[0]
    return jnp.sqrt(2.0 / m) * jnp.cos(xs @ w.T + b)  # [..., M]


def gather_slots(x: jax.Array, sets: jax.Array) -> jax.Array:
    """Slot values ``[K, N, k]`` of each set's members (0 in padded slots) from ``x [N, d]``."""
    xs = x[:, jnp.maximum(sets, 0)]  # [N, K, k]
    xs = jnp.where(sets[None] >= 0, xs, 0.0)
    return jnp.transpose(xs, (1, 0, 2))


@functools.partial(jax.jit, static_argnames=("prior",))
def _score_linear(x: jax.Array, intervened: jax.Array, target: jax.Array, sets: jax.Array,
                  used: jax.Array, *, prior: acbo_kernels.GaussianPrior) -> jax.Array:
    """All K sets' log marginal likelihoods ``[K]`` from one kernel call (jitted: one dispatch,
    and the kernel's eager input checks are not needed for arrays built here)."""
    return acbo_kernels.score_parent_sets(x[None], intervened[None], target[None], sets,
                                          prior=prior, row_mask=used[None])[0]


@functools.partial(jax.jit, static_argnames=("target", "prior"))
def _score_rff(x: jax.Array, used: jax.Array, target: int, sets: jax.Array, scale: jax.Array,
               w: jax.Array, b: jax.Array, *, prior: acbo_kernels.GaussianPrior) -> jax.Array:
    """Scores each set's random-feature regression with the kernel, one batch element per set.

    Each set has its own features, so set s becomes batch element s: data ``[Phi_S, y]`` and
    the single candidate "all M feature columns". Sets are processed in chunks to bound memory.
    """
    k_sets, m = sets.shape[0], b.shape[0]
    size = min(_RFF_CHUNK, k_sets)
    pad = -k_sets % size
    sets_p = jnp.concatenate([sets, jnp.full((pad, sets.shape[1]), -1, sets.dtype)])
    scale_p = jnp.concatenate([scale, jnp.ones((pad,), scale.dtype)])
    y = x[:, target]  # [N]
    n = x.shape[0]
    feature_set = jnp.arange(m, dtype=jnp.int32)[None]  # [1, M]

    def score_chunk(chunk: tuple[jax.Array, jax.Array]) -> jax.Array:
        chunk_sets, chunk_scale = chunk
        phi = rff_features(gather_slots(x, chunk_sets) * chunk_scale[:, None, None], w, b)
        data = jnp.concatenate([phi, jnp.broadcast_to(y[None, :, None], (size, n, 1))], -1)
        # m = n_rff columns per set (100 by default): the kernel package picks native or
        # reference by width
        out = acbo_kernels.score_parent_sets(
            data, jnp.zeros(data.shape, bool), jnp.full((size,), m, jnp.int32), feature_set,
            prior=prior, row_mask=jnp.broadcast_to(used[None], (size, n)),
        )
        return out[:, 0]

    scores = jax.lax.map(score_chunk, (sets_p.reshape(-1, size, sets.shape[1]),
                                       scale_p.reshape(-1, size)))
    return scores.reshape(-1)[:k_sets]


def build_parent_set_model(
    variables: Sequence[str],
    target: str,
    d_obs: ArrayLike,
    *,
    config: ParentScaleConfig,
    key: jax.Array | None,
    candidate_sets: np.ndarray | None = None,
) -> ParentSetModel:
    """Fits the per-set regressions on D_O and computes the prior (uniform or doubly robust).

    Args:
      variables: column order of ``d_obs``.
      target: the target variable.
      d_obs: ``[n_obs, d]`` observational samples (raw units).
      config: uses ``k_max``, ``prior`` (and the doubly robust settings), ``features``,
        ``n_rff``, ``rff_lengthscales``, ``sigma_y``, ``sigma_theta``.
      key: PRNG key for the random features and the doubly robust prior; needed for those.
      candidate_sets: ``[K, k]`` int32 table to use instead of every set of size <= k_max
        (the oracle passes the true set alone); the prior is then uniform over it. With
        random features the model's ``sets`` is this table padded with -1 to the features'
        width (at least ``k_max``); use ``model.sets``, not the table passed in, downstream.

    Raises:
      UnknownVariableError: the target is not a variable.
      ShapeMismatchError: ``d_obs`` is not ``[n, d]``.
      ConfigError: fewer observational samples than regression features, or a key is
        missing where one is needed.
    """
    variables = tuple(variables)
    if target not in variables:
        raise UnknownVariableError(f"target {target!r} is not one of {list(variables)}")
    d_obs = np.asarray(d_obs, np.float64)
    if d_obs.ndim != 2 or d_obs.shape[1] != len(variables):
        raise ShapeMismatchError(
            f"D_O must be [n, {len(variables)}] (one column per variable), got {d_obs.shape}")
    d = len(variables)
    n_feat = config.n_features(d - 1)
    if d_obs.shape[0] < max(n_feat, 2):
        raise ConfigError(
            f"{d_obs.shape[0]} observational samples but the regressions need at least "
            f"{max(n_feat, 2)} ({config.features} features of {d - 1} candidate parents)")
    needs_key = config.features == "rff" or config.prior == "doubly_robust"
    if needs_key and key is None:
        raise ConfigError(
            f"features={config.features!r} / prior={config.prior!r} need a PRNG key")
    t = variables.index(target)
    if candidate_sets is None:
        sets = acbo_kernels.enumerate_parent_sets(d, t, config.k_max)
    else:
        sets = np.asarray(candidate_sets, np.int32)
    mean, std = standardisation(d_obs)
    x_obs = ((d_obs - mean) / std).astype(np.float32)
    rff_w = rff_b = None
    k_rff = k_dr = key
    if key is not None:
        k_rff, k_dr = jax.random.split(key)
    if config.features == "rff" and k_rff is not None:
        rng = host_rng(k_rff)
        # The frequencies are drawn k_max wide whatever the table, so a set gets the same
        # features in a narrower table (the oracle's true set) as in the full one. Every
        # consumer projects a set's slots with them (``slots @ rff_w.T``), so the table is
        # padded to their width with empty slots (-1: value 0, no contribution).
        width = max(config.k_max, sets.shape[1], 1)
        rff_w = rng.standard_normal((config.n_rff, width)).astype(np.float32)
        rff_b = rng.uniform(0.0, 2.0 * np.pi, config.n_rff).astype(np.float32)
        if sets.shape[1] < width:
            sets = np.concatenate(
                [sets, np.full((sets.shape[0], width - sets.shape[1]), -1, np.int32)], axis=1)
    if config.prior == "doubly_robust" and candidate_sets is None and k_dr is not None:
        from acbo_expert.doubly_robust import doubly_robust_log_prior  # haiku only when needed

        log_prior = doubly_robust_log_prior(x_obs, t, sets, key=k_dr, config=config)
    else:
        log_prior = np.full(sets.shape[0], -np.log(sets.shape[0]))
    model = ParentSetModel(
        variables=variables, target=t, sets=sets, mean=mean, std=std, x_obs=x_obs,
        log_prior=log_prior, lml_obs=np.zeros(sets.shape[0]), features=config.features,
        rff_w=rff_w, rff_b=rff_b, set_scale=np.ones(sets.shape[0], np.float32),
        prior=acbo_kernels.GaussianPrior(sigma_y=config.sigma_y, sigma_theta=config.sigma_theta),
    )
    no_iv = np.zeros(x_obs.shape, bool)
    if config.features == "linear":
        return dataclasses.replace(model, lml_obs=model.log_marginal(x_obs, no_iv))
    # Type-II maximum likelihood on D_O: each set keeps the length scale it explains D_O best
    # with (ties: the first candidate).
    scales = 1.0 / np.asarray(config.rff_lengthscales, np.float32)
    lml = np.stack([
        dataclasses.replace(model, set_scale=np.full(sets.shape[0], s, np.float32))
        .log_marginal(x_obs, no_iv) for s in scales])  # [L, K]
    best = np.argmax(lml, axis=0)
    return dataclasses.replace(model, set_scale=scales[best],
                               lml_obs=np.take_along_axis(lml, best[None], 0)[0])


def parent_set_posterior(
    buffer: ExperienceBuffer,
    target: str,
    *,
    k_max: int | None = None,
    prior: str | None = None,
    features: str | None = None,
    prune_threshold: float | None = None,
    key: jax.Array | None = None,
    config: ParentScaleConfig | None = None,
) -> ParentSetPosterior:
    """The expert's posterior over the target's parent sets from a buffer holding D_O and D_I.

    The buffer's observational rows are D_O (standardisation and the per-set regressions), its
    interventional rows D_I (the evidence). ``p(S | D) ∝ p(S) ML(D_O ∪ D_I; S) / ML(D_O; S)``,
    normalised with log-sum-exp, sets below ``prune_threshold`` left out. With the same
    settings and key it reproduces :func:`acbo_expert.run_parent_scale`'s posteriors
    (``result.buffer_at(t)`` and ``result.model_key``).

    Args:
      buffer: observational and interventional samples.
      target: the target variable.
      k_max: largest candidate set.
      prior: ``"uniform"`` or ``"doubly_robust"`` (needs ``key``).
      features: ``"linear"`` or ``"rff"`` (needs ``key``).
      prune_threshold: smallest probability kept.
      key: PRNG key for random features / the doubly robust prior.
      config: the model's settings (default ``ParentScaleConfig()``: k_max 3, uniform prior,
        linear features, threshold 1e-4). Each argument above that is given overrides its
        field; one that is left out keeps the config's.

    Returns:
      The pruned, normalised posterior.

    Raises:
      UnknownVariableError: the target is not in the buffer.
      ConfigError: bad settings, too few observational rows, or a missing key.
    """
    given = {"k_max": k_max, "prior": prior, "features": features,
             "prune_threshold": prune_threshold}
    cfg = dataclasses.replace(config or ParentScaleConfig(),
                              **{name: v for name, v in given.items() if v is not None})
    if target not in buffer.variables:
        raise UnknownVariableError(f"target {target!r} is not in the buffer "
                                   f"{list(buffer.variables)}")
    d_obs = buffer.observational().to_arrays().values
    inter = buffer.interventional().to_arrays()
    model = build_parent_set_model(buffer.variables, target, d_obs, config=cfg, key=key)
    logw = model.log_weights(inter.values, inter.intervened)
    return prune(model, logw, cfg.prune_threshold)[1]
