"""Batches from examples, and the on-the-fly generator."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import acbo_core as ac
import acbo_surrogate as sur
from acbo_core import ParentSetPosterior
from acbo_core.errors import ConfigError, SchemaError, ShapeMismatchError, UnknownVariableError


def test_simulate_buffer_counts_and_interventions():
    scm = ac.erdos_renyi_scm(7, key=jax.random.key(0))
    buf = sur.simulate_buffer(scm, n_obs=30, n_int=9, key=jax.random.key(1),
                              max_interventions=4)
    assert buf.n_observational == 30 and buf.n_interventional == 9
    ivs = buf.interventions()
    assert len(ivs) == 4 and sorted(n for _, n in ivs) == [2, 2, 2, 3]
    assert all(next(iter(iv["targets"])) != scm["target"] for iv, _ in ivs)
    one_each = sur.simulate_buffer(scm, n_obs=30, n_int=5, key=jax.random.key(1))
    assert len(one_each.interventions()) == 5
    again = sur.simulate_buffer(scm, n_obs=30, n_int=5, key=jax.random.key(1))
    np.testing.assert_array_equal(one_each.to_arrays().values, again.to_arrays().values)


def test_make_batch_encodes_truth_and_expert(small_problem):
    scm, buffer = small_problem
    names = buffer.variables
    parents = ac.true_parents(scm)
    target = scm["target"]
    other = next(v for v in names if v != target and v not in parents)
    expert = ParentSetPosterior(target, (frozenset(parents), frozenset({other})), [0.6, 0.4])
    batch = sur.make_batch([sur.Example(buffer, target, parents, expert),
                            sur.Example(buffer, target, parents, None)], k_max=3)
    n, d = len(buffer), len(names)
    assert batch.encoding.shape == (2, sur.bucket_n(n), sur.bucket_d(d), 3)
    assert batch.sample_mask[0].sum() == n and batch.var_mask[0].sum() == d
    assert names[int(batch.target[0])] == target
    assert {names[i] for i in np.flatnonzero(batch.true_parents[0])} == set(parents)
    table = sur.candidate_table(batch.encoding.shape[2], 3)
    assert {names[i] for i in table[batch.true_set[0]] if i >= 0} == set(parents)
    got = {frozenset(names[i] for i in table[r] if i >= 0): p
           for r, p in enumerate(batch.expert_probs[0]) if p > 0}
    assert got == pytest.approx({frozenset(parents): 0.6, frozenset({other}): 0.4})
    assert list(batch.expert_weight) == [1.0, 0.0]
    np.testing.assert_array_equal(batch.encoding[0, :n, :d],
                                  np.asarray(buffer.network_encoding(None, target)))
    assert not batch.encoding[0, n:].any() and not batch.encoding[0, :, d:].any()


def test_make_batch_rejects_bad_examples(small_problem):
    scm, buffer = small_problem
    with pytest.raises(SchemaError):
        sur.make_batch([sur.Example(buffer, scm["target"])], k_max=3)
    with pytest.raises(UnknownVariableError):
        sur.make_batch([sur.Example(buffer, scm["target"], frozenset({"nope"}))], k_max=3)
    with pytest.raises(UnknownVariableError):
        sur.make_batch([sur.Example(buffer, "nope", frozenset())], k_max=3)
    with pytest.raises(ShapeMismatchError):
        sur.make_batch([sur.Example(buffer, scm["target"], frozenset())], k_max=3, n_pad=8)
    with pytest.raises(ShapeMismatchError):
        sur.make_batch([], k_max=3)


def test_synthetic_batches_shapes_and_determinism():
    cfg = sur.GeneratorConfig(batch_size=3, d_range=(3, 5), n_buckets=(32, 64), k_max=2,
                              mechanism_probs=(0.8, 0.2))
    a = [b for _, b in zip(range(3), sur.synthetic_batches(cfg, key=jax.random.key(0)),
                           strict=False)]
    b = [b for _, b in zip(range(3), sur.synthetic_batches(cfg, key=jax.random.key(0)),
                           strict=False)]
    for x, y in zip(a, b, strict=True):
        for f1, f2 in zip(x, y, strict=True):
            np.testing.assert_array_equal(f1, f2)
    for batch in a:
        assert batch.encoding.shape[2] == sur.bucket_d(5)
        assert batch.encoding.shape[1] in (32, 64)
        assert (batch.truth_weight == 1).all() and (batch.expert_weight == 0).all()
        n_real = batch.sample_mask.sum(1)
        assert (n_real >= cfg.min_samples).all() and (n_real <= batch.encoding.shape[1]).all()
        assert (batch.true_parents.sum(1) >= 1).all()


def test_generator_config_validation():
    with pytest.raises(ConfigError, match="GeneratorConfig.d_range"):
        sur.GeneratorConfig(d_range=(1, 5))
    with pytest.raises(ConfigError, match="GeneratorConfig.mechanisms and mechanism_probs"):
        sur.GeneratorConfig(mechanisms=("linear",), mechanism_probs=(0.5, 0.5))
    with pytest.raises(ConfigError, match=r"GeneratorConfig.graphs\[0\] must be one of"):
        sur.GeneratorConfig(graphs=("tree",))


def test_prefetch_keeps_order_and_reraises():
    assert list(sur.prefetch(iter(range(7)), 2)) == list(range(7))

    def broken():
        yield 1
        raise RuntimeError("generator failed")

    it = sur.prefetch(broken(), 2)
    assert next(it) == 1
    with pytest.raises(RuntimeError, match="generator failed"):
        next(it)


def test_model_and_train_configs_refuse_bad_settings_naming_the_field():
    with pytest.raises(ConfigError, match="ModelConfig.var_heads must be an int >= 1"):
        sur.ModelConfig(var_heads=0)
    with pytest.raises(ConfigError, match="divisible by their head counts"):
        sur.ModelConfig(var_dim=10, var_heads=4)
    with pytest.raises(ConfigError, match=r"ModelConfig.ridges\[0\] must be a finite number > 0"):
        sur.ModelConfig(ridges=(0.0,))
    with pytest.raises(ConfigError, match="TrainConfig.total_steps must be an int >= 1"):
        sur.TrainConfig(total_steps=0)
