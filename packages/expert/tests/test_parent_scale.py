"""PARENT_SCALE and the baselines end to end on tiny problems."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Mapping

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo_core.errors import ConfigError, InvalidTargetError
from acbo_expert import (
    ParentScaleConfig,
    ParentScaleResult,
    run_parent_scale,
    run_random,
)


def test_bad_input_gets_typed_errors(er_scm, tiny):
    key = jax.random.key(0)
    with pytest.raises(InvalidTargetError):
        run_parent_scale(er_scm.discard("target"), key=key, config=tiny)
    names = ["A", "B"]
    mech = {"A": ac.linear_mechanism({}), "B": ac.linear_mechanism({"A": 1.0})}
    stuck = ac.create_scm(names, [("A", "B")], mech, "B", intervenable=[])
    with pytest.raises(InvalidTargetError):
        run_parent_scale(stuck, key=key, config=tiny)
    with pytest.raises(ConfigError):
        ParentScaleConfig(T=0)
    with pytest.raises(ConfigError):  # 4 observations, 5 candidate parents
        run_parent_scale(er_scm, key=key, config=dataclasses.replace(tiny, n_obs=4))
    with pytest.raises(ConfigError):  # 40 observations, 100 random features
        run_parent_scale(er_scm, key=key, config=dataclasses.replace(tiny, n_obs=40,
                                                                     features="rff"))
    with pytest.raises(ConfigError):
        ParentScaleConfig(prior="flat")
    with pytest.raises(ValueError):  # typed errors are ValueErrors too
        ParentScaleConfig(k_max=-1)


def test_result_fields_are_consistent(runs, er_scm, tiny):
    r = runs["parent_scale"]
    assert isinstance(r, ParentScaleResult)
    T, d = tiny.T, len(er_scm["variables"])
    assert r.D_O.shape == (tiny.n_obs, d) and r.target == er_scm["target"]
    assert len(r.intervention_set) == len(r.intervention_values) == len(r.current_y) == T
    assert len(r.posterior_probabilities) == T + 1 and len(r.step_seconds) == T
    assert len(r.D_I) == tiny.n_int * (d - 1)
    assert r.true_parents == ac.true_parents(er_scm)
    intervenable = set(ac.intervenable_variables(er_scm))
    for t in range(T):
        (var,), (value,) = r.intervention_set[t], r.intervention_values[t]
        lo, hi = er_scm["intervention_ranges"][var]
        assert var in intervenable and lo <= value <= hi
        assert var in r.exploration_sets[t] and set(r.exploration_sets[t]) <= intervenable
        assert set(r.acquisition_values[t]) == set(r.exploration_sets[t])
        assert max(r.acquisition_values[t].values()) == r.acquisition_values[t][var]
        # noiseless: the observation is the exact interventional mean
        do = ac.create_perfect_intervention(var, value)
        np.testing.assert_allclose(r.current_y[t], ac.target_interventional_mean(er_scm, do),
                                   rtol=1e-9)
        np.testing.assert_array_equal(r.step_samples[t][:, er_scm["variables"].index(var)],
                                      np.float32(value))
    # best so far includes the initial interventional samples
    want = np.minimum.accumulate(np.minimum(r.initial_best, np.asarray(r.current_y)))
    np.testing.assert_allclose(r.global_opt, want)
    for post in r.posterior_probabilities:
        np.testing.assert_allclose(post.probs.sum(), 1.0)
        assert post.probs.min() >= tiny.prune_threshold * 0.999
    assert len(r.buffer) == tiny.n_obs + len(r.D_I) + T


def test_same_key_same_run_other_key_other_run(er_scm, runs, tiny):
    again = run_parent_scale(er_scm, key=jax.random.key(5), config=tiny)
    r = runs["parent_scale"]
    assert again.intervention_set == r.intervention_set
    assert again.intervention_values == r.intervention_values
    np.testing.assert_array_equal(again.D_O, r.D_O)
    other = run_parent_scale(er_scm, key=jax.random.key(6), config=tiny)
    assert not np.array_equal(other.D_O, r.D_O)


def test_run_does_not_depend_on_the_hash_seed(tiny):
    config = dataclasses.asdict(tiny)
    script = (
        "import jax, acbo_core as ac\n"
        "from acbo_expert import ParentScaleConfig, run_parent_scale\n"
        f"TINY = ParentScaleConfig(**{config!r})\n"
        "scm = ac.erdos_renyi_scm(5, key=jax.random.key(2))\n"
        "r = run_parent_scale(scm, key=jax.random.key(1), config=TINY)\n"
        "print(r.intervention_set, r.intervention_values, r.exploration_sets,"
        " [[sorted(s) for s in p.parent_sets] for p in r.posterior_probabilities],"
        " [p.probs.tolist() for p in r.posterior_probabilities])\n"
    )
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, check=True, timeout=3600)  # a hang guard only
        outs.append(done.stdout)
    assert outs[0] == outs[1]


class _Guarded(Mapping):
    """An SCM whose graph and mechanisms can be read only by the sampling functions."""

    open = False

    def __init__(self, scm):
        self.scm = scm

    def __getitem__(self, name):
        if name in ("edges", "mechanisms") and not _Guarded.open:
            raise AssertionError(f"the expert read the SCM's {name!r}")
        return self.scm[name]

    def __iter__(self):
        return iter(self.scm)

    def __len__(self):
        return len(self.scm)


def test_the_scm_is_a_black_box(er_scm, monkeypatch, tiny):
    calls = []

    def opened(fn):
        def wrapped(scm, *args, **kwargs):
            calls.append(fn.__name__)
            _Guarded.open = True
            try:
                return fn(scm.scm if isinstance(scm, _Guarded) else scm, *args, **kwargs)
            finally:
                _Guarded.open = False
        return wrapped

    for name in ("sample_observational", "sample_interventional", "target_interventional_mean",
                 "true_parents"):
        monkeypatch.setattr(ac, name, opened(getattr(ac, name)))
    result = run_parent_scale(_Guarded(er_scm), key=jax.random.key(5),
                              config=dataclasses.replace(tiny, T=2))
    assert {"sample_observational", "sample_interventional"} <= set(calls)
    assert result.true_parents == ac.true_parents(er_scm)


def test_baselines_share_the_data_and_the_result_type(runs, er_scm, tiny):
    ps, rnd, orc, obs = (runs[m] for m in ("parent_scale", "random", "oracle", "observational"))
    for r in (rnd, orc, obs):
        assert isinstance(r, ParentScaleResult)
        np.testing.assert_array_equal(r.D_O, ps.D_O)
    for r in (rnd, orc):
        assert r.T == tiny.T and len(r.posterior_probabilities) == tiny.T + 1
        for (a, xa, ya), (b, xb, yb) in zip(r.D_I, ps.D_I, strict=True):
            assert a == b and ya == yb
            np.testing.assert_array_equal(xa, xb)
    parents = ac.true_parents(er_scm)
    assert all(p.parent_sets == (parents,) for p in orc.posterior_probabilities)
    assert all(set(e) <= parents or not (parents & set(ac.intervenable_variables(er_scm)))
               for e in orc.exploration_sets)
    assert all(e == ac.intervenable_variables(er_scm) for e in rnd.exploration_sets)
    assert obs.T == 1 and obs.D_I == () and np.isnan(obs.initial_best)
    (var,), (value,) = obs.intervention_set[0], obs.intervention_values[0]
    do = ac.create_perfect_intervention(var, value)
    np.testing.assert_allclose(obs.current_y[0], ac.target_interventional_mean(er_scm, do))


def test_maximising_moves_up(er_scm, tiny):
    cfg = dataclasses.replace(tiny, minimize=False)
    r = run_random(er_scm, key=jax.random.key(3), config=cfg)
    want = np.maximum.accumulate(np.maximum(r.initial_best, np.asarray(r.current_y)))
    np.testing.assert_allclose(r.global_opt, want)
    best = r.best_intervention()
    assert best[2] == max(r.global_opt[-1], r.initial_best)


def test_toy_graph_with_random_features_and_doubly_robust_prior(tiny):
    scm = ac.toy_graph_scm()
    cfg = dataclasses.replace(tiny, features="rff", n_rff=20, prior="doubly_robust",
                              n_bootstrap=3, dr_steps=20, noiseless_mc_samples=2000)
    r = run_parent_scale(scm, key=jax.random.key(0), config=cfg)
    assert r.T == tiny.T
    assert all(v in ("X", "Z") for (v,) in r.intervention_set)
    for post in r.posterior_probabilities:
        assert all(s <= {"X", "Z"} for s in post.parent_sets)
