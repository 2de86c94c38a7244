"""enumerate_parent_sets: contents, order, sizes and the memory budget."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acbo_kernels as ak


def test_small_table_in_documented_order():
    table = ak.enumerate_parent_sets(4, 1, 2)
    want = [[-1, -1], [0, -1], [2, -1], [3, -1], [0, 2], [0, 3], [2, 3]]
    np.testing.assert_array_equal(table, want)
    assert table.dtype == np.int32


def test_d100_kmax3_has_161800_rows():
    table = ak.enumerate_parent_sets(100, 42, 3)
    assert table.shape == (161_800, 3) == (ak.num_parent_sets(100, 3, 42), 3)
    assert not np.any(table == 42)
    # last row: the three largest candidates
    np.testing.assert_array_equal(table[-1], [97, 98, 99])


@settings(max_examples=30, deadline=None, derandomize=True)
@given(d=st.integers(1, 9), k_max=st.integers(0, 5), data=st.data())
def test_table_is_every_subset_once(d, k_max, data):
    target = data.draw(st.one_of(st.none(), st.integers(0, d - 1)))
    table = ak.enumerate_parent_sets(d, target, k_max)
    cands = [i for i in range(d) if i != target]
    want = [c for k in range(0, k_max + 1) for c in itertools.combinations(cands, k)]
    got = [tuple(int(v) for v in row if v >= 0) for row in table]
    assert got == want  # same sets, same order (size, then lexicographic)
    assert len(got) == sum(math.comb(len(cands), k) for k in range(k_max + 1))
    # padding only at the end of a row
    for row in table:
        members = row[row >= 0]
        assert np.all(row[len(members):] == -1)


def test_memory_budget_is_refused_with_a_clear_error():
    with pytest.raises(ak.KernelInputError, match=r"161,800 rows .* over max_bytes"):
        ak.enumerate_parent_sets(100, 0, 3, max_bytes=1_000_000)
    # a table that would need terabytes is refused before any allocation
    with pytest.raises(ak.KernelInputError, match="max_bytes"):
        ak.enumerate_parent_sets(10_000, 0, 6)


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 0, 1), "d must be a positive int"),
        ((3.0, 0, 1), "d must be a positive int"),
        ((3, 3, 1), r"target must be an int in \[0, 3\)"),
        ((3, -1, 1), "target must be"),
        ((3, 0, -1), "k_max must be a non-negative int"),
        ((3, 0, True), "k_max must be"),
    ],
)
def test_bad_arguments(args, message):
    with pytest.raises(ak.KernelInputError, match=message):
        ak.enumerate_parent_sets(*args)


def test_reference_module_shares_the_table():
    from acbo_kernels import reference

    np.testing.assert_array_equal(
        reference.enumerate_parent_sets(6, 2, 2), ak.enumerate_parent_sets(6, 2, 2)
    )
