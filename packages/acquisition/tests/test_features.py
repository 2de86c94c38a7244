import math

import numpy as np
import pytest

import acbo_acquisition as aq
import acbo_core as ac
from acbo_core import errors

F = aq.Feature  # the token's columns by name


def _rebuilt(state, values, variables, ranges, *, minimize=None, target=None):
    """The same data under another column order / units, as a new state."""
    buf = ac.create_buffer(variables)
    for block, iv in state.buffer.blocks():
        rows = values(block)
        if iv is None:
            buf = buf.add_observations(rows)
        else:
            var = next(iter(iv["targets"]))
            j = variables.index(var)
            buf = buf.add_interventions(ac.create_perfect_intervention(var, float(rows[0, j])),
                                        rows)
    post = state.posterior
    return ac.create_acquisition_state(buf, post, intervention_ranges=ranges, step=state.step,
                                       minimize=state.minimize if minimize is None else minimize)


def test_shapes_and_masks(small_state):
    x = aq.encode_state(small_state)
    d = len(small_state.buffer.variables)
    assert x.features.shape == (d, aq.N_FEATURES) and x.features.dtype == np.float32
    assert aq.N_FEATURES == len(F) == 23 and [int(f) for f in F] == list(range(23))
    t = small_state.buffer.variables.index(small_state.target)
    assert x.features[t, F.IS_TARGET] == 1 and x.features[:, F.IS_TARGET].sum() == 1
    assert not x.intervenable[t] and x.intervenable.sum() == len(small_state.intervenable)
    for var, (lo, hi) in small_state.intervention_ranges.items():
        j = small_state.buffer.variables.index(var)
        assert x.lo[j] == pytest.approx(lo) and x.hi[j] == pytest.approx(hi)
    marg = small_state.posterior.marginal_parent_probs(small_state.buffer.variables)
    np.testing.assert_allclose(x.features[:, F.PARENT_PROB],
                               [marg[v] for v in small_state.buffer.variables], rtol=1e-6)
    assert np.isfinite(x.features).all()


def test_intervention_summaries(small_state):
    x = aq.encode_state(small_state)
    hist = small_state.buffer.interventions()
    last = next(iter(hist[-1][0]["targets"]))
    j = small_state.buffer.variables.index(last)
    last_col = x.features[:, F.LAST_INTERVENED]
    assert last_col[j] == 1 and last_col.sum() == 1
    counts = {}
    for iv, n in hist:
        for v in iv["targets"]:
            counts[v] = counts.get(v, 0) + n
    for v, n in counts.items():
        assert x.features[small_state.buffer.variables.index(v), F.LOG_N_INTERVENED] == \
            pytest.approx(math.log1p(n))
    assert x.features[0, F.LOG_STEP] == pytest.approx(math.log1p(small_state.step))


def test_features_do_not_depend_on_units(small_state):
    """Rescaling and shifting every variable (data and ranges) leaves the tokens unchanged."""
    variables = small_state.buffer.variables
    a = np.linspace(0.5, 3.0, len(variables))
    c = np.linspace(-4.0, 4.0, len(variables))
    ranges = {v: (lo * a[variables.index(v)] + c[variables.index(v)],
                  hi * a[variables.index(v)] + c[variables.index(v)])
              for v, (lo, hi) in small_state.intervention_ranges.items()}
    scaled = _rebuilt(small_state, lambda r: r * a + c, variables, ranges)
    np.testing.assert_allclose(aq.encode_state(scaled).features,
                               aq.encode_state(small_state).features, atol=2e-4)


def test_maximising_is_minimising_the_negated_target(small_state):
    variables = small_state.buffer.variables
    t = variables.index(small_state.target)
    flip = np.ones(len(variables))
    flip[t] = -1
    negated = _rebuilt(small_state, lambda r: r * flip, variables,
                       dict(small_state.intervention_ranges), minimize=False)
    np.testing.assert_allclose(aq.encode_state(negated).features,
                               aq.encode_state(small_state).features, atol=2e-4)


def test_permuting_variables_permutes_tokens(small_state):
    variables = small_state.buffer.variables
    perm = np.random.default_rng(0).permutation(len(variables))
    order = tuple(variables[i] for i in perm)
    permuted = _rebuilt(small_state, lambda r: r[:, perm], order,
                        dict(small_state.intervention_ranges))
    a, b = aq.encode_state(small_state), aq.encode_state(permuted)
    np.testing.assert_allclose(b.features, a.features[perm], atol=1e-5)
    np.testing.assert_array_equal(b.intervenable, a.intervenable[perm])


def test_stack_pads(small_state, h):
    small = aq.encode_state(small_state)
    batch = aq.stack_inputs([small, small], n_vars=8)
    d = small.features.shape[0]
    assert batch.features.shape == (2, 8, aq.N_FEATURES)
    assert batch.valid[:, :d].all() and not batch.valid[:, d:].any()
    assert not batch.intervenable[:, d:].any() and (batch.features[:, d:] == 0).all()
    with pytest.raises(errors.ShapeMismatchError, match="more than n_vars"):
        aq.stack_inputs([small], n_vars=d - 1)
    with pytest.raises(errors.ShapeMismatchError):
        aq.stack_inputs([])


def _altered(state, **fields):
    """A state whose invariants were broken after construction (bypassing its checks)."""
    import copy

    bad = copy.copy(state)
    for k, v in fields.items():
        object.__setattr__(bad, k, v)
    return bad


def test_bad_states_raise_typed_errors(small_state):
    buf, post = small_state.buffer, small_state.posterior
    other = next(v for v in buf.variables if v != small_state.target)
    wrong_post = ac.ParentSetPosterior(other, (frozenset(),), [1.0])
    # core refuses to build them ...
    with pytest.raises(errors.InvalidStateError, match="posterior"):
        ac.AcquisitionState(buf, wrong_post, 0.0, small_state.target, 0, {other: (0, 1)})
    with pytest.raises(errors.InvalidStateError, match="no intervenable"):
        ac.create_acquisition_state(buf, post, intervention_ranges={})
    with pytest.raises(errors.InvalidInterventionError, match="lo < hi"):
        ac.create_acquisition_state(buf, post, intervention_ranges={other: (1.0, 1.0)})
    # ... and the policy re-checks states that were altered afterwards.
    with pytest.raises(errors.InvalidStateError, match="posterior"):
        aq.encode_state(_altered(small_state, posterior=wrong_post))
    with pytest.raises(errors.InvalidStateError, match="no intervenable"):
        aq.encode_state(_altered(small_state, intervention_ranges={}))
    with pytest.raises(errors.InvalidInterventionError, match="lo < hi"):
        aq.encode_state(_altered(small_state, intervention_ranges={other: (2.0, -2.0)}))
    with pytest.raises(errors.InvalidStateError, match="AcquisitionState"):
        aq.encode_state({"buffer": buf})


def test_posterior_slope_matches_per_set_regressions(small_state):
    """Features 4 and 5 against one least-squares fit per candidate set (no batching)."""
    x = aq.encode_state(small_state)
    variables = small_state.buffer.variables
    t = variables.index(small_state.target)
    values, mask = small_state.buffer.to_arrays()
    obs = ~mask.any(axis=1)
    z = (values - values[obs].mean(0)) / values[obs].std(0)
    rows = ~mask[:, t]
    mean, second = np.zeros(len(variables)), np.zeros(len(variables))
    for s, p in zip(small_state.posterior.parent_sets, small_state.posterior.probs, strict=True):
        if not s:
            continue
        cols = [variables.index(v) for v in sorted(s)]
        a = np.vstack([z[rows][:, cols], np.sqrt(1e-3 * rows.sum()) * np.eye(len(cols))])
        b = np.concatenate([z[rows, t], np.zeros(len(cols))])
        beta = np.linalg.lstsq(a, b, rcond=None)[0]
        mean[cols] += p * beta
        second[cols] += p * beta**2
    np.testing.assert_allclose(x.features[:, 4], mean, atol=1e-5)
    np.testing.assert_allclose(x.features[:, 5], np.sqrt(np.maximum(second - mean**2, 0)),
                               atol=1e-4)
