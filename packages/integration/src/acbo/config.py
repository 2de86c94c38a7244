"""The configuration of an ``acbo-train`` run: one TOML table per part, all optional.

``[training]``, ``[demonstrations]``, ``[expert]``, ``[surrogate]``, ``[acquisition]`` are the
training layer's (:class:`acbo_training.PipelineConfig`); ``[online]`` is the system's online
GRPO and ``[evaluation]`` what the report measures. The embedded default
(``acbo/configs/quickstart.toml``) is what ``acbo-train run`` uses without ``--config``: a run
sized to finish in about a quarter of an hour on two CPU cores (14 min measured).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import pathlib
from collections.abc import Sequence
from typing import Any

import acbo_acquisition as aq
from acbo.system import OnlineConfig
from acbo_core.errors import ConfigError
from acbo_expert import ParentScaleConfig
from acbo_training import (
    DemonstrationConfig,
    PipelineConfig,
    SurrogateConfig,
    TrainingConfig,
    apply_overrides,
    config_from_dict,
    load_toml,
)

__all__ = ["EvaluationConfig", "ACBOConfig", "load_config", "default_config_text",
           "DEFAULT_CONFIG_NAME"]

DEFAULT_CONFIG_NAME = "quickstart.toml"


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """What the evaluation measures.

    Attributes:
      n_test_scms: held-out SCMs from the training distribution (never used in training).
      seeds: one paired run per seed and test SCM for every method.
      n_steps: interventions per run (0: ``expert.T``).
      baseline_method: the reference (``"per_graph_training"``: PARENT_SCALE per graph).
      baselines: the methods run besides the system.
      use_online_grpo: the system fine-tunes its policy during evaluation runs.
      n_transfer_scms: SCMs per size for the surrogate's transfer test.
      transfer_factor: the transfer test's graphs have this many times the largest training
        size.
      transfer_int_samples: interventional samples (besides ``expert.n_obs`` observational)
        in the transfer test's data.
    """

    n_test_scms: int = 4
    seeds: tuple[int, ...] = (0, 1)
    n_steps: int = 0
    baseline_method: str = "per_graph_training"
    baselines: tuple[str, ...] = ("parent_scale", "random", "oracle")
    use_online_grpo: bool = True
    n_transfer_scms: int = 6
    transfer_factor: int = 2
    transfer_int_samples: int = 20

    def __post_init__(self) -> None:
        for name in ("n_test_scms", "n_transfer_scms", "transfer_factor"):
            if getattr(self, name) < 1:
                raise ConfigError(f"evaluation.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_steps < 0 or self.transfer_int_samples < 0:
            raise ConfigError("evaluation.n_steps and evaluation.transfer_int_samples must be "
                              ">= 0")
        if not self.seeds:
            raise ConfigError("evaluation.seeds must list at least one seed")


@dataclasses.dataclass(frozen=True)
class ACBOConfig:
    """Everything ``acbo-train`` needs (see the module docstring)."""

    training: TrainingConfig = TrainingConfig()
    demonstrations: DemonstrationConfig = DemonstrationConfig()
    expert: ParentScaleConfig = ParentScaleConfig()
    surrogate: SurrogateConfig = SurrogateConfig()
    acquisition: aq.AcquisitionConfig = aq.AcquisitionConfig()
    online: OnlineConfig = OnlineConfig()
    evaluation: EvaluationConfig = EvaluationConfig()

    def pipeline(self) -> PipelineConfig:
        """The training layer's part."""
        return PipelineConfig(self.training, self.demonstrations, self.expert, self.surrogate,
                              self.acquisition)


def default_config_text() -> str:
    """The embedded default configuration (TOML)."""
    return (importlib.resources.files("acbo") / "configs" / DEFAULT_CONFIG_NAME).read_text()


def load_config(path: str | pathlib.Path | None = None, overrides: Sequence[str] = ()
                ) -> ACBOConfig:
    """Reads a TOML file (default: the embedded one) and ``table.key=value`` overrides.

    Raises:
      ConfigError: a missing or malformed file, an unknown table or key (named), a value of
        the wrong type or out of range.
    """
    if path is None:
        import tomllib

        data: dict[str, Any] = tomllib.loads(default_config_text())
    else:
        data = load_toml(path)
    return config_from_dict(ACBOConfig, apply_overrides(data, list(overrides)))
