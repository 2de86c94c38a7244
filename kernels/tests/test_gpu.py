"""CUDA against CPU. Skipped unless JAX sees a GPU and the extension was built with CUDA
(ACBO_CUDA=ON or AUTO with nvcc at build time)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import acbo_kernels as ak


def _gpu():
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        return None
    return gpus[0] if gpus else None


GPU = _gpu()
pytestmark = pytest.mark.skipif(
    GPU is None or not ak.native_status().cuda,
    reason="needs a GPU visible to JAX and acbo-kernels built with CUDA",
)


@pytest.mark.parametrize(
    "prior", [ak.GaussianPrior(), ak.NIGPrior(c=2.0, a0=2.0, b0=1.0, intercept=True)]
)
def test_cuda_scores_match_cpu(prior):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 300, 20)).astype(np.float32)
    iv = rng.random(X.shape) < 0.1
    t = np.array([0, 7, 19], np.int32)
    sets = ak.enumerate_parent_sets(20, None, 3)
    cpu = jax.devices("cpu")[0]
    on_cpu = ak.score_parent_sets(*(jax.device_put(a, cpu) for a in (X, iv, t, sets)),
                                  prior=prior)
    on_gpu = ak.score_parent_sets(*(jax.device_put(a, GPU) for a in (X, iv, t, sets)),
                                  prior=prior)
    assert "acbo_score_parent_sets" in jax.jit(ak.score_parent_sets).lower(
        *(jax.device_put(a, GPU) for a in (X, iv, t, sets))).as_text()
    a, b = np.asarray(on_cpu), np.asarray(on_gpu)
    np.testing.assert_array_equal(np.isneginf(a), np.isneginf(b))
    fin = np.isfinite(a)
    np.testing.assert_allclose(b[fin], a[fin], rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("replace", [True, False])
def test_cuda_draws_the_same_sets_as_cpu(replace):
    log_w = np.random.default_rng(1).normal(size=(4, 1000)).astype(np.float32)
    log_w[:, ::7] = -np.inf
    key = jax.random.key(3)
    cpu = jax.devices("cpu")[0]
    a = ak.sample_parent_sets(jax.device_put(log_w, cpu), key=jax.device_put(key, cpu),
                              num_samples=64, replace=replace)
    b = ak.sample_parent_sets(jax.device_put(log_w, GPU), key=jax.device_put(key, GPU),
                              num_samples=64, replace=replace)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("width", [15, 16, 40])
def test_sets_wider_than_the_cuda_kernel_are_scored_on_the_gpu(width):
    # Up to 15 columns the CUDA kernel solves the set; wider, the reference does on the GPU.
    rng = np.random.default_rng(width)
    X = rng.normal(size=(2, 200, width + 1)).astype(np.float32)
    args = (X, np.zeros(X.shape, bool), np.full(2, width, np.int32),
            np.arange(width, dtype=np.int32)[None])
    cpu = jax.devices("cpu")[0]
    on_cpu = np.asarray(ak.score_parent_sets(*(jax.device_put(a, cpu) for a in args)))
    on_gpu_args = [jax.device_put(a, GPU) for a in args]
    on_gpu = np.asarray(ak.score_parent_sets(*on_gpu_args))
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-5, atol=1e-2)
    hlo = jax.jit(ak.score_parent_sets).lower(*on_gpu_args).as_text()
    assert ("acbo_score_parent_sets" in hlo) == (width <= 15)
