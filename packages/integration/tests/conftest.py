"""A tiny, untrained system (random parameters): the mechanics do not need a good one."""

from __future__ import annotations

import jax
import pytest

import acbo_acquisition as aq
import acbo_core as ac
import acbo_surrogate as sur
from acbo import OnlineConfig, TrainedACBOSystem
from acbo_expert import ParentScaleConfig

TINY_RUN = ParentScaleConfig(n_obs=60, n_int=1, T=3, grid_size=64, refine_size=16,
                             max_surrogate_sets=8)


@pytest.fixture(scope="session")
def system() -> TrainedACBOSystem:
    s_cfg = sur.SurrogateConfig(model=sur.ModelConfig(var_dim=16, var_layers=1, var_heads=2,
                                                      pair_dim=8, moment_channels=4))
    p_cfg = aq.PolicyConfig(hidden_dim=16, n_layers=1, n_heads=2)
    return TrainedACBOSystem(
        s_cfg, sur.init_params(jax.random.key(0), s_cfg), p_cfg,
        aq.init_policy_params(jax.random.key(1), p_cfg), run_config=TINY_RUN,
        online=OnlineConfig(updates_per_step=1, group_size=4),
        training_scms=(ac.erdos_renyi_scm(5, key=jax.random.key(9)),),
        performance_metrics={"surrogate_f1": 0.5})


@pytest.fixture(scope="session")
def scm():
    return ac.erdos_renyi_scm(5, key=jax.random.key(3))
