"""The real-parameterised benchmark networks read from pgmpy's bundled files (acbo.networks)."""

from __future__ import annotations

import importlib.resources
import importlib.util
import math
import sys

import jax
import numpy as np
import pytest

import acbo_core as ac
from acbo import networks
from acbo.networks import NETWORKS, network_scm, network_targets
from acbo_core.errors import ConfigError

needs_pgmpy = pytest.mark.skipif(importlib.util.find_spec("pgmpy") is None,
                                 reason="the benchmarks extra (pgmpy) is not installed")

SIZES = {"ecoli70": (46, 70), "magic-niab": (44, 66)}
# The lists the module docstring documents (k_max = 3).
TARGETS_10 = {
    "ecoli70": ["ftsJ", "mopB", "b1583", "dnaG", "yaeM", "ycgX", "lacZ", "b1963", "dnaK", "lacY"],
    "magic-niab": ["YLD", "YR_FIELD", "FUS", "YR_GLASS", "FT", "HT", "MIL", "G1800", "G1789",
                   "G266"],
}
TARGETS_5 = {
    "ecoli70": ["ftsJ", "mopB", "b1583", "dnaG", "lacY"],
    "magic-niab": ["YLD", "YR_FIELD", "FUS", "YR_GLASS", "FT"],
}
INSTALL_HINT = r"pip install 'acbo\[benchmarks\]'"


def _pgmpy_model(name: str):
    """The network as pgmpy's own reader builds it from the same bundled file."""
    from pgmpy.models import LinearGaussianBayesianNetwork

    ref = importlib.resources.files("pgmpy") / "utils" / "example_models" / f"{name}.json"
    with ref.open("rb") as f:
        return LinearGaussianBayesianNetwork.load(f)


@needs_pgmpy
@pytest.mark.parametrize("name", NETWORKS)
def test_network_loads_as_a_valid_linear_scm(name):
    target = network_targets(name)[0]
    scm = network_scm(name, target)
    n_nodes, n_edges = SIZES[name]
    assert len(scm["variables"]) == n_nodes and len(scm["edges"]) == n_edges
    assert ac.is_linear_scm(scm)
    assert scm["target"] == target
    assert set(scm["intervenable"]) == set(scm["variables"]) - {target}
    assert set(scm["intervention_ranges"]) == set(scm["variables"])
    assert scm["metadata"]["name"] == name and scm["metadata"]["minimize"] is True
    assert ac.scm_from_json(ac.scm_to_json(scm)) == scm
    assert all(v.replace("_", "").isalnum() for v in scm["variables"])


@needs_pgmpy
def test_awkward_names_are_sanitised_and_kept_in_metadata():
    scm = network_scm("magic-niab", "YR.FIELD")  # the original name is accepted too
    assert scm["target"] == "YR_FIELD"
    assert dict(scm["metadata"]["original_names"]) == {"YR_FIELD": "YR.FIELD",
                                                      "YR_GLASS": "YR.GLASS"}
    assert "YR.FIELD" not in scm["variables"]


@needs_pgmpy
@pytest.mark.parametrize("name", NETWORKS)
def test_parameters_and_ranges_match_pgmpys_own_reading(name):
    import networkx as nx

    model = _pgmpy_model(name)
    scm = network_scm(name, network_targets(name)[0])
    renamed = {old: new for new, old in scm["metadata"]["original_names"].items()}

    def new(v: str) -> str:
        return renamed.get(v, v)

    for cpd in model.get_cpds():
        mech = scm["mechanisms"][new(cpd.variable)]
        assert mech["parents"] == tuple(new(p) for p in cpd.evidence)
        np.testing.assert_allclose(mech["coefficients"], cpd.beta[1:], rtol=0, atol=1e-12)
        assert mech["intercept"] == pytest.approx(cpd.beta[0], abs=1e-12)
        assert mech["noise_scale"] == pytest.approx(cpd.std, abs=1e-12)
    # pgmpy's joint Gaussian gives the observational mean and std behind the ranges.
    mean, cov = model.to_joint_gaussian()
    for j, v in enumerate(nx.topological_sort(model)):
        lo, hi = scm["intervention_ranges"][new(v)]
        sd = math.sqrt(cov[j, j])
        assert (lo, hi) == pytest.approx((mean[j] - 2 * sd, mean[j] + 2 * sd), abs=1e-6)


@needs_pgmpy
def test_one_node_coefficients_match_the_raw_file():
    # magic-niab's YR.FIELD: 9 parents, a renamed node and renamed parent (YR.GLASS).
    mech = network_scm("magic-niab", "YLD")["mechanisms"]["YR_FIELD"]
    assert mech["parents"] == ("YR_GLASS", "FT", "G418", "G200", "G257", "G2208", "G1373",
                               "G599", "G261")
    assert mech["coefficients"][:3] == (0.2713, -0.0243, 0.089)
    assert mech["intercept"] == 2.323
    assert mech["noise_scale"] == pytest.approx(math.sqrt(0.1618))


@needs_pgmpy
@pytest.mark.parametrize("name", NETWORKS)
def test_targets_are_as_documented(name):
    assert network_targets(name, n=10) == TARGETS_10[name]
    assert network_targets(name) == TARGETS_5[name]
    scm = network_scm(name, TARGETS_10[name][0])
    for t in TARGETS_10[name]:
        assert ac.get_ancestors(scm, t)
    assert max(len(ac.get_parents(scm, t)) for t in TARGETS_5[name]) > 3
    # The target with more than k_max parents is forced in only where the ranking lacks one.
    assert network_targets("ecoli70", k_max=4, n=10)[-1] == "folK"


@needs_pgmpy
@pytest.mark.parametrize("name", NETWORKS)
def test_exact_observational_mean_matches_monte_carlo(name):
    scm = network_scm(name, network_targets(name)[0])
    j = scm["variables"].index(scm["target"])
    exact = ac.exact_interventional_mean(scm, None)[j]
    n = 100_000
    x = np.asarray(ac.sample_observational(scm, n, key=jax.random.key(0)), np.float64)[:, j]
    lo, hi = scm["intervention_ranges"][scm["target"]]
    assert x.std() == pytest.approx((hi - lo) / 4, rel=0.02)
    assert abs(x.mean() - exact) < 5 * x.std() / math.sqrt(n)


def test_missing_pgmpy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pgmpy", None)  # import pgmpy now raises
    with pytest.raises(ConfigError, match=INSTALL_HINT):
        network_scm("ecoli70", "ftsJ")
    with pytest.raises(ConfigError, match=INSTALL_HINT):
        network_targets("magic-niab")


def test_missing_or_changed_bundled_file_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(networks.importlib.resources, "files", lambda package: tmp_path)
    with pytest.raises(ConfigError, match="no bundled file pgmpy/utils/example_models/"
                                          "ecoli70.json.*" + INSTALL_HINT):
        network_scm("ecoli70", "ftsJ")
    folder = tmp_path / "utils" / "example_models"
    folder.mkdir(parents=True)
    (folder / "ecoli70.json").write_text('{"nodes": [], "arcs": [], "cpds": {}}')
    with pytest.raises(ConfigError, match="SHA-256.*" + INSTALL_HINT):
        network_targets("ecoli70")


@needs_pgmpy
def test_bad_names_and_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="unknown network 'alarm'"):
        network_scm("alarm", "X")
    with pytest.raises(ConfigError, match="no variable 'nope'"):
        network_scm("ecoli70", "nope")
    with pytest.raises(ConfigError, match="'cspG' has no parent"):
        network_scm("ecoli70", "cspG")
    with pytest.raises(ConfigError, match="k_max must be"):
        network_targets("ecoli70", k_max=0)
