"""The benchmark's named problem families: which SCMs, and how a run on them is set up.

Each family is a fixed list of problems drawn from its own key stream, so the same name and
index always give the same SCM. Problems are drawn from the ``"report"`` stream; a separate
``"tune"`` stream (other keys, same distribution) is there for whoever tunes a method, so the
cases tuned on are never the ones reported.

=============  =======================================================================
family         problems
=============  =======================================================================
er20           linear Erdős–Rényi, d = 20, expected degree 2.5
er50           linear Erdős–Rényi, d = 50, expected degree 2.5
sf30           linear scale-free, d = 30, expected degree 2.5
fourier10      random-Fourier (nonlinear) Erdős–Rényi, d = 10, expected degree 2.5
fourier20      random-Fourier Erdős–Rényi, d = 20, expected degree 2.5
toy            the CBO toy graph X -> Z -> Y (one SCM; problems differ by run key only)
psa            the PSA healthcare graph (one SCM)
er20_noisy     er20 observed through noisy samples (``noiseless=False``)
ecoli70        pgmpy's fitted linear-Gaussian bnlearn network (46 nodes), several targets
magic_niab     pgmpy's magic-niab (44 nodes), several targets
=============  =======================================================================
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import jax

import acbo_core as ac
from acbo_core.errors import ConfigError

__all__ = ["Family", "FAMILIES", "family", "problem_key"]

SPLITS = ("report", "tune")


@dataclasses.dataclass(frozen=True)
class Family:
    """A named family of benchmark problems.

    Attributes:
      name: the family's name.
      description: one line for the report.
      make: ``(index, key) -> SCM``: problem ``index`` of the family.
      n_problems: problems per family in a full benchmark.
      nonlinear: whether its mechanisms are nonlinear (methods use random Fourier features;
        true means are Monte-Carlo estimates).
      run_overrides: settings of the run protocol that differ from the benchmark's defaults
        (e.g. ``{"noiseless": False}``).
      needs: the optional extra the family needs, if any.
    """

    name: str
    description: str
    make: Callable[[int, jax.Array], Mapping[str, Any]]
    n_problems: int = 10
    nonlinear: bool = False
    run_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    needs: str | None = None

    def problem(self, index: int, *, split: str = "report") -> Mapping[str, Any]:
        """Problem ``index`` of the family (the same SCM for the same name, index and split)."""
        return self.make(index, problem_key(self.name, index, split=split))


def problem_key(name: str, index: int, *, split: str = "report") -> jax.Array:
    """The key of problem ``index`` of family ``name`` in ``split``."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
    seed = zlib.crc32(f"acbo-benchmark/{split}/{name}".encode())
    return jax.random.fold_in(jax.random.key(seed), index)


def _er(d: int, mechanism: str = "linear") -> Callable[[int, jax.Array], Any]:
    return lambda i, key: ac.erdos_renyi_scm(d, key=key, expected_degree=2.5,
                                            mechanism=mechanism)


def _sf(d: int) -> Callable[[int, jax.Array], Any]:
    return lambda i, key: ac.scale_free_scm(d, key=key, expected_degree=2.5)


def _network(name: str) -> Callable[[int, jax.Array], Any]:
    def make(i: int, key: jax.Array) -> Any:
        from acbo.networks import network_scm, network_targets

        targets = network_targets(name, n=10)
        return network_scm(name, targets[i % len(targets)])

    return make


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("er20", "linear ER, d = 20, expected degree 2.5", _er(20)),
    Family("er50", "linear ER, d = 50, expected degree 2.5", _er(50)),
    Family("sf30", "linear scale-free, d = 30, expected degree 2.5", _sf(30)),
    Family("fourier10", "random-Fourier ER, d = 10, expected degree 2.5", _er(10, "fourier"),
           nonlinear=True),
    Family("fourier20", "random-Fourier ER, d = 20, expected degree 2.5", _er(20, "fourier"),
           nonlinear=True),
    Family("toy", "CBO toy graph X -> Z -> Y (one SCM, run keys differ)",
           lambda i, key: ac.toy_graph_scm(), nonlinear=True),
    Family("psa", "PSA healthcare graph (one SCM, run keys differ)",
           lambda i, key: ac.psa_healthcare_scm(), nonlinear=True),
    Family("er20_noisy", "linear ER, d = 20, noisy observations (noiseless = False)",
           _er(20), run_overrides={"noiseless": False}),
    Family("ecoli70", "bnlearn ecoli70 (pgmpy's fit, 46 nodes), 10 targets",
           _network("ecoli70"), needs="benchmarks"),
    Family("magic_niab", "bnlearn magic-niab (pgmpy's fit, 44 nodes), 10 targets",
           _network("magic-niab"), needs="benchmarks"),
)}


def family(name: str) -> Family:
    """The family called ``name``.

    Raises:
      ConfigError: an unknown name (the known ones are listed).
    """
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError(f"unknown benchmark family {name!r}; known: "
                          f"{', '.join(FAMILIES)}") from None
