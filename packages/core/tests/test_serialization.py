import json

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo_core import errors


@pytest.mark.parametrize("make", [
    lambda: ac.erdos_renyi_scm(12, key=jax.random.key(1)),
    lambda: ac.scale_free_scm(9, key=jax.random.key(2), mechanism="fourier"),
    ac.toy_graph_scm,
    ac.psa_healthcare_scm,
])
def test_scm_round_trip_is_exact(make, tmp_path):
    scm = make()
    assert ac.scm_from_json(ac.scm_to_json(scm)) == scm
    ac.save_scm(scm, tmp_path / "scm.json")
    assert ac.load_scm(tmp_path / "scm.json") == scm


def test_hand_written_scm_file(tmp_path):
    doc = {
        "variables": ["dose", "marker", "outcome"],
        "edges": [["dose", "marker"], ["marker", "outcome"]],
        "mechanisms": {
            "dose": {"type": "linear", "noise_scale": 1.0},
            "marker": {"type": "linear", "coefficients": {"dose": 0.8}},
            "outcome": {"type": "linear", "coefficients": {"marker": -1.2}, "intercept": 3},
        },
        "target": "outcome",
        "intervention_ranges": {"dose": [0, 10]},
    }
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(doc))
    scm = ac.load_scm(path)
    assert ac.true_parents(scm) == {"marker"} and scm["intervention_ranges"]["dose"] == (0, 10)
    assert ac.intervenable_variables(scm) == ("dose", "marker")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("target"), r"scm\.target: required"),
    (lambda d: d.update(edges=[["A"]]), r"scm\.edges\[0\]"),
    (lambda d: d["mechanisms"]["B"].update(coefficients=[1.0]),
     r"scm\.mechanisms\.B\.coefficients"),
    (lambda d: d["mechanisms"]["B"]["coefficients"].update(A="x"),
     r"scm\.mechanisms\.B\.coefficients\.A"),
    (lambda d: d["mechanisms"]["B"].update(type="cubic"), r"scm\.mechanisms\.B\.type"),
    (lambda d: d.update(version=7), "unsupported 'version' 7"),
    (lambda d: d.update(intervention_ranges={"A": ["lo", 1]}), r"scm\.intervention_ranges\.A"),
])
def test_malformed_scm_names_the_field(mutate, message):
    doc = {"schema": "acbo.scm", "version": 1, "variables": ["A", "B"], "edges": [["A", "B"]],
           "mechanisms": {"A": {"type": "linear"},
                          "B": {"type": "linear", "coefficients": {"A": 1.0}}},
           "target": "B"}
    mutate(doc)
    with pytest.raises(errors.SchemaError, match=message):
        ac.scm_from_json(json.dumps(doc))


def test_invalid_scm_in_file_gets_typed_error():
    doc = {"variables": ["A", "B"], "edges": [["A", "B"], ["B", "A"]],
           "mechanisms": {"A": {"type": "linear", "coefficients": {"B": 1}},
                          "B": {"type": "linear", "coefficients": {"A": 1}}}, "target": "B"}
    with pytest.raises(errors.CyclicGraphError):
        ac.scm_from_json(json.dumps(doc))
    with pytest.raises(errors.SchemaError, match="not valid JSON"):
        ac.scm_from_json("{nope")
    with pytest.raises(errors.SchemaError, match="cannot read"):
        ac.load_scm("/nonexistent/scm.json")


def test_buffer_and_posterior_round_trip():
    scm = ac.erdos_renyi_scm(6, key=jax.random.key(0))
    buf = ac.create_buffer(scm["variables"]).add_observations(
        np.asarray(ac.sample_observational(scm, 30, key=jax.random.key(1))))
    var = ac.intervenable_variables(scm)[1]
    do = ac.create_perfect_intervention(var, 0.25)
    buf = buf.add_interventions(do, np.asarray(
        ac.sample_interventional(scm, do, 4, key=jax.random.key(2))))
    back = ac.buffer_from_json(ac.buffer_to_json(buf))
    assert back.variables == buf.variables and back.interventions() == buf.interventions()
    for a, b in zip(back.to_arrays(), buf.to_arrays(), strict=True):
        np.testing.assert_array_equal(a, b)
    post = ac.ParentSetPosterior.from_log_weights(
        "Y", [(), ("A",), ("A", "B")], [0.1, -3.7, 2.2])
    again = ac.posterior_from_json(ac.posterior_to_json(post))
    assert again.parent_sets == post.parent_sets and again.target == "Y"
    np.testing.assert_array_equal(again.probs, post.probs)
    with pytest.raises(errors.SchemaError, match=r"posterior\.probs\[1\]"):
        ac.posterior_from_json(json.dumps({"target": "Y", "parent_sets": [[], ["A"]],
                                           "probs": [0.5, "x"]}))
    with pytest.raises(errors.SchemaError, match=r"buffer\.blocks\[0\]\.values"):
        ac.buffer_from_json(json.dumps({"variables": ["A"], "blocks": [{"values": 3}]}))
