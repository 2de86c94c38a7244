"""change_units: the re-expressed SCM is the same system measured in other units.

Checks are independent of the folding algebra: the new SCM's samples (drawn with the same key)
against the affine image of the original's, closed-form interventional means against the
mapped ones, and default ranges recomputed from the new SCM.
"""

import math

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo_core import errors


def _units(scm, seed, log10=(-2.0, 2.0), offset=(-5.0, 5.0)):
    rng = np.random.default_rng(seed)
    scales = {v: float(10 ** rng.uniform(*log10)) for v in scm["variables"]}
    offsets = {v: float(rng.uniform(*offset) * scales[v]) for v in scm["variables"]}
    return scales, offsets


def _arrays(scm, scales, offsets):
    return (np.asarray([scales[v] for v in scm["variables"]]),
            np.asarray([offsets[v] for v in scm["variables"]]))


def _assert_affine_image(new, old, s, o):
    """``new == o + s * old`` up to float32 rounding, compared in the original units."""
    back = (np.asarray(new, np.float64) - o) / s
    old = np.asarray(old, np.float64)
    np.testing.assert_allclose(back, old, rtol=1e-4, atol=1e-4 * (1 + np.abs(old).max()))


@pytest.mark.parametrize("mechanism, seed", [("linear", 0), ("linear", 1), ("fourier", 2),
                                             ("fourier", 3)])
def test_samples_are_the_affine_image_of_the_original(mechanism, seed):
    scm = ac.erdos_renyi_scm(7, key=jax.random.key(seed), expected_degree=2.5,
                             mechanism=mechanism, noise_scale=(0.5, 1.5))
    scales, offsets = _units(scm, seed)
    new = ac.change_units(scm, scales, offsets)
    s, o = _arrays(scm, scales, offsets)
    key = jax.random.key(seed + 10)
    _assert_affine_image(ac.sample_observational(new, 300, key=key),
                         ac.sample_observational(scm, 300, key=key), s, o)
    var = ac.intervenable_variables(scm)[1]
    do_old = ac.create_perfect_intervention(var, 0.7)
    do_new = ac.create_perfect_intervention(var, offsets[var] + scales[var] * 0.7)
    _assert_affine_image(ac.sample_interventional(new, do_new, 300, key=key),
                         ac.sample_interventional(scm, do_old, 300, key=key), s, o)
    assert ac.is_linear_scm(new) == ac.is_linear_scm(scm) == (mechanism == "linear")


def test_exact_interventional_means_map_through_the_units():
    scm = ac.erdos_renyi_scm(8, key=jax.random.key(4), expected_degree=3.0)
    scales, offsets = _units(scm, 4, log10=(-3.0, 3.0))
    new = ac.change_units(scm, scales, offsets)
    s, o = _arrays(scm, scales, offsets)
    np.testing.assert_allclose(ac.exact_interventional_mean(new, None),
                               o + s * ac.exact_interventional_mean(scm, None), rtol=1e-9,
                               atol=1e-9 * np.abs(o).max())
    for var in ac.intervenable_variables(scm)[:3]:
        do_old = ac.create_perfect_intervention(var, -1.3)
        do_new = ac.create_perfect_intervention(var, offsets[var] - 1.3 * scales[var])
        # acbo-core holds intervention values in float32: the new value is rounded to it
        np.testing.assert_allclose(ac.exact_interventional_mean(new, do_new),
                                   o + s * ac.exact_interventional_mean(scm, do_old),
                                   rtol=1e-6, atol=1e-6 * np.abs(o).max())


@pytest.mark.parametrize("mechanism, rtol", [("linear", 1e-9), ("fourier", 1e-4)])
def test_default_ranges_stay_the_defaults(mechanism, rtol):
    scm = ac.erdos_renyi_scm(6, key=jax.random.key(5), mechanism=mechanism)
    scales, offsets = _units(scm, 5)
    new = ac.change_units(scm, scales, offsets)
    defaults = ac.default_intervention_ranges(new)  # recomputed from the new SCM
    for v in scm["variables"]:
        lo, hi = scm["intervention_ranges"][v]
        mapped = (offsets[v] + scales[v] * lo, offsets[v] + scales[v] * hi)
        assert new["intervention_ranges"][v] == pytest.approx(mapped, rel=1e-12)
        width = hi - lo
        assert np.allclose(defaults[v], mapped, rtol=0, atol=rtol * scales[v] * width
                           + rtol * abs(offsets[v]))


def test_declared_ranges_and_the_rest_of_the_scm_are_kept():
    mechs = {"A": ac.linear_mechanism({}, intercept=1.0),
             "B": ac.linear_mechanism({"A": 2.0}, noise_scale=0.5),
             "Y": ac.linear_mechanism({"A": -1.0, "B": 0.5})}
    scm = ac.create_scm(["A", "B", "Y"], [("A", "B"), ("A", "Y"), ("B", "Y")], mechs, "Y",
                        metadata={"graph": "hand-made"}, intervenable=["B"],
                        intervention_ranges={"A": (-1.0, 3.0), "B": (0.0, 1.0),
                                             "Y": (-9.0, 9.0)})
    new = ac.change_units(scm, {"B": 100.0, "Y": 0.01}, {"B": -50.0})
    assert new["intervention_ranges"]["A"] == (-1.0, 3.0)
    assert new["intervention_ranges"]["B"] == (-50.0, 50.0)
    assert new["intervention_ranges"]["Y"] == pytest.approx((-0.09, 0.09))
    assert (new["variables"], new["edges"], new["target"], new["intervenable"]) == \
        (scm["variables"], scm["edges"], scm["target"], scm["intervenable"])
    assert new["metadata"]["graph"] == "hand-made"
    assert dict(new["metadata"]["units"]["scale"]) == {"A": 1.0, "B": 100.0, "Y": 0.01}
    assert dict(new["metadata"]["units"]["offset"]) == {"A": 0.0, "B": -50.0, "Y": 0.0}
    assert ac.scm_from_json(ac.scm_to_json(new)) == new
    # B' = -50 + 100 (2 A + 0.5 eps); Y' = 0.01 (-A + 0.5 B + eps), B = (B' + 50) / 100
    assert new["mechanisms"]["B"]["coefficients"] == (200.0,)
    assert new["mechanisms"]["B"]["intercept"] == -50.0
    assert new["mechanisms"]["B"]["noise_scale"] == 50.0
    y = new["mechanisms"]["Y"]
    assert y["coefficients"] == pytest.approx((-0.01, 0.00005))
    assert y["intercept"] == pytest.approx(0.0025)


def test_no_change_gives_the_same_mechanisms_and_changes_compose():
    scm = ac.erdos_renyi_scm(6, key=jax.random.key(6), mechanism="fourier")
    same = ac.change_units(scm)
    assert same["mechanisms"] == scm["mechanisms"]
    assert same["intervention_ranges"] == scm["intervention_ranges"]
    s1, o1 = _units(scm, 1)
    s2, o2 = _units(scm, 2)
    twice = ac.change_units(ac.change_units(scm, s1, o1), s2, o2)
    units = twice["metadata"]["units"]
    for v in scm["variables"]:
        assert units["scale"][v] == pytest.approx(s2[v] * s1[v])
        assert units["offset"][v] == pytest.approx(o2[v] + s2[v] * o1[v])
    once = ac.change_units(scm, dict(units["scale"]), dict(units["offset"]))
    key = jax.random.key(0)
    x_once = np.asarray(ac.sample_observational(once, 200, key=key), np.float64)
    x_twice = np.asarray(ac.sample_observational(twice, 200, key=key), np.float64)
    s = np.asarray([units["scale"][v] for v in scm["variables"]])
    np.testing.assert_allclose(x_once / s, x_twice / s, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("scales, offsets, error, needles", [
    ({"X0": 0.0}, None, errors.InvalidUnitsError, ["scales['X0']", "> 0", "0.0"]),
    ({"X1": -2.0}, None, errors.InvalidUnitsError, ["scales['X1']", "> 0", "-2.0"]),
    ({"X2": math.nan}, None, errors.InvalidUnitsError, ["scales['X2']", "finite", "nan"]),
    ({"X2": math.inf}, None, errors.InvalidUnitsError, ["scales['X2']", "finite", "inf"]),
    ({"X0": True}, None, errors.InvalidUnitsError, ["scales['X0']", "True"]),
    ({"X0": "1"}, None, errors.InvalidUnitsError, ["scales['X0']", "'1'"]),
    ([1.0, 2.0, 3.0], None, errors.InvalidUnitsError, ["scales", "map variable names", "list"]),
    ({"Q": 2.0}, None, errors.UnknownVariableError, ["scales", "'Q'"]),
    (None, {"X1": math.nan}, errors.InvalidUnitsError, ["offsets['X1']", "finite"]),
    (None, {"nope": 1.0}, errors.UnknownVariableError, ["offsets", "'nope'"]),
    (None, np.zeros(4), errors.InvalidUnitsError, ["offsets", "ndarray"]),
])
def test_bad_units_are_refused_naming_the_problem(scales, offsets, error, needles):
    scm = ac.erdos_renyi_scm(4, key=jax.random.key(0))
    with pytest.raises(error) as info:
        ac.change_units(scm, scales, offsets)
    assert isinstance(info.value, errors.ACBOError)
    for needle in needles:
        assert needle in str(info.value)


@pytest.mark.parametrize("make, var", [(ac.toy_graph_scm, "X"), (ac.psa_healthcare_scm, "age")])
def test_named_mechanisms_are_refused(make, var):
    with pytest.raises(errors.UnsupportedMechanismError, match=f"'{var}'.*'named'"):
        ac.change_units(make(), {var: 2.0})
