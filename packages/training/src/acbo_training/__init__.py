"""acbo-training: expert demonstrations at scale and the training pipelines of ACBO."""

from acbo_training.config import (
    TrainingConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_toml,
)
from acbo_training.errors import (
    ConfigError,
    CorruptShardError,
    DatasetMismatchError,
    TaskFailedError,
)
from acbo_training.executors import EXECUTORS, run_tasks
from acbo_training.runlog import RunLogger

__version__ = "0.1.0"

__all__ = [
    "TrainingConfig", "config_from_dict", "config_to_dict", "load_toml", "apply_overrides",
    "ConfigError", "CorruptShardError", "DatasetMismatchError", "TaskFailedError",
    "EXECUTORS", "run_tasks", "RunLogger",
]
