import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo_core import errors


def test_append_is_persistent_and_columnar():
    buf0 = ac.create_buffer(["A", "B", "C"])
    buf1 = buf0.add_observations(np.arange(6.0).reshape(2, 3))
    do = ac.create_perfect_intervention("B", 5.0)
    buf2 = buf1.add_interventions(do, [[1.0, 5.0, 2.0]])
    assert (len(buf0), len(buf1), len(buf2)) == (0, 2, 3)
    values, mask = buf2.to_arrays()
    assert values.shape == (3, 3) and mask.tolist() == [[0, 0, 0], [0, 0, 0], [0, 1, 0]]
    values_p, mask_p = buf2.to_arrays(["C", "A", "B"])
    np.testing.assert_array_equal(values_p, values[:, [2, 0, 1]])
    assert mask_p[2].tolist() == [False, False, True]
    assert len(buf2.observational()) == 2 and len(buf2.interventional()) == 1
    assert buf2.n_observational == 2 and buf2.n_interventional == 1
    assert buf2.interventions() == ((do, 1),)
    assert len(buf1.to_arrays().values) == 2  # the old buffer is unchanged


def test_caller_array_is_not_aliased():
    data = np.zeros((2, 2))
    buf = ac.create_buffer(["A", "B"]).add_observations(data)
    data[0, 0] = 99.0
    assert buf.to_arrays().values[0, 0] == 0.0
    with pytest.raises(ValueError):
        buf.to_arrays().values[0, 0] = 1.0  # read-only


def test_samples_in_and_out():
    s = ac.create_sample({"A": 1.0, "B": 2.0})
    buf = ac.create_buffer(["A", "B"]).add_observations([s, s])
    do = ac.create_perfect_intervention("A", 3.0)
    buf = buf.add_interventions(do, [ac.create_sample({"A": 3.0, "B": 0.5}, ["A"])])
    out = buf.samples()
    assert out[0] == s and out[2].intervened == {"A"} and out[2]["B"] == 0.5
    assert not out[0].intervened and out[0].is_observational


def test_network_encoding():
    scm = ac.erdos_renyi_scm(5, key=jax.random.key(0))
    x = ac.sample_observational(scm, 50, key=jax.random.key(1))
    buf = ac.create_buffer(scm["variables"]).add_observations(np.asarray(x))
    var = ac.intervenable_variables(scm)[0]
    do = ac.create_perfect_intervention(var, 1.0)
    buf = buf.add_interventions(do, np.asarray(
        ac.sample_interventional(scm, do, 10, key=jax.random.key(2))))
    enc = np.asarray(buf.network_encoding(scm["variables"], scm["target"]))
    assert enc.shape == (60, 5, 3) and enc.dtype == np.float32
    np.testing.assert_allclose(enc[..., 0].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(enc[..., 0].std(0), 1, atol=1e-4)
    j = scm["variables"].index(var)
    assert enc[50:, j, 1].all() and not enc[:50, :, 1].any()
    t = scm["variables"].index(scm["target"])
    assert enc[:, t, 2].all() and enc[..., 2].sum() == 60


def test_buffer_errors():
    buf = ac.create_buffer(["A", "B"])
    with pytest.raises(errors.ShapeMismatchError, match=r"\[n, 2\]"):
        buf.add_observations(np.zeros((3, 4)))
    with pytest.raises(errors.NonFiniteDataError, match="'B'"):
        buf.add_observations([[1.0, float("nan")]])
    with pytest.raises(errors.UnknownVariableError, match="'Q'"):
        buf.add_interventions(ac.create_perfect_intervention("Q", 1.0), [[1.0, 1.0]])
    with pytest.raises(errors.InvalidInterventionError, match="'A'"):
        buf.add_interventions(ac.create_perfect_intervention("A", 1.0), [[2.0, 1.0]])
    with pytest.raises(errors.UnknownVariableError, match="'Q'"):
        buf.to_arrays(["A", "Q"])
    with pytest.raises(errors.ShapeMismatchError):
        buf.to_arrays(["A"])
    with pytest.raises(errors.UnknownVariableError, match="'Q'"):
        buf.network_encoding(None, "Q")
    with pytest.raises(errors.UnknownVariableError, match="'C'"):
        buf.add_observations([ac.create_sample({"A": 1.0, "B": 2.0, "C": 0.0})])
    with pytest.raises(errors.InvalidInterventionError, match="add_interventions"):
        buf.add_observations([ac.create_sample({"A": 1.0, "B": 2.0}, ["A"])])


def test_standardisation_is_one_convention_and_a_constant_column_encodes_as_zero():
    values = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 1e-12], [5.0, 5.0, 0.0]])
    mean, std = ac.standardisation(values)
    np.testing.assert_allclose(mean, values.mean(0))
    # A constant (or numerically constant) column gets std 1, not a division by ~0.
    np.testing.assert_allclose(std, [values[:, 0].std(), 1.0, 1.0])
    buf = ac.create_buffer(["A", "B", "C"]).add_observations(values)
    enc = np.asarray(buf.network_encoding(None, "A"))[..., 0]
    np.testing.assert_allclose(enc[:, 0], (values[:, 0] - 3.0) / values[:, 0].std(), rtol=1e-6)
    assert (enc[:, 1] == 0.0).all() and np.abs(enc[:, 2]).max() < 1e-11
    assert np.isfinite(enc).all()
