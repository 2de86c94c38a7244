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
from acbo_expert import ParentScaleConfig, ParentScaleResult, run_parent_scale
from acbo_training.config import config_from_dict, config_to_dict
from acbo_training.errors import ConfigError, CorruptShardError
from acbo_training.executors import run_tasks
from acbo_training.runlog import RunLogger
from acbo_training.shards import (
    Record,
    finished_shards,
    open_dataset,
    read_shard,
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


@dataclasses.dataclass(frozen=True)
class SCMDistribution:
    """A distribution over random SCMs to demonstrate on.

    Attributes:
      graph: ``"erdos_renyi"`` or ``"scale_free"``.
      n_vars: ``(lo, hi)``: the number of variables is uniform in this inclusive range.
      expected_degree: mean neighbours per variable.
      mechanism: ``"linear"`` or ``"fourier"``.
      noise_scale: ``(lo, hi)`` of the per-variable noise scales.
      weight_range: ``(lo, hi)`` of the absolute edge weights.
    """

    graph: str = "erdos_renyi"
    n_vars: tuple[int, int] = (5, 10)
    expected_degree: float = 2.0
    mechanism: str = "linear"
    noise_scale: tuple[float, float] = (0.5, 1.0)
    weight_range: tuple[float, float] = (0.5, 2.0)

    def __post_init__(self) -> None:
        if self.graph not in GRAPHS:
            raise ConfigError(f"graph must be one of {GRAPHS}, got {self.graph!r}")
        lo, hi = self.n_vars
        if not 2 <= lo <= hi:
            raise ConfigError(f"n_vars must be (lo, hi) with 2 <= lo <= hi, got {self.n_vars}")

    def sample(self, key: jax.Array) -> Any:
        """One SCM (the same key gives the same SCM)."""
        k_size, k_graph = jax.random.split(key)
        lo, hi = self.n_vars
        d = int(jax.random.randint(k_size, (), lo, hi + 1))
        make = ac.erdos_renyi_scm if self.graph == "erdos_renyi" else ac.scale_free_scm
        return make(d, key=k_graph, expected_degree=min(self.expected_degree, d - 1),
                    mechanism=self.mechanism, noise_scale=self.noise_scale,
                    weight_range=self.weight_range)


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
        "minimize": result.minimize, "config": dataclasses.asdict(result.config),
    }
    return arrays, meta


def record_to_result(arrays: Mapping[str, np.ndarray],
                     meta: Mapping[str, Any]) -> tuple[ParentScaleResult, Any]:
    """Inverse of :func:`result_to_record`: ``(result, scm)``."""
    variables = tuple(meta["variables"])
    posts, start = [], 0
    for size in arrays["posterior_sizes"]:
        rows = arrays["posterior_sets"][start:start + size]
        sets = tuple(frozenset(variables[i] for i in r if i >= 0) for r in rows)
        posts.append(ac.ParentSetPosterior(meta["target"], sets,
                                           arrays["posterior_probs"][start:start + size]))
        start += int(size)
    d_i, offset = [], 0
    for block in meta["D_I"]:
        names = sorted(block["intervention"])
        do = ac.create_perfect_intervention(names, [block["intervention"][v] for v in names])
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
        minimize=meta["minimize"], config=ParentScaleConfig(**meta["config"]),
        model_key=arrays["model_key"],
    )
    return result, ac.scm_from_json(meta["scm"])


# -- generation ---------------------------------------------------------------------------------


def run_shard(payload: dict[str, Any]) -> list[Record]:
    """The work of one shard: runs the expert for each of its run indices.

    This is what a worker process or Ray task executes; ``payload`` holds plain data only
    (``distribution``, ``expert`` settings, ``key`` data, ``runs``).
    """
    dist = config_from_dict(SCMDistribution, payload["distribution"])
    config = ParentScaleConfig(**payload["expert"])
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
      DatasetMismatchError: ``output_dir`` holds a dataset of another spec.
      TaskFailedError: a shard kept failing.
    """
    if n < 1 or shard_size < 1:
        raise ConfigError(f"n and shard_size must be >= 1, got {n} and {shard_size}")
    config = config or ParentScaleConfig()
    logger = logger or RunLogger(progress=False)
    key_data = np.asarray(jax.random.key_data(key), np.uint32).tolist()
    spec = {"distribution": config_to_dict(scm_distribution),
            "expert": dataclasses.asdict(config), "n": n, "shard_size": shard_size,
            "key": key_data}
    root = open_dataset(output_dir, kind=_KIND, spec=spec)
    n_shards = -(-n // shard_size)
    done = set()
    for index in sorted(finished_shards(root)):
        try:
            verify_shard(root, index)
            done.add(index)
        except CorruptShardError as err:
            logger.log("corrupt_shard", level="WARNING", shard=index, error=str(err),
                       action="regenerating")
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


def load_demonstrations(directory: str | pathlib.Path) -> list[tuple[ParentScaleResult, Any]]:
    """Every run of a dataset in run order, as ``(result, scm)``.

    Raises:
      CorruptShardError: a shard fails its checksum (named), or shards are missing.
    """
    root = pathlib.Path(directory)
    out: dict[int, tuple[ParentScaleResult, Any]] = {}
    for index in sorted(finished_shards(root)):
        for arrays, meta in read_shard(root, index):
            out[int(meta["run_index"])] = record_to_result(arrays, meta)
    if sorted(out) != list(range(len(out))):
        missing = sorted(set(range(max(out, default=-1) + 1)) - set(out))
        raise CorruptShardError(f"dataset {str(root)!r} is missing runs {missing[:10]}")
    return [out[i] for i in sorted(out)]


def load_expert_trajectories(directory: str | pathlib.Path) -> list[ExpertTrajectory]:
    """Every run of a dataset as an :class:`ExpertTrajectory`."""
    return [extract_expert_trajectory(res, scm, run_index=i)
            for i, (res, scm) in enumerate(load_demonstrations(directory))]
