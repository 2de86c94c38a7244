"""Shared fixtures: a tiny model config and small simulated data sets."""

from __future__ import annotations

import jax
import pytest

import acbo_core as ac
import acbo_surrogate as sur

TINY = sur.ModelConfig(k_max=2, cell_dim=8, cell_layers=1, cell_heads=2, inducing_points=4,
                       moment_channels=4, pair_dim=8, var_dim=16, var_layers=1, var_heads=2)


@pytest.fixture(scope="session")
def tiny_config() -> sur.SurrogateConfig:
    return sur.SurrogateConfig(TINY, sur.TrainConfig(total_steps=100, warmup_steps=5))


@pytest.fixture(scope="session")
def tiny_params(tiny_config: sur.SurrogateConfig):
    return sur.init_params(jax.random.key(0), tiny_config)


@pytest.fixture(scope="session")
def small_problem():
    """(scm, buffer) of a 6-variable linear ER SCM with 40 obs + 6 int samples."""
    scm = ac.erdos_renyi_scm(6, key=jax.random.key(3), expected_degree=2.0)
    buffer = sur.simulate_buffer(scm, n_obs=40, n_int=6, key=jax.random.key(4))
    return scm, buffer
