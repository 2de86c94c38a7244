"""Doubly robust prior over parent sets: bootstrap frequency of a causal feature selection.

For each bootstrap resample of D_O and each candidate parent j, two nuisance regressions on the
other candidates are cross-fitted on two folds: the target's, ``m_j(x_-j)``, and the
candidate's own, ``e_j(x_-j)``. Each is a weighted ridge regression in closed form plus a small
haiku MLP (one hidden tanh layer, full-batch Adam) fitted to what the ridge leaves; all
``B x 2 folds x 2p`` of them are trained at once by one ``jax.vmap``. On the held-out fold the
paired residual product

    psi_i = (y_i - m_j(x_-j,i)) * (x_ij - e_j(x_-j,i))

has mean ``E[Cov(y, x_j | x_-j)]``, zero when j is not a parent (given the other candidates),
and its error is the product of the two nuisances' errors: the doubly robust (Neyman-orthogonal)
score of double machine learning. A two-sided t-test on the ``psi_i`` of the bootstrap's
distinct rows gives a p-value per candidate; the Benjamini–Yekutieli procedure at level
``dr_alpha`` selects the features. Edge cases, made explicit: a selection larger than k_max
keeps the k_max smallest p-values; an empty selection votes uniformly for every singleton. The
prior of a set is the fraction of bootstraps voting for it, mixed with a uniform prior of weight
``dr_uniform_mix``.

Glossary of shape letters: n rows, p candidate parents (d - 1), B bootstraps, F = 2 folds,
J = 2p regressions per fold (m_j for each j, then e_j for each j), K candidate sets.
"""

from __future__ import annotations

import functools

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.stats

from acbo_expert._rng import host_rng
from acbo_expert.config import ParentScaleConfig

__all__ = [
    "doubly_robust_log_prior", "cross_fitted_scores", "feature_p_values", "benjamini_yekutieli",
]


_RIDGE = 1e-3


def _mlp(hidden: int) -> hk.Transformed:
    def forward(x: jax.Array) -> jax.Array:
        return hk.nets.MLP([hidden, 1], activation=jnp.tanh)(x)[..., 0]

    return hk.without_apply_rng(hk.transform(forward))


def _glorot_params(rng: np.random.Generator, n_models: int, p: int, hidden: int
                   ) -> dict[str, dict[str, np.ndarray]]:
    """Glorot-uniform initial parameters ``[n_models, ...]`` in haiku's layout.

    Drawn on the host from a numpy generator: compiling a JAX random initialiser for a few
    hundred stacked models costs seconds, the draw itself microseconds.
    """
    shapes = jax.eval_shape(_mlp(hidden).init, jax.random.key(0), jnp.zeros((1, p)))
    params: dict[str, dict[str, np.ndarray]] = {}
    for layer, leaves in shapes.items():
        w_shape = leaves["w"].shape
        # The output layer starts at zero, so every fit starts from its ridge regression.
        limit = np.sqrt(6.0 / sum(w_shape)) if w_shape[-1] > 1 else 0.0
        params[layer] = {
            "w": rng.uniform(-limit, limit, (n_models, *w_shape)).astype(np.float32),
            "b": np.zeros((n_models, *leaves["b"].shape), np.float32),
        }
    return params


@functools.partial(jax.jit, static_argnames=("hidden", "steps", "lr"))
def _fit_predict(params: hk.Params, train: jax.Array, test: jax.Array, weights: jax.Array,
                 masks: jax.Array, outputs: jax.Array, x: jax.Array, *, hidden: int, steps: int,
                 lr: float) -> jax.Array:
    """Trains model g on rows ``train[g]`` (weights ``weights[g]``) to predict
    ``outputs[g]`` from ``x * masks[g]``; its predictions on rows ``test[g]``, ``[G, h]``."""
    net = _mlp(hidden)
    opt = optax.adam(lr)

    def fit_one(prm: hk.Params, rows: jax.Array, held_out: jax.Array, w: jax.Array,
                mask: jax.Array, target: jax.Array) -> jax.Array:
        xm = x[rows] * mask  # [h, p]; a left-out candidate becomes a constant input
        y = target[rows]
        total = jnp.maximum(w.sum(), 1.0)
        # The linear part in closed form (weighted ridge with an intercept), so it is fitted
        # exactly; the MLP is trained on what it leaves, the nonlinear part.
        xa = jnp.concatenate([xm, jnp.ones((xm.shape[0], 1))], axis=1)  # [h, p + 1]
        gram = (xa * w[:, None]).T @ xa + _RIDGE * jnp.eye(xa.shape[1])
        beta = jnp.linalg.solve(gram, (xa * w[:, None]).T @ y)
        resid = y - xa @ beta

        def loss(q: hk.Params) -> jax.Array:
            return jnp.sum(w * (net.apply(q, xm) - resid) ** 2) / total

        def step(carry: tuple, _: None) -> tuple:
            q, state = carry
            updates, state = opt.update(jax.grad(loss)(q), state)
            return (optax.apply_updates(q, updates), state), None

        (prm, _), _ = jax.lax.scan(step, (prm, opt.init(prm)), None, length=steps)
        xt = x[held_out] * mask
        xt_a = jnp.concatenate([xt, jnp.ones((xt.shape[0], 1))], axis=1)
        return xt_a @ beta + net.apply(prm, xt)

    return jax.vmap(fit_one)(params, train, test, weights, masks, outputs)


def cross_fitted_scores(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *,
                        n_boot: int, hidden: int, steps: int, lr: float
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Held-out orthogonal scores ``psi [B, p, n]`` and bootstrap multiplicities ``[B, n]``.

    ``psi = (y - m_j(x_-j)) (x_j - e_j(x_-j))`` with ``m_j`` the target's and ``e_j`` the
    candidate's regression on the other candidates, each fitted on the fold that does not hold
    the row. Folds are two equal halves of a random permutation of the original rows (so copies
    of a row never straddle two folds; with n odd one row sits out); within a fold, rows weigh
    as often as the bootstrap drew them. Rows the bootstrap did not draw get multiplicity 0.
    """
    n, p = x.shape
    h = n // 2
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)])
    halves = np.stack([rng.permutation(n)[: 2 * h].reshape(2, h) for _ in range(n_boot)])
    if h * 2 < n:  # the row left out of both folds is not scored
        for b in range(n_boot):
            counts[b, np.setdiff1d(np.arange(n), halves[b].ravel())] = 0
    drop = (1.0 - np.eye(p)).astype(np.float32)  # [p, p]: row j leaves candidate j out
    masks = np.concatenate([drop, drop])  # [J, p], J = 2p: m_j then e_j
    outputs = np.concatenate([np.broadcast_to(y, (p, n)), x.T]).astype(np.float32)  # [J, n]
    j = 2 * p
    train = halves.reshape(n_boot * 2, h)  # model (b, f) trains on fold f ...
    test = halves[:, ::-1].reshape(n_boot * 2, h)  # ... and predicts the other fold
    weights = np.take_along_axis(counts, halves.reshape(n_boot, 2 * h), 1)
    preds = _fit_predict(
        _glorot_params(rng, n_boot * 2 * j, p, hidden),
        jnp.asarray(np.repeat(train, j, 0)), jnp.asarray(np.repeat(test, j, 0)),
        jnp.asarray(np.repeat(weights.reshape(n_boot * 2, h), j, 0), jnp.float32),
        jnp.asarray(np.tile(masks, (n_boot * 2, 1))),
        jnp.asarray(np.tile(outputs, (n_boot * 2, 1))), jnp.asarray(x, jnp.float32),
        hidden=hidden, steps=steps, lr=lr)
    preds = np.asarray(preds, np.float64).reshape(n_boot, 2, j, h)
    oof = np.zeros((n_boot, j, n))
    for b in range(n_boot):
        for f in range(2):  # predictions of the model trained on fold f are for fold 1 - f
            oof[b][:, halves[b, 1 - f]] = preds[b, f]
    res_y = np.asarray(y, np.float64) - oof[:, :p]  # [B, p, n]
    res_x = np.asarray(x, np.float64).T - oof[:, p:]  # [B, p, n]
    return res_y * res_x, counts


def feature_p_values(psi: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Two-sided t-test p-values ``[B, p]`` of ``E[psi] = 0`` over each bootstrap's rows.

    Each distinct row counts once: the bootstrap multiplicities shape the fits, but copies of a
    row are not independent evidence, and counting them would inflate the statistic.
    """
    psi = np.asarray(psi, np.float64)
    w = (np.asarray(counts) > 0).astype(np.float64)[:, None, :]  # [B, 1, n]
    total = w.sum(-1)  # [B, 1]
    mean = (w * psi).sum(-1) / total
    var = (w * (psi - mean[..., None]) ** 2).sum(-1) / np.maximum(total - 1, 1)
    se = np.sqrt(np.maximum(var, 1e-300) / total)
    return 2.0 * scipy.stats.t.sf(np.abs(mean / se), df=np.maximum(total - 1, 1))


def benjamini_yekutieli(p_values: np.ndarray, alpha: float) -> np.ndarray:
    """Boolean mask of the hypotheses rejected at false discovery rate ``alpha``.

    Step-up: with sorted p-values p_(1) <= ... <= p_(m), reject the first k where k is the
    largest index with ``p_(k) <= k alpha / (m c(m))``, ``c(m) = sum_{i<=m} 1/i`` (valid under
    any dependence between the tests).
    """
    p = np.asarray(p_values, np.float64)
    m = p.shape[-1]
    if m == 0:
        return np.zeros(p.shape, bool)
    c_m = np.sum(1.0 / np.arange(1, m + 1))
    thresholds = np.arange(1, m + 1) * alpha / (m * c_m)
    flat = p.reshape(-1, m)
    out = np.zeros(flat.shape, bool)
    for r, row in enumerate(flat):
        order = np.argsort(row, kind="stable")
        below = np.flatnonzero(row[order] <= thresholds)
        if below.size:
            out[r, order[: below[-1] + 1]] = True
    return out.reshape(p.shape)

def doubly_robust_log_prior(x_obs: np.ndarray, target: int, sets: np.ndarray, *,
                            key: jax.Array, config: ParentScaleConfig) -> np.ndarray:
    """Log prior ``[K]`` over the rows of ``sets`` from standardised D_O ``[n, d]``."""
    d = x_obs.shape[1]
    candidates = np.asarray([j for j in range(d) if j != target])
    psi, counts = cross_fitted_scores(
        x_obs[:, candidates], x_obs[:, target], host_rng(key), n_boot=config.n_bootstrap,
        hidden=config.dr_hidden, steps=config.dr_steps, lr=config.dr_learning_rate)
    p_values = feature_p_values(psi, counts)  # [B, p]
    selected = benjamini_yekutieli(p_values, config.dr_alpha)
    row_of = {tuple(int(v) for v in row if v >= 0): i for i, row in enumerate(sets)}
    votes = np.zeros(sets.shape[0])
    singletons = [row_of[(int(j),)] for j in candidates if (int(j),) in row_of]
    for b in range(selected.shape[0]):
        chosen = np.flatnonzero(selected[b])
        if chosen.size == 0:
            if singletons:
                votes[singletons] += 1.0 / len(singletons)
            else:  # k_max = 0: only the empty set exists
                votes[0] += 1.0
            continue
        if chosen.size > config.k_max:
            chosen = chosen[np.argsort(p_values[b, chosen], kind="stable")[: config.k_max]]
        votes[row_of[tuple(sorted(int(v) for v in candidates[chosen]))]] += 1.0
    prior = (1.0 - config.dr_uniform_mix) * votes / votes.sum() \
        + config.dr_uniform_mix / sets.shape[0]
    with np.errstate(divide="ignore"):
        return np.log(prior)
