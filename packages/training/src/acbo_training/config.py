"""Frozen configuration dataclasses, loadable from TOML with unknown keys rejected by name."""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from acbo_core.config_checks import (
    check_choice,
    check_finite,
    check_int,
    check_number,
    check_seeds,
)
from acbo_training.errors import ConfigError

__all__ = ["TrainingConfig", "compute_precision", "config_from_dict", "config_to_dict",
           "load_toml", "apply_overrides"]

C = TypeVar("C")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

MAX_TRAJECTORIES = 100_000
"""Most PARENT_SCALE runs a configuration may ask for: every run is loaded into memory for
training (about 100 kB each at the default sizes)."""


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Overall training configuration.

    Attributes:
      n_expert_trajectories: PARENT_SCALE runs to generate for training.
      validation_split: fraction of SCMs held out for validation (split by SCM, never by step).
      random_seed: seed of every random choice of a run; the same seed gives the same result.
      save_checkpoints: write checkpoints during training (needed to resume).
      checkpoint_frequency: optimisation steps between checkpoints.
      use_mixed_precision: compute in bfloat16 where supported (parameters stay float32).
      log_level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR`` for terminal output; the JSONL
        log always records everything.
    """

    n_expert_trajectories: int = 1000
    validation_split: float = 0.2
    random_seed: int = 42
    save_checkpoints: bool = True
    checkpoint_frequency: int = 10
    use_mixed_precision: bool = False
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        check_finite(self)
        check_int(self, "n_expert_trajectories", 1, MAX_TRAJECTORIES)
        check_number(self, "validation_split", 0.0, 1.0, high_open=True)
        check_seeds(self, "random_seed")
        check_int(self, "checkpoint_frequency", 1)
        check_choice(self, "log_level", LOG_LEVELS)


def compute_precision(config: TrainingConfig) -> Any:
    """A context in which training computes matrix products in bfloat16 when
    ``config.use_mixed_precision`` (on accelerators that support it; CPUs keep float32), with
    parameters and optimiser state kept in float32."""
    import jax

    return jax.default_matmul_precision("bfloat16" if config.use_mixed_precision else None)


def _check_type(value: Any, hint: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        refusals = []
        for option in typing.get_args(hint):
            try:
                return _check_type(value, option, path)
            except ConfigError as err:
                refusals.append(err)
        # An option of the value's own kind says what is wrong inside it (a NaN, an item of
        # the wrong type); the others only say that the value is not of their kind.
        for err in refusals:
            if not str(err).startswith(f"{path}: expected"):
                raise err
        raise ConfigError(f"{path}: {value!r} is not a valid {hint}")
    if hint is type(None):
        if value is None:
            return None
        raise ConfigError(f"{path}: expected nothing, got {value!r}")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a table, got {type(value).__name__}")
        return config_from_dict(hint, value, path)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
            return tuple(_check_type(v, a, f"{path}[{i}]")
                         for i, (v, a) in enumerate(zip(value, args, strict=True)))
        inner = args[0] if args else Any
        return tuple(_check_type(v, inner, f"{path}[{i}]") for i, v in enumerate(value))
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{path} must be a finite number, got {value!r}")
        return number
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise ConfigError(f"{path}: expected {hint.__name__}, got {type(value).__name__}")
    return value


def config_from_dict(cls: type[C], data: Mapping[str, Any], path: str = "") -> C:
    """Builds a frozen config dataclass from a mapping (e.g. a TOML table).

    Unknown keys are refused by name; values are type-checked against the field annotations
    (numbers must be finite); nested dataclass fields take nested tables. The dataclass's own
    checks (ranges, names, sizes) run when it is built; their messages are given the dotted key.

    Raises:
      ConfigError: naming the key (``surrogate.learning_rate``) and the problem.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or cls.__name__}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            where = f"{path}.{key}" if path else key
            raise ConfigError(f"unknown configuration key {where!r}; known keys: {sorted(fields)}")
    kwargs = {k: _check_type(v, hints[k], f"{path}.{k}" if path else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise type(err)(_keyed(str(err), cls, fields, path)) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path or cls.__name__}: {err}") from None


def _keyed(message: str, cls: type, fields: set[str], path: str) -> str:
    """A dataclass's check message with ``ClassName.field`` (or a bare leading ``field``)
    replaced by the dotted key of the field."""
    prefix = f"{cls.__name__}."
    if message.startswith(prefix):
        message = message[len(prefix):]
    else:
        head = re.match(r"[A-Za-z_]\w*", message)
        if head is None or head.group() not in fields:
            return f"{path}: {message}" if path else message
    return f"{path}.{message}" if path else message


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain, JSON/TOML-friendly data (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return plain(config)


def load_toml(path: str | pathlib.Path) -> dict[str, Any]:
    """Reads a TOML file.

    Raises:
      ConfigError: the file is missing, unreadable (a directory, no permission), not UTF-8
        text, or not valid TOML (with the parser's line and column); the message names it.
    """
    where = f"config file {str(path)!r}"
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{where} is a directory, not a TOML file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{where} is not UTF-8 text ({err.reason} at byte {err.start})"
                          ) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{where} is not valid TOML: {err}") from None
    except RecursionError:
        raise ConfigError(f"{where} is nested too deeply") from None
    except OSError as err:
        raise ConfigError(f"cannot read {where}: {err.strerror or err}") from None


def apply_overrides(data: Mapping[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Applies ``a.b.c=value`` overrides (values parsed as TOML, else taken as strings).

    Raises:
      ConfigError: an override without ``=``, or data nested too deeply.
    """
    try:
        out: dict[str, Any] = _deep_copy(data)
    except RecursionError:
        raise ConfigError("the configuration is nested too deeply") from None
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        dotted, raw = item.split("=", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        except RecursionError:
            raise ConfigError(f"override {dotted!r}: the value is nested too deeply") from None
        node = out
        keys = dotted.strip().split(".")
        for k in keys[:-1]:
            nxt = node.setdefault(k, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {dotted!r}: {k!r} is not a table")
            node = nxt
        node[keys[-1]] = value
    return out


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}
