"""The distribution over candidate parent sets that the network's outputs define.

For a target t and a candidate set S (|S| <= k_max, t not in S, no padded variable in S)

    log q(S) = sum_{i in S} u_i + sum_{i < j in S} v_ij + s_|S| - log C(c, |S|) - log Z

with u the per-variable parent logits, v the symmetric pairwise terms, s the per-size logits,
c the number of candidate parents (d - 1) and Z the sum over every candidate. The
``- log C(c, k)`` base measure spreads each size's mass evenly over that size's sets, so with all
logits at zero every size gets the same mass whatever d is; without it the d^3 sets of size 3
would swamp small sets as d grows, and a model trained on small graphs would not transfer.

Candidates come from ``acbo_kernels.enumerate_parent_sets(d, None, k_max)``: one table over all
(padded) variables, shared by a batch whose targets differ; sets holding the target or a padded
variable get ``-inf``. Because q is normalised over the whole table, KL(expert || q) over sets
is exact.

Glossary of shape letters: d variables (padded), K candidate sets, k = k_max.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

import acbo_kernels
from acbo_core import ParentSetPosterior
from acbo_core.errors import ShapeMismatchError, UnknownVariableError

__all__ = [
    "candidate_table",
    "set_log_probs",
    "marginals_from_sets",
    "posterior_to_probs",
    "set_index",
]


@functools.lru_cache(maxsize=32)
def candidate_table(d: int, k_max: int) -> np.ndarray:
    """Every subset of ``range(d)`` with at most ``k_max`` members, ``[K, k_max]`` padded -1.

    The order is acbo_kernels' (empty set, then by size, lexicographic within a size). Cached
    and read-only.
    """
    table = acbo_kernels.enumerate_parent_sets(int(d), None, int(k_max))
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=32)
def _row_lookup(d: int, k_max: int) -> dict[tuple[int, ...], int]:
    return {tuple(int(v) for v in row if v >= 0): r
            for r, row in enumerate(candidate_table(d, k_max))}


def set_index(members: Sequence[int], d: int, k_max: int) -> int:
    """Row of ``candidate_table(d, k_max)`` holding the set ``members``; -1 if it has more than
    ``k_max`` members.

    Raises:
      ShapeMismatchError: a member outside ``range(d)``.
    """
    key = tuple(sorted(int(m) for m in members))
    if any(not 0 <= m < d for m in key):
        raise ShapeMismatchError(f"set {key} has members outside range({d})")
    if len(key) > k_max:
        return -1
    return _row_lookup(d, k_max)[key]


def _log_binom(n: jax.Array, k: jax.Array) -> jax.Array:
    return (jax.scipy.special.gammaln(n + 1.0) - jax.scipy.special.gammaln(k + 1.0)
            - jax.scipy.special.gammaln(jnp.maximum(n - k, 0.0) + 1.0))


def set_log_probs(
    parent_logits: ArrayLike,
    pair_logits: ArrayLike,
    size_logits: ArrayLike,
    target: ArrayLike,
    var_mask: ArrayLike,
    table: ArrayLike,
) -> jax.Array:
    """Normalised log q(S) of every row of ``table`` for one example (``-inf``: not a candidate).

    Args:
      parent_logits: u ``[d]``.
      pair_logits: v ``[d, d]`` (only the upper triangle's pairs are read through ``i < j``
        in the table's sorted rows; pass a symmetric matrix).
      size_logits: s ``[k_max + 1]``.
      target: the target's index (scalar int).
      var_mask: ``[d]`` bool, False for padded variables.
      table: ``[K, k_max]`` int32 from :func:`candidate_table`.

    Returns:
      ``[K]`` float32 log probabilities; logsumexp over the table is 0.
    """
    u = jnp.asarray(parent_logits)  # [d]
    v = jnp.asarray(pair_logits)  # [d, d]
    s = jnp.asarray(size_logits)  # [k+1]
    table = jnp.asarray(table)  # [K, k]
    var_mask = jnp.asarray(var_mask, bool)
    d = u.shape[0]
    k_max = table.shape[1]
    # optimization_barrier materialises each stage: without them XLA fuses the gathers into
    # every consumer and recomputes them (13 ms instead of 2.4 ms at K = 234k on CPU).
    barrier = jax.lax.optimization_barrier
    present = table >= 0  # [K, k]
    idx = barrier(jnp.where(present, table, d))  # padding -> a zero slot
    score = barrier(jnp.concatenate([u, jnp.zeros((1,), u.dtype)])[idx].sum(axis=1))  # [K]
    v_flat = jnp.pad(v, ((0, 1), (0, 1))).reshape(-1)  # [(d+1)^2]; 1-D gathers are faster
    for a in range(k_max):
        for b in range(a + 1, k_max):
            score = barrier(score + v_flat[idx[:, a] * (d + 1) + idx[:, b]])
    # per-size terms: k_max + 1 values, added by comparison (gammaln per set, or a gather by
    # size, is several times slower on CPU)
    n_cand = (var_mask.sum() - 1).astype(u.dtype)
    size_term = s - _log_binom(n_cand, jnp.arange(k_max + 1, dtype=u.dtype))  # [k+1]
    size = present.sum(axis=1)  # [K]
    for k in range(k_max + 1):
        score = jnp.where(size == k, score + size_term[k], score)
    score = barrier(score)
    allowed = jnp.concatenate([var_mask & (jnp.arange(d) != target), jnp.ones((1,), bool)])
    score = barrier(jnp.where(allowed[idx].all(axis=1), score, -jnp.inf))
    return score - jax.nn.logsumexp(score)


def marginals_from_sets(log_probs: ArrayLike, table: ArrayLike, d: int) -> jax.Array:
    """Marginal parent probabilities ``[d]``: ``P(i in S) = sum_{S containing i} q(S)``.

    Args:
      log_probs: ``[K]`` normalised log q.
      table: ``[K, k_max]`` candidate table.
      d: number of (padded) variables.
    """
    table = jnp.asarray(table)
    q = jnp.exp(jnp.asarray(log_probs))  # [K]
    idx = jnp.where(table >= 0, table, d)  # [K, k]
    out = jnp.zeros((d + 1,), q.dtype).at[idx].add(
        jnp.broadcast_to(q[:, None], idx.shape))
    return jnp.clip(out[:d], 0.0, 1.0)


def posterior_to_probs(
    posterior: ParentSetPosterior, variable_order: Sequence[str], d_pad: int, k_max: int
) -> np.ndarray:
    """A posterior as probabilities ``[K]`` over ``candidate_table(d_pad, k_max)``.

    Variables take their index in ``variable_order``. Sets larger than ``k_max`` cannot be
    represented; their mass is dropped and the rest renormalised.

    Raises:
      UnknownVariableError: a set names a variable not in ``variable_order``.
      ShapeMismatchError: every set of the posterior is larger than ``k_max``.
    """
    index = {v: i for i, v in enumerate(variable_order)}
    probs = np.zeros(len(candidate_table(d_pad, k_max)), np.float64)
    for members, p in zip(posterior.parent_sets, posterior.probs, strict=True):
        try:
            cols = [index[v] for v in members]
        except KeyError as err:
            raise UnknownVariableError(
                f"posterior set names {err.args[0]!r}, not in {list(variable_order)}") from None
        row = set_index(cols, d_pad, k_max)
        if row >= 0:
            probs[row] += p
    total = probs.sum()
    if total <= 0:
        raise ShapeMismatchError(f"no set of the posterior has at most k_max={k_max} members")
    return probs / total
