"""The system does not depend on the units of the data: the same problem in other units (every
variable scaled and shifted) gets the same decisions, in those units."""

from __future__ import annotations

import jax
import numpy as np

import acbo_core as ac


def test_same_decisions_in_other_units(system):
    scm = ac.erdos_renyi_scm(5, key=jax.random.key(3), expected_degree=2.0)
    names = scm["variables"]
    scales = {v: 10.0 ** e for v, e in zip(names, (-2, 3, 0.5, 1, -1), strict=True)}
    offsets = {v: o * scales[v] for v, o in zip(names, (4, -3, 1, 0, 2), strict=True)}
    other = ac.change_units(scm, scales=scales, offsets=offsets)
    a = system.run_optimization(scm, 4, key=jax.random.key(5))
    b = system.run_optimization(other, 4, key=jax.random.key(5))
    for do_a, do_b in zip(a.interventions, b.interventions, strict=True):
        (var,) = tuple(do_a["targets"])
        assert tuple(do_b["targets"]) == (var,)
        lo, hi = scm["intervention_ranges"][var]
        mapped = offsets[var] + scales[var] * float(do_a["values"][var])
        assert abs(float(do_b["values"][var]) - mapped) <= 1e-3 * scales[var] * (hi - lo)
    t = scm["target"]
    np.testing.assert_allclose(np.asarray(b.outcomes),
                               offsets[t] + scales[t] * np.asarray(a.outcomes),
                               rtol=1e-3, atol=1e-3 * scales[t])
