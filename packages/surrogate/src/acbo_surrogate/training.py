"""The pure training step: ``init(key, config) -> TrainState``, ``update(state, batch)``.

``TrainState`` is a pytree whose config is static metadata, so ``update`` is one ``jax.jit``
compiled once per (config, batch shape). Batch shapes come from the buckets of
:mod:`acbo_surrogate.config`, so a training run compiles a handful of times, not every step.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from acbo_surrogate.config import SurrogateConfig, TrainConfig
from acbo_surrogate.losses import Batch, loss_fn
from acbo_surrogate.model import forward_fn
from acbo_surrogate.sets import candidate_table

__all__ = ["TrainState", "init", "update", "make_optimizer", "init_params", "batch_apply",
           "evaluate_batch"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    """Everything a training step reads and writes.

    Attributes:
      params: haiku parameters of the model.
      opt_state: optax state.
      step: number of updates done (int32 scalar).
      config: the run's configuration (static: not traced).
    """

    params: hk.Params
    opt_state: Any
    step: jax.Array
    config: SurrogateConfig = dataclasses.field(metadata={"static": True})


def _table(d: int, k_max: int) -> jax.Array:
    # The barrier keeps XLA from constant-folding reductions over the table (seconds of
    # compile time for large d).
    return jax.lax.optimization_barrier(jnp.asarray(candidate_table(d, k_max)))


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Global-norm clipping, then AdamW on a linear-warmup + cosine-decay schedule."""
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=config.learning_rate,
        warmup_steps=config.warmup_steps,
        decay_steps=max(config.total_steps, config.warmup_steps + 1),
        end_value=config.learning_rate * config.end_lr_fraction,
    )
    return optax.chain(
        optax.clip_by_global_norm(config.clip_norm),
        optax.adamw(schedule, weight_decay=config.weight_decay),
    )


def init_params(key: jax.Array, config: SurrogateConfig) -> hk.Params:
    """Fresh model parameters (their shapes do not depend on N or d)."""
    encoding = jnp.zeros((4, 3, 3), jnp.float32)
    return forward_fn(config.model).init(key, encoding, jnp.ones(4, bool), jnp.ones(3, bool))


def init(key: jax.Array, config: SurrogateConfig) -> TrainState:
    """A fresh training state.

    Args:
      key: PRNG key for the parameters.
      config: model and training configuration.
    """
    params = init_params(key, config)
    opt_state = make_optimizer(config.train).init(params)
    return TrainState(params, opt_state, jnp.zeros((), jnp.int32), config)


def batch_apply(params: hk.Params, config: SurrogateConfig, encoding: ArrayLike,
                sample_mask: ArrayLike, var_mask: ArrayLike) -> Any:
    """The model on a batch (``vmap`` of the one-example forward)."""
    apply = forward_fn(config.model).apply
    return jax.vmap(apply, in_axes=(None, 0, 0, 0))(
        params, jnp.asarray(encoding, jnp.float32), jnp.asarray(sample_mask, bool),
        jnp.asarray(var_mask, bool))


@jax.jit
def update(state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimisation step on ``batch``.

    Returns:
      ``(new_state, metrics)``: the loss, its parts, the gradient norm and the learning-rate
      step.
    """
    config = state.config
    table = _table(jnp.shape(batch.encoding)[2], config.model.k_max)

    def objective(params: hk.Params) -> tuple[jax.Array, dict[str, jax.Array]]:
        outputs = batch_apply(params, config, batch.encoding, batch.sample_mask,
                              batch.var_mask)
        return loss_fn(outputs, batch, table, config.train)

    (_, metrics), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
    optimizer = make_optimizer(config.train)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics, grad_norm=optax.tree.norm(grads))
    return TrainState(params, opt_state, state.step + 1, config), metrics


@functools.partial(jax.jit, static_argnames="config")
def evaluate_batch(params: hk.Params, config: SurrogateConfig, batch: Batch
                   ) -> dict[str, jax.Array]:
    """The loss parts on a batch without updating (jitted per config and shape)."""
    table = _table(jnp.shape(batch.encoding)[2], config.model.k_max)
    outputs = batch_apply(params, config, batch.encoding, batch.sample_mask, batch.var_mask)
    return loss_fn(outputs, batch, table, config.train)[1]
