"""Saving and loading a whole trained system to a directory (versioned, no pickles).

Layout: ``system.json`` (kind, format version, configs, metrics), ``surrogate/`` and
``policy/`` (acbo-core checkpoints: arrays + JSON sidecar), ``training_scms.json``. A system
written by another format version is refused with a message saying which.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import acbo_acquisition as aq
import acbo_core as ac
import acbo_surrogate as sur
from acbo.system import OnlineConfig, TrainedACBOSystem
from acbo_core.errors import CheckpointError, ConfigError
from acbo_expert import ParentScaleConfig
from acbo_training import config_from_dict, config_to_dict

__all__ = ["SYSTEM_KIND", "SYSTEM_FORMAT_VERSION", "save_system", "load_system"]

SYSTEM_KIND = "acbo.system"
SYSTEM_FORMAT_VERSION = 1


def save_system(system: TrainedACBOSystem, path: str | os.PathLike[str]) -> pathlib.Path:
    """Writes ``system`` to the directory ``path`` (replaced whole, atomically).

    Returns:
      The directory.
    """

    def fill(tmp: pathlib.Path) -> None:
        sur.save_surrogate(tmp / "surrogate", system.surrogate_params, system.surrogate_config)
        aq.save_policy(tmp / "policy", system.acquisition_params, system.policy_config)
        scms = [json.loads(ac.scm_to_json(s)) for s in system.training_scms]
        ac.save_json(json.dumps(scms), tmp / "training_scms.json")
        meta = {"kind": SYSTEM_KIND, "format_version": SYSTEM_FORMAT_VERSION,
                "run_config": config_to_dict(system.run_config),
                "online": config_to_dict(system.online),
                "performance_metrics": {k: float(v)
                                        for k, v in system.performance_metrics.items()}}
        ac.save_json(json.dumps(meta, indent=2), tmp / "system.json")

    return ac.write_directory(path, fill)


def _read_meta(path: pathlib.Path) -> dict[str, Any]:
    file = path / "system.json"
    if not file.is_file():
        raise CheckpointError(f"{str(path)!r} is not a saved ACBO system (no system.json); "
                              "train one with `acbo-train train` or `acbo-train run`")
    try:
        meta = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{str(file)!r} is not valid JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("kind") != SYSTEM_KIND:
        raise CheckpointError(f"{str(file)!r} is not an ACBO system (kind "
                              f"{meta.get('kind') if isinstance(meta, dict) else None!r})")
    version = meta.get("format_version")
    if version != SYSTEM_FORMAT_VERSION:
        newer = isinstance(version, int) and version > SYSTEM_FORMAT_VERSION
        raise CheckpointError(
            f"{str(path)!r} holds a system in format version {version!r}, but this acbo reads "
            f"version {SYSTEM_FORMAT_VERSION}: "
            + ("upgrade acbo to load it" if newer else "retrain it with this version"))
    return meta


def load_system(path: str | os.PathLike[str]) -> TrainedACBOSystem:
    """Reads a system written by :func:`save_system`.

    Raises:
      CheckpointError: not a saved system, another format version, or a damaged part (named).
    """
    path = pathlib.Path(path)
    meta = _read_meta(path)
    s_params, s_config, _ = sur.load_surrogate(path / "surrogate")
    p_params, p_config = aq.load_policy(path / "policy")
    try:
        run_config = config_from_dict(ParentScaleConfig, meta["run_config"])
        online = config_from_dict(OnlineConfig, meta["online"])
        scms = tuple(ac.scm_from_json(json.dumps(s))
                     for s in json.loads((path / "training_scms.json").read_text()))
        metrics = {str(k): float(v) for k, v in meta["performance_metrics"].items()}
    except (KeyError, OSError, ValueError, ConfigError) as err:
        raise CheckpointError(f"{str(path)!r}: damaged system: {err}") from None
    return TrainedACBOSystem(s_config, s_params, p_config, p_params, run_config=run_config,
                             online=online, training_scms=scms, performance_metrics=metrics)
