"""sample_parent_sets: frequencies against softmax(log_weights) by chi-square tests with fixed
keys, reproducibility, kernel against reference draw for draw, and the counter-based generator
against published Threefry test vectors."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import acbo_kernels as ak
from acbo_kernels import _threefry, reference

LOG_W = np.log(np.array([0.05, 0.1, 0.15, 0.2, 0.5], np.float32))  # K = 5
CRITICAL = 0.999  # a fixed key either passes or fails forever; 1 - CRITICAL is the false alarm


def chi_square_p(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = probs / probs.sum() * counts.sum()
    return float(scipy.stats.chisquare(counts, expected).pvalue)


@pytest.mark.parametrize("impl", [ak, reference], ids=["kernel", "reference"])
def test_with_replacement_frequencies_match_softmax(impl):
    # two batch rows with different weights, 20,000 draws each
    log_w = np.stack([LOG_W, LOG_W[::-1] + 3.0])
    draws = np.asarray(
        impl.sample_parent_sets(log_w, key=jax.random.key(7), num_samples=20_000)
    )
    assert draws.shape == (2, 20_000) and draws.dtype == np.int32
    for b in range(2):
        probs = np.asarray(jax.nn.softmax(log_w[b]), np.float64)
        counts = np.bincount(draws[b], minlength=5)
        assert chi_square_p(counts, probs) > 1 - CRITICAL
        # the test has power: the same counts are far from the uniform distribution
        assert chi_square_p(counts, np.full(5, 0.2)) < 1e-6


@pytest.mark.parametrize("impl", [ak, reference], ids=["kernel", "reference"])
def test_without_replacement_pairs_match_sequential_draws(impl):
    # P(first = i, second = j) = p_i p_j / (1 - p_i) for a draw in order without replacement;
    # 20,000 batch rows with the same weights give 20,000 independent ordered pairs.
    log_w = np.log(np.array([0.2, 0.3, 0.5], np.float32))
    rows = np.tile(log_w, (20_000, 1))
    draws = np.asarray(
        impl.sample_parent_sets(rows, key=jax.random.key(3), num_samples=2, replace=False)
    )
    assert np.all(draws[:, 0] != draws[:, 1])
    p = np.exp(log_w.astype(np.float64))
    pairs = list(itertools.permutations(range(3), 2))
    probs = np.array([p[i] * p[j] / (1 - p[i]) for i, j in pairs])
    counts = np.array([np.sum((draws[:, 0] == i) & (draws[:, 1] == j)) for i, j in pairs])
    assert chi_square_p(counts, probs) > 1 - CRITICAL


def test_without_replacement_all_is_a_permutation():
    log_w = jnp.asarray(np.random.default_rng(0).normal(size=(4, 50)), jnp.float32)
    draws = np.asarray(
        ak.sample_parent_sets(log_w, key=jax.random.key(1), num_samples=50, replace=False)
    )
    for row in draws:
        assert sorted(row) == list(range(50))


def test_same_key_same_draws_and_new_key_new_draws():
    log_w = np.tile(LOG_W, (3, 1))
    a = ak.sample_parent_sets(log_w, key=jax.random.key(5), num_samples=64)
    b = ak.sample_parent_sets(log_w, key=jax.random.key(5), num_samples=64)
    c = ak.sample_parent_sets(log_w, key=jax.random.key(6), num_samples=64)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # rows are independent streams even with equal weights
    assert not np.array_equal(a[0], a[1])
    # legacy uint32 keys work too
    legacy = ak.sample_parent_sets(log_w, key=jax.random.PRNGKey(5), num_samples=64)
    np.testing.assert_array_equal(a, legacy)


@pytest.mark.parametrize("replace", [True, False])
def test_kernel_and_reference_draw_the_same_sets(replace):
    log_w = jnp.asarray(np.random.default_rng(2).normal(size=(3, 40)) * 2.0, jnp.float32)
    key = jax.random.key(11)
    got = ak.sample_parent_sets(log_w, key=key, num_samples=30, replace=replace)
    # same generator and, with x64, the same double-precision Gumbel transform
    with jax.enable_x64(True):
        ref64 = reference.sample_parent_sets(log_w, key=key, num_samples=30, replace=replace)
    np.testing.assert_array_equal(got, ref64)
    # in float32 the reference rounds the noise differently, so only almost all draws agree
    ref32 = reference.sample_parent_sets(log_w, key=key, num_samples=30, replace=replace)
    assert np.mean(np.asarray(got) == np.asarray(ref32)) > 0.95


@pytest.mark.parametrize("impl", [ak, reference], ids=["kernel", "reference"])
def test_minus_inf_weights_are_never_drawn(impl):
    log_w = np.array(
        [[0.0, -np.inf, 1.0, -np.inf], [-np.inf] * 4, [-np.inf, -np.inf, 2.0, -np.inf]],
        np.float32,
    )
    key = jax.random.key(0)
    with_r = np.asarray(impl.sample_parent_sets(log_w, key=key, num_samples=200))
    assert set(with_r[0]) == {0, 2}
    assert np.all(with_r[1] == -1)  # nothing to draw from
    assert np.all(with_r[2] == 2)
    without = np.asarray(impl.sample_parent_sets(log_w, key=key, num_samples=3, replace=False))
    assert sorted(without[0][:2]) == [0, 2] and without[0][2] == -1
    assert np.all(without[1] == -1)
    assert without[2][0] == 2 and np.all(without[2][1:] == -1)


def test_jit_and_vmap_over_keys_and_weights():
    log_w = jnp.asarray(np.random.default_rng(3).normal(size=(2, 9)), jnp.float32)
    keys = jax.random.split(jax.random.key(4), 5)
    for replace in (True, False):
        def draw(w, k, replace=replace):
            return ak.sample_parent_sets(w, key=k, num_samples=4, replace=replace)

        loop = np.stack([draw(log_w, k) for k in keys])
        np.testing.assert_array_equal(jax.jit(jax.vmap(draw, in_axes=(None, 0)))(log_w, keys),
                                      loop)
        stacked = jnp.stack([log_w, log_w + 1.0, -log_w])
        loop2 = np.stack([draw(stacked[i], keys[i]) for i in range(3)])
        np.testing.assert_array_equal(jax.vmap(draw)(stacked, keys[:3]), loop2)


@pytest.mark.parametrize("impl", [ak, reference], ids=["kernel", "reference"])
def test_bad_sampling_input_is_refused(impl):
    key = jax.random.key(0)
    good = np.zeros((2, 4), np.float32)
    cases = [
        (dict(log_weights=good[0]), r"log_weights must be \[B, K\]"),
        (dict(log_weights=good.astype(np.int32)), "floating point"),
        (dict(log_weights=np.array([[0.0, np.nan]])), "NaN or \\+inf"),
        (dict(log_weights=np.array([[0.0, np.inf]])), "NaN or \\+inf"),
        (dict(num_samples=5, replace=False), "exceeds K=4"),
        (dict(num_samples=-1), "num_samples must be >= 0"),
        (dict(num_samples=2.0), "num_samples must be a Python int"),
        (dict(key=jax.random.split(key, 3)), "single PRNG key"),
        (dict(log_weights=np.zeros((2, 0), np.float32)), "K = 0"),
    ]
    for change, message in cases:
        kwargs = {"log_weights": good, "key": key, "num_samples": 3, **change}
        w = kwargs.pop("log_weights")
        with pytest.raises(ak.KernelInputError, match=message):
            impl.sample_parent_sets(w, **kwargs)
    assert impl.sample_parent_sets(good, key=key, num_samples=0).shape == (2, 0)


def test_threefry_known_answers():
    # Threefry-2x32, 20 rounds: test vectors of the Random123 distribution (kat_vectors).
    cases = [
        ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
        ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
        ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
    ]
    for key, counter, want in cases:
        got = _threefry.threefry2x32(*(np.uint32(v) for v in key + counter))
        assert tuple(int(v) for v in got) == want
