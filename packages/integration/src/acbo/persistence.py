"""Saving and loading a whole trained system to a directory (versioned, no pickles).

Layout: ``system.json`` (kind, format version, configs, metrics), ``surrogate/`` and
``policy/`` (acbo-core checkpoints: arrays + JSON sidecar, checksummed), ``training_scms.json``.
A system written by another format version is refused with a message saying which; a damaged
one (any part unreadable, altered, or with NaN parameters) with :class:`CheckpointError` naming
the part. Saving replaces only a directory that holds a saved system (acbo_core.storage).
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import acbo_acquisition as aq
import acbo_core as ac
import acbo_surrogate as sur
from acbo.system import DecisionConfig, OnlineConfig, TrainedACBOSystem
from acbo_core.configs import from_dict, to_dict
from acbo_core.errors import ACBOError, CheckpointError, ConfigError
from acbo_expert import ParentScaleConfig

__all__ = ["SYSTEM_KIND", "SYSTEM_FORMAT_VERSION", "PRETRAINED", "save_system", "load_system",
           "load_pretrained", "pretrained_path"]

SYSTEM_KIND = "acbo.system"
SYSTEM_FORMAT_VERSION = 2
"""2: the decision settings (the causal GP sets the value); 1 had none."""


PRETRAINED = ("generalist",)
"""Systems shipped inside the package (``acbo/pretrained/<name>/``): trained once, loaded
without training or downloading (see the README's model card)."""


def pretrained_path(name: str = "generalist") -> pathlib.Path:
    """The directory of a shipped system.

    Raises:
      ConfigError: an unknown name (the shipped ones are listed).
      CheckpointError: this installation lacks the system's files.
    """
    import importlib.resources

    if name not in PRETRAINED:
        raise ConfigError(f"unknown pretrained system {name!r}; shipped: {', '.join(PRETRAINED)}")
    path = pathlib.Path(str(importlib.resources.files("acbo") / "pretrained" / name))
    if not (path / "system.json").is_file():
        raise CheckpointError(f"this installation of acbo has no pretrained system {name!r} "
                              f"(expected at {str(path)!r}); reinstall acbo, or pass a system "
                              "you trained (`acbo-train run` writes RUN/system)")
    return path


def load_pretrained(name: str = "generalist") -> TrainedACBOSystem:
    """The system shipped with the package, ready to optimise a new problem.

    Raises:
      ConfigError: an unknown name.
      CheckpointError: missing or damaged files (named).
    """
    return load_system(pretrained_path(name))


def save_system(system: TrainedACBOSystem, path: str | os.PathLike[str]) -> pathlib.Path:
    """Writes ``system`` to the directory ``path`` (replaced whole, atomically).

    Returns:
      The directory.

    Raises:
      OverwriteRefusedError: ``path`` exists and is not a saved system (a file, or a directory
        ACBO did not write as one): nothing is deleted.
    """

    def fill(tmp: pathlib.Path) -> None:
        sur.save_surrogate(tmp / "surrogate", system.surrogate_params, system.surrogate_config)
        aq.save_policy(tmp / "policy", system.acquisition_params, system.policy_config)
        scms = [json.loads(ac.scm_to_json(s)) for s in system.training_scms]
        ac.write_file(tmp / "training_scms.json", ac.dumps_json(scms))
        meta = {"kind": SYSTEM_KIND, "format_version": SYSTEM_FORMAT_VERSION,
                "run_config": to_dict(system.run_config),
                "online": to_dict(system.online),
                "decision": to_dict(system.decision),
                "performance_metrics": {k: float(v)
                                        for k, v in system.performance_metrics.items()}}
        ac.write_file(tmp / "system.json", ac.dumps_json(meta, indent=2) + "\n")

    return ac.write_directory(path, fill, kind=SYSTEM_KIND)


def _read_json(file: pathlib.Path) -> Any:
    try:
        return json.loads(file.read_bytes().decode("utf-8"))
    except OSError as err:
        raise CheckpointError(f"damaged system: cannot read {str(file)!r}: "
                              f"{err.strerror or err}") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"damaged system: {str(file)!r} is not UTF-8 text") from None
    except ValueError as err:
        raise CheckpointError(f"damaged system: {str(file)!r} is not valid JSON: {err}") from None
    except RecursionError:
        raise CheckpointError(f"damaged system: {str(file)!r} is nested too deeply") from None


def _read_meta(path: pathlib.Path) -> dict[str, Any]:
    if not path.exists():
        ac.recover_directory(path)  # a save interrupted between its two renames
    file = path / "system.json"
    if not file.is_file():
        raise CheckpointError(f"{str(path)!r} is not a saved ACBO system (no system.json); "
                              "train one with `acbo-train train` or `acbo-train run`")
    meta = _read_json(file)
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
    try:
        s_params, s_config, _ = sur.load_surrogate(path / "surrogate")
        p_params, p_config = aq.load_policy(path / "policy")
    except CheckpointError as err:
        raise CheckpointError(f"damaged system {str(path)!r}: {err}") from None
    except ACBOError as err:  # e.g. a stored configuration that no longer validates
        raise CheckpointError(f"damaged system {str(path)!r}: {err}") from None
    scm_docs = _read_json(path / "training_scms.json")
    try:
        if not isinstance(scm_docs, list):
            raise TypeError("training_scms.json is not a list")
        run_config = from_dict(ParentScaleConfig, meta["run_config"])
        online = from_dict(OnlineConfig, meta["online"])
        decision = from_dict(DecisionConfig, meta["decision"])
        scms = tuple(ac.scm_from_json(json.dumps(s)) for s in scm_docs)
        metrics = {str(k): float("nan") if v is None else float(v)
                   for k, v in meta["performance_metrics"].items()}
    except (KeyError, TypeError, AttributeError, ValueError, ConfigError) as err:
        raise CheckpointError(f"{str(path)!r}: damaged system: {err}") from None
    return TrainedACBOSystem(s_config, s_params, p_config, p_params, run_config=run_config,
                             online=online, decision=decision, training_scms=scms,
                             performance_metrics=metrics)
