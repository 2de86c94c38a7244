"""Training the amortised surrogate on expert demonstrations (behavioural cloning of posteriors).

Every trajectory step gives a (data -> expert posterior) pair, with the true parent set for
the ground-truth part of the loss. Training runs through :func:`acbo_training.run_training`
(checkpoints, resume, early stopping on the validation loss); the result reports validation
metrics against the truth and the expert, and the measured speed-up of one forward pass over
the expert's own posterior computation on the same data.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import haiku as hk
import jax
import numpy as np

import acbo_surrogate as sur
from acbo_core import ExperienceBuffer, ParentSetPosterior, true_parents
from acbo_core.configs import configclass, integer, interval, number, to_dict
from acbo_core.errors import ShapeMismatchError
from acbo_expert import ParentScaleConfig, parent_set_posterior
from acbo_training.config import TrainingConfig, compute_precision
from acbo_training.demonstrations import MAX_N_VARS
from acbo_training.errors import ConfigError
from acbo_training.loop import run_training
from acbo_training.runlog import RunLogger
from acbo_training.trajectories import ExpertTrajectory

__all__ = [
    "SurrogateTrainingConfig",
    "SurrogateTrainingExample",
    "SurrogateModelResult",
    "extract_surrogate_training_data",
    "train_surrogate_with_expert_data",
]


MAX_WIDTH = 4096
"""Widest network layer a configuration may ask for."""
MAX_LAYERS = 64
"""Deepest network a configuration may ask for."""
MAX_BATCH = 4096
"""Largest training batch a configuration may ask for."""
MAX_K = 10
"""Largest parent set the surrogate may score (the candidate sets grow as ``d ** k_max``)."""
MAX_PARENT_SETS = 2_000_000
"""Most candidate parent sets (every set of at most ``k_max`` variables) a problem may have;
the expert and the surrogate score all of them at every step."""
MAX_SURROGATE_SCORES = 2**27
"""Most (example, candidate set) scores in one surrogate training batch: a few arrays of this
many floats are held at once (512 MiB each)."""
MAX_SURROGATE_CELLS = 2**25
"""Most (example, sample, variable) cells in one surrogate training batch: each holds a few
embeddings and their gradients (a few hundred bytes)."""
_GENERATOR = sur.GeneratorConfig()
_PRETRAIN_ROWS = max(_GENERATOR.n_buckets)


def n_parent_sets(n: int, k_max: int) -> int:
    """The number of subsets of ``n`` candidates with at most ``k_max`` members."""
    return sum(math.comb(n, k) for k in range(min(n, k_max) + 1))


def check_surrogate_size(where: str, d: int, k_max: int, *, k_key: str = "surrogate.k_max",
                         batch: str | None = None, batch_size: int = 1, rows: int = 0,
                         rows_from: str = "", head: str = "") -> None:
    """Checks that the surrogate can score problems of ``d`` variables, and train on batches
    of ``batch_size`` of them with ``rows`` samples each when ``batch`` (its key) is given.

    Args:
      where, k_key, batch, rows_from: the keys ``d``, ``k_max``, ``batch_size`` and ``rows``
        come from, named in the messages.
      head: prefix of the key that starts a message (``"SurrogateTrainingConfig."`` from a
        config's own check, so that loading names the dotted key).

    Raises:
      ConfigError: naming the keys and the limit.
    """
    n_sets = n_parent_sets(sur.bucket_d(d), k_max)
    if n_sets > MAX_PARENT_SETS:
        raise ConfigError(f"{head}{where} = {d} with {k_key} = {k_max} gives {n_sets} candidate "
                          f"parent sets, more than the limit {MAX_PARENT_SETS}: lower one of them")
    if batch is None:
        return
    scores = batch_size * n_sets
    if scores > MAX_SURROGATE_SCORES:
        raise ConfigError(
            f"{head}{batch} = {batch_size} x {n_sets} candidate parent sets ({where} = {d}, "
            f"{k_key} = {k_max}) is {scores} scores per batch, more than the limit "
            f"{MAX_SURROGATE_SCORES}: lower one of them")
    cells = batch_size * sur.bucket_n(rows) * sur.bucket_d(d)
    if cells > MAX_SURROGATE_CELLS:
        raise ConfigError(
            f"{head}{batch} = {batch_size} examples of up to {rows} samples ({rows_from}) of {d} "
            f"variables ({where}) is {cells} cells per batch, more than the limit "
            f"{MAX_SURROGATE_CELLS}: lower one of them")


@configclass
class SurrogateTrainingConfig:
    """Configuration of surrogate training.

    Attributes:
      model_hidden_dim: width of the variable tokens.
      model_n_layers: attention layers over variables.
      model_n_heads: attention heads of those layers; must divide ``model_hidden_dim``.
      learning_rate: peak learning rate (warm-up, then cosine decay).
      batch_size: examples per step.
      max_epochs: passes over the training examples.
      early_stopping_patience: validations without improvement of the validation loss before
        training stops.
      validation_frequency: epochs between validations.
      k_max: largest parent set the model scores.
      kl_weight: weight of KL(expert posterior || model).
      truth_weight: weight of the ground-truth terms (true set log-likelihood and per-variable
        cross-entropy).
      pretrain_steps: steps of ground-truth pre-training on random SCMs from acbo-core (linear
        and Fourier, ER and scale-free) before the expert's pairs; 0: none. Demonstrations are
        expensive and synthetic data with known graphs is free.
      pretrain_n_vars: ``(lo, hi)`` variables of the pre-training SCMs (and of the synthetic
        batches of ``synthetic_every``).
      pretrain_batch_size: examples per pre-training step (and per synthetic batch).
      pretrain_er_degree: ``(lo, hi)`` of the expected degree of the pre-training
        Erdős–Rényi graphs (uniform per SCM, capped at ``d - 1``); dense graphs need a higher
        ``hi`` than the generator's default.
      synthetic_every: in training on the expert's pairs, one ground-truth batch of random SCMs
        (drawn as in pre-training: ``pretrain_n_vars``, ``pretrain_batch_size``,
        ``pretrain_er_degree``) before every ``synthetic_every`` batches of pairs, so free data
        keeps supervising the model; the pairs' epochs are unchanged, the run takes the extra
        steps. 0: none.
    """

    model_hidden_dim: int = integer(256, 1, MAX_WIDTH)
    model_n_layers: int = integer(8, 1, MAX_LAYERS)
    model_n_heads: int = integer(4, 1)
    learning_rate: float = number(1e-3, 0.0, low_open=True)
    batch_size: int = integer(32, 1, MAX_BATCH)
    max_epochs: int = integer(100, 1)
    early_stopping_patience: int = integer(10, 1)
    validation_frequency: int = integer(5, 1)
    k_max: int = integer(3, 1, MAX_K)
    kl_weight: float = number(1.0, 0.0)
    truth_weight: float = number(1.0, 0.0)
    pretrain_steps: int = integer(0, 0)
    pretrain_n_vars: tuple[int, int] = interval((3, 20), 2, MAX_N_VARS, integers=True)
    pretrain_batch_size: int = integer(16, 1, MAX_BATCH)
    pretrain_er_degree: tuple[float, float] = interval(_GENERATOR.er_degree, 0.0, MAX_N_VARS - 1,
                                                       low_open=True)
    synthetic_every: int = integer(0, 0)

    def _check(self) -> None:
        if self.model_hidden_dim % self.model_n_heads:
            raise ConfigError(f"SurrogateTrainingConfig.model_n_heads ({self.model_n_heads}) "
                              f"must divide model_hidden_dim ({self.model_hidden_dim})")
        if self.kl_weight == 0 and self.truth_weight == 0:
            raise ConfigError("SurrogateTrainingConfig.kl_weight and truth_weight are both 0, "
                              "so the loss would be 0")
        if self.pretrain_steps > 0 or self.synthetic_every > 0:
            check_surrogate_size("pretrain_n_vars[1]", self.pretrain_n_vars[1], self.k_max,
                                 k_key="k_max", batch="pretrain_batch_size",
                                 batch_size=self.pretrain_batch_size, rows=_PRETRAIN_ROWS,
                                 rows_from="the pre-training generator's largest bucket",
                                 head="SurrogateTrainingConfig.")

    def model_config(self) -> sur.SurrogateConfig:
        """The acbo-surrogate configuration for ``total_steps`` set later."""
        model = sur.ModelConfig(k_max=self.k_max, var_dim=self.model_hidden_dim,
                                var_layers=self.model_n_layers, var_heads=self.model_n_heads)
        train = sur.TrainConfig(learning_rate=self.learning_rate, kl_weight=self.kl_weight,
                                set_nll_weight=self.truth_weight, bce_weight=self.truth_weight)
        return sur.SurrogateConfig(model, train)


class SurrogateTrainingExample(NamedTuple):
    """A (data -> expert posterior) pair, with the true parents when known."""

    buffer: ExperienceBuffer
    posterior: ParentSetPosterior
    true_parents: frozenset[str] | None = None


def extract_surrogate_training_data(
    trajectories: Sequence[ExpertTrajectory],
) -> list[SurrogateTrainingExample]:
    """One pair per step (the buffer the expert decided on and its posterior), plus the final
    data with the final posterior of each trajectory."""
    out = []
    for traj in trajectories:
        truth = true_parents(traj.scm)
        for step in traj.steps:
            out.append(SurrogateTrainingExample(step.buffer_state, step.posterior, truth))
        last = traj.steps[-1]
        rows = [[s.values[v] for v in last.buffer_state.variables] for s in last.outcome_samples]
        final = last.buffer_state.add_interventions(last.chosen_intervention, rows)
        out.append(SurrogateTrainingExample(final, traj.final_posterior, truth))
    return out


@dataclasses.dataclass(frozen=True)
class SurrogateModelResult:
    """A trained surrogate.

    Attributes:
      model: the architecture and training configuration (acbo-surrogate's), enough to rebuild
        the haiku model (``acbo_surrogate.forward_fn``) and to checkpoint it.
      params: trained parameters.
      training_history: metric lists by name (``step``, ``loss``, ``val_loss``, ...).
      validation_metrics: on the validation pairs: ``f1`` (MAP set vs truth), ``expert_f1``,
        ``accuracy_drop`` (relative F1 drop from the expert), ``kl_to_expert``,
        ``map_agreement`` (same MAP set as the expert).
      speedup_estimate: expert posterior time / surrogate posterior time on the validation
        data, measured after both were compiled for every shape (a second pass).
    """

    model: sur.SurrogateConfig
    params: hk.Params
    training_history: dict[str, list[float]]
    validation_metrics: dict[str, float]
    speedup_estimate: float

    def predict_posterior(self, buffer: ExperienceBuffer, target: str) -> ParentSetPosterior:
        """The surrogate's posterior for one buffer (one jitted forward pass)."""
        return sur.predict_posterior(self.params, buffer, target, config=self.model.model)


def _examples(pairs: Sequence[SurrogateTrainingExample]) -> list[sur.Example]:
    return [sur.Example(p.buffer, p.posterior.target, p.true_parents, p.posterior) for p in pairs]


def expert_posterior_fn(config: ParentScaleConfig | None = None, *, k_max: int | None = None,
                        key: jax.Array | None = None
                        ) -> Callable[[ExperienceBuffer, str], ParentSetPosterior]:
    """The expert's posterior from scratch, as PARENT_SCALE computes it for a new data set with
    ``config``'s prior (uniform or doubly robust) and features.

    Args:
      config: the expert's settings (default: PARENT_SCALE's defaults).
      k_max: overrides ``config.k_max``.
      key: for random features and the doubly robust prior (default ``key(0)``).
    """
    cfg = config or ParentScaleConfig()
    key = jax.random.key(0) if key is None else key

    def posterior(buffer: ExperienceBuffer, target: str) -> ParentSetPosterior:
        return parent_set_posterior(buffer, target, k_max=k_max, key=key, config=cfg)

    return posterior


def evaluate_surrogate_pairs(result_model: sur.SurrogateConfig, params: hk.Params,
                             pairs: Sequence[SurrogateTrainingExample], k_max: int, *,
                             expert_config: ParentScaleConfig | None = None
                             ) -> tuple[dict[str, float], float]:
    """Metrics of a surrogate on (data -> expert posterior) pairs, and its speed-up.

    Returns:
      ``(metrics, speedup)``: ``f1`` (MAP set vs truth), ``expert_f1``, ``accuracy_drop``
      (relative F1 drop from the expert), ``kl_to_expert``, ``map_agreement``; and the time of
      the expert's posterior from scratch (:func:`expert_posterior_fn` with ``expert_config``,
      the settings the demonstrations were made with) over the surrogate's, both compiled for
      every shape first.
    """
    expert = expert_posterior_fn(expert_config, k_max=k_max)
    f1, expert_f1, kl, agree = [], [], [], []
    for p in pairs:  # compile every padded shape of both paths before timing
        sur.predict_posterior(params, p.buffer, p.posterior.target, config=result_model.model)
        expert(p.buffer, p.posterior.target)
    sur_time = expert_time = 0.0
    for p in pairs:
        target = p.posterior.target
        start = time.perf_counter()
        model_post = sur.predict_posterior(params, p.buffer, target, config=result_model.model)
        sur_time += time.perf_counter() - start
        start = time.perf_counter()
        expert(p.buffer, target)
        expert_time += time.perf_counter() - start
        if p.true_parents is not None:
            f1.append(sur.f1_score(model_post.map_set(), p.true_parents))
            expert_f1.append(sur.f1_score(p.posterior.map_set(), p.true_parents))
        kl.append(sur.kl_divergence(p.posterior, model_post))
        agree.append(float(model_post.map_set() == p.posterior.map_set()))
    metrics = {"kl_to_expert": float(np.mean(kl)), "map_agreement": float(np.mean(agree))}
    if f1:
        metrics["f1"], metrics["expert_f1"] = float(np.mean(f1)), float(np.mean(expert_f1))
        metrics["accuracy_drop"] = (max(0.0, 1.0 - metrics["f1"] / metrics["expert_f1"])
                                    if metrics["expert_f1"] > 0 else 0.0)
    return metrics, expert_time / max(sur_time, 1e-12)


def _synthetic_generator(scfg: SurrogateTrainingConfig) -> sur.GeneratorConfig:
    """The random SCMs of ground-truth batches (pre-training, and mixed into the pairs)."""
    return sur.GeneratorConfig(batch_size=scfg.pretrain_batch_size,
                               d_range=scfg.pretrain_n_vars, er_degree=scfg.pretrain_er_degree,
                               k_max=scfg.k_max)


def _mixed_schedule(step: int, every: int) -> int | None:
    """What step ``step`` of training on the expert's pairs trains on: the index of its batch
    of pairs (counted over the epochs), or None for a synthetic ground-truth batch.

    With ``every = k > 0`` the steps come in blocks of one synthetic batch then ``k`` batches
    of pairs; ``k = 0`` has no synthetic batches (step ``i`` is batch ``i``).
    """
    if every == 0:
        return step
    block, within = divmod(step, every + 1)
    return None if within == 0 else block * every + within - 1


def _mixed_steps(expert_steps: int, every: int) -> int:
    """Steps that take ``expert_steps`` batches of pairs through :func:`_mixed_schedule`."""
    return expert_steps + (-(-expert_steps // every) if every else 0)


def _pretrain(scfg: SurrogateTrainingConfig, model: sur.SurrogateConfig, tcfg: TrainingConfig,
              key: jax.Array, checkpoint_dir: str | pathlib.Path | None, logger: RunLogger
              ) -> hk.Params:
    """Ground-truth pre-training on random SCMs (resumable like every training phase)."""
    steps = scfg.pretrain_steps
    model = dataclasses.replace(model, train=dataclasses.replace(
        model.train, total_steps=steps, warmup_steps=min(model.train.warmup_steps,
                                                         max(1, steps // 10))))
    generator = _synthetic_generator(scfg)
    k_init, k_data = jax.random.split(key)

    def update(s: Any, batch: Any) -> tuple[Any, dict[str, float]]:
        s, metrics = sur.update(s, batch)
        return s, {k: float(v) for k, v in metrics.items()}

    with compute_precision(tcfg):
        result = run_training(
            init_state=sur.init(k_init, model), update_fn=update,
            batch_fn=lambda k, step: sur.synthetic_batch(generator, key=k), key=k_data,
            n_steps=steps,
            # a sibling: a checkpoint directory is replaced whole when it is written
            checkpoint_dir=(pathlib.Path(f"{checkpoint_dir}-pretrain")
                            if checkpoint_dir is not None and tcfg.save_checkpoints else None),
            checkpoint_frequency=tcfg.checkpoint_frequency, kind="acbo.surrogate.pretrain",
            config={"surrogate": to_dict(scfg)}, logger=logger,
            desc="surrogate pre-training", log_every=10)
    return result.state.params


def train_surrogate_with_expert_data(
    training_examples: Sequence[SurrogateTrainingExample],
    surrogate_config: SurrogateTrainingConfig | None = None,
    training_config: TrainingConfig | None = None,
    *,
    validation_examples: Sequence[SurrogateTrainingExample] | None = None,
    checkpoint_dir: str | pathlib.Path | None = None,
    logger: RunLogger | None = None,
    init_params: hk.Params | None = None,
    expert_config: ParentScaleConfig | None = None,
) -> SurrogateModelResult:
    """Trains the surrogate on (data -> expert posterior) pairs, with ground truth where known.

    Args:
      training_examples: from :func:`extract_surrogate_training_data`.
      surrogate_config: model size and optimisation.
      training_config: seed, checkpointing, mixed precision, logging.
      validation_examples: held-out pairs (validation loss, early stopping, metrics); default:
        the training pairs.
      checkpoint_dir: where the resumable training state lives (used when
        ``training_config.save_checkpoints``).
      logger: progress and metrics.
      init_params: start from these parameters (e.g. a surrogate pre-trained on synthetic
        data) instead of a fresh initialisation.
      expert_config: the settings the demonstrations were made with, for the speed-up
        measurement (the expert's posterior computed as it would be for a new data set).

    Returns:
      The trained model with its history, validation metrics and measured speed-up.

    Raises:
      ShapeMismatchError: no training examples.
    """
    if not training_examples:
        raise ShapeMismatchError("surrogate training needs at least one example")
    scfg = surrogate_config or SurrogateTrainingConfig()
    tcfg = training_config or TrainingConfig()
    logger = logger or RunLogger(level=tcfg.log_level, progress=False)
    val_pairs = list(validation_examples or training_examples)
    train_ex = _examples(training_examples)
    val_batch = sur.make_batch(_examples(val_pairs), k_max=scfg.k_max)
    steps_per_epoch = -(-len(train_ex) // scfg.batch_size)
    n_steps = _mixed_steps(scfg.max_epochs * steps_per_epoch, scfg.synthetic_every)
    generator = _synthetic_generator(scfg)
    model = scfg.model_config()
    model = dataclasses.replace(model, train=dataclasses.replace(
        model.train, total_steps=n_steps, warmup_steps=min(model.train.warmup_steps,
                                                           max(1, n_steps // 10))))
    key = jax.random.key(tcfg.random_seed)
    k_init, k_data, k_pre = jax.random.split(key, 3)
    state = sur.init(k_init, model)
    if init_params is None and scfg.pretrain_steps > 0:
        init_params = _pretrain(scfg, model, tcfg, k_pre, checkpoint_dir, logger)
    if init_params is not None:
        state = dataclasses.replace(state, params=init_params)

    def batch_fn(k: jax.Array, step: int) -> Any:
        index = _mixed_schedule(step, scfg.synthetic_every)
        if index is None:
            return sur.synthetic_batch(generator, key=k)
        epoch, within = divmod(index, steps_per_epoch)
        order = np.random.default_rng([tcfg.random_seed, epoch]).permutation(len(train_ex))
        idx = order[within * scfg.batch_size:(within + 1) * scfg.batch_size]
        return sur.make_batch([train_ex[i] for i in idx], k_max=scfg.k_max)

    def update(s: Any, batch: Any) -> tuple[Any, dict[str, float]]:
        s, metrics = sur.update(s, batch)
        metrics = {k: float(v) for k, v in metrics.items()}
        step = int(s.step)
        index = _mixed_schedule(step - 1, scfg.synthetic_every)  # of the batch just trained on
        done = index is not None and (index + 1) % (scfg.validation_frequency
                                                    * steps_per_epoch) == 0
        if done or step == n_steps:
            val = sur.evaluate_batch(s.params, model, val_batch)
            metrics["val_loss"] = float(val["loss"])
        return s, metrics

    def no_improvement(history: list[dict[str, float]]) -> bool:
        vals = [h["val_loss"] for h in history if "val_loss" in h]
        patience = scfg.early_stopping_patience
        return len(vals) > patience and min(vals[-patience:]) >= min(vals[:-patience])

    with compute_precision(tcfg):
        result = run_training(
            init_state=state, update_fn=update, batch_fn=batch_fn, key=k_data, n_steps=n_steps,
            checkpoint_dir=checkpoint_dir if tcfg.save_checkpoints else None,
            checkpoint_frequency=tcfg.checkpoint_frequency, kind="acbo.surrogate.train",
            config={"surrogate": to_dict(scfg), "training": to_dict(tcfg),
                    "n_examples": len(train_ex)},
            logger=logger, desc="surrogate", log_every=1, stop_fn=no_improvement)
    history: dict[str, list[float]] = {}
    for entry in result.history:
        for name, value in entry.items():
            history.setdefault(name, []).append(value)
    params = result.state.params
    metrics, speedup = evaluate_surrogate_pairs(model, params, val_pairs, scfg.k_max,
                                                expert_config=expert_config)
    logger.log("surrogate_trained", metrics=metrics, speedup=speedup)
    return SurrogateModelResult(model, params, history, metrics, speedup)
