"""The native extension: it is what runs when installed, the fallback to the reference warns
once and says why, and a jaxlib older than the build headers is refused at import."""

from __future__ import annotations

import os
import sys
import warnings

import jax
import numpy as np
import pytest

import acbo_kernels as ak
from acbo_kernels import _native, reference


def test_extension_is_installed():
    # CI installs the package with pip, so the compiled extension must be there; a developer
    # who runs the tests from a source tree on purpose can opt out.
    if os.environ.get("ACBO_KERNELS_ALLOW_FALLBACK") == "1":
        pytest.skip("ACBO_KERNELS_ALLOW_FALLBACK=1")
    status = ak.native_status()
    assert ak.native_available(), status.reason
    assert status.built_with_jaxlib


def test_fallback_uses_the_reference_and_warns_once(monkeypatch):
    missing = _native.NativeStatus(False, False, "the compiled extension is not importable", "")
    monkeypatch.setattr(_native, "STATUS", missing)
    monkeypatch.setattr(_native, "_warned", False)
    assert not ak.native_available()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 15, 4)).astype(np.float32)
    iv = rng.random(X.shape) < 0.2
    t = np.array([0, 3], np.int32)
    sets = ak.enumerate_parent_sets(4, None, 2)
    key = jax.random.key(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = ak.score_parent_sets(X, iv, t, sets)
        b = ak.score_parent_sets(X, iv, t, sets)
        s = ak.sample_parent_sets(a, key=key, num_samples=5)
    fallback = [w for w in caught if "pure-JAX reference" in str(w.message)]
    assert len(fallback) == 1
    assert issubclass(fallback[0].category, RuntimeWarning)
    assert "not importable" in str(fallback[0].message)
    np.testing.assert_array_equal(a, reference.score_parent_sets(X, iv, t, sets))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(s, reference.sample_parent_sets(a, key=key, num_samples=5))
    hlo = jax.jit(ak.score_parent_sets).lower(X, iv, t, sets).as_text()
    assert "acbo_score_parent_sets" not in hlo


def test_missing_extension_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "acbo_kernels._acbo_kernels", None)  # import fails
    status = _native._load()
    assert not status.available and "not importable" in status.reason


def test_older_jaxlib_than_the_build_headers_is_refused(monkeypatch):
    if not ak.native_available():
        pytest.skip("native extension unavailable")
    import jaxlib

    monkeypatch.setattr(jaxlib, "__version__", "0.4.1")
    status = _native._load()
    assert not status.available
    assert f"compiled against jaxlib {status.built_with_jaxlib}" in status.reason
    assert "jaxlib 0.4.1 is installed" in status.reason


@pytest.mark.parametrize(
    "version, want",
    [("0.10.2", (0, 10, 2)), ("0.10.2.dev20260101", (0, 10, 2)), ("1.2rc1", (1, 2))],
)
def test_version_parsing(version, want):
    assert _native._version_tuple(version) == want
