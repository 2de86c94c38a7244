"""acbo: the trained ACBO system, its evaluation, and the ``acbo-train`` command line.

The top layer of ACBO. :class:`TrainedACBOSystem` joins the amortized surrogate (posterior over
the target's parent sets in one forward pass) and the acquisition policy (imitation of
PARENT_SCALE, then GRPO) into a system that optimises a new SCM at once::

    import jax, acbo, acbo_core as ac
    system = acbo.load_system("runs/quickstart/system")
    scm = ac.erdos_renyi_scm(8, key=jax.random.key(1))
    result = system.run_optimization(scm, n_steps=15, key=jax.random.key(0))
    print(result.best_intervention())

Evaluation against per-graph PARENT_SCALE, random and oracle runs through one harness
(:func:`evaluate_system_performance`), and ``acbo-train run`` does everything end to end:
demonstrations, training, evaluation, report.
"""

from acbo.benchmark import BenchmarkConfig, run_benchmark
from acbo.benchmark_families import FAMILIES, Family
from acbo.benchmark_report import write_benchmark
from acbo.config import ACBOConfig, EvaluationConfig, default_config_text, load_config
from acbo.deployment import (
    ACBOPipeline,
    DeployedACBOSystem,
    DeploymentConfig,
    deploy_trained_system,
    integrate_with_existing_pipeline,
)
from acbo.evaluation import (
    BASELINES,
    EvaluationReport,
    OptimizationScenario,
    RunSummary,
    evaluate_acquisition_performance,
    evaluate_methods,
    evaluate_surrogate_accuracy,
    evaluate_system_performance,
    gap_curve,
    scenarios_from_trajectories,
    system_fingerprint,
    true_optimum,
)
from acbo.networks import NETWORKS, network_scm, network_targets
from acbo.persistence import (
    PRETRAINED,
    SYSTEM_FORMAT_VERSION,
    load_pretrained,
    load_system,
    save_system,
)
from acbo.report import Criterion, read_report, write_report
from acbo.system import DecisionConfig, OnlineConfig, OptimizationResult, TrainedACBOSystem
from acbo.target_model import model_tables
from acbo.truth import Truth, problem_truth, true_means

__version__ = "0.1.0"

__all__ = [
    "TrainedACBOSystem", "OptimizationResult", "OnlineConfig", "DecisionConfig", "model_tables",
    "save_system", "load_system", "load_pretrained", "PRETRAINED", "SYSTEM_FORMAT_VERSION",
    "DeploymentConfig", "DeployedACBOSystem", "deploy_trained_system", "ACBOPipeline",
    "integrate_with_existing_pipeline",
    "EvaluationReport", "RunSummary", "OptimizationScenario", "BASELINES", "true_optimum",
    "gap_curve", "evaluate_methods", "evaluate_system_performance",
    "evaluate_surrogate_accuracy", "evaluate_acquisition_performance",
    "scenarios_from_trajectories", "system_fingerprint",
    "Criterion", "write_report", "read_report",
    "ACBOConfig", "EvaluationConfig", "load_config", "default_config_text",
    "BenchmarkConfig", "run_benchmark", "write_benchmark", "FAMILIES",
    "Family", "Truth", "problem_truth", "true_means", "NETWORKS", "network_scm",
    "network_targets",
]
