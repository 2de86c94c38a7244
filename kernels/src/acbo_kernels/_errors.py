"""The one error type of acbo-kernels (the package does not depend on acbo-core)."""

from __future__ import annotations


class KernelInputError(ValueError):
    """Bad input to an acbo-kernels op: a wrong shape or dtype, a non-finite value, an index out
    of range, or a candidate table over its memory budget. Raised before any kernel runs."""
