"""acbo-training: expert demonstrations at scale and the training pipelines of ACBO."""

from acbo_training.acquisition_pipeline import (
    AcquisitionModelResult,
    AcquisitionTrainingExample,
    extract_acquisition_training_data,
    train_acquisition_with_expert_warmstart,
    updates_to_reach,
)
from acbo_training.config import TrainingConfig
from acbo_training.demonstrations import (
    DemonstrationSet,
    SCMDistribution,
    generate_demonstrations,
    load_demonstrations,
    load_expert_trajectories,
    record_to_result,
    result_to_record,
    run_shard,
)
from acbo_training.errors import (
    ConfigError,
    CorruptShardError,
    DatasetMismatchError,
    TaskFailedError,
)
from acbo_training.executors import EXECUTORS, run_tasks
from acbo_training.loop import LoopResult, TrainingInterrupted, run_training
from acbo_training.parallel import data_mesh, replicate, shard_batch
from acbo_training.pipelines import (
    DemonstrationConfig,
    PipelineConfig,
    Split,
    generate_from_config,
    load_pipeline_config,
    train_acquisition_component,
    train_surrogate_component,
    train_validation_split,
)
from acbo_training.runlog import RunLogger, machine_info
from acbo_training.surrogate_pipeline import (
    SurrogateModelResult,
    SurrogateTrainingConfig,
    SurrogateTrainingExample,
    evaluate_surrogate_pairs,
    expert_posterior_fn,
    extract_surrogate_training_data,
    train_surrogate_with_expert_data,
)
from acbo_training.trajectories import (
    ExpertTrajectory,
    InvalidTrajectoryError,
    TrajectoryStep,
    extract_expert_demonstrations,
    extract_expert_trajectory,
    extract_multiple_trajectories,
    graph_id,
    split_by_graph,
    validate_trajectory_consistency,
)

__version__ = "0.1.0"

__all__ = [
    "TrainingConfig",
    "ConfigError", "CorruptShardError", "DatasetMismatchError", "TaskFailedError",
    "EXECUTORS", "run_tasks", "RunLogger", "machine_info",
    "TrainingInterrupted", "LoopResult", "run_training",
    "data_mesh", "replicate", "shard_batch",
    "SCMDistribution", "DemonstrationSet", "generate_demonstrations", "load_demonstrations",
    "load_expert_trajectories", "result_to_record", "record_to_result", "run_shard",
    "ExpertTrajectory", "TrajectoryStep", "InvalidTrajectoryError", "extract_expert_trajectory",
    "validate_trajectory_consistency", "extract_multiple_trajectories",
    "extract_expert_demonstrations", "graph_id",
    "AcquisitionTrainingExample", "AcquisitionModelResult", "extract_acquisition_training_data",
    "train_acquisition_with_expert_warmstart", "updates_to_reach", "split_by_graph",
    "SurrogateTrainingConfig", "SurrogateTrainingExample", "SurrogateModelResult",
    "extract_surrogate_training_data", "train_surrogate_with_expert_data",
    "evaluate_surrogate_pairs", "expert_posterior_fn",
    "PipelineConfig", "DemonstrationConfig", "load_pipeline_config", "generate_from_config",
    "train_validation_split", "Split",
    "train_surrogate_component", "train_acquisition_component",
]
