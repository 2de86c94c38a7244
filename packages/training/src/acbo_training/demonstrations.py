"""Generating PARENT_SCALE demonstrations at scale, and reading them back.

``generate_demonstrations`` draws SCMs from an :class:`SCMDistribution`, runs the expert on
each, and writes the runs to a sharded dataset (:mod:`acbo_training.shards`): one task per
shard, run by a local process pool or by Ray tasks. Run ``i`` uses ``fold_in(key, i)``, so the
dataset does not depend on the executor, the number of workers, retries or interruptions;
rerunning the same call skips finished shards and regenerates a corrupt one (named in the log).
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import acbo_core as ac
from acbo_core.configs import (
    choices,
    configclass,
    from_dict,
    interval,
    number,
    number_or_interval,
    sequence,
    to_dict,
)
from acbo_core.errors import ACBOError, SchemaError
from acbo_expert import ParentScaleConfig, ParentScaleResult, run_parent_scale
from acbo_training.errors import ConfigError, CorruptShardError
from acbo_training.executors import run_tasks
from acbo_training.runlog import RunLogger
from acbo_training.shards import (
    Record,
    finished_shards,
    iter_shards,
    open_dataset,
    read_manifest,
    shard_paths,
    verify_shard,
    write_shard,
)
from acbo_training.trajectories import ExpertTrajectory, extract_expert_trajectory

__all__ = [
    "SCMDistribution",
    "DemonstrationSet",
    "generate_demonstrations",
    "load_demonstrations",
    "load_expert_trajectories",
    "result_to_record",
    "record_to_result",
    "run_shard",
]

_KIND = "acbo.demonstrations"
GRAPHS = ("erdos_renyi", "scale_free")
MECHANISMS = ("linear", "fourier")
"""The mechanism families the random SCM generators draw (acbo-core's named mechanisms
belong to fixed benchmark graphs, not to random ones)."""
MAX_N_VARS = 200
"""Largest SCM a configuration may ask for: the expert scores every parent set of up to
``k_max`` of the other variables (1.3 million sets at 200 variables and ``k_max = 3``) and the
surrogate holds ``d x d`` pair features per example."""


MAX_UNIT_LOG10 = 6.0
"""Largest ``|log10|`` of a unit scale: data are float32 and the expert's and the surrogate's
regressions square them, so scales beyond ``10**+-6`` would lose the data's precision."""
MAX_OFFSET = 1e4
"""Largest ``|offset|`` in units of a variable's scale: float32 keeps about 7 significant
digits, so a larger offset would leave the variation around it only a few."""


def _options(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@configclass
class SCMDistribution:
    """A distribution over random SCMs to demonstrate on.

    Settings that may be a single value or several (lists in TOML) draw one per SCM. A
    distribution of single values and default units draws exactly the SCMs it always has (the
    number of variables and the graph from the key's two halves; every other draw comes from a
    key of its own).

    Attributes:
      graph: ``"erdos_renyi"`` or ``"scale_free"``, or a list of them (one uniformly per SCM).
      n_vars: ``(lo, hi)``: the number of variables is uniform in this inclusive range.
      expected_degree: mean neighbours per variable, or ``(lo, hi)`` for one drawn uniformly per
        SCM; capped at ``n_vars - 1`` of the SCM.
      mechanism: ``"linear"`` or ``"fourier"``, or a list of them (one per SCM, uniformly or as
        ``mechanism_probs`` says).
      mechanism_probs: the probability of each entry of ``mechanism`` (summing to 1); empty:
        uniform.
      noise_scale: ``(lo, hi)`` of the per-variable noise scales.
      weight_range: ``(lo, hi)`` of the absolute edge weights.
      unit_scale_log10: ``(lo, hi)``: each variable is re-expressed in units of scale
        ``10**U(lo, hi)`` (:func:`acbo_core.change_units`); ``(0, 0)``: the generator's units.
      offset_range: ``(lo, hi)``: each variable's offset is ``U(lo, hi)`` times its new scale.
    """

    graph: str | tuple[str, ...] = choices("erdos_renyi", GRAPHS)
    n_vars: tuple[int, int] = interval((5, 10), 2, MAX_N_VARS, integers=True)
    expected_degree: float | tuple[float, float] = number_or_interval(2.0, 0.0, low_open=True)
    mechanism: str | tuple[str, ...] = choices("linear", MECHANISMS)
    mechanism_probs: tuple[float, ...] = sequence((), number(0.0, 0.0))
    noise_scale: tuple[float, float] = interval((0.5, 1.0), 0.0)
    weight_range: tuple[float, float] = interval((0.5, 2.0), 0.0, low_open=True)
    unit_scale_log10: tuple[float, float] = interval((0.0, 0.0), -MAX_UNIT_LOG10, MAX_UNIT_LOG10)
    offset_range: tuple[float, float] = interval((0.0, 0.0), -MAX_OFFSET, MAX_OFFSET)

    def _check(self) -> None:
        probs, n = self.mechanism_probs, len(_options(self.mechanism))
        where = "SCMDistribution.mechanism_probs"
        if not probs:
            return
        if len(probs) != n:
            raise ConfigError(f"{where} must give one probability per entry of mechanism "
                              f"({n}), got {len(probs)}: {list(probs)}")
        if abs(math.fsum(probs) - 1.0) > 1e-6:
            raise ConfigError(f"{where} must be probabilities >= 0 summing to 1, got "
                              f"{list(probs)}")

    def sample(self, key: jax.Array) -> Any:
        """One SCM (the same key gives the same SCM)."""
        k_size, k_graph = jax.random.split(key)
        lo, hi = self.n_vars
        d = int(jax.random.randint(k_size, (), lo, hi + 1))
        # Draws added after the first two come from a key of their own, so distributions of
        # single values keep drawing the SCMs they always have.
        k_family, k_mech, k_degree, k_scale, k_offset = jax.random.split(
            jax.random.fold_in(key, 1), 5)
        graphs = _options(self.graph)
        graph = graphs[int(jax.random.randint(k_family, (), 0, len(graphs)))]
        mechanism = self._draw_mechanism(k_mech)
        degree = self.expected_degree
        if isinstance(degree, tuple):
            degree = degree[0] + (degree[1] - degree[0]) * float(jax.random.uniform(k_degree))
        make = ac.erdos_renyi_scm if graph == "erdos_renyi" else ac.scale_free_scm
        scm = make(d, key=k_graph, expected_degree=min(degree, d - 1), mechanism=mechanism,
                   noise_scale=self.noise_scale, weight_range=self.weight_range)
        if self.unit_scale_log10 == (0.0, 0.0) and self.offset_range == (0.0, 0.0):
            return scm
        (s_lo, s_hi), (o_lo, o_hi) = self.unit_scale_log10, self.offset_range
        u_scale = np.asarray(jax.random.uniform(k_scale, (d,)), np.float64)
        u_offset = np.asarray(jax.random.uniform(k_offset, (d,)), np.float64)
        scales = 10.0 ** (s_lo + (s_hi - s_lo) * u_scale)
        offsets = (o_lo + (o_hi - o_lo) * u_offset) * scales
        names = scm["variables"]
        return ac.change_units(scm, dict(zip(names, scales.tolist(), strict=True)),
                               dict(zip(names, offsets.tolist(), strict=True)))

    def _draw_mechanism(self, key: jax.Array) -> str:
        options = _options(self.mechanism)
        if len(options) == 1:
            return options[0]
        if not self.mechanism_probs:
            return options[int(jax.random.randint(key, (), 0, len(options)))]
        cumulative = np.cumsum(np.asarray(self.mechanism_probs, np.float64))
        u = float(jax.random.uniform(key)) * cumulative[-1]
        return options[min(int(np.searchsorted(cumulative, u, side="right")), len(options) - 1)]


# -- records ------------------------------------------------------------------------------------


def result_to_record(result: ParentScaleResult, scm: Mapping[str, Any]) -> Record:
    """A run as named arrays plus JSON metadata (no pickles), with its SCM."""
    index = {v: i for i, v in enumerate(result.variables)}
    posts = result.posterior_probabilities
    k = max(1, max(len(s) for p in posts for s in p.parent_sets))
    sets = np.full((sum(len(p) for p in posts), k), -1, np.int32)
    row = 0
    for p in posts:
        for s in p.parent_sets:
            sets[row, : len(s)] = sorted(index[v] for v in s)
            row += 1
    d = len(result.variables)
    arrays = {
        "D_O": np.asarray(result.D_O, np.float64),
        "D_I_samples": (np.concatenate([np.asarray(x, np.float64) for _, x, _ in result.D_I])
                        if result.D_I else np.zeros((0, d))),
        "step_samples": np.stack([np.asarray(x, np.float64) for x in result.step_samples]),
        "posterior_sets": sets,
        "posterior_probs": np.concatenate([p.probs for p in posts]),
        "posterior_sizes": np.asarray([len(p) for p in posts], np.int32),
        "model_key": np.asarray(result.model_key, np.uint32),
    }
    meta = {
        "scm": ac.scm_to_json(scm),
        "variables": list(result.variables), "target": result.target, "method": result.method,
        "intervention_set": [list(v) for v in result.intervention_set],
        "intervention_values": [list(v) for v in result.intervention_values],
        "current_y": list(result.current_y), "global_opt": list(result.global_opt),
        "D_I": [{"intervention": {v: do["values"][v] for v in sorted(do["targets"])},
                 "n": int(np.shape(x)[0]), "y": y} for do, x, y in result.D_I],
        "initial_best": None if math.isnan(result.initial_best) else result.initial_best,
        "exploration_sets": [list(v) for v in result.exploration_sets],
        "acquisition_values": [dict(v) for v in result.acquisition_values],
        "step_seconds": list(result.step_seconds), "setup_seconds": result.setup_seconds,
        "true_parents": None if result.true_parents is None else sorted(result.true_parents),
        "minimize": result.minimize, "config": to_dict(result.config),
    }
    return arrays, meta


_RECORD_ARRAYS = ("D_O", "D_I_samples", "step_samples", "posterior_sets", "posterior_probs",
                  "posterior_sizes", "model_key")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and \
        not isinstance(value, bool)


def _list_of(check: Callable[[Any], bool], value: Any, length: int | None = None) -> bool:
    return isinstance(value, list) and (length is None or len(value) == length) and \
        all(check(v) for v in value)


def _field(meta: Mapping[str, Any], name: str, check: Callable[[Any], bool],
           expected: str) -> Any:
    if name not in meta:
        raise SchemaError(f"record.{name}: missing")
    value = meta[name]
    if not check(value):
        raise SchemaError(f"record.{name}: expected {expected}, got {value!r:.80}")
    return value


def _array(arrays: Mapping[str, Any], name: str, ndim: int, kinds: str,
           shape: Mapping[int, int]) -> np.ndarray:
    value = np.asarray(arrays[name])
    ok = value.ndim == ndim and value.dtype.kind in kinds and \
        all(value.shape[axis] == size for axis, size in shape.items())
    if not ok:
        want = ", ".join(f"axis {a} = {n}" for a, n in shape.items())
        raise SchemaError(f"record array {name!r}: expected {ndim}-D of kind {kinds!r}"
                          f"{' with ' + want if want else ''}, got {value.dtype} {value.shape}")
    return value


def _check_record(arrays: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
    """Checks every field :func:`record_to_result` reads; raises SchemaError naming it."""
    if not isinstance(meta, Mapping):
        raise SchemaError(f"record: the metadata must be a JSON object, got {type(meta).__name__}")
    variables = _field(meta, "variables", lambda v: _list_of(lambda x: isinstance(x, str), v)
                       and len(v) > 0 and len(set(v)) == len(v),
                       "a non-empty list of distinct names")
    known = set(variables)

    def is_name(v: Any) -> bool:
        return isinstance(v, str) and v in known

    def names(v: Any) -> bool:
        return _list_of(is_name, v)

    _field(meta, "target", is_name, "one of the variables")
    _field(meta, "method", lambda v: isinstance(v, str), "a string")
    steps = _field(meta, "intervention_set", lambda v: _list_of(names, v),
                   "a list of lists of variable names")
    t = len(steps)
    _field(meta, "intervention_values",
           lambda v: _list_of(lambda x: _list_of(_is_number, x), v, t)
           and all(len(x) == len(s) for x, s in zip(v, steps, strict=True)),
           "lists of numbers matching intervention_set")
    for name in ("current_y", "global_opt", "step_seconds"):
        _field(meta, name, lambda v: _list_of(_is_number, v, t), f"a list of {t} numbers")
    _field(meta, "exploration_sets", lambda v: _list_of(names, v, t),
           f"a list of {t} lists of variable names")
    _field(meta, "acquisition_values",
           lambda v: _list_of(lambda a: isinstance(a, dict) and all(_is_number(x)
                                                                   for x in a.values()), v, t),
           f"a list of {t} maps from names to numbers")
    blocks = _field(
        meta, "D_I",
        lambda v: _list_of(lambda b: isinstance(b, dict) and set(b) == {"intervention", "n", "y"}
                           and isinstance(b["intervention"], dict)
                           and all(is_name(k) and _is_number(x)
                                   for k, x in b["intervention"].items())
                           and isinstance(b["n"], int) and not isinstance(b["n"], bool)
                           and b["n"] >= 0 and _is_number(b["y"]), v),
        "a list of {intervention: {name: value}, n: count, y: number}")
    _field(meta, "initial_best", lambda v: v is None or _is_number(v), "a number or null")
    _field(meta, "setup_seconds", _is_number, "a number")
    _field(meta, "true_parents", lambda v: v is None or names(v),
           "null or a list of variable names")
    _field(meta, "minimize", lambda v: isinstance(v, bool), "true or false")
    _field(meta, "config", lambda v: isinstance(v, dict), "a JSON object")
    _field(meta, "scm", lambda v: isinstance(v, str), "an SCM document (a JSON string)")
    if not isinstance(arrays, Mapping):
        raise SchemaError(f"record: the arrays must be a mapping, got {type(arrays).__name__}")
    missing = [name for name in _RECORD_ARRAYS if name not in arrays]
    if missing:
        raise SchemaError(f"record: missing arrays {missing}")
    d = len(variables)
    _array(arrays, "D_O", 2, "f", {1: d})
    _array(arrays, "D_I_samples", 2, "f", {0: sum(b["n"] for b in blocks), 1: d})
    _array(arrays, "step_samples", 3, "f", {0: t, 2: d})
    sizes = _array(arrays, "posterior_sizes", 1, "iu", {0: t + 1})
    if np.any(sizes < 0):
        raise SchemaError(f"record array 'posterior_sizes': negative sizes {sizes.tolist()}")
    rows = int(sizes.sum())
    sets = _array(arrays, "posterior_sets", 2, "iu", {0: rows})
    if sets.size and (sets.min() < -1 or sets.max() >= d):
        raise SchemaError(f"record array 'posterior_sets': indices outside [-1, {d})")
    _array(arrays, "posterior_probs", 1, "f", {0: rows})
    _array(arrays, "model_key", 1, "u", {})


def record_to_result(arrays: Mapping[str, np.ndarray],
                     meta: Mapping[str, Any]) -> tuple[ParentScaleResult, Any]:
    """Inverse of :func:`result_to_record`: ``(result, scm)``.

    Raises:
      SchemaError: a field or array that is missing, of the wrong type or shape, or that
        disagrees with the others (named, e.g. ``record.current_y``).
    """
    _check_record(arrays, meta)
    try:
        config = from_dict(ParentScaleConfig, meta["config"], "record.config")
    except ACBOError as err:
        raise SchemaError(str(err)) from None
    try:
        scm = ac.scm_from_json(meta["scm"])
    except RecursionError:
        raise SchemaError("record.scm: JSON nested too deeply") from None
    except ACBOError as err:
        raise SchemaError(f"record.scm: {err}") from None
    variables = tuple(meta["variables"])
    if tuple(scm["variables"]) != variables or scm["target"] != meta["target"]:
        raise SchemaError("record.scm: its variables or target differ from the record's")
    posts, start = [], 0
    for t, size in enumerate(arrays["posterior_sizes"]):
        rows = arrays["posterior_sets"][start:start + size]
        sets = tuple(frozenset(variables[i] for i in r if i >= 0) for r in rows)
        try:
            posts.append(ac.ParentSetPosterior(meta["target"], sets,
                                               arrays["posterior_probs"][start:start + size]))
        except ACBOError as err:
            raise SchemaError(f"record posterior {t}: {err}") from None
        start += int(size)
    d_i, offset = [], 0
    for j, block in enumerate(meta["D_I"]):
        names = sorted(block["intervention"])
        try:
            do = ac.create_perfect_intervention(names, [block["intervention"][v] for v in names])
        except ACBOError as err:
            raise SchemaError(f"record.D_I[{j}]: {err}") from None
        d_i.append((do, arrays["D_I_samples"][offset:offset + block["n"]], block["y"]))
        offset += block["n"]
    result = ParentScaleResult(
        D_O=arrays["D_O"],
        intervention_set=tuple(tuple(v) for v in meta["intervention_set"]),
        intervention_values=tuple(tuple(v) for v in meta["intervention_values"]),
        current_y=tuple(meta["current_y"]), posterior_probabilities=tuple(posts),
        global_opt=tuple(meta["global_opt"]), target=meta["target"], variables=variables,
        method=meta["method"], D_I=tuple(d_i),
        initial_best=math.nan if meta["initial_best"] is None else meta["initial_best"],
        step_samples=tuple(arrays["step_samples"]),
        exploration_sets=tuple(tuple(v) for v in meta["exploration_sets"]),
        acquisition_values=tuple(dict(v) for v in meta["acquisition_values"]),
        step_seconds=tuple(meta["step_seconds"]), setup_seconds=meta["setup_seconds"],
        true_parents=None if meta["true_parents"] is None else frozenset(meta["true_parents"]),
        minimize=meta["minimize"], config=config,
        model_key=arrays["model_key"],
    )
    return result, scm


# -- generation ---------------------------------------------------------------------------------


def run_shard(payload: dict[str, Any]) -> list[Record]:
    """The work of one shard: runs the expert for each of its run indices.

    This is what a worker process or Ray task executes; ``payload`` holds plain data only
    (``distribution``, ``expert`` settings, ``key`` data, ``runs``).
    """
    dist = from_dict(SCMDistribution, payload["distribution"])
    config = from_dict(ParentScaleConfig, payload["expert"])
    key = jax.random.wrap_key_data(jnp.asarray(payload["key"], jnp.uint32))
    records = []
    for i in payload["runs"]:
        k_scm, k_run = jax.random.split(jax.random.fold_in(key, i))
        scm = dist.sample(k_scm)
        arrays, meta = result_to_record(run_parent_scale(scm, key=k_run, config=config), scm)
        records.append((arrays, {**meta, "run_index": i}))
    return records


@dataclasses.dataclass(frozen=True)
class DemonstrationSet:
    """A finished dataset on disk.

    Attributes:
      directory: where the shards are.
      n: number of runs.
      shards: number of shards.
      generated: shards written by this call (the others were already there).
    """

    directory: pathlib.Path
    n: int
    shards: int
    generated: int


def generate_demonstrations(
    scm_distribution: SCMDistribution,
    n: int,
    *,
    key: jax.Array,
    executor: str = "local",
    output_dir: str | pathlib.Path,
    config: ParentScaleConfig | None = None,
    shard_size: int = 4,
    max_workers: int | None = None,
    ray_address: str | None = None,
    retries: int = 2,
    logger: RunLogger | None = None,
    shard_fn: Callable[[dict[str, Any]], list[Record]] = run_shard,
) -> DemonstrationSet:
    """Runs PARENT_SCALE on ``n`` SCMs drawn from ``scm_distribution``; writes shards.

    Args:
      scm_distribution: where the SCMs come from.
      n: number of runs.
      key: PRNG key; run ``i`` uses ``fold_in(key, i)`` for its SCM and its run.
      executor: ``"local"`` (process pool), ``"ray"`` or ``"inline"``.
      output_dir: dataset directory (created; a dataset of another spec there is refused).
      config: the expert's settings.
      shard_size: runs per shard (the unit of retry and of resuming).
      max_workers: local pool size (default one per core).
      ray_address: an existing Ray cluster; None starts or reuses a local one.
      retries: extra attempts of a failing shard.
      logger: progress bar and JSONL events.
      shard_fn: the picklable function a worker runs per shard (default :func:`run_shard`);
        replace it to wrap the work, e.g. with instrumentation or fault injection in tests.

    Returns:
      The dataset's summary.

    Raises:
      DatasetMismatchError: ``output_dir`` holds a dataset of another spec or format version,
        or files of no dataset.
      CorruptShardError: a damaged manifest, or a shard the manifest does not list (named).
      TaskFailedError: a shard kept failing.
    """
    if n < 1 or shard_size < 1:
        raise ConfigError(f"n and shard_size must be >= 1, got {n} and {shard_size}")
    config = config or ParentScaleConfig()
    logger = logger or RunLogger(progress=False)
    key_data = np.asarray(jax.random.key_data(key), np.uint32).tolist()
    spec = {"distribution": to_dict(scm_distribution),
            "expert": to_dict(config), "n": n, "shard_size": shard_size,
            "key": key_data}
    n_shards = -(-n // shard_size)
    root = open_dataset(output_dir, kind=_KIND, spec=spec, shards=n_shards, records=n)
    stray = sorted(i for i in finished_shards(root) if i >= n_shards)
    if stray:
        raise CorruptShardError(
            f"shard {str(shard_paths(root, stray[0])[1])!r} is not part of the dataset (its "
            f"manifest lists {n_shards} shards); move it away")
    done = set()
    for index in range(n_shards):
        _, sidecar_path = shard_paths(root, index)
        if not (sidecar_path.exists() or sidecar_path.is_symlink()):
            continue  # never written (or its write did not finish): generated below
        try:
            sidecar = verify_shard(root, index)
            runs = [meta.get("run_index") for meta in sidecar["records"]]
            wanted = list(range(index * shard_size, min(n, (index + 1) * shard_size)))
            if runs != wanted:
                raise CorruptShardError(
                    f"shard {str(sidecar_path)!r} is corrupt: it holds runs {runs[:10]}, "
                    f"expected {wanted[:10]}")
            done.add(index)
        except CorruptShardError as err:
            logger.log("corrupt_shard", level="WARNING", shard=index, path=str(sidecar_path),
                       error=str(err), action="regenerating")
    todo = [i for i in range(n_shards) if i not in done]
    payloads = [{"distribution": spec["distribution"], "expert": spec["expert"],
                 "key": key_data, "shard": i,
                 "runs": list(range(i * shard_size, min(n, (i + 1) * shard_size)))}
                for i in todo]
    logger.log("generate", n=n, shards=n_shards, already_done=len(done), executor=executor)
    with logger.progress(n_shards, "demonstrations (shards)", initial=len(done)) as bar:
        for j, records in run_tasks(shard_fn, payloads, executor=executor,
                                    max_workers=max_workers, retries=retries,
                                    ray_address=ray_address):
            write_shard(root, todo[j], records)
            bar.update(1)
            logger.log("shard_written", level="DEBUG", shard=todo[j], runs=len(records))
    return DemonstrationSet(root, n, n_shards, len(todo))


# What a damaged record can raise beyond the typed errors (a safety net under the checks).
_RECORD_FAILURES = (ACBOError, KeyError, IndexError, TypeError, ValueError, RecursionError)


def _load_runs(directory: str | pathlib.Path
               ) -> list[tuple[ParentScaleResult, Any, pathlib.Path]]:
    """Every run in run order as ``(result, scm, sidecar path)``, checked against the manifest."""
    root = pathlib.Path(directory)
    manifest = read_manifest(root, kind=_KIND)
    n = manifest["spec"].get("n")
    if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
        raise CorruptShardError(f"dataset manifest {str(root / 'manifest.json')!r} is corrupt: "
                                f"spec.n must be a positive integer, got {n!r:.60}")
    out: dict[int, tuple[ParentScaleResult, Any, pathlib.Path]] = {}
    for sidecar_path, records in iter_shards(root, manifest):
        for j, (arrays, meta) in enumerate(records):
            run = meta.get("run_index")
            if not (isinstance(run, int) and not isinstance(run, bool) and 0 <= run < n) \
                    or run in out:
                raise CorruptShardError(
                    f"shard {str(sidecar_path)!r}, record {j}: run_index {run!r:.40} is not a "
                    f"new run of the dataset's {n}")
            try:
                result, scm = record_to_result(arrays, meta)
            except _RECORD_FAILURES as err:
                raise CorruptShardError(
                    f"shard {str(sidecar_path)!r}, record {j}: {err}") from err
            out[run] = result, scm, sidecar_path
    if len(out) != n:
        missing = sorted(set(range(n)) - set(out))
        raise CorruptShardError(f"dataset {str(root)!r} is missing runs {missing[:10]}")
    return [out[i] for i in range(n)]


def load_demonstrations(directory: str | pathlib.Path) -> list[tuple[ParentScaleResult, Any]]:
    """Every run of a dataset in run order, as ``(result, scm)``.

    Raises:
      CorruptShardError: a missing or damaged shard or record (the file is named), or runs
        missing from the count the manifest records.
      DatasetMismatchError: another kind of dataset, or one of another format version.
    """
    return [(result, scm) for result, scm, _ in _load_runs(directory)]


def load_expert_trajectories(directory: str | pathlib.Path) -> list[ExpertTrajectory]:
    """Every run of a dataset as an :class:`ExpertTrajectory`.

    Raises:
      CorruptShardError: as :func:`load_demonstrations`, or a run that does not make a
        consistent trajectory (its shard is named).
      DatasetMismatchError: as :func:`load_demonstrations`.
    """
    out = []
    for i, (res, scm, sidecar_path) in enumerate(_load_runs(directory)):
        try:
            out.append(extract_expert_trajectory(res, scm, run_index=i))
        except _RECORD_FAILURES as err:
            raise CorruptShardError(f"shard {str(sidecar_path)!r}, run {i}: {err}") from err
    return out
