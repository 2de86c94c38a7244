"""Hyperparameters of the surrogate: the network, the training step, shape buckets.

Every field is a plain Python value; configs are frozen and hashable, so they can be static
arguments of jitted functions and round-trip through a checkpoint's JSON sidecar
(:func:`acbo_core.configs.to_dict` / :func:`~acbo_core.configs.from_dict`).
"""

from __future__ import annotations

from acbo_core.configs import configclass, integer, number, section, sequence
from acbo_core.errors import ConfigError

__all__ = ["ModelConfig", "TrainConfig", "SurrogateConfig", "bucket_n", "bucket_d"]


@configclass
class ModelConfig:
    """The ParentSetPredictionModel's architecture.

    Attributes:
      k_max: largest parent set the model scores (PARENT_SCALE's default is 3).
      cell_dim: width of the per-(sample, variable) cell embeddings.
      cell_layers: alternating blocks (attention over samples, then over variables).
      cell_heads: attention heads in the cell blocks.
      inducing_points: learned points through which the cell blocks' attention over samples
        and over variables is routed (ISAB).
      moment_channels: learned second-moment channels pooled over samples into pair features.
      pair_dim: width of the per-(variable, variable) pair embedding.
      var_dim: width of the per-variable tokens after pooling over samples.
      var_layers: pair-biased attention blocks over variables.
      var_heads: attention heads in the variable blocks.
      ridges: ridge terms added to the correlation matrix before inverting it into partial
        correlations; several, because the right amount depends on d / N.
      widening: hidden width of every feed-forward block, as a multiple of its input width.
    """

    k_max: int = integer(3, 0)
    cell_dim: int = integer(8, 1)
    cell_layers: int = integer(1, 0)
    cell_heads: int = integer(1, 1)
    inducing_points: int = integer(8, 1)
    moment_channels: int = integer(16, 1)
    pair_dim: int = integer(32, 1)
    var_dim: int = integer(64, 1)
    var_layers: int = integer(3, 0)
    var_heads: int = integer(4, 1)
    ridges: tuple[float, ...] = sequence((0.05, 0.5), number(0.1, 0.0, low_open=True),
                                         min_items=1)
    widening: int = integer(2, 1)

    def _check(self) -> None:
        if self.cell_dim % self.cell_heads or self.var_dim % self.var_heads:
            raise ConfigError("ModelConfig: cell_dim and var_dim must be divisible by their "
                              "head counts")


@configclass
class TrainConfig:
    """The optimiser and the loss mixture.

    Attributes:
      learning_rate: peak learning rate of the warmup-cosine schedule.
      warmup_steps: linear warmup from 0 to ``learning_rate``.
      total_steps: length of the cosine decay (the schedule's horizon).
      end_lr_fraction: final learning rate as a fraction of the peak.
      weight_decay: AdamW's decoupled weight decay.
      clip_norm: global gradient-norm clipping threshold.
      kl_weight: weight of KL(expert posterior || model) over parent sets, on examples that
        carry an expert posterior.
      set_nll_weight: weight of -log q(true parent set), on examples whose true set is a
        candidate (size <= k_max).
      bce_weight: weight of the per-variable binary cross-entropy of the model's marginal
        parent probabilities against the true parents.
    """

    learning_rate: float = number(1e-3, 0.0, low_open=True)
    warmup_steps: int = integer(100, 0)
    total_steps: int = integer(5000, 1)
    end_lr_fraction: float = number(0.05, 0.0, 1.0)
    weight_decay: float = number(1e-4, 0.0)
    clip_norm: float = number(1.0, 0.0, low_open=True)
    kl_weight: float = number(1.0, 0.0)
    set_nll_weight: float = number(1.0, 0.0)
    bce_weight: float = number(1.0, 0.0)


@configclass
class SurrogateConfig:
    """Model and training configuration together (what a checkpoint stores).

    Attributes:
      model: the architecture.
      train: the optimiser and losses.
    """

    model: ModelConfig = section(ModelConfig())
    train: TrainConfig = section(TrainConfig())


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


def bucket_n(n: int) -> int:
    """Padded number of samples: multiples of 32 up to 256, of 64 up to 512, then of 256.

    Fewer distinct shapes means fewer compilations; the padding costs at most about a third
    of the compute (a quarter above 64 samples).
    """
    if n <= 256:
        return max(32, _round_up(n, 32))
    if n <= 512:
        return _round_up(n, 64)
    return _round_up(n, 256)


def bucket_d(d: int) -> int:
    """Padded number of variables: multiples of 4 up to 32, of 8 up to 64, then of 16."""
    if d <= 32:
        return max(4, _round_up(d, 4))
    if d <= 64:
        return _round_up(d, 8)
    return _round_up(d, 16)
