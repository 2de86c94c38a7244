"""Training data: examples, padded batches, and on-the-fly generation from acbo-core.

An :class:`Example` is a buffer and a target plus what supervises it: the true parents (from a
simulated SCM), an expert posterior (from a PARENT_SCALE demonstration), or both.
:func:`make_batch` pads a list of examples to one bucketed shape; :func:`synthetic_batches` is an
endless iterator of batches from random SCMs (linear and Fourier mechanisms, Erdős–Rényi and
scale-free graphs, a range of d and N, observational plus interventional mixes), so training
never stores a data set. Expert demonstrations enter through the same :func:`make_batch`.

Glossary of shape letters: B batch, N samples, d variables, K candidate sets.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

import acbo_core as ac
from acbo_core import ExperienceBuffer, ParentSetPosterior
from acbo_core.configs import (
    choice,
    configclass,
    integer,
    interval,
    number,
    sequence,
)
from acbo_core.errors import ConfigError, SchemaError, ShapeMismatchError, UnknownVariableError
from acbo_surrogate.config import bucket_d, bucket_n
from acbo_surrogate.losses import Batch
from acbo_surrogate.sets import candidate_table, posterior_to_probs, set_index

__all__ = ["Example", "GeneratorConfig", "make_batch", "simulate_buffer", "random_example",
           "synthetic_batches", "prefetch"]


class Example(NamedTuple):
    """One (data -> parent sets) training pair.

    Attributes:
      buffer: the data (its ``variables`` fix the column order).
      target: the target variable.
      parents: the true parent set, or None when unknown.
      expert: the expert's posterior over the target's parent sets, or None.
    """

    buffer: ExperienceBuffer
    target: str
    parents: frozenset[str] | None = None
    expert: ParentSetPosterior | None = None


def make_batch(
    examples: Sequence[Example],
    *,
    k_max: int,
    n_pad: int | None = None,
    d_pad: int | None = None,
) -> Batch:
    """Pads examples to one shape (bucketed by default) and encodes their supervision.

    Args:
      examples: at least one example; each needs ``parents`` or ``expert``.
      k_max: the model's largest set size (fixes the candidate table).
      n_pad: padded number of samples (default: the bucket of the largest buffer).
      d_pad: padded number of variables (default: the bucket of the largest d).

    Returns:
      A host-side :class:`~acbo_surrogate.losses.Batch`.

    Raises:
      ShapeMismatchError: no examples, an empty buffer, or a buffer larger than the padding.
      UnknownVariableError: a target or parent that is not a variable of its buffer.
      SchemaError: an example with neither parents nor an expert posterior.
    """
    if not examples:
        raise ShapeMismatchError("make_batch needs at least one example")
    n_max = max(len(ex.buffer) for ex in examples)
    d_max = max(len(ex.buffer.variables) for ex in examples)
    n_pad = bucket_n(n_max) if n_pad is None else n_pad
    d_pad = bucket_d(d_max) if d_pad is None else d_pad
    if min(len(ex.buffer) for ex in examples) < 1:
        raise ShapeMismatchError("every example needs at least one sample")
    if n_max > n_pad or d_max > d_pad:
        raise ShapeMismatchError(f"examples up to N={n_max}, d={d_max} do not fit the padding "
                                 f"N={n_pad}, d={d_pad}")
    b = len(examples)
    k = len(candidate_table(d_pad, k_max))
    enc = np.zeros((b, n_pad, d_pad, 3), np.float32)
    sample_mask = np.zeros((b, n_pad), bool)
    var_mask = np.zeros((b, d_pad), bool)
    target = np.zeros(b, np.int32)
    parents = np.zeros((b, d_pad), np.float32)
    truth_w = np.zeros(b, np.float32)
    true_set = np.full(b, -1, np.int32)
    expert = np.zeros((b, k), np.float32)
    expert_w = np.zeros(b, np.float32)
    for i, ex in enumerate(examples):
        names = ex.buffer.variables
        n, d = len(ex.buffer), len(names)
        if ex.parents is None and ex.expert is None:
            raise SchemaError(f"example {i} has neither true parents nor an expert posterior")
        enc[i, :n, :d] = np.asarray(ex.buffer.network_encoding(None, ex.target))
        sample_mask[i, :n] = True
        var_mask[i, :d] = True
        target[i] = names.index(ex.target)
        if ex.parents is not None:
            unknown = sorted(set(ex.parents) - set(names))
            if unknown or ex.target in ex.parents:
                raise UnknownVariableError(
                    f"example {i}: parents {sorted(ex.parents)} are not candidates among "
                    f"{list(names)} for target {ex.target!r}")
            cols = [names.index(p) for p in ex.parents]
            parents[i, cols] = 1.0
            truth_w[i] = 1.0
            true_set[i] = set_index(cols, d_pad, k_max)
        if ex.expert is not None:
            if ex.expert.target != ex.target:
                raise SchemaError(f"example {i}: expert posterior is for {ex.expert.target!r}, "
                                  f"not {ex.target!r}")
            expert[i] = posterior_to_probs(ex.expert, names, d_pad, k_max)
            expert_w[i] = 1.0
    return Batch(enc, sample_mask, var_mask, target, parents, truth_w, true_set, expert,
                 expert_w)


@configclass
class GeneratorConfig:
    """What :func:`synthetic_batches` draws.

    Attributes:
      batch_size: examples per batch.
      d_range: inclusive range of the number of variables.
      n_buckets: padded sample counts; each batch picks one and its examples have between
        half of it and all of it samples (obs + int), so a run compiles once per bucket.
      min_samples: fewest samples in an example.
      int_fraction: inclusive range of the fraction of samples that are interventional.
      no_int_prob: probability that an example is purely observational.
      graphs: graph families to draw from (``"erdos_renyi"``, ``"scale_free"``).
      mechanisms: mechanism families (``"linear"``, ``"fourier"``).
      mechanism_probs: probability of each entry of ``mechanisms``.
      er_degree: range of the expected degree of Erdős–Rényi graphs.
      sf_degrees: expected degrees of scale-free graphs (2 gives one parent per new node).
      noise_scale_range: per-variable noise scales are ``U[lo, hi]``.
      default_prob: probability that an SCM uses acbo-core's default weights and unit noise
        (the benchmark's setting) instead of the ranges above.
      max_interventions: most distinct single-variable interventions in one example.
      k_max: candidate set size of the model being trained.
    """

    batch_size: int = integer(16, 1)
    d_range: tuple[int, int] = interval((3, 20), 2, integers=True)
    n_buckets: tuple[int, ...] = sequence((64, 128, 256), integer(64, 1), min_items=1)
    min_samples: int = integer(16, 4)
    int_fraction: tuple[float, float] = interval((0.0, 0.3), 0.0, 1.0)
    no_int_prob: float = number(0.15, 0.0, 1.0)
    graphs: tuple[str, ...] = sequence(("erdos_renyi", "scale_free"),
                                       choice("erdos_renyi", ("erdos_renyi", "scale_free")),
                                       min_items=1)
    mechanisms: tuple[str, ...] = sequence(("linear", "fourier"),
                                           choice("linear", ("linear", "fourier")), min_items=1)
    mechanism_probs: tuple[float, ...] = sequence((0.8, 0.2), number(0.5, 0.0))
    er_degree: tuple[float, float] = interval((1.0, 3.0), 0.0, low_open=True)
    sf_degrees: tuple[float, ...] = sequence((2.0, 4.0), number(2.0, 0.0, low_open=True),
                                             min_items=1)
    noise_scale_range: tuple[float, float] = interval((0.5, 1.5), 0.0)
    default_prob: float = number(0.5, 0.0, 1.0)
    max_interventions: int = integer(10, 1)
    k_max: int = integer(3, 0)

    def _check(self) -> None:
        if len(self.mechanisms) != len(self.mechanism_probs):
            raise ConfigError("GeneratorConfig.mechanisms and mechanism_probs must have the same "
                              "length")


def simulate_buffer(
    scm: Any, *, n_obs: int, n_int: int, key: jax.Array, max_interventions: int | None = None
) -> ExperienceBuffer:
    """Observational samples plus single-variable perfect interventions from an SCM.

    The ``n_int`` interventional samples are spread over ``min(n_int, max_interventions)``
    interventions, each on a uniformly drawn intervenable variable at a value uniform in its
    intervention range (PARENT_SCALE's design). With ``max_interventions=None`` every
    interventional sample is its own intervention.

    Args:
      scm: an acbo-core SCM.
      n_obs: observational samples (>= 1).
      n_int: interventional samples (>= 0).
      key: PRNG key.
      max_interventions: cap on distinct interventions.

    Returns:
      A buffer over ``scm["variables"]``: the observational block first.
    """
    k_obs, k_choice, k_int = jax.random.split(key, 3)
    # acbo-core compiles its sampler once per (d, n): draw a bucketed n and keep the first rows,
    # so a stream of random sizes reuses a few compiled samplers.
    x_obs = ac.sample_observational(scm, max(_draw_size(n_obs), 256), key=k_obs)
    buffer = ac.create_buffer(scm["variables"]).add_observations(np.asarray(x_obs)[:n_obs])
    candidates = ac.intervenable_variables(scm)
    columns = {v: i for i, v in enumerate(scm["variables"])}
    if n_int <= 0 or not candidates:
        return buffer
    n_iv = n_int if max_interventions is None else max(1, min(n_int, max_interventions))
    rng = np.random.default_rng(np.asarray(jax.random.key_data(k_choice)).ravel())
    sizes = np.full(n_iv, n_int // n_iv) + (np.arange(n_iv) < n_int % n_iv)
    for size, k in zip(sizes, jax.random.split(k_int, n_iv), strict=True):
        var = candidates[int(rng.integers(len(candidates)))]
        lo, hi = ac.intervention_range(scm, var)
        do = ac.create_perfect_intervention(var, float(rng.uniform(lo, hi)))
        rows = np.array(ac.sample_interventional(scm, do, _draw_size(int(size)), key=k)[:size])
        # acbo-core's linear sampler returns the intervened column through a float32 solve, off
        # by ~1e-6 at times, which add_interventions' tolerance refuses: pin it to the value.
        rows[:, columns[var]] = do["values"][var]
        buffer = buffer.add_interventions(do, rows)
    return buffer


def _draw_size(n: int) -> int:
    """Rows to draw for n samples: 4, 32, 256 or a multiple of 256 (few distinct sizes)."""
    for size in (4, 32, 256):
        if n <= size:
            return size
    return -(-n // 256) * 256


def _random_scm(rng: np.random.Generator, key: jax.Array, d: int, cfg: GeneratorConfig) -> Any:
    graph = cfg.graphs[int(rng.integers(len(cfg.graphs)))]
    probs = np.asarray(cfg.mechanism_probs, np.float64)
    mechanism = cfg.mechanisms[int(rng.choice(len(probs), p=probs / probs.sum()))]
    options: dict[str, Any] = {"mechanism": mechanism}
    if rng.random() >= cfg.default_prob:
        options["noise_scale"] = tuple(cfg.noise_scale_range)
    if graph == "erdos_renyi":
        degree = min(float(rng.uniform(*cfg.er_degree)), d - 1.0)
        return ac.erdos_renyi_scm(d, key=key, expected_degree=degree, **options)
    degree = float(cfg.sf_degrees[int(rng.integers(len(cfg.sf_degrees)))])
    return ac.scale_free_scm(d, key=key, expected_degree=degree, **options)


def random_example(key: jax.Array, cfg: GeneratorConfig, *, n_total: int | None = None
                   ) -> Example:
    """One example from a random SCM drawn as ``cfg`` says (ground-truth supervision).

    Args:
      key: PRNG key (the same key gives the same example).
      cfg: the generator settings.
      n_total: number of samples (default: drawn from the largest bucket's range).
    """
    k_rng, k_scm, k_data = jax.random.split(key, 3)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(k_rng)).ravel())
    d = int(rng.integers(cfg.d_range[0], cfg.d_range[1] + 1))
    scm = _random_scm(rng, k_scm, d, cfg)
    if n_total is None:
        top = max(cfg.n_buckets)
        n_total = int(rng.integers(max(cfg.min_samples, top // 2 + 1), top + 1))
    frac = 0.0 if rng.random() < cfg.no_int_prob else float(rng.uniform(*cfg.int_fraction))
    n_int = min(int(round(frac * n_total)), n_total - cfg.min_samples // 2)
    n_obs = n_total - max(n_int, 0)
    buffer = simulate_buffer(scm, n_obs=n_obs, n_int=max(n_int, 0), key=k_data,
                             max_interventions=cfg.max_interventions)
    return Example(buffer, scm["target"], ac.true_parents(scm))


def synthetic_batch(cfg: GeneratorConfig, *, key: jax.Array) -> Batch:
    """One batch of random examples, padded to ``bucket_d(d_range[1])`` variables and a sample
    bucket drawn from ``cfg.n_buckets`` (the same key gives the same batch).
    """
    d_pad = bucket_d(cfg.d_range[1])
    buckets = sorted(cfg.n_buckets)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
    pos = int(rng.integers(len(buckets)))
    hi = buckets[pos]
    lo = max(cfg.min_samples, buckets[pos - 1] + 1 if pos else cfg.min_samples)
    keys = jax.random.split(key, cfg.batch_size)
    examples = [random_example(k, cfg, n_total=int(rng.integers(lo, hi + 1))) for k in keys]
    return make_batch(examples, k_max=cfg.k_max, n_pad=hi, d_pad=d_pad)


def synthetic_batches(cfg: GeneratorConfig, *, key: jax.Array) -> Iterator[Batch]:
    """Endless :func:`synthetic_batch` es, batch ``i`` from ``fold_in(key, i)``.

    Args:
      cfg: what to draw.
      key: PRNG key; the same key gives the same sequence of batches.
    """
    step = 0
    while True:
        yield synthetic_batch(cfg, key=jax.random.fold_in(key, step))
        step += 1


def prefetch(batches: Iterable[Batch], size: int = 2) -> Iterator[Batch]:
    """Produces ``batches`` in a background thread, ``size`` ahead of the consumer.

    Generation (host-side SCM sampling) then overlaps the jitted training step, which releases
    the GIL. Exceptions from the producer are re-raised in the consumer.
    """
    slots: queue.Queue[Any] = queue.Queue(maxsize=max(1, size))
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                slots.put(batch)
            slots.put(done)
        except BaseException as err:  # handed to the consumer
            slots.put(err)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
