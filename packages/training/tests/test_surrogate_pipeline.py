"""Surrogate training for the generalist: the pre-training graphs' density, and ground-truth
batches mixed into training on the expert's pairs (deterministic per step, so resumable); the
defaults leave both phases as they were."""

import dataclasses
import signal

import jax
import numpy as np
import pytest

import acbo_core as ac
import acbo_surrogate as sur
from acbo_training import TrainingConfig, TrainingInterrupted, surrogate_pipeline
from acbo_training.errors import ConfigError
from acbo_training.pipelines import load_pipeline_config
from acbo_training.surrogate_pipeline import (
    SurrogateTrainingConfig,
    SurrogateTrainingExample,
    _mixed_schedule,
    _mixed_steps,
    _synthetic_generator,
    train_surrogate_with_expert_data,
)


@pytest.mark.parametrize("expert_steps, every", [(1, 0), (7, 0), (4, 1), (6, 2), (7, 3),
                                                 (3, 5)])
def test_the_schedule_takes_every_pair_batch_once_in_order(expert_steps, every):
    n = _mixed_steps(expert_steps, every)
    plan = [_mixed_schedule(s, every) for s in range(n)]
    assert [i for i in plan if i is not None] == list(range(expert_steps))
    synthetic = [s for s, i in enumerate(plan) if i is None]
    assert len(synthetic) == (-(-expert_steps // every) if every else 0)
    # one before each block of `every`
    assert synthetic == (list(range(0, n, every + 1)) if every else [])
    assert plan[-1] is not None  # the run ends on the expert's pairs


def test_defaults_keep_the_pretraining_generator_and_no_mixing():
    default = SurrogateTrainingConfig()
    assert default.pretrain_er_degree == sur.GeneratorConfig().er_degree == (1.0, 3.0)
    assert default.synthetic_every == 0
    quick = load_pipeline_config(None, ["surrogate.pretrain_n_vars=[4, 16]",
                                        "surrogate.pretrain_batch_size=16"]).surrogate
    # what pre-training built before pretrain_er_degree existed
    assert _synthetic_generator(quick) == sur.GeneratorConfig(batch_size=16, d_range=(4, 16),
                                                              k_max=quick.k_max)
    dense = SurrogateTrainingConfig(pretrain_er_degree=(2.0, 4.0), pretrain_n_vars=(6, 10))
    assert _synthetic_generator(dense).er_degree == (2.0, 4.0)


@pytest.mark.parametrize("override, needles", [
    ("surrogate.pretrain_er_degree=[3.0, 1.0]", ["surrogate.pretrain_er_degree", "lo <= hi"]),
    ("surrogate.pretrain_er_degree=[0.0, 4.0]", ["surrogate.pretrain_er_degree", "lo > 0"]),
    ("surrogate.pretrain_er_degree=[1.0, 500.0]", ["surrogate.pretrain_er_degree", "hi <= 199"]),
    ("surrogate.pretrain_er_degree=[nan, 4.0]", ["surrogate.pretrain_er_degree[0]", "finite"]),
    ("surrogate.synthetic_every=-1", ["surrogate.synthetic_every", ">= 0"]),
    ("surrogate.synthetic_every=1.5", ["surrogate.synthetic_every", "an int"]),
])
def test_bad_surrogate_settings_are_refused_naming_the_key(override, needles):
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(None, [override])
    for needle in needles:
        assert needle in str(info.value)


def test_mixing_checks_the_synthetic_batch_size():
    with pytest.raises(ConfigError, match="pretrain_batch_size.*limit"):
        SurrogateTrainingConfig(synthetic_every=1, pretrain_n_vars=(3, 200),
                                pretrain_batch_size=4096)
    SurrogateTrainingConfig(synthetic_every=0, pretrain_n_vars=(3, 200), pretrain_batch_size=4096)


def _pairs(n):
    out = []
    for i in range(n):
        scm = ac.erdos_renyi_scm(4, key=jax.random.key(i))
        buffer = sur.simulate_buffer(scm, n_obs=12, n_int=4, key=jax.random.key(50 + i))
        truth = ac.true_parents(scm)
        post = ac.ParentSetPosterior(scm["target"], (truth, frozenset()), [0.7, 0.3])
        out.append(SurrogateTrainingExample(buffer, post, truth))
    return out


PAIRS_N_PAD = sur.bucket_n(16)  # the pairs' buffers hold 16 samples
# 3 epochs of 2 batches: as many steps as MIXED, so both share one compiled training step
TINY = SurrogateTrainingConfig(model_hidden_dim=8, model_n_layers=1, batch_size=2, max_epochs=3,
                       validation_frequency=1, early_stopping_patience=5, k_max=2,
                       pretrain_n_vars=(3, 4), pretrain_batch_size=2)
MIXED = dataclasses.replace(TINY, max_epochs=2, synthetic_every=2)


@pytest.fixture(scope="module")
def pairs():
    return _pairs(4)


@pytest.fixture()
def spy(monkeypatch):
    """Records which steps train on synthetic batches (their keys) and after which steps the
    validation loss is computed; ``spy["interrupt_at"] = n`` sends Ctrl-C at the n-th
    synthetic batch (once).

    To keep the test to one compilation of the training step, synthetic batches are drawn with
    the pairs' padded sample count (the generator's only other setting), and the final metrics
    (the expert's posterior on the validation pairs, compiled for nothing else) are skipped.
    """
    record = {"updates": 0, "synthetic": [], "validated": [], "interrupt_at": None}
    synthetic_batch, update, evaluate_batch = sur.synthetic_batch, sur.update, sur.evaluate_batch

    def recording_batch(cfg, *, key):
        record["synthetic"].append((record["updates"],
                                    np.asarray(jax.random.key_data(key)).tolist()))
        if record["interrupt_at"] == len(record["synthetic"]):
            record["interrupt_at"] = None
            signal.raise_signal(signal.SIGINT)  # the loop finishes the step, then stops
        return synthetic_batch(dataclasses.replace(cfg, n_buckets=(PAIRS_N_PAD,)), key=key)

    def counting_update(state, batch):
        record["updates"] += 1
        return update(state, batch)

    def recording_evaluate(*args):
        record["validated"].append(record["updates"])
        return evaluate_batch(*args)

    monkeypatch.setattr(sur, "synthetic_batch", recording_batch)
    monkeypatch.setattr(sur, "update", counting_update)
    monkeypatch.setattr(sur, "evaluate_batch", recording_evaluate)
    monkeypatch.setattr(surrogate_pipeline, "evaluate_surrogate_pairs", lambda *a, **k: ({}, 1.0))
    return record


def _train(pairs, scfg, **kw):
    return train_surrogate_with_expert_data(
        pairs, scfg, TrainingConfig(random_seed=3, checkpoint_frequency=100),
        validation_examples=pairs[:1], **kw)


def _leaves(params):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(params)]


def test_without_mixing_no_synthetic_batch_is_drawn(pairs, spy):
    result = _train(pairs, TINY)
    assert spy["synthetic"] == []
    assert result.training_history["step"] == [1, 2, 3, 4, 5, 6]
    assert spy["validated"] == [2, 4, 6]  # after each epoch


def test_mixed_batches_train_resumably(pairs, spy, tmp_path):
    mixed = MIXED
    reference = _train(pairs, mixed)
    # 2 epochs of 2 batches of pairs, in blocks of one synthetic batch then two of pairs
    assert reference.training_history["step"] == [1, 2, 3, 4, 5, 6]
    assert [step for step, _ in spy["synthetic"]] == [0, 3]
    assert spy["validated"] == [3, 6]  # after each epoch of pairs
    keys = [key for _, key in spy["synthetic"]]
    assert keys[0] != keys[1]
    assert any(not np.array_equal(a, b) for a, b in
               zip(_leaves(reference.params), _leaves(_train(pairs, TINY).params), strict=True))

    spy.update(synthetic=[], updates=0, interrupt_at=2)  # Ctrl-C during step 4 (index 3)
    with pytest.raises(TrainingInterrupted):
        _train(pairs, mixed, checkpoint_dir=tmp_path / "ckpt")
    spy.update(synthetic=[], updates=0)
    resumed = _train(pairs, mixed, checkpoint_dir=tmp_path / "ckpt")
    assert spy["updates"] == 2 and spy["synthetic"] == []  # steps 5 and 6 are pairs
    for a, b in zip(_leaves(reference.params), _leaves(resumed.params), strict=True):
        np.testing.assert_array_equal(a, b)
