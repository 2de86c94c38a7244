"""The whole recipe: behavioural cloning, then GRPO from the cloned policy (or from scratch)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import haiku as hk
import jax

from acbo_acquisition.config import (
    DEFAULT_ACQUISITION,
    AcquisitionConfig,
)
from acbo_acquisition.errors import ConfigError
from acbo_acquisition.grpo import PosteriorUpdate, init_grpo, train_grpo
from acbo_acquisition.imitation import BCData, init_bc, train_bc
from acbo_acquisition.problems import GRPOProblems
from acbo_core import AcquisitionState

__all__ = ["AcquisitionResult", "train_acquisition"]


@dataclasses.dataclass(frozen=True)
class AcquisitionResult:
    """What :func:`train_acquisition` produced.

    Attributes:
      params: the trained policy.
      ref_params: GRPO's reference (the cloned policy, or the fresh initialisation).
      bc_history: mean metrics per behavioural-cloning epoch (empty without cloning).
      grpo_history: metrics per GRPO update.
      eval_history: ``(GRPO updates done, eval_fn(params))`` every ``eval_every`` updates,
        starting at 0.
    """

    params: hk.Params
    ref_params: hk.Params
    bc_history: list[dict[str, float]]
    grpo_history: list[dict[str, float]]
    eval_history: list[tuple[int, dict[str, Any]]]


def train_acquisition(
    *,
    key: jax.Array,
    config: AcquisitionConfig = DEFAULT_ACQUISITION,
    bc_data: BCData | None = None,
    problems: GRPOProblems | None = None,
    n_grpo_updates: int | None = None,
    eval_fn: Callable[[hk.Params], dict[str, Any]] | None = None,
    eval_every: int = 0,
    states: Sequence[AcquisitionState] | None = None,
    posterior_update: PosteriorUpdate | None = None,
) -> AcquisitionResult:
    """Behavioural cloning (if ``config.imitation.use_behavioral_cloning``), then GRPO.

    GRPO starts from the cloned parameters when ``config.imitation.grpo_warmstart`` (warm
    start), else from a fresh initialisation (cold start); its KL reference is where it starts.

    Args:
      key: PRNG key (the same key gives the same result).
      config: everything else.
      bc_data: (state, expert action) pairs; needed for behavioural cloning.
      problems: GRPO's training states with their SCMs (``None``: cloning only, and the
        result's ``params`` are the cloned ones).
      n_grpo_updates: GRPO updates (default ``max_grpo_epochs * ceil(P / batch_size)``).
      eval_fn: called on the parameters every ``eval_every`` GRPO updates (and at 0).
      eval_every: evaluation period in updates (0: never).
      states, posterior_update: for the posterior-entropy reward (see :func:`grpo_step`).

    Raises:
      ConfigError: cloning without ``bc_data``, or neither cloning nor ``problems``.
    """
    k_bc, k_grpo = jax.random.split(key)
    imitation = config.imitation
    bc_history: list[dict[str, float]] = []
    start = None
    if imitation.use_behavioral_cloning:
        if bc_data is None:
            raise ConfigError("use_behavioral_cloning=True needs bc_data")
        bc_state = init_bc(k_bc, policy_config=config.policy, imitation_config=imitation)
        bc_state, bc_history = train_bc(bc_data, bc_state, policy_config=config.policy,
                                        imitation_config=imitation)
        if imitation.grpo_warmstart:
            start = bc_state.params
    if problems is None:  # cloning only
        if not imitation.use_behavioral_cloning:
            raise ConfigError("nothing to train: no GRPO problems and no behavioural cloning")
        return AcquisitionResult(bc_state.params, bc_state.params, bc_history, [], [])
    state = init_grpo(k_grpo, policy_config=config.policy, grpo_config=config.grpo,
                      params=start)
    eval_history: list[tuple[int, dict[str, Any]]] = []
    if eval_fn is not None and eval_every > 0:
        eval_history.append((0, eval_fn(state.params)))

    def on_update(s: Any, _: dict[str, float]) -> None:
        if eval_fn is not None and eval_every > 0 and int(s.step) % eval_every == 0:
            eval_history.append((int(s.step), eval_fn(s.params)))

    n_problems = int(problems.expert_variable.shape[0])
    n_updates = (config.max_grpo_epochs * -(-n_problems // config.grpo.batch_size)
                 if n_grpo_updates is None else n_grpo_updates)
    state, grpo_history = train_grpo(
        problems, state, n_updates=n_updates, policy_config=config.policy,
        grpo_config=config.grpo, imitation_config=imitation, states=states,
        posterior_update=posterior_update, callback=on_update)
    return AcquisitionResult(state.params, state.ref_params, bc_history, grpo_history,
                             eval_history)
