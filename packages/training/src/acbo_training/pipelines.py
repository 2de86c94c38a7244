"""Training each component from expert trajectories, and the pipeline's configuration.

``train_surrogate_component`` trains the surrogate on the (data -> expert posterior) pairs of
the training graphs; ``train_acquisition_component`` re-labels every decision state with the
surrogate's posterior (what the policy sees once deployed) and trains the policy by imitation
then GRPO. Both split the trajectories by graph the same way (``train_validation_split``). The
``acbo`` job (``acbo-train train``) runs the two in order and wraps them into a
``TrainedACBOSystem``.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax

import acbo_acquisition as aq
from acbo_core import ExperienceBuffer, ParentSetPosterior
from acbo_core.configs import (
    apply_overrides,
    choice,
    configclass,
    from_dict,
    integer,
    load_toml,
    section,
    text,
)
from acbo_expert import ParentScaleConfig
from acbo_training.acquisition_pipeline import (
    AcquisitionModelResult,
    extract_acquisition_training_data,
    train_acquisition_with_expert_warmstart,
)
from acbo_training.config import MAX_TRAJECTORIES, TrainingConfig, compute_precision
from acbo_training.demonstrations import DemonstrationSet, SCMDistribution, generate_demonstrations
from acbo_training.errors import ConfigError
from acbo_training.executors import EXECUTORS
from acbo_training.runlog import RunLogger
from acbo_training.surrogate_pipeline import (
    MAX_PARENT_SETS,
    SurrogateModelResult,
    SurrogateTrainingConfig,
    check_surrogate_size,
    extract_surrogate_training_data,
    n_parent_sets,
    train_surrogate_with_expert_data,
)
from acbo_training.trajectories import ExpertTrajectory, split_by_graph

__all__ = [
    "PipelineConfig",
    "DemonstrationConfig",
    "load_pipeline_config",
    "generate_from_config",
    "Split",
    "train_validation_split",
    "train_surrogate_component",
    "train_acquisition_component",
]


class Split(NamedTuple):
    """A run's demonstrations split by graph (:func:`train_validation_split`): computed once per
    run and passed to every stage, so each trains and measures on the same graphs.

    Attributes:
      train: the trajectories trained on.
      validation: those of held-out graphs (the training ones when no graph is held out).
    """

    train: list[ExpertTrajectory]
    validation: list[ExpertTrajectory]


def train_validation_split(trajectories: Sequence[ExpertTrajectory], config: TrainingConfig
                           ) -> Split:
    """The run's split by graph (``config.validation_split``, key ``config.random_seed``);
    with no held-out graph, validation falls back to the training trajectories."""
    train, val = split_by_graph(trajectories, config.validation_split,
                                key=jax.random.key(config.random_seed))
    return Split(list(train), list(val or train))


def train_surrogate_component(
    split: Split,
    config: SurrogateTrainingConfig | None = None,
    *,
    training_config: TrainingConfig | None = None,
    checkpoint_dir: str | pathlib.Path | None = None,
    logger: RunLogger | None = None,
    expert_config: ParentScaleConfig | None = None,
) -> SurrogateModelResult:
    """Trains only the surrogate (validation on the split's held-out graphs);
    ``expert_config`` is the demonstrations' expert settings, for the speed-up measurement."""
    tcfg = training_config or TrainingConfig()
    return train_surrogate_with_expert_data(
        extract_surrogate_training_data(split.train), config, tcfg,
        validation_examples=extract_surrogate_training_data(split.validation),
        checkpoint_dir=checkpoint_dir, logger=logger, expert_config=expert_config)


def train_acquisition_component(
    split: Split,
    config: aq.AcquisitionConfig | None = None,
    *,
    posterior_fn: Callable[[ExperienceBuffer, str], ParentSetPosterior] | None = None,
    training_config: TrainingConfig | None = None,
    compare_cold_start: bool = False,
    checkpoint_dir: str | pathlib.Path | None = None,
    logger: RunLogger | None = None,
) -> AcquisitionModelResult:
    """Trains only the policy; its states carry ``posterior_fn``'s posteriors when given (the
    trained surrogate's ``predict_posterior``, as the deployed system will see them), else the
    expert's."""
    tcfg = training_config or TrainingConfig()
    with compute_precision(tcfg):
        return train_acquisition_with_expert_warmstart(
            extract_acquisition_training_data(split.train, posterior_fn),
            config, key=jax.random.key(tcfg.random_seed + 1),
            validation_examples=extract_acquisition_training_data(split.validation,
                                                                  posterior_fn),
            compare_cold_start=compare_cold_start,
            checkpoint_dir=checkpoint_dir if tcfg.save_checkpoints else None,
            checkpoint_frequency=tcfg.checkpoint_frequency, logger=logger)


MAX_SHARD_SIZE = 10_000
"""Most runs per shard (a shard is written, and read back, as one file)."""
MAX_WORKERS = 1024
"""Largest local process pool (each worker holds its own JAX runtime, about 400 MB)."""


@configclass
class DemonstrationConfig:
    """Where demonstrations come from and how they are generated.

    Attributes:
      n: number of PARENT_SCALE runs (overrides ``training.n_expert_trajectories`` when > 0).
      distribution: the SCMs to run on.
      executor: ``"local"``, ``"ray"`` or ``"inline"``.
      shard_size: runs per shard.
      max_workers: local pool size (0: one per core).
      ray_address: an existing Ray cluster ("" starts or reuses a local one).
    """

    n: int = integer(0, 0, MAX_TRAJECTORIES)
    distribution: SCMDistribution = section(SCMDistribution())
    executor: str = choice("local", EXECUTORS)
    shard_size: int = integer(4, 1, MAX_SHARD_SIZE)
    max_workers: int = integer(0, 0, MAX_WORKERS)
    ray_address: str = text("")


def check_problem_size(where: str, d: int, expert: ParentScaleConfig,
                       surrogate: SurrogateTrainingConfig, *, training: bool = True) -> None:
    """Checks that problems of ``d`` variables fit the expert and the surrogate.

    Args:
      where: the key the size comes from, named in the message.
      d: number of variables.
      expert: uses ``k_max`` and ``n_obs`` (the regressions need at least as many samples as
        features), ``n_int``, ``T`` and ``samples_per_step`` (rows of a training example).
      surrogate: uses ``k_max`` and ``batch_size``.
      training: the surrogate trains on such problems (checks the size of a training batch);
        ``False``: it only predicts on them.

    Raises:
      ConfigError: naming the keys and the limit.
    """
    n_expert = n_parent_sets(d - 1, expert.k_max)
    if n_expert > MAX_PARENT_SETS:
        raise ConfigError(f"{where} = {d} with expert.k_max = {expert.k_max} gives {n_expert} "
                          f"candidate parent sets, more than the limit {MAX_PARENT_SETS}: lower "
                          "one of them")
    needed = max(expert.n_features(d - 1), 2)
    if expert.n_obs < needed:
        raise ConfigError(
            f"expert.n_obs = {expert.n_obs} is too few for {where} = {d}: the expert's "
            f"{expert.features} regressions need at least {needed} observational samples")
    if training:
        check_surrogate_size(
            where, d, surrogate.k_max, batch="surrogate.batch_size",
            batch_size=surrogate.batch_size,
            rows=expert.n_obs + expert.n_int * d + expert.T * expert.samples_per_step,
            rows_from=f"expert.n_obs + expert.n_int x {d} + expert.T x expert.samples_per_step")
    else:
        check_surrogate_size(where, d, surrogate.k_max)


@configclass
class PipelineConfig:
    """Everything a training run needs, one TOML table per part.

    Attributes:
      training: the run's :class:`TrainingConfig`.
      demonstrations: how demonstrations are generated.
      expert: PARENT_SCALE's settings.
      surrogate: the surrogate's training.
      acquisition: the policy and its training.
    """

    training: TrainingConfig = section(TrainingConfig())
    demonstrations: DemonstrationConfig = section(DemonstrationConfig())
    expert: ParentScaleConfig = section(ParentScaleConfig())
    surrogate: SurrogateTrainingConfig = section(SurrogateTrainingConfig())
    acquisition: aq.AcquisitionConfig = section(aq.AcquisitionConfig())

    def _check(self) -> None:
        check_problem_size("demonstrations.distribution.n_vars",
                           self.demonstrations.distribution.n_vars[1], self.expert,
                           self.surrogate)


def load_pipeline_config(path: str | pathlib.Path | None = None,
                         overrides: Sequence[str] = ()) -> PipelineConfig:
    """Reads a TOML file (every table optional) and ``section.key=value`` overrides.

    Raises:
      ConfigError: a missing or malformed file, an unknown key (named with its table), or an
        invalid value.
    """
    data = load_toml(path) if path is not None else {}
    return from_dict(PipelineConfig, apply_overrides(data, list(overrides)))


def generate_from_config(config: PipelineConfig, output_dir: str | pathlib.Path, *,
                         logger: RunLogger | None = None) -> DemonstrationSet:
    """Generates the demonstrations a :class:`PipelineConfig` describes.

    The number of runs is ``demonstrations.n`` when > 0, else
    ``training.n_expert_trajectories``; the key is ``training.random_seed``.
    """
    demo = config.demonstrations
    return generate_demonstrations(
        demo.distribution, demo.n or config.training.n_expert_trajectories,
        key=jax.random.key(config.training.random_seed), executor=demo.executor,
        output_dir=output_dir, config=config.expert, shard_size=demo.shard_size,
        max_workers=demo.max_workers or None, ray_address=demo.ray_address or None,
        logger=logger)
