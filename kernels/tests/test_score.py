"""score_parent_sets: native kernel vs pure-JAX reference vs independent float64 formulas.

The independent checks are written from the marginal distribution of y over the rows used,
never from the Gram matrix: known noise y ~ N(0, s_t^2 X_S X_S^T + s_y^2 I) and NIG
y ~ Student-t_{2 a0}(0, (b0 / a0)(I + c X_S X_S^T)), with an intercept as an extra column of
ones in X_S. Those two densities are themselves checked against scipy.stats.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import acbo_kernels as ak
from acbo_kernels import reference

SETTINGS = settings(max_examples=10, deadline=None, derandomize=True)


def _marginal(x, used, t, members, prior):
    """(y, covariance or scale matrix, degrees of freedom or None) of y over the used rows."""
    x = np.asarray(x, np.float64)[np.asarray(used, bool)]
    n = x.shape[0]
    y = x[:, t]
    cols = [x[:, v] for v in members if v >= 0]
    if prior.intercept:
        cols.append(np.ones(n))
    xs = np.stack(cols, axis=1) if cols else np.zeros((n, 0))
    if isinstance(prior, ak.GaussianPrior):
        return y, prior.sigma_theta**2 * xs @ xs.T + prior.sigma_y**2 * np.eye(n), None
    return y, (prior.b0 / prior.a0) * (np.eye(n) + prior.c * xs @ xs.T), 2 * prior.a0


def exact_logml(x, used, t, members, prior) -> float:
    """float64 log density of y under its marginal (n x n matrices, no Gram, no Woodbury)."""
    y, cov, df = _marginal(x, used, t, members, prior)
    n = len(y)
    if n == 0:
        return 0.0
    _, logdet = np.linalg.slogdet(cov)
    quad = y @ np.linalg.solve(cov, y)
    if df is None:
        return float(-0.5 * (n * np.log(2 * np.pi) + logdet + quad))
    return float(
        scipy.special.gammaln((df + n) / 2) - scipy.special.gammaln(df / 2)
        - 0.5 * n * np.log(df * np.pi) - 0.5 * logdet - 0.5 * (df + n) * np.log1p(quad / df)
    )


@pytest.mark.parametrize(
    "prior", [ak.GaussianPrior(0.6, 1.7, intercept=True), ak.NIGPrior(1.5, 2.5, 0.8)]
)
def test_exact_formula_agrees_with_scipy(prior):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4))
    used = rng.random(12) < 0.8
    y, cov, df = _marginal(x, used, 3, [0, 2], prior)
    dist = (scipy.stats.multivariate_normal(np.zeros(len(y)), cov) if df is None
            else scipy.stats.multivariate_t(np.zeros(len(y)), cov, df=df))
    assert exact_logml(x, used, 3, [0, 2], prior) == pytest.approx(dist.logpdf(y), rel=1e-10)


def exact_table(X, intervened, target, sets, prior, row_mask=None) -> np.ndarray:
    B, N, _ = X.shape
    out = np.empty((B, len(sets)))
    for b in range(B):
        used = ~np.asarray(intervened[b, :, target[b]], bool)
        if row_mask is not None:
            used &= np.asarray(row_mask[b], bool)
        for k, s in enumerate(sets):
            if target[b] in s:
                out[b, k] = -np.inf
            else:
                out[b, k] = exact_logml(X[b], used, int(target[b]), s, prior)
    return out


def assert_scores_close(got, want, rtol, atol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    fin = np.isfinite(want)
    assert np.isfinite(got[fin]).all()
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=atol)


def random_problem(seed, B, N, d, k_max, p_int=0.2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(B, N, d))
    X[:, :, 1:] += 0.7 * X[:, :, :-1]  # correlated columns, so sets differ in score
    X = X.astype(np.float32)
    intervened = rng.random((B, N, d)) < p_int
    target = rng.integers(0, d, size=B).astype(np.int32)
    sets = ak.enumerate_parent_sets(d, None, k_max)
    return X, intervened, target, sets


priors = st.one_of(
    st.builds(
        ak.GaussianPrior,
        sigma_y=st.floats(0.3, 3.0),
        sigma_theta=st.floats(0.3, 3.0),
        intercept=st.booleans(),
    ),
    st.builds(
        ak.NIGPrior,
        c=st.floats(0.2, 5.0),
        a0=st.floats(0.5, 5.0),
        b0=st.floats(0.2, 5.0),
        intercept=st.booleans(),
    ),
)


@SETTINGS
@given(
    seed=st.integers(0, 2**31),
    B=st.integers(1, 3),
    N=st.integers(1, 40),
    d=st.integers(2, 6),
    k_max=st.integers(0, 3),
    prior=priors,
)
def test_kernel_matches_exact_formula(seed, B, N, d, k_max, prior):
    X, intervened, target, sets = random_problem(seed, B, N, d, k_max)
    got = ak.score_parent_sets(X, intervened, target, sets, prior=prior)
    want = exact_table(X, intervened, target, sets, prior)
    assert got.dtype == jnp.float32 and got.shape == (B, len(sets))
    assert_scores_close(got, want, rtol=2e-6, atol=2e-4)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31), N=st.integers(1, 40), d=st.integers(2, 6), prior=priors)
def test_reference_matches_exact_formula_in_float64(seed, N, d, prior):
    X, intervened, target, sets = random_problem(seed, 2, N, d, 3)
    want = exact_table(X, intervened, target, sets, prior)
    with jax.enable_x64(True):
        got = reference.score_parent_sets(X, intervened, target, sets, prior=prior)
    assert_scores_close(got, want, rtol=2e-6, atol=2e-4)


@pytest.mark.parametrize("prior", [ak.GaussianPrior(), ak.NIGPrior(c=2.0, a0=3.0, b0=2.0)])
def test_kernel_matches_float32_reference_at_size(prior):
    X, intervened, target, sets = random_problem(3, 2, 400, 12, 3)
    got = ak.score_parent_sets(X, intervened, target, sets, prior=prior)
    ref = reference.score_parent_sets(X, intervened, target, sets, prior=prior)
    # float32 Gram in the reference: about 1e-6 relative on sums of 400 products
    assert_scores_close(got, ref, rtol=1e-4, atol=1e-2)
    rows = np.random.default_rng(0).integers(0, len(sets), 6)
    want = exact_table(X, intervened, target, sets[rows], prior)
    assert_scores_close(np.asarray(got)[:, rows], want, rtol=2e-6, atol=1e-3)


def test_empty_set_closed_form():
    X, intervened, target, _ = random_problem(1, 2, 30, 4, 2)
    prior = ak.GaussianPrior(sigma_y=0.7)
    sets = np.full((1, 2), -1, np.int32)
    got = np.asarray(ak.score_parent_sets(X, intervened, target, sets, prior=prior))[:, 0]
    for b in range(2):
        y = X[b, ~intervened[b, :, target[b]], target[b]].astype(np.float64)
        want = -0.5 * len(y) * np.log(2 * np.pi * 0.49) - y @ y / (2 * 0.49)
        assert got[b] == pytest.approx(want, rel=1e-6)


def test_full_size_sets_and_padding_position():
    X, intervened, _, _ = random_problem(2, 1, 25, 5, 3)
    target = np.array([4], np.int32)
    sets = np.array([[0, 1, 2], [1, 2, 3], [-1, 0, 3], [0, 3, -1], [3, -1, 0]], np.int32)
    got = np.asarray(ak.score_parent_sets(X, intervened, target, sets))
    want = exact_table(X, intervened, target, sets, ak.GaussianPrior())
    assert_scores_close(got, want, rtol=2e-6, atol=2e-4)
    # the same set however it is padded
    assert got[0, 2] == got[0, 3] == got[0, 4]


def test_fewer_rows_than_set_members():
    X, intervened, target, sets = random_problem(4, 2, 2, 5, 3, p_int=0.0)
    for prior in (ak.GaussianPrior(), ak.NIGPrior(intercept=True)):
        got = ak.score_parent_sets(X, intervened, target, sets, prior=prior)
        assert_scores_close(got, exact_table(X, intervened, target, sets, prior), 2e-6, 2e-4)


def test_constant_and_zero_columns():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1, 30, 5)).astype(np.float32)
    X[0, :, 1] = 2.5  # constant: collinear with an intercept
    X[0, :, 2] = 0.0  # all zeros: X_S^T X_S singular, the prior keeps A positive definite
    intervened = np.zeros(X.shape, bool)
    target = np.array([0], np.int32)
    sets = ak.enumerate_parent_sets(5, 0, 3)
    for prior in (ak.GaussianPrior(intercept=True), ak.NIGPrior(c=3.0, intercept=True)):
        got = ak.score_parent_sets(X, intervened, target, sets, prior=prior)
        assert_scores_close(got, exact_table(X, intervened, target, sets, prior), 2e-6, 2e-4)
    # a zero column adds nothing to the model: same score as the set without it
    got = np.asarray(ak.score_parent_sets(X, intervened, target, np.array([[3, -1], [2, 3]])))
    assert got[0, 0] == pytest.approx(got[0, 1], abs=1e-4)


def test_every_row_intervened_or_masked_scores_zero():
    X, _, _, sets = random_problem(6, 3, 10, 4, 2)
    target = np.array([0, 1, 2], np.int32)
    intervened = np.zeros(X.shape, bool)
    intervened[0, :, 0] = True  # element 0: its target intervened everywhere
    row_mask = np.ones((3, 10), bool)
    row_mask[1] = False  # element 1: every row masked out
    for prior in (ak.GaussianPrior(), ak.NIGPrior(intercept=True)):
        got = np.asarray(
            ak.score_parent_sets(X, intervened, target, sets, prior=prior, row_mask=row_mask)
        )
        for b in (0, 1):
            own = np.array([target[b] in s for s in sets])
            assert np.all(got[b, own] == -np.inf)
            assert np.all(got[b, ~own] == 0.0)
        assert np.all(np.isfinite(got[2, [target[2] not in s for s in sets]]))
        assert np.all(got[2] != 0.0)


def test_zero_rows_at_all():
    X = np.zeros((2, 0, 3), np.float32)
    got = ak.score_parent_sets(X, np.zeros(X.shape, bool), np.array([0, 2]),
                               ak.enumerate_parent_sets(3, None, 1))
    np.testing.assert_array_equal(got, [[0.0, -np.inf, 0.0, 0.0], [0.0, 0.0, 0.0, -np.inf]])


def test_left_out_rows_are_the_same_as_deleted_rows():
    X, intervened, _, sets = random_problem(7, 1, 40, 5, 2)
    target = np.array([3], np.int32)
    row_mask = np.random.default_rng(1).random((1, 40)) < 0.6
    got = np.asarray(ak.score_parent_sets(X, intervened, target, sets, row_mask=row_mask))
    keep = row_mask[0] & ~intervened[0, :, 3]
    kept = ak.score_parent_sets(
        X[:, keep], np.zeros((1, keep.sum(), 5), bool), target, sets
    )
    np.testing.assert_allclose(got, kept, rtol=1e-6)
    # interventions on other variables do not remove rows
    iv2 = intervened.copy()
    iv2[:, :, [0, 1]] = True
    np.testing.assert_array_equal(
        got, ak.score_parent_sets(X, iv2, target, sets, row_mask=row_mask)
    )


def test_sets_containing_their_own_target_score_minus_inf():
    X, intervened, _, _ = random_problem(8, 3, 20, 4, 2)
    target = np.array([0, 1, 3], np.int32)
    sets = ak.enumerate_parent_sets(4, None, 2)  # one table shared by different targets
    got = np.asarray(ak.score_parent_sets(X, intervened, target, sets))
    own = np.array([[t in s for s in sets] for t in target])
    assert np.all(got[own] == -np.inf)
    assert np.all(np.isfinite(got[~own]))


def test_nig_approaches_gaussian_when_noise_variance_is_pinned():
    # a0 -> inf with b0 / a0 = s^2 pins the noise variance at s^2: the NIG marginal tends to
    # the known-noise one with sigma_y^2 = s^2 and sigma_theta^2 = c s^2.
    X, intervened, target, sets = random_problem(9, 2, 30, 4, 2)
    nig = ak.score_parent_sets(X, intervened, target, sets,
                               prior=ak.NIGPrior(c=2.0, a0=1e7, b0=0.5e7))
    gauss = ak.score_parent_sets(X, intervened, target, sets,
                                 prior=ak.GaussianPrior(sigma_y=0.5**0.5, sigma_theta=1.0))
    assert_scores_close(nig, gauss, rtol=1e-4, atol=1e-3)


def test_jit_and_vmap():
    V, B, N, d = 3, 2, 25, 5
    rng = np.random.default_rng(10)
    X = rng.normal(size=(V, B, N, d)).astype(np.float32)
    intervened = rng.random((V, B, N, d)) < 0.2
    target = rng.integers(0, d, (V, B)).astype(np.int32)
    sets = ak.enumerate_parent_sets(d, None, 2)
    prior = ak.NIGPrior(intercept=True)
    loop = np.stack([
        ak.score_parent_sets(X[v], intervened[v], target[v], sets, prior=prior) for v in range(V)
    ])
    score = jax.jit(jax.vmap(lambda x, i, t: ak.score_parent_sets(x, i, t, sets, prior=prior)))
    np.testing.assert_array_equal(score(X, intervened, target), loop)
    # the candidate tables batched too: each vmapped element has its own
    tables = np.stack([sets, sets[::-1], np.roll(sets, 3, axis=0)])
    both = jax.vmap(lambda x, i, t, s: ak.score_parent_sets(x, i, t, s, prior=prior))
    want = np.stack([
        ak.score_parent_sets(X[v], intervened[v], target[v], tables[v], prior=prior)
        for v in range(V)
    ])
    np.testing.assert_array_equal(both(X, intervened, target, tables), want)
    # nested vmap: two leading axes
    nested = jax.vmap(jax.vmap(lambda x, i, t: ak.score_parent_sets(
        x[None], i[None], t[None], sets, prior=prior)[0]))
    np.testing.assert_array_equal(nested(X, intervened, target), loop)


def test_prior_is_static_under_jit():
    X, intervened, target, sets = random_problem(15, 2, 12, 4, 2)
    score = jax.jit(ak.score_parent_sets)
    for prior in (ak.GaussianPrior(0.5, 2.0), ak.NIGPrior(c=3.0, intercept=True)):
        np.testing.assert_array_equal(
            score(X, intervened, target, sets, prior=prior),
            ak.score_parent_sets(X, intervened, target, sets, prior=prior),
        )


def test_native_kernel_is_what_runs():
    if not ak.native_available():
        pytest.skip(f"native extension unavailable: {ak.native_status().reason}")
    X, intervened, target, sets = random_problem(11, 1, 5, 3, 1)
    hlo = jax.jit(ak.score_parent_sets).lower(X, intervened, target, sets).as_text()
    assert "acbo_score_parent_sets" in hlo


@pytest.mark.parametrize("width", [63, 64, 80])
def test_sets_of_any_width_are_scored(width):
    # One set of all `width` columns (as the expert's random-feature regressions give): up to
    # 63 the native kernel solves it, wider the reference does; the caller sees no difference.
    rng = np.random.default_rng(width)
    X = rng.normal(size=(2, 120, width + 1)).astype(np.float32)
    intervened = np.zeros(X.shape, bool)
    target = np.full(2, width, np.int32)
    sets = np.arange(width, dtype=np.int32)[None]
    prior = ak.GaussianPrior(1.0, 0.3)
    got = ak.score_parent_sets(X, intervened, target, sets, prior=prior)
    assert_scores_close(got, exact_table(X, intervened, target, sets, prior), rtol=1e-4,
                        atol=1e-2)
    if ak.native_available():
        hlo = jax.jit(ak.score_parent_sets).lower(X, intervened, target, sets).as_text()
        assert ("acbo_score_parent_sets" in hlo) == (width <= 63)


@pytest.mark.filterwarnings("ignore:overflow encountered")
@pytest.mark.parametrize("impl", [ak, reference], ids=["kernel", "reference"])
def test_bad_input_is_refused_before_the_kernel(impl):
    X, intervened, target, sets = random_problem(12, 2, 6, 4, 2)
    score = impl.score_parent_sets
    bad_x = X.copy()
    bad_x[1, 2, 3] = np.nan
    cases = [
        (dict(X=bad_x), "NaN or inf"),
        (dict(X=np.where(X > 1, np.inf, X)), "NaN or inf"),
        (dict(X=np.full(X.shape, 1e39)), "NaN or inf"),  # beyond float32
        (dict(X=X[0]), r"X must be \[B, N, d\]"),
        (dict(X=X.astype(np.int32)), "floating point"),
        (dict(intervened=intervened[:, :5]), "intervened must have X's shape"),
        (dict(intervened=intervened.astype(np.float32)), "bool or integer"),
        (dict(target=target[:1]), r"target must be \[B\]"),
        (dict(target=np.array([0, 4])), r"target values must lie in \[0, 4\)"),
        (dict(target=np.array([-1, 0])), "target values"),
        (dict(target=target.astype(np.float32)), "target must be integer"),
        (dict(parent_sets=sets[0]), r"parent_sets must be \[K, k_max\]"),
        (dict(parent_sets=np.array([[0, 4]])), "entries must lie in"),
        (dict(parent_sets=np.array([[0, -2]])), "entries must lie in"),
        (dict(parent_sets=np.array([[1, -1], [2, 2]])), "row 1 lists a variable twice"),
        (dict(row_mask=np.ones((2, 5), bool)), r"row_mask must be \[B, N\]"),
        (dict(prior="gaussian"), "prior must be"),
    ]
    base = dict(X=X, intervened=intervened, target=target, parent_sets=sets)
    for change, message in cases:
        kwargs = {**base, **change}
        args = [kwargs.pop(k) for k in ("X", "intervened", "target", "parent_sets")]
        with pytest.raises(ak.KernelInputError, match=message):
            score(*args, **kwargs)


def test_bad_priors_are_refused():
    for make in (
        lambda: ak.GaussianPrior(sigma_y=0.0),
        lambda: ak.GaussianPrior(sigma_theta=-1.0),
        lambda: ak.NIGPrior(c=float("nan")),
        lambda: ak.NIGPrior(a0=0.0),
        lambda: ak.NIGPrior(b0=float("inf")),
    ):
        with pytest.raises(ak.KernelInputError, match="finite positive"):
            make()


def test_traced_out_of_range_values_give_nan_not_a_crash():
    # Under jit the values are unknown to the Python checks; the kernel marks them NaN.
    X, intervened, target, _ = random_problem(13, 2, 6, 4, 2)
    sets = jnp.array([[0, 9], [0, -1], [-1, -1]], jnp.int32)
    got = np.asarray(jax.jit(ak.score_parent_sets)(X, intervened, jnp.array([1, 7]), sets))
    assert np.isnan(got[0, 0]) and np.isnan(got[1]).all()
    assert np.isfinite(got[0, 1:]).all()


def test_empty_table_and_empty_batch():
    X, intervened, target, _ = random_problem(14, 2, 6, 4, 2)
    empty = np.zeros((0, 2), np.int32)
    assert ak.score_parent_sets(X, intervened, target, empty).shape == (2, 0)
    assert reference.score_parent_sets(X, intervened, target, empty).shape == (2, 0)
    none = ak.score_parent_sets(X[:0], intervened[:0], target[:0], np.array([[0, -1]]))
    assert none.shape == (0, 1)
