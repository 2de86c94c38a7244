"""The padded table of candidate parent sets."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ._errors import KernelInputError

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB


def num_parent_sets(d: int, k_max: int, target: int | None = 0) -> int:
    """Rows of `enumerate_parent_sets(d, target, k_max)`: sum over k <= k_max of C(c, k), with
    c = d - 1 candidates (d when target is None)."""
    c = d if target is None else d - 1
    return sum(math.comb(c, k) for k in range(0, min(k_max, c) + 1))


def enumerate_parent_sets(
    d: int, target: int | None, k_max: int, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> np.ndarray:
    """Every candidate parent set of `target` with at most `k_max` members, padded with -1.

    Order: the empty set first, then all sets of size 1, then size 2, ...; within one size,
    lexicographic order of the sorted member indices (itertools.combinations order). Members
    are listed in increasing order, padding (-1) comes last. With `target=None` the table is
    over all d variables (shared by a batch whose targets differ; the kernel scores a set that
    contains its batch element's target as -inf).

    Args:
        d: number of variables (>= 1).
        target: the target's index in [0, d), or None.
        k_max: largest set size (>= 0). Sizes above the number of candidates simply add no rows.
        max_bytes: refuse (KernelInputError) a table larger than this many bytes.

    Returns:
        int32 array [K, k_max], K = num_parent_sets(d, k_max, target); d = 100, k_max = 3
        gives 161,800 rows.

    Raises:
        KernelInputError: bad d, target or k_max, or the table exceeds max_bytes.
    """
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
        raise KernelInputError(f"d must be a positive int, got {d!r}")
    if isinstance(k_max, bool) or not isinstance(k_max, int | np.integer) or k_max < 0:
        raise KernelInputError(f"k_max must be a non-negative int, got {k_max!r}")
    if target is not None and (
        isinstance(target, bool)
        or not isinstance(target, int | np.integer)
        or not 0 <= target < d
    ):
        raise KernelInputError(f"target must be an int in [0, {d}) or None, got {target!r}")
    d, k_max = int(d), int(k_max)
    count = num_parent_sets(d, k_max, target)
    nbytes = count * k_max * 4
    if nbytes > max_bytes:
        raise KernelInputError(
            f"the parent-set table for d={d}, k_max={k_max} has {count:,} rows "
            f"({nbytes / 2**20:,.1f} MiB), over max_bytes={max_bytes:,}; lower k_max or d, "
            "or raise max_bytes"
        )
    candidates = [i for i in range(d) if i != target]
    table = np.full((count, k_max), -1, dtype=np.int32)
    row = 1  # row 0 is the empty set
    for k in range(1, min(k_max, len(candidates)) + 1):
        n_k = math.comb(len(candidates), k)
        flat = np.fromiter(
            itertools.chain.from_iterable(itertools.combinations(candidates, k)),
            dtype=np.int32,
            count=n_k * k,
        )
        table[row : row + n_k, :k] = flat.reshape(n_k, k)
        row += n_k
    return table
