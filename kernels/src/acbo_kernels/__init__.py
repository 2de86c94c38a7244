"""acbo-kernels: batched parent-set scoring and sampling as an XLA FFI kernel (C++ on CPU, CUDA
on GPU), with a pure-JAX reference (`acbo_kernels.reference`) used when the extension is absent.

    from acbo_kernels import score_parent_sets, sample_parent_sets, enumerate_parent_sets
    sets = enumerate_parent_sets(d, target, k_max)              # [K, k_max], -1 padded
    logml = score_parent_sets(X, intervened, targets, sets)     # [B, K]
    idx = sample_parent_sets(logml, key=key, num_samples=100)   # [B, S]
"""

from __future__ import annotations

from . import _native, reference
from ._enumerate import enumerate_parent_sets, num_parent_sets
from ._errors import KernelInputError
from ._native import NativeStatus, native_available
from ._ops import sample_parent_sets, score_parent_sets
from ._priors import GaussianPrior, NIGPrior


def native_status() -> NativeStatus:
    """What the import found: native CPU/CUDA handlers registered, or why not."""
    return _native.STATUS


__all__ = [
    "GaussianPrior",
    "KernelInputError",
    "NIGPrior",
    "NativeStatus",
    "enumerate_parent_sets",
    "native_available",
    "native_status",
    "num_parent_sets",
    "reference",
    "sample_parent_sets",
    "score_parent_sets",
]
