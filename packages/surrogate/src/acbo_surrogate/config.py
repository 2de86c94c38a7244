"""Hyperparameters of the surrogate: the network, the training step, shape buckets.

Every field is a plain Python value; configs are frozen and hashable, so they can be static
arguments of jitted functions and round-trip through a checkpoint's JSON sidecar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from acbo_core.config_checks import check_finite, check_number
from acbo_core.errors import SchemaError

__all__ = ["ModelConfig", "TrainConfig", "SurrogateConfig", "bucket_n", "bucket_d"]


@dataclasses.dataclass(frozen=True)
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

    k_max: int = 3
    cell_dim: int = 8
    cell_layers: int = 1
    cell_heads: int = 1
    inducing_points: int = 8
    moment_channels: int = 16
    pair_dim: int = 32
    var_dim: int = 64
    var_layers: int = 3
    var_heads: int = 4
    ridges: tuple[float, ...] = (0.05, 0.5)
    widening: int = 2

    def __post_init__(self) -> None:
        check_finite(self, error=SchemaError)
        for name in ("cell_dim", "cell_heads", "inducing_points", "moment_channels", "pair_dim",
                     "var_dim", "var_heads", "widening"):
            if int(getattr(self, name)) < 1:
                raise SchemaError(f"ModelConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("k_max", "cell_layers", "var_layers"):
            if int(getattr(self, name)) < 0:
                raise SchemaError(f"ModelConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.cell_dim % self.cell_heads or self.var_dim % self.var_heads:
            raise SchemaError("cell_dim and var_dim must be divisible by their head counts")
        if not self.ridges or any(r <= 0 for r in self.ridges):
            raise SchemaError(f"ModelConfig.ridges must be positive, got {self.ridges}")
        object.__setattr__(self, "ridges", tuple(float(r) for r in self.ridges))


@dataclasses.dataclass(frozen=True)
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

    learning_rate: float = 1e-3
    warmup_steps: int = 100
    total_steps: int = 5000
    end_lr_fraction: float = 0.05
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    kl_weight: float = 1.0
    set_nll_weight: float = 1.0
    bce_weight: float = 1.0

    def __post_init__(self) -> None:
        check_finite(self, error=SchemaError)
        if self.learning_rate <= 0 or self.total_steps < 1 or self.warmup_steps < 0:
            raise SchemaError("TrainConfig needs learning_rate > 0, total_steps >= 1, "
                              "warmup_steps >= 0")
        for name in ("kl_weight", "set_nll_weight", "bce_weight", "weight_decay"):
            check_number(self, name, 0.0, error=SchemaError)
        check_number(self, "end_lr_fraction", 0.0, 1.0, error=SchemaError)
        check_number(self, "clip_norm", 0.0, low_open=True, error=SchemaError)


@dataclasses.dataclass(frozen=True)
class SurrogateConfig:
    """Model and training configuration together (what a checkpoint stores).

    Attributes:
      model: the architecture.
      train: the optimiser and losses.
    """

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["model"]["ridges"] = list(self.model.ridges)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SurrogateConfig:
        """Inverse of :meth:`to_json`.

        Raises:
          SchemaError: unknown or missing fields.
        """
        try:
            model = dict(data["model"])
            model["ridges"] = tuple(model.get("ridges", ModelConfig.ridges))
            return cls(ModelConfig(**model), TrainConfig(**dict(data["train"])))
        except (KeyError, TypeError) as err:
            raise SchemaError(f"bad surrogate config: {err}") from None


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
