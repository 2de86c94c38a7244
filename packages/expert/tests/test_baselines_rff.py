"""The oracle with random-feature regressions, for true parent sets narrower than k_max.

The random features are drawn ``k_max`` wide; the oracle's table holds only the true set (one
row as wide as that set). Before the fix the two widths met in ``slots @ rff_w.T`` and every
oracle run whose target had fewer than ``k_max`` parents raised a ``TypeError`` from
``dot_general``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo_expert import ParentScaleConfig, run_oracle
from acbo_expert.posterior import build_parent_set_model

RFF = ParentScaleConfig(features="rff", n_rff=16, n_obs=40, n_int=1, T=2, grid_size=64,
                        refine_size=16, gp_steps=5, max_surrogate_sets=8)


def _linear_scm(parents_of_target: dict[str, float]) -> Any:
    """``A -> B``, ``A -> C`` and a target ``Y`` with the given parents among A, B, C."""
    mech = {"A": ac.linear_mechanism({}), "B": ac.linear_mechanism({"A": 1.0}),
            "C": ac.linear_mechanism({"A": -0.5}),
            "Y": ac.linear_mechanism(parents_of_target)}
    edges = [("A", "B"), ("A", "C"), *((p, "Y") for p in parents_of_target)]
    return ac.create_scm(["A", "B", "C", "Y"], edges, mech, "Y")


def _check_oracle_run(scm, config):
    result = run_oracle(scm, key=jax.random.key(0), config=config)
    assert len(result.global_opt) == config.T
    assert np.all(np.isfinite(result.current_y))
    assert result.true_parents == ac.true_parents(scm)
    for (var,), (value,) in zip(result.intervention_set, result.intervention_values,
                                strict=True):
        lo, hi = scm["intervention_ranges"][var]
        assert lo <= value <= hi
    return result


def test_oracle_with_random_features_on_the_toy_graph():
    # The toy graph's target Y has one parent (Z), k_max is 3.
    scm = ac.toy_graph_scm()
    result = _check_oracle_run(scm, dataclasses.replace(RFF, k_max=3))
    # Z is the only intervenable parent: the oracle explores nothing else.
    assert all(var == ("Z",) for var in result.intervention_set)


def test_oracle_with_random_features_one_parent_and_k_max_3():
    scm = _linear_scm({"B": 2.0})
    result = _check_oracle_run(scm, dataclasses.replace(RFF, k_max=3))
    assert all(var == ("B",) for var in result.intervention_set)


def test_oracle_with_random_features_and_no_true_parent():
    scm = _linear_scm({})
    assert ac.true_parents(scm) == frozenset()
    result = _check_oracle_run(scm, dataclasses.replace(RFF, k_max=3))
    # No parent to intervene on: every intervenable variable is explored.
    assert set(result.exploration_sets[0]) == {"A", "B", "C"}


@pytest.mark.parametrize("parents", [{"B": 2.0}, {"B": 1.0, "C": 1.0}, {}])
def test_oracle_set_gets_the_features_of_the_full_table(parents):
    # The fix pads the narrow table to the features' width rather than drawing narrower
    # features, so the oracle's regression on the true set is the one PARENT_SCALE fits for
    # that set from the same key and D_O.
    scm = _linear_scm(parents)
    variables, target = tuple(scm["variables"]), scm["target"]
    d_obs = np.asarray(ac.sample_observational(scm, 40, key=jax.random.key(1)))
    key = jax.random.key(2)
    cols = sorted(variables.index(v) for v in parents)
    rows = np.full((1, max(len(cols), 1)), -1, np.int32)
    rows[0, : len(cols)] = cols
    full = build_parent_set_model(variables, target, d_obs, config=RFF, key=key)
    oracle = build_parent_set_model(variables, target, d_obs, config=RFF, key=key,
                                    candidate_sets=rows)
    assert oracle.sets.shape == (1, RFF.k_max) == (1, full.rff_w.shape[1])
    np.testing.assert_array_equal(oracle.rff_w, full.rff_w)
    i = full.set_names.index(frozenset(parents))
    assert oracle.set_names == (frozenset(parents),)
    np.testing.assert_array_equal(oracle.sets[0], full.sets[i])
    assert oracle.set_scale[0] == full.set_scale[i]
    np.testing.assert_allclose(oracle.lml_obs[0], full.lml_obs[i], rtol=1e-5)
