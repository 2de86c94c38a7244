"""Shared fixtures: small problems and one cached run per method (compiles are the slow part)."""

from __future__ import annotations

import jax
import pytest

import acbo_core as ac
from acbo_expert import (
    ParentScaleConfig,
    run_observational,
    run_oracle,
    run_parent_scale,
    run_random,
)

# Small everything: the algorithm is the same, compiles and steps are cheap.
TINY = ParentScaleConfig(n_obs=60, n_int=2, T=4, grid_size=64, refine_size=16, gp_steps=5,
                         max_surrogate_sets=8)


@pytest.fixture(scope="session")
def tiny():
    return TINY


@pytest.fixture(scope="session")
def er_scm():
    return ac.erdos_renyi_scm(6, key=jax.random.key(11), expected_degree=2.0)


@pytest.fixture(scope="session")
def runs(er_scm):
    """One run of each method on the same SCM and key."""
    key = jax.random.key(5)
    return {
        "parent_scale": run_parent_scale(er_scm, key=key, config=TINY),
        "random": run_random(er_scm, key=key, config=TINY),
        "oracle": run_oracle(er_scm, key=key, config=TINY),
        "observational": run_observational(er_scm, key=key, config=TINY),
    }
