"""predict_posterior and friends: valid posteriors, bucketing, errors, sampling."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

import acbo_core as ac
import acbo_surrogate as sur
from acbo_core.errors import ShapeMismatchError, UnknownVariableError
from acbo_surrogate.inference import _top_sets


def test_predict_posterior_is_a_valid_posterior(tiny_params, tiny_config, small_problem):
    TINY = tiny_config.model
    scm, buffer = small_problem
    target = scm["target"]
    post = sur.predict_posterior(tiny_params, buffer, target, config=TINY, prune_threshold=0.0)
    d = len(buffer.variables)
    assert post.target == target
    assert len(post) == sum(math.comb(d - 1, k) for k in range(TINY.k_max + 1))
    assert all(target not in s and len(s) <= TINY.k_max for s in post.parent_sets)
    assert post.probs.sum() == pytest.approx(1.0)
    marg = sur.predict_marginals(tiny_params, buffer, target, config=TINY)
    exact = post.marginal_parent_probs(list(marg))
    for v in marg:
        assert marg[v] == pytest.approx(exact[v], abs=1e-5)
    pruned = sur.predict_posterior(tiny_params, buffer, target, config=TINY,
                                   prune_threshold=0.5)
    assert len(pruned) >= 1 and pruned.map_set() == post.map_set()


def test_same_bucket_does_not_recompile(tiny_params, tiny_config):
    TINY = tiny_config.model
    scm = ac.erdos_renyi_scm(9, key=jax.random.key(0))
    sizes = [(40, 3), (45, 7), (50, 1)]  # all in the N bucket 64, d bucket 12
    sur.predict_posterior(tiny_params, sur.simulate_buffer(scm, n_obs=35, n_int=2,
                                                           key=jax.random.key(1)),
                          scm["target"], config=TINY)
    before = _top_sets._cache_size()
    for n_obs, n_int in sizes:
        buf = sur.simulate_buffer(scm, n_obs=n_obs, n_int=n_int, key=jax.random.key(n_obs))
        sur.predict_posterior(tiny_params, buf, scm["target"], config=TINY)
    assert _top_sets._cache_size() == before


def test_errors(tiny_params, tiny_config, small_problem):
    TINY = tiny_config.model
    scm, buffer = small_problem
    with pytest.raises(UnknownVariableError):
        sur.predict_posterior(tiny_params, buffer, "not-a-variable", config=TINY)
    with pytest.raises(ShapeMismatchError):
        sur.predict_posterior(tiny_params, ac.create_buffer(buffer.variables), scm["target"],
                              config=TINY)


def test_sample_parent_sets_reproducible_and_valid(tiny_params, tiny_config, small_problem):
    TINY = tiny_config.model
    scm, buffer = small_problem
    a = sur.sample_parent_sets(tiny_params, buffer, scm["target"], key=jax.random.key(3),
                               num_samples=50, config=TINY)
    b = sur.sample_parent_sets(tiny_params, buffer, scm["target"], key=jax.random.key(3),
                               num_samples=50, config=TINY)
    assert a == b and len(a) == 50
    post = sur.predict_posterior(tiny_params, buffer, scm["target"], config=TINY,
                                 prune_threshold=0.0)
    assert all(s in set(post.parent_sets) for s in a)


def test_sampling_follows_the_distribution(tiny_params, tiny_config, small_problem):
    TINY = tiny_config.model
    scm, buffer = small_problem
    post = sur.predict_posterior(tiny_params, buffer, scm["target"], config=TINY,
                                 prune_threshold=0.0)
    draws = sur.sample_parent_sets(tiny_params, buffer, scm["target"], key=jax.random.key(4),
                                   num_samples=4000, config=TINY)
    top, p = post.top_k(1)[0]
    freq = np.mean([s == top for s in draws])
    assert abs(freq - p) < 4 * np.sqrt(p * (1 - p) / 4000) + 1e-3


def test_batched_matches_one_by_one(tiny_params, tiny_config):
    config = tiny_config.model
    problems = []
    for i, d in enumerate((5, 7, 9)):
        scm = ac.erdos_renyi_scm(d, key=jax.random.key(10 + i))
        problems.append((sur.simulate_buffer(scm, n_obs=30 + 10 * i, n_int=4,
                                             key=jax.random.key(20 + i)), scm["target"]))
    batched = sur.predict_posteriors(tiny_params, [b for b, _ in problems],
                                     [t for _, t in problems], config=config,
                                     prune_threshold=1e-3)
    for (buf, target), post in zip(problems, batched, strict=True):
        single = sur.predict_posterior(tiny_params, buf, target, config=config,
                                       prune_threshold=1e-3)
        assert post.parent_sets == single.parent_sets
        np.testing.assert_allclose(post.probs, single.probs, atol=1e-5)
    with pytest.raises(ShapeMismatchError):
        sur.predict_posteriors(tiny_params, [problems[0][0]], [], config=config)


def test_max_sets_caps_the_pruned_posterior(tiny_params, tiny_config, small_problem):
    scm, buffer = small_problem
    post = sur.predict_posterior(tiny_params, buffer, scm["target"], config=tiny_config.model,
                                 prune_threshold=1e-12, max_sets=3)
    full = sur.predict_posterior(tiny_params, buffer, scm["target"], config=tiny_config.model,
                                 prune_threshold=0.0)
    assert len(post) == 3
    assert list(post.parent_sets) == [s for s, _ in full.top_k(3)]
