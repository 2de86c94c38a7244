"""The configuration of an ``acbo-train`` run: one TOML table per part, all optional.

``[training]``, ``[demonstrations]``, ``[expert]``, ``[surrogate]``, ``[acquisition]`` are the
training layer's (:class:`acbo_training.PipelineConfig`); ``[online]`` is the system's online
GRPO, ``[decision]`` how its policy's proposal becomes an intervention, and
``[evaluation]`` what the report measures. The embedded default
(``acbo/configs/quickstart.toml``) is what ``acbo-train run`` uses without ``--config``: a run
sized to finish in about a quarter of an hour on two CPU cores (14 min measured).
"""

from __future__ import annotations

import importlib.resources
import pathlib
from collections.abc import Sequence
from typing import Any

import acbo_acquisition as aq
from acbo.evaluation import _ALIASES, BASELINES
from acbo.system import DecisionConfig, OnlineConfig
from acbo_core.configs import (
    apply_overrides,
    choice,
    configclass,
    flag,
    from_dict,
    integer,
    load_toml,
    section,
    seeds,
    sequence,
)
from acbo_core.errors import ConfigError
from acbo_expert import ParentScaleConfig
from acbo_expert.config import MAX_T
from acbo_training import (
    DemonstrationConfig,
    PipelineConfig,
    SurrogateTrainingConfig,
    TrainingConfig,
)
from acbo_training.demonstrations import MAX_N_VARS
from acbo_training.pipelines import check_problem_size

__all__ = ["EvaluationConfig", "ACBOConfig", "load_config", "default_config_text",
           "embedded_configs", "DEFAULT_CONFIG_NAME"]

DEFAULT_CONFIG_NAME = "quickstart.toml"

BASELINE_METHODS = (*_ALIASES, *BASELINES)
"""What ``evaluation.baseline_method`` may name (aliases of PARENT_SCALE included)."""


@configclass
class EvaluationConfig:
    """What the evaluation measures.

    Attributes:
      n_test_scms: held-out SCMs from the training distribution (never used in training).
      seeds: one paired run per seed and test SCM for every method.
      n_steps: interventions per run (0: ``expert.T``).
      baseline_method: the reference (``"per_graph_training"``: PARENT_SCALE per graph).
      baselines: the methods run besides the system.
      use_online_grpo: the system fine-tunes its policy during evaluation runs.
      compare_cold_start: also train the policy by GRPO from a fresh initialisation, for the
        report's warm-start-versus-cold-start criterion (costs a second GRPO run).
      n_transfer_scms: SCMs per size for the surrogate's transfer test.
      transfer_factor: the transfer test's graphs have this many times the largest training
        size.
      transfer_int_samples: interventional samples (besides ``expert.n_obs`` observational)
        in the transfer test's data.
    """

    n_test_scms: int = integer(4, 1, 10_000)
    seeds: tuple[int, ...] = seeds((0, 1))
    n_steps: int = integer(0, 0, MAX_T)
    baseline_method: str = choice("per_graph_training", BASELINE_METHODS)
    baselines: tuple[str, ...] = sequence(("parent_scale", "random", "oracle"),
                                          choice("random", tuple(BASELINES)))
    use_online_grpo: bool = flag(False)
    compare_cold_start: bool = flag(True)
    n_transfer_scms: int = integer(6, 1, 10_000)
    transfer_factor: int = integer(2, 1, MAX_N_VARS)
    transfer_int_samples: int = integer(20, 0, 1_000_000)


@configclass
class ACBOConfig:
    """Everything ``acbo-train`` needs (see the module docstring)."""

    training: TrainingConfig = section(TrainingConfig())
    demonstrations: DemonstrationConfig = section(DemonstrationConfig())
    expert: ParentScaleConfig = section(ParentScaleConfig())
    surrogate: SurrogateTrainingConfig = section(SurrogateTrainingConfig())
    acquisition: aq.AcquisitionConfig = section(aq.AcquisitionConfig())
    online: OnlineConfig = section(OnlineConfig())
    decision: DecisionConfig = section(DecisionConfig())
    evaluation: EvaluationConfig = section(EvaluationConfig())

    def _check(self) -> None:
        self.pipeline()  # the training layer's checks across tables
        hi = self.demonstrations.distribution.n_vars[1]
        d = hi * self.evaluation.transfer_factor
        if d > MAX_N_VARS:
            raise ConfigError(
                f"evaluation.transfer_factor = {self.evaluation.transfer_factor} x "
                f"demonstrations.distribution.n_vars[1] = {hi} gives transfer-test graphs of {d} "
                f"variables, more than the limit {MAX_N_VARS}: lower one of them")
        check_problem_size("evaluation.transfer_factor x demonstrations.distribution.n_vars[1]",
                           d, self.expert, self.surrogate, training=False)

    def pipeline(self) -> PipelineConfig:
        """The training layer's part."""
        return PipelineConfig(self.training, self.demonstrations, self.expert, self.surrogate,
                              self.acquisition)


def embedded_configs() -> tuple[str, ...]:
    """Names of the configurations shipped inside the package (``-c NAME`` loads one)."""
    folder = importlib.resources.files("acbo") / "configs"
    return tuple(sorted(f.name.removesuffix(".toml") for f in folder.iterdir()
                        if f.name.endswith(".toml")))


def default_config_text(name: str = DEFAULT_CONFIG_NAME) -> str:
    """An embedded configuration (TOML), the default one unless ``name`` is given."""
    file = name if name.endswith(".toml") else f"{name}.toml"
    return (importlib.resources.files("acbo") / "configs" / file).read_text()


def load_config(path: str | pathlib.Path | None = None, overrides: Sequence[str] = ()
                ) -> ACBOConfig:
    """Reads a TOML file (default: the embedded quick start; the name of another embedded one,
    e.g. ``"generalist"``, loads that) and ``table.key=value`` overrides.

    Raises:
      ConfigError: a missing or malformed file, an unknown table or key (named), a value of
        the wrong type or out of range.
    """
    import tomllib

    name = None if path is None else str(path)
    if name is None or (not pathlib.Path(name).exists()
                        and name.removesuffix(".toml") in embedded_configs()):
        data: dict[str, Any] = tomllib.loads(default_config_text(name or DEFAULT_CONFIG_NAME))
    else:
        data = load_toml(name)
    return from_dict(ACBOConfig, apply_overrides(data, list(overrides)))
