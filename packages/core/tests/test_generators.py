import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acbo_core as ac
from acbo_core import errors

GENERATORS = [ac.erdos_renyi_scm, ac.scale_free_scm]


def _positions(scm):
    return {v: i for i, v in enumerate(ac.topological_order(scm))}


@settings(max_examples=25, deadline=None)
@given(d=st.integers(2, 30), seed=st.integers(0, 2**31 - 1), deg=st.sampled_from([1.0, 2.0, 3.0]),
       gen=st.sampled_from(GENERATORS))
def test_random_generators_give_valid_dags(d, seed, deg, gen):
    deg = min(deg, d - 1)
    scm = gen(d, key=jax.random.key(seed), expected_degree=deg)
    pos = _positions(scm)
    assert all(pos[u] < pos[v] for u, v in scm["edges"])  # a DAG in its topological order
    assert set(scm["variables"]) == {f"X{i}" for i in range(d)}
    w, _, _ = ac.linear_coefficients(scm)
    nz = np.abs(w[w != 0])
    assert ((nz >= 0.5) & (nz <= 2.0)).all()  # weights bounded away from zero
    target_parents = ac.true_parents(scm)
    assert 1 <= len(target_parents)
    # target rule: no later variable has 1..3 parents when the target has 1..3
    if len(target_parents) <= 3:
        later = [v for v in scm["variables"] if pos[v] > pos[scm["target"]]]
        assert all(not 1 <= len(ac.get_parents(scm, v)) <= 3 for v in later)


def test_same_key_same_scm_and_different_keys_differ():
    a = ac.erdos_renyi_scm(15, key=jax.random.key(3))
    b = ac.erdos_renyi_scm(15, key=jax.random.key(3))
    c = ac.erdos_renyi_scm(15, key=jax.random.key(4))
    assert a == b and a != c
    assert ac.scm_to_json(a) == ac.scm_to_json(b)


def test_erdos_renyi_expected_degree():
    d, deg = 40, 2.0
    edges = [len(ac.erdos_renyi_scm(d, key=jax.random.key(s), expected_degree=deg)["edges"])
             for s in range(20)]
    # expected edges = d * deg / 2 = 40; the mean of 20 draws has sd ~ 1.4
    assert abs(np.mean(edges) - d * deg / 2) < 6


def test_scale_free_attachment():
    scm = ac.scale_free_scm(50, key=jax.random.key(0), expected_degree=4.0)
    order = ac.topological_order(scm)
    n_parents = [len(ac.get_parents(scm, v)) for v in order]
    assert n_parents[0] == 0 and n_parents[1] == 1 and all(k == 2 for k in n_parents[2:])
    out_degree = sorted((len(ac.get_children(scm, v)) for v in order), reverse=True)
    assert out_degree[0] >= 8  # hubs emerge


def test_shaped_generators():
    key = jax.random.key(0)
    chain = ac.chain_scm(5, key=key)
    assert len(chain["edges"]) == 4 and ac.topological_order(chain)[-1] == chain["target"]
    fork = ac.fork_scm(5, key=key)
    root = ac.topological_order(fork)[0]
    assert ac.get_children(fork, root) == set(fork["variables"]) - {root}
    assert ac.true_parents(fork) == {root}
    coll = ac.collider_scm(5, key=key)
    assert ac.true_parents(coll) == set(coll["variables"]) - {coll["target"]}
    star = ac.star_scm(7, key=key)
    assert len(ac.true_parents(star)) == 3
    assert len(ac.get_children(star, star["target"])) == 3
    nonlinear = ac.chain_scm(4, key=key, mechanism="fourier")
    assert not ac.is_linear_scm(nonlinear)
    with pytest.raises(errors.GraphGenerationError, match="unknown option"):
        ac.chain_scm(4, key=key, weights=(1, 2))


def test_generator_argument_errors():
    key = jax.random.key(0)
    with pytest.raises(errors.GraphGenerationError, match="n_vars"):
        ac.erdos_renyi_scm(1, key=key)
    with pytest.raises(errors.GraphGenerationError, match="expected_degree"):
        ac.erdos_renyi_scm(5, key=key, expected_degree=10)
    with pytest.raises(errors.GraphGenerationError, match="weight_range"):
        ac.erdos_renyi_scm(5, key=key, weight_range=(0.0, 1.0))
    with pytest.raises(errors.GraphGenerationError, match="mechanism"):
        ac.erdos_renyi_scm(5, key=key, mechanism="quadratic")


def test_named_benchmarks():
    toy = ac.toy_graph_scm()
    assert toy["target"] == "Y" and ac.true_parents(toy) == {"Z"}
    assert toy["intervention_ranges"]["X"] == (-5.0, 5.0)
    assert toy["intervention_ranges"]["Z"] == (-5.0, 20.0)
    z = ac.create_perfect_intervention("Z", -3.2)
    mean = ac.target_interventional_mean(toy, z, key=jax.random.key(0), n_samples=200_000)
    assert mean == pytest.approx(np.cos(-3.2) - np.exp(3.2 / 20), abs=0.01)
    psa = ac.psa_healthcare_scm()
    assert set(ac.intervenable_variables(psa)) == {"aspirin", "statin"}
    x = np.asarray(ac.sample_observational(psa, 20_000, key=jax.random.key(1)))
    age = x[:, psa["variables"].index("age")]
    assert 55 <= age.min() and age.max() <= 75 and abs(age.mean() - 65) < 0.2
