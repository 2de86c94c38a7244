"""The policy's joint action distribution ``p(variable) p(value bin | variable)``.

An action is a pair of int32 indices ``(variable, bin)``; bin ``b`` of a variable with range
``(lo, hi)`` is the value ``lo + (hi - lo) * b / (K - 1)``. Everything works on one state's
:class:`~acbo_acquisition.PolicyOutputs`; vmap over a batch.

Glossary of shape letters: d variables, K value bins, G sampled actions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from acbo_acquisition.network import PolicyOutputs

__all__ = ["log_prob", "entropy", "sample_actions", "mode_action", "bin_values",
           "action_probs"]


def log_prob(outputs: PolicyOutputs, variable: ArrayLike, value_bin: ArrayLike) -> jax.Array:
    """``log p(variable) + log p(bin | variable)``; broadcasts over leading axes of the action."""
    var_lp = jax.nn.log_softmax(outputs.variable_logits)  # [d]
    bin_lp = jax.nn.log_softmax(outputs.value_logits, axis=-1)  # [d, K]
    variable = jnp.asarray(variable)
    return var_lp[variable] + bin_lp[variable, jnp.asarray(value_bin)]


def action_probs(outputs: PolicyOutputs) -> jax.Array:
    """``[d, K]`` joint probabilities (0 on variables that may not be intervened on)."""
    var_p = jax.nn.softmax(outputs.variable_logits)  # [d]
    return var_p[:, None] * jax.nn.softmax(outputs.value_logits, axis=-1)


def entropy(outputs: PolicyOutputs) -> jax.Array:
    """Exact entropy (nats) of the joint action: ``H(variable) + E_variable[H(bin | variable)]``."""
    var_lp = jax.nn.log_softmax(outputs.variable_logits)
    var_p = jnp.exp(var_lp)
    bin_lp = jax.nn.log_softmax(outputs.value_logits, axis=-1)
    bin_h = -(jnp.exp(bin_lp) * bin_lp).sum(-1)  # [d]
    return -(var_p * var_lp).sum() + (var_p * bin_h).sum()


def sample_actions(outputs: PolicyOutputs, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """``n`` independent actions: ``(variables [n], bins [n])`` int32."""
    k_var, k_bin = jax.random.split(key)
    variables = jax.random.categorical(k_var, outputs.variable_logits, shape=(n,))
    bins = jax.random.categorical(k_bin, outputs.value_logits[variables], axis=-1)
    return variables.astype(jnp.int32), bins.astype(jnp.int32)


def mode_action(outputs: PolicyOutputs) -> tuple[jax.Array, jax.Array]:
    """The most probable variable and its most probable value bin."""
    variable = jnp.argmax(outputs.variable_logits)
    return variable.astype(jnp.int32), jnp.argmax(outputs.value_logits[variable]).astype(jnp.int32)


def bin_values(lo: ArrayLike, hi: ArrayLike, n_bins: int) -> jax.Array:
    """``[..., K]`` the value grid of ranges ``lo``/``hi`` of shape ``[...]``."""
    frac = jnp.linspace(0.0, 1.0, n_bins)
    lo, hi = jnp.asarray(lo), jnp.asarray(hi)
    return lo[..., None] + (hi - lo)[..., None] * frac
