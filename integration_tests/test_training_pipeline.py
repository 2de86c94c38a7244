"""The whole training pipeline on tiny settings: demonstrations -> trajectories -> both models."""

import math

import jax
import numpy as np

import acbo_acquisition as aq
from acbo_expert import ParentScaleConfig
from acbo_training import (
    SCMDistribution,
    SurrogateTrainingConfig,
    TrainingConfig,
    generate_demonstrations,
    graph_id,
    load_expert_trajectories,
    train_acquisition_component,
    train_surrogate_component,
    train_validation_split,
    validate_trajectory_consistency,
)

TINY_EXPERT = ParentScaleConfig(n_obs=40, n_int=1, T=3, grid_size=16, refine_size=4, gp_steps=2,
                                gp_ensemble=1)
TINY_POLICY = aq.AcquisitionConfig(
    policy=aq.PolicyConfig(hidden_dim=16, n_layers=1, n_heads=2, n_value_bins=5),
    grpo=aq.GRPOConfig(group_size=4, batch_size=4),
    imitation=aq.ImitationConfig(imitation_epochs=2, batch_size=8), max_grpo_epochs=1)
TINY_SURROGATE = SurrogateTrainingConfig(model_hidden_dim=16, model_n_layers=1, batch_size=8,
                                         max_epochs=2, validation_frequency=1)


def test_demonstrations_to_trained_components(tmp_path):
    generate_demonstrations(SCMDistribution(n_vars=(4, 5)), 4, key=jax.random.key(0),
                            executor="inline", output_dir=tmp_path / "demos", config=TINY_EXPERT,
                            shard_size=2)
    trajectories = load_expert_trajectories(tmp_path / "demos")
    assert len(trajectories) == 4
    assert all(validate_trajectory_consistency(t, raise_on_error=True) for t in trajectories)
    tcfg = TrainingConfig(validation_split=0.25, random_seed=3, checkpoint_frequency=2)
    split = train_validation_split(trajectories, tcfg)
    assert len(split.train) == 3 and len(split.validation) == 1  # by graph, once, for both
    assert not {graph_id(t.scm) for t in split.train} & {graph_id(t.scm) for t in split.validation}
    sur = train_surrogate_component(split, TINY_SURROGATE, training_config=tcfg,
                                    checkpoint_dir=tmp_path / "ckpt" / "surrogate")
    acq = train_acquisition_component(split, TINY_POLICY, posterior_fn=sur.predict_posterior,
                                      training_config=tcfg,
                                      compare_cold_start=True,
                                      checkpoint_dir=tmp_path / "ckpt" / "acquisition")
    assert sur.training_history["step"][-1] > 0 and "val_loss" in sur.training_history
    assert 0.0 <= sur.validation_metrics["f1"] <= 1.0 and sur.speedup_estimate > 0
    assert acq.bc_history and acq.grpo_history and acq.cold_start_convergence
    assert 0.0 <= acq.validation_metrics["bc_agreement"] <= 1.0
    assert all(math.isfinite(v) for _, v in acq.convergence)
    assert (tmp_path / "ckpt" / "surrogate" / "checkpoint.json").exists()
    assert (tmp_path / "ckpt" / "acquisition" / "grpo_cold" / "checkpoint.json").exists()
    leaves = jax.tree_util.tree_leaves(acq.params)
    assert leaves and all(np.isfinite(np.asarray(x)).all() for x in leaves)
