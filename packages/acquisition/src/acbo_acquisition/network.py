"""AcquisitionPolicyNetwork: a permutation-equivariant transformer over variable tokens.

One token per variable (features from :func:`~acbo_acquisition.encode_state`), no positional
encoding, self-attention restricted to real (non-padding) tokens: permuting the variables
permutes every per-variable output the same way, and the state value is invariant.

Heads:
- variable logits ``[d]``: a categorical over the variables, masked to the intervenable ones;
- value logits ``[d, K]``: per variable, a categorical over K equally spaced values spanning its
  intervention range, both ends included. Discretised values rather than a squashed Gaussian
  because (1) the expert's values for linear SCMs sit at or next to the range ends, where a
  tanh-Gaussian's density needs ``atanh(+-1) = inf`` and its log-likelihood explodes; (2) the
  do-effect's sign can be uncertain, so the best value can be at either end — a bimodal choice a
  Gaussian cannot express; (3) log-probabilities, the entropy bonus and the KL to the reference
  policy are exact sums instead of Monte-Carlo estimates. The cost is a resolution of
  ``(hi - lo) / (K - 1)`` (5% of the range with K = 21), well under the target's noise;
- state value ``[]``: mean-pooled tokens through an MLP (a diagnostic; GRPO's advantages are
  group-relative and never use it).

The modules work on one example; batch with ``jax.vmap`` over the inputs at the call site.

Glossary of shape letters: d variables, F features, H hidden width, K value bins.
"""

from __future__ import annotations

from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from acbo_acquisition.config import PolicyConfig
from acbo_acquisition.features import PolicyInputs

__all__ = ["AcquisitionPolicyNetwork", "PolicyOutputs", "make_policy", "NEG_INF"]

NEG_INF = -1e9  # finite, so masked entries give 0 * NEG_INF = 0 in entropies rather than NaN


class PolicyOutputs(NamedTuple):
    """Network outputs for one state (or a batch, with a leading axis).

    Attributes:
      variable_logits: ``[d]``, :data:`NEG_INF` where the variable may not be intervened on.
      value_logits: ``[d, K]``, over the value grid of each variable's range.
      state_value: ``[]`` predicted mean reward of the state (diagnostic).
    """

    variable_logits: jax.Array
    value_logits: jax.Array
    state_value: jax.Array


class AcquisitionPolicyNetwork(hk.Module):
    """Transformer over variable tokens with variable, value and state-value heads."""

    def __init__(self, config: PolicyConfig, name: str | None = None) -> None:
        super().__init__(name=name)
        self.config = config

    def __call__(self, inputs: PolicyInputs) -> PolicyOutputs:
        cfg = self.config
        h_dim = cfg.hidden_dim
        valid = jnp.asarray(inputs.valid)  # [d]
        x = hk.Linear(h_dim, name="embed")(jnp.asarray(inputs.features))  # [d, H]
        x = jax.nn.gelu(x)
        x = hk.Linear(h_dim, name="embed_out")(x)
        attn_mask = valid[None, None, :]  # [1, 1, d]: every query sees the real variables
        init = hk.initializers.VarianceScaling(2.0 / cfg.n_layers)
        for layer in range(cfg.n_layers):
            h = hk.LayerNorm(-1, True, True, name=f"ln_attn_{layer}")(x)
            h = hk.MultiHeadAttention(cfg.n_heads, h_dim // cfg.n_heads, model_size=h_dim,
                                      w_init=init, name=f"attn_{layer}")(h, h, h, attn_mask)
            x = x + h
            h = hk.LayerNorm(-1, True, True, name=f"ln_mlp_{layer}")(x)
            h = hk.Sequential([hk.Linear(cfg.widening_factor * h_dim), jax.nn.gelu,
                               hk.Linear(h_dim, w_init=init)], name=f"mlp_{layer}")(h)
            x = x + h
        x = hk.LayerNorm(-1, True, True, name="ln_out")(x)  # [d, H]

        var_logits = hk.nets.MLP([h_dim, 1], activation=jax.nn.gelu,
                                 name="variable_head")(x)[:, 0]  # [d]
        var_logits = jnp.where(inputs.intervenable, var_logits, NEG_INF)
        value_logits = hk.nets.MLP([h_dim, cfg.n_value_bins], activation=jax.nn.gelu,
                                   name="value_head")(x)  # [d, K]
        weights = valid.astype(x.dtype)
        pooled = (x * weights[:, None]).sum(0) / jnp.maximum(weights.sum(), 1.0)  # [H]
        state_value = hk.nets.MLP([h_dim, 1], activation=jax.nn.gelu,
                                  name="state_value_head")(pooled)[0]
        return PolicyOutputs(var_logits, value_logits, state_value)


def make_policy(config: PolicyConfig) -> hk.Transformed:
    """The network as pure functions ``init(key, inputs) -> params`` and
    ``apply(params, inputs) -> PolicyOutputs`` (deterministic: no rng at apply time).

    Both take a single state's :class:`PolicyInputs`; vmap ``apply`` over a batch.
    """

    def forward(inputs: PolicyInputs) -> PolicyOutputs:
        return AcquisitionPolicyNetwork(config, name="policy")(inputs)

    return hk.without_apply_rng(hk.transform(forward))
