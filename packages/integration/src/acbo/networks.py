"""Real-parameterised benchmark problems: pgmpy's fitted linear-Gaussian bnlearn networks.

``ecoli70`` (46 genes of *E. coli*, 70 arcs) and ``magic-niab`` (44 wheat traits and markers,
66 arcs) are Gaussian Bayesian networks fitted to real data (bnlearn's repository), with
arbitrary scales and intercepts. They are read from the JSON files bundled in the installed
pgmpy wheel (``pgmpy/utils/example_models/<name>.json``) through :mod:`importlib.resources`;
nothing is downloaded (pgmpy's own ``example_models.load_model`` fetches from the Hugging Face
Hub, so it is not used). Install them with ``pip install 'acbo[benchmarks]'`` (pgmpy 1.1.x: the
first line without a hard torch dependency). The files' SHA-256 digests are checked, so a pgmpy
whose bundled parameters differ is refused rather than silently changing the benchmark.

Each node of the file has an intercept, a coefficient per parent and a residual *variance*;
it becomes the linear mechanism ``x = intercept + sum_p coefficient_p * x_p + sqrt(variance) *
eps`` (pgmpy's own reading: ``LinearGaussianCPD(std=sqrt(variance))``). Names outside
``[A-Za-z0-9_]`` are sanitised (``YR.GLASS`` -> ``YR_GLASS``), the originals kept in the SCM's
metadata. Every variable but the target is intervenable, over its observational mean +- 2
standard deviations (exact, :func:`acbo_core.default_intervention_ranges`); the target is
minimised.

Targets (:func:`network_targets`): the variables with at least one parent, ranked by number of
ancestors (more first: larger search spaces), then number of parents (more first), then name;
the first ``n`` are taken, and when none of them has more than ``k_max`` parents but the
network has such a variable, the last one taken is replaced by the best-ranked such variable.
With the defaults of the benchmark (``k_max = 3``, ``n = 10``), as ``name (parents,
ancestors)``:

- ecoli70: ftsJ (1, 14), mopB (2, 13), b1583 (3, 11), dnaG (2, 10), yaeM (3, 9), ycgX (2, 9),
  lacZ (3, 8), b1963 (1, 8), dnaK (1, 8), lacY (4, 7) -- lacY, the only node of ecoli70 with
  more than 3 parents, replaces folK (1, 8);
- magic-niab: YLD (7, 34), YR_FIELD (9, 29), FUS (6, 16), YR_GLASS (8, 14), FT (7, 14),
  HT (7, 11), MIL (5, 6), G1800 (4, 5), G1789 (1, 4), G266 (2, 3).

With ``n = 5``: ecoli70 ftsJ, mopB, b1583, dnaG, lacY; magic-niab YLD, YR_FIELD, FUS,
YR_GLASS, FT.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import pyrsistent as pyr

import acbo_core as ac
from acbo_core.errors import ConfigError

__all__ = ["NETWORKS", "network_scm", "network_targets"]

NETWORKS = ("ecoli70", "magic-niab")

_PACKAGE = "pgmpy"
_FILES = {
    "ecoli70": "utils/example_models/ecoli70.json",
    "magic-niab": "utils/example_models/magic-niab.json",
}
# The files of pgmpy 1.1.0-1.1.2 (identical in both); the benchmark is defined on these.
_SHA256 = {
    "ecoli70": "e3cfe98302c885deb4f13f012e9209b03ef803e718ba7ca666fb09324b2ad921",
    "magic-niab": "1694a2ccae07a5cee0a1fa9e3131f3f2d552a79c825fddecfaa996624e629d6d",
}
_INSTALL = "pip install 'acbo[benchmarks]'"


def _check_name(name: str) -> None:
    if name not in NETWORKS:
        raise ConfigError(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")


def _read(name: str) -> tuple[bytes, str]:
    """The bundled file's bytes and its path in pgmpy.

    The metadata records the path and the digest, not pgmpy's version, so every pgmpy that
    bundles the same file (1.1.0 and 1.1.2 do) gives the same SCM.
    """
    path = _FILES[name]
    try:
        root = importlib.resources.files(_PACKAGE)
    except ImportError as exc:
        raise ConfigError(f"network {name!r} is read from the pgmpy package, which cannot be "
                          f"imported ({exc}); {_INSTALL}") from None
    try:
        ref = root
        for part in path.split("/"):
            ref = ref / part
        data = ref.read_bytes()
    except OSError as exc:
        raise ConfigError(f"network {name!r}: the installed pgmpy has no bundled file "
                          f"pgmpy/{path} ({type(exc).__name__}); {_INSTALL}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != _SHA256[name]:
        raise ConfigError(f"network {name!r}: pgmpy/{path} has SHA-256 {digest}, not the "
                          f"{_SHA256[name]} the benchmark is defined on; {_INSTALL} (pgmpy 1.1.x)")
    return data, f"pgmpy/{path}"


def _sanitise(original: str) -> str:
    name = re.sub(r"[^0-9A-Za-z_]", "_", original)
    return name if name and not name[0].isdigit() else f"v_{name}"


def _parse(name: str) -> dict[str, Any]:
    """Nodes (sanitised, file order), renaming, parents, mechanisms and metadata of a network."""
    data, source = _read(name)
    where = f"network {name!r} (pgmpy/{_FILES[name]})"
    doc = json.loads(data)
    nodes = [str(v) for v in doc["nodes"]]
    rename = {v: _sanitise(v) for v in nodes}
    if len(set(rename.values())) != len(nodes):
        raise ConfigError(f"{where}: sanitised variable names collide")
    parents: dict[str, tuple[str, ...]] = {}
    mechanisms: dict[str, pyr.PMap] = {}
    for v in nodes:
        cpd = doc["cpds"][v]
        coefs = cpd["coefficients"]
        variance = float(cpd["variance"][0])
        if not (math.isfinite(variance) and variance > 0):
            raise ConfigError(f"{where}: node {v!r} has residual variance {variance}")
        pa = tuple(str(p) for p in cpd["parents"])
        parents[rename[v]] = tuple(rename[p] for p in pa)
        mechanisms[rename[v]] = ac.linear_mechanism(
            {rename[p]: float(coefs[p][0]) for p in pa},
            intercept=float(coefs["(Intercept)"][0]),
            noise_scale=math.sqrt(variance),
        )
    arcs = {(rename[str(u)], rename[str(v)]) for u, v in doc["arcs"]}
    if arcs != {(p, v) for v, pa in parents.items() for p in pa}:
        raise ConfigError(f"{where}: its arcs differ from the parents of its nodes")
    return {
        "variables": tuple(rename[v] for v in nodes),
        "rename": rename,
        "parents": parents,
        "mechanisms": mechanisms,
        "source": source,
    }


def _ancestor_counts(parents: Mapping[str, tuple[str, ...]]) -> dict[str, int]:
    memo: dict[str, frozenset[str]] = {}

    def ancestors(v: str) -> frozenset[str]:
        if v not in memo:
            out: set[str] = set()
            for p in parents[v]:
                out |= {p} | ancestors(p)
            memo[v] = frozenset(out)
        return memo[v]

    return {v: len(ancestors(v)) for v in parents}


def network_scm(name: str, target: str) -> pyr.PMap:
    """The SCM of a bundled network with the given target.

    Args:
      name: one of :data:`NETWORKS`.
      target: the variable to minimise, by its SCM (sanitised) or original name; it must have
        at least one parent.

    Returns:
      A linear SCM (see the module docstring); its metadata records the network, the source
      file and its SHA-256, the original names of renamed variables, and ``minimize = True``.

    Raises:
      ConfigError: an unknown network or target, a target without parents, or pgmpy (the
        ``benchmarks`` extra) or its bundled file missing or different.
    """
    _check_name(name)
    net = _parse(name)
    target = net["rename"].get(target, target)
    if target not in net["parents"]:
        raise ConfigError(f"network {name!r} has no variable {target!r}")
    if not net["parents"][target]:
        raise ConfigError(f"network {name!r}: target {target!r} has no parent, so no "
                          "intervention moves it")
    variables = net["variables"]
    edges = [(p, v) for v in variables for p in net["parents"][v]]
    metadata = {
        "name": name,
        "graph": "bnlearn",
        "mechanism": "linear",
        "n_vars": len(variables),
        "source": net["source"],
        "sha256": _SHA256[name],
        "original_names": {new: old for old, new in net["rename"].items() if new != old},
        "minimize": True,
    }
    return ac.create_scm(variables, edges, net["mechanisms"], target, metadata)


def network_targets(name: str, k_max: int = 3, n: int = 5) -> list[str]:
    """A fixed choice of ``n`` targets of a network (the rule and lists: module docstring).

    Args:
      name: one of :data:`NETWORKS`.
      k_max: the methods' largest parent set; a target with more parents is included when the
        network has one.
      n: how many targets (all variables with a parent if fewer).

    Returns:
      SCM (sanitised) variable names, best-ranked first.

    Raises:
      ConfigError: an unknown network, ``k_max`` or ``n`` below 1, or pgmpy missing.
    """
    _check_name(name)
    for key, value in (("k_max", k_max), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"network_targets: {key} must be an integer >= 1, got {value!r}")
    parents = _parse(name)["parents"]
    n_anc = _ancestor_counts(parents)
    ranked = sorted((v for v in parents if parents[v]),
                    key=lambda v: (-n_anc[v], -len(parents[v]), v))
    chosen = ranked[:n]
    wide = [v for v in ranked if len(parents[v]) > k_max]
    if wide and not any(len(parents[v]) > k_max for v in chosen):
        chosen[-1] = wide[0]
    return chosen
