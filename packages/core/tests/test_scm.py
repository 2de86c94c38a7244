import numpy as np
import pytest

import acbo_core as ac
from acbo_core import errors


def _lin(coefs=None, **kw):
    return ac.linear_mechanism(coefs or {}, **kw)


def _small():
    mechs = {"A": _lin(), "B": _lin({"A": 2.0}), "C": _lin({"A": -1.0, "B": 0.5})}
    return ac.create_scm(["A", "B", "C"], [("A", "B"), ("A", "C"), ("B", "C")], mechs, "C")


def test_create_scm_fields_and_accessors():
    scm = _small()
    assert scm["variables"] == ("A", "B", "C")
    assert ac.topological_order(scm) == ("A", "B", "C")
    assert ac.get_parents(scm, "C") == {"A", "B"}
    assert ac.get_children(scm, "A") == {"B", "C"}
    assert ac.get_descendants(scm, "A") == {"B", "C"}
    assert ac.get_ancestors(scm, "C") == {"A", "B"}
    assert ac.true_parents(scm) == {"A", "B"}
    assert ac.intervenable_variables(scm) == ("A", "B")
    lo, hi = ac.intervention_range(scm, "B")
    assert lo < hi
    assert hash(scm) == hash(_small()) and scm == _small()


def test_linear_coefficients_orientation_and_order():
    scm = _small()
    w, b, s = ac.linear_coefficients(scm, ["C", "A", "B"])
    # W[i, j] is the weight of order[i] -> order[j]
    assert w[1, 2] == 2.0 and w[1, 0] == -1.0 and w[2, 0] == 0.5
    assert np.count_nonzero(w) == 3
    assert b.tolist() == [0.0, 0.0, 0.0] and s.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(errors.UnknownVariableError, match="missing"):
        ac.linear_coefficients(scm, ["A", "B"])


def test_linear_coefficients_rejects_nonlinear():
    with pytest.raises(errors.UnsupportedMechanismError, match="'X' has a 'named'"):
        ac.linear_coefficients(ac.toy_graph_scm())


def test_cycle_is_named():
    mechs = {"A": _lin({"C": 1.0}), "B": _lin({"A": 1.0}), "C": _lin({"B": 1.0})}
    with pytest.raises(errors.CyclicGraphError, match="A -> B -> C -> A"):
        ac.create_scm(["A", "B", "C"], [("A", "B"), ("B", "C"), ("C", "A")], mechs, "C")
    with pytest.raises(errors.CyclicGraphError, match="self-loop"):
        ac.create_scm(["A"], [("A", "A")], {"A": _lin({"A": 1.0})}, "A")


def test_unknown_edge_endpoint_is_named():
    with pytest.raises(errors.UnknownVariableError, match="'Q'"):
        ac.create_scm(["A", "B"], [("A", "Q")], {"A": _lin(), "B": _lin()}, "B")


def test_missing_mechanism_and_parent_mismatch():
    with pytest.raises(errors.InvalidMechanismError, match="no mechanism for variable 'B'"):
        ac.create_scm(["A", "B"], [("A", "B")], {"A": _lin()}, "B")
    with pytest.raises(errors.InvalidMechanismError, match="mechanism of 'B'.*missing \\['A'\\]"):
        ac.create_scm(["A", "B"], [("A", "B")], {"A": _lin(), "B": _lin()}, "B")
    with pytest.raises(errors.UnknownVariableError, match="'Z'"):
        ac.create_scm(["A"], [], {"A": _lin(), "Z": _lin()}, "A")


def test_bad_mechanisms():
    with pytest.raises(errors.InvalidMechanismError, match="noise_scale"):
        ac.linear_mechanism({"A": 1.0}, noise_scale=-1.0)
    with pytest.raises(errors.InvalidMechanismError, match="finite"):
        ac.linear_mechanism({"A": float("nan")})
    with pytest.raises(errors.InvalidMechanismError, match="unknown named mechanism"):
        ac.named_mechanism("nope", [])
    with pytest.raises(errors.InvalidMechanismError, match="takes 1 parents"):
        ac.named_mechanism("toy_z", [])
    with pytest.raises(errors.InvalidMechanismError, match="weights"):
        ac.fourier_mechanism(["A"], [[1.0, 2.0]], [0.0], [1.0])


def test_target_errors():
    mechs = {"A": _lin(), "B": _lin({"A": 1.0})}
    with pytest.raises(errors.UnknownVariableError, match="target 'Q'"):
        ac.create_scm(["A", "B"], [("A", "B")], mechs, "Q")
    with pytest.raises(errors.InvalidTargetError, match="'B'"):
        ac.create_scm(["A", "B"], [("A", "B")], mechs, "B", intervenable=["A", "B"])


def test_bad_ranges():
    mechs = {"A": _lin(), "B": _lin({"A": 1.0})}
    with pytest.raises(errors.InvalidInterventionError, match="'A'"):
        ac.create_scm(["A", "B"], [("A", "B")], mechs, "B", intervention_ranges={"A": (1, 0)})
    with pytest.raises(errors.UnknownVariableError, match="'Q'"):
        ac.create_scm(["A", "B"], [("A", "B")], mechs, "B", intervention_ranges={"Q": (0, 1)})


def test_default_ranges_are_exact_for_linear():
    scm = _small()
    # Var(A) = 1, Var(B) = 4 + 1 = 5, means 0.
    assert scm["intervention_ranges"]["A"] == pytest.approx((-2.0, 2.0))
    assert scm["intervention_ranges"]["B"] == pytest.approx((-2 * 5**0.5, 2 * 5**0.5))
