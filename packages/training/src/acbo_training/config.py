"""The training run's own settings (seed, split, checkpoints, precision).

Read and written, like every layer's configs, with :mod:`acbo_core.configs`.
"""

from __future__ import annotations

from typing import Any

from acbo_core.configs import choice, configclass, flag, integer, number, seeds

__all__ = ["TrainingConfig", "compute_precision"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

MAX_TRAJECTORIES = 100_000
"""Most PARENT_SCALE runs a configuration may ask for: every run is loaded into memory for
training (about 100 kB each at the default sizes)."""


@configclass
class TrainingConfig:
    """Overall training configuration.

    Attributes:
      n_expert_trajectories: PARENT_SCALE runs to generate for training.
      validation_split: fraction of SCMs held out for validation (split by SCM, never by step).
      random_seed: seed of every random choice of a run; the same seed gives the same result.
      save_checkpoints: write checkpoints during training (needed to resume).
      checkpoint_frequency: optimisation steps between checkpoints.
      use_mixed_precision: compute in bfloat16 where supported (parameters stay float32).
      log_level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR`` for terminal output; the JSONL
        log always records everything.
    """

    n_expert_trajectories: int = integer(1000, 1, MAX_TRAJECTORIES)
    validation_split: float = number(0.2, 0.0, 1.0, high_open=True)
    random_seed: int = seeds(42)
    save_checkpoints: bool = flag(True)
    checkpoint_frequency: int = integer(10, 1)
    use_mixed_precision: bool = flag(False)
    log_level: str = choice("INFO", LOG_LEVELS)


def compute_precision(config: TrainingConfig) -> Any:
    """A context in which training computes matrix products in bfloat16 when
    ``config.use_mixed_precision`` (on accelerators that support it; CPUs keep float32), with
    parameters and optimiser state kept in float32."""
    import jax

    return jax.default_matmul_precision("bfloat16" if config.use_mixed_precision else None)
