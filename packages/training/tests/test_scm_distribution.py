"""SCMDistribution: lists of graphs and mechanisms, degree ranges and random units, while every
existing setting keeps drawing exactly the SCMs it drew before these were added."""

import hashlib
import json

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo_core.configs import from_dict, to_dict
from acbo_training.demonstrations import SCMDistribution
from acbo_training.errors import ConfigError
from acbo_training.pipelines import load_pipeline_config

KEYS = (0, 1, 7)

# Digests of the SCMs drawn by the code before lists, degree ranges and units existed (commit
# 2332eda), for the keys above. Intervention ranges are left out: for Fourier SCMs they are
# estimated from float32 samples, which differ between kinds of CPU.
OLD = [
    ({"graph": "erdos_renyi", "n_vars": [6, 8], "expected_degree": 2.0, "mechanism": "linear"},
     ["5d341ec2292b4782", "cf20c6d1d3f593e6", "4a24b8e813be6259"]),
    ({}, ["81e0a9ad20e5e5d0", "6f2311954f69fad0", "1cea1b80b758ed3f"]),
    ({"graph": "scale_free", "n_vars": [5, 30], "expected_degree": 3.0, "mechanism": "fourier",
      "noise_scale": [0.1, 2.0]},
     ["778fd14c487d8447", "6a6273950b92696f", "7da08bcd265fb0fc"]),
    ({"graph": "erdos_renyi", "n_vars": [3, 4], "expected_degree": 5.0, "mechanism": "fourier",
      "weight_range": [1.0, 1.5]},
     ["f24f599e6245134e", "ee119235d7b8198c", "78dec77c576a357c"]),
]


def _digest(scm):
    doc = json.loads(ac.scm_to_json(scm))
    doc.pop("intervention_ranges")
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _old_sample(dist, key):
    """The sampling rule of commit 2332eda, restated."""
    k_size, k_graph = jax.random.split(key)
    d = int(jax.random.randint(k_size, (), dist.n_vars[0], dist.n_vars[1] + 1))
    make = ac.erdos_renyi_scm if dist.graph == "erdos_renyi" else ac.scale_free_scm
    return make(d, key=k_graph, expected_degree=min(dist.expected_degree, d - 1),
                mechanism=dist.mechanism, noise_scale=dist.noise_scale,
                weight_range=dist.weight_range)


@pytest.mark.parametrize("settings, digests", OLD)
def test_existing_settings_draw_the_same_scms(settings, digests):
    dist = from_dict(SCMDistribution, settings)
    for k, digest in zip(KEYS, digests, strict=True):
        scm = dist.sample(jax.random.key(k))
        assert _digest(scm) == digest
        assert scm == _old_sample(dist, jax.random.key(k))  # ranges included
        assert "units" not in scm["metadata"]


def test_one_element_lists_and_equal_bounds_mean_the_single_value():
    single = SCMDistribution(graph="scale_free", mechanism="fourier", expected_degree=3.0,
                             n_vars=(5, 7))
    listed = from_dict(SCMDistribution, {
        "graph": ["scale_free"], "mechanism": ["fourier"], "mechanism_probs": [1.0],
        "expected_degree": [3.0, 3.0], "n_vars": [5, 7]})
    for k in KEYS:
        assert listed.sample(jax.random.key(k)) == single.sample(jax.random.key(k))


def test_lists_draw_every_option_and_probabilities_are_followed():
    dist = SCMDistribution(graph=["erdos_renyi", "scale_free"], mechanism=["linear", "fourier"],
                           mechanism_probs=[0.8, 0.2], expected_degree=[1.0, 4.0],
                           n_vars=(5, 6))
    scms = [dist.sample(jax.random.key(k)) for k in range(60)]
    graphs = [s["metadata"]["graph"] for s in scms]
    mechs = [s["metadata"]["mechanism"] for s in scms]
    degrees = [s["metadata"]["expected_degree"] for s in scms]
    assert set(graphs) == {"erdos_renyi", "scale_free"}
    assert 20 <= graphs.count("scale_free") <= 40
    assert 3 <= mechs.count("fourier") <= 22  # 12 expected
    assert all(1.0 <= g <= 4.0 for g in degrees) and len(set(degrees)) > 30
    fourier_only = SCMDistribution(mechanism=["linear", "fourier"], mechanism_probs=[0.0, 1.0])
    assert {fourier_only.sample(jax.random.key(k))["metadata"]["mechanism"]
            for k in range(8)} == {"fourier"}


def test_degree_is_capped_at_d_minus_1():
    dist = SCMDistribution(n_vars=(3, 3), expected_degree=[10.0, 20.0])
    assert dist.sample(jax.random.key(0))["metadata"]["expected_degree"] == 2.0


def test_units_re_express_the_drawn_scm():
    plain = SCMDistribution(mechanism=["linear", "fourier"], n_vars=(6, 9))
    scaled = from_dict(SCMDistribution, {**to_dict(plain),
                                                "unit_scale_log10": [-3.0, 3.0],
                                                "offset_range": [-10.0, 10.0]})
    logs, ratios = [], []
    for k in range(6):
        base, scm = plain.sample(jax.random.key(k)), scaled.sample(jax.random.key(k))
        units = scm["metadata"]["units"]
        scales = np.asarray([units["scale"][v] for v in scm["variables"]])
        offsets = np.asarray([units["offset"][v] for v in scm["variables"]])
        logs += np.log10(scales).tolist()
        ratios += (offsets / scales).tolist()
        assert scm == ac.change_units(base, dict(units["scale"]), dict(units["offset"]))
        key = jax.random.key(100 + k)
        x = np.asarray(ac.sample_observational(base, 50, key=key), np.float64)
        y = np.asarray(ac.sample_observational(scm, 50, key=key), np.float64)
        np.testing.assert_allclose((y - offsets) / scales, x, rtol=1e-4,
                                   atol=1e-4 * (1 + np.abs(x).max()))
    assert min(logs) >= -3 and max(logs) <= 3 and max(logs) - min(logs) > 4
    assert min(ratios) >= -10 and max(ratios) <= 10 and max(ratios) - min(ratios) > 10
    only_offsets = SCMDistribution(offset_range=(1.0, 2.0)).sample(jax.random.key(0))
    assert set(only_offsets["metadata"]["units"]["scale"].values()) == {1.0}


def test_toml_list_forms_load_and_round_trip(tmp_path):
    path = tmp_path / "generalist.toml"
    path.write_text(
        "[demonstrations.distribution]\n"
        'graph = ["erdos_renyi", "scale_free"]\n'
        "n_vars = [5, 30]\n"
        "expected_degree = [1, 4]\n"
        'mechanism = ["linear", "fourier"]\n'
        "mechanism_probs = [0.7, 0.3]\n"
        "noise_scale = [0.1, 2.0]\n"
        "unit_scale_log10 = [-2, 3]\n"
        "offset_range = [-5.0, 5.0]\n"
        "[surrogate]\n"
        "pretrain_er_degree = [1.0, 4.0]\n"
        "synthetic_every = 4\n")
    config = load_pipeline_config(path)
    dist = config.demonstrations.distribution
    assert dist.graph == ("erdos_renyi", "scale_free") and dist.expected_degree == (1.0, 4.0)
    assert dist.mechanism_probs == (0.7, 0.3) and dist.unit_scale_log10 == (-2.0, 3.0)
    assert config.surrogate.pretrain_er_degree == (1.0, 4.0)
    assert config.surrogate.synthetic_every == 4
    data = to_dict(dist)
    assert data["graph"] == ["erdos_renyi", "scale_free"] and data["expected_degree"] == [1.0, 4.0]
    assert from_dict(SCMDistribution, json.loads(json.dumps(data))) == dist
    old = to_dict(SCMDistribution(graph="scale_free", expected_degree=3.0))
    assert old["graph"] == "scale_free" and old["expected_degree"] == 3.0
    assert from_dict(SCMDistribution, old) == SCMDistribution(graph="scale_free",
                                                                     expected_degree=3.0)


@pytest.mark.parametrize("override, needles", [
    ('graph=["erdos_renyi", "tree"]', ["distribution.graph[1] must be one of", "'tree'"]),
    ("graph=[]", ["distribution.graph", "non-empty"]),
    ('graph=["scale_free", "scale_free"]', ["distribution.graph", "distinct"]),
    ('graph=["scale_free", 3]', ["distribution.graph[1] must be one of", "got 3"]),
    ('mechanism=["linear", "quadratic"]', ["distribution.mechanism", "'quadratic'"]),
    ("expected_degree=[3.0, 1.0]", ["distribution.expected_degree", "lo <= hi"]),
    ("expected_degree=[0.0, 1.0]", ["distribution.expected_degree", "lo > 0"]),
    ("expected_degree=[nan, 1.0]", ["distribution.expected_degree[0] must be a finite"]),
    ("expected_degree=[1.0, 2.0, 3.0]", ["distribution.expected_degree"]),
    ('mechanism=["linear", "fourier"]', None),
    ("mechanism_probs=[0.5, 0.5]", ["distribution.mechanism_probs", "one probability per",
                                    "(1)"]),
    ('mechanism=["linear", "fourier"]\0mechanism_probs=[0.5, 0.6]',
     ["distribution.mechanism_probs", "summing to 1"]),
    ('mechanism=["linear", "fourier"]\0mechanism_probs=[1.5, -0.5]',
     ["distribution.mechanism_probs", ">= 0"]),
    ("unit_scale_log10=[2.0, 1.0]", ["distribution.unit_scale_log10", "lo <= hi"]),
    ("unit_scale_log10=[-9.0, 1.0]", ["distribution.unit_scale_log10", "lo >= -6"]),
    ("unit_scale_log10=[0.0, inf]", ["distribution.unit_scale_log10", "finite"]),
    ("offset_range=[0.0, 1e9]", ["distribution.offset_range", "hi <= 10000"]),
])
def test_bad_distributions_are_refused_naming_the_key(override, needles):
    overrides = [f"demonstrations.distribution.{o}" for o in override.split("\0")]
    if needles is None:  # a good one
        load_pipeline_config(None, overrides)
        return
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(None, overrides)
    assert str(info.value).startswith("demonstrations.distribution.")
    for needle in needles:
        assert needle in str(info.value)


def test_bad_distributions_built_in_python_name_the_class():
    with pytest.raises(ConfigError, match=r"^SCMDistribution\.graph must be one of"):
        SCMDistribution(graph="tree")
    with pytest.raises(ConfigError, match=r"^SCMDistribution\.graph\[1\] must be one of"):
        SCMDistribution(graph=("erdos_renyi", "tree"))
    with pytest.raises(ConfigError, match=r"^SCMDistribution\.mechanism_probs"):
        SCMDistribution(mechanism_probs=(0.5, 0.5))
    with pytest.raises(ConfigError, match=r"^SCMDistribution\.expected_degree.*> 0"):
        SCMDistribution(expected_degree=-1.0)
