"""Checks shared by the frozen configuration dataclasses of every layer.

Each config calls these from its ``__post_init__``, so a value is checked however the config is
built: from a TOML table (``acbo_training.config_from_dict``, which then replaces the class name
in the message by the dotted key, ``surrogate.learning_rate``) or directly in Python. Messages
start with ``ClassName.field`` and say what the field must be and what it got; a size refused
for being absurd names the limit.

Every check takes ``error``: the :class:`~acbo_core.errors.ConfigError` subclass to raise
(a layer whose configs are also read back from checkpoints may use its own).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Collection
from typing import Any

from acbo_core.errors import ConfigError

__all__ = ["MAX_SEED", "check_finite", "check_int", "check_number", "check_choice",
           "check_choices", "check_range", "check_seeds"]

MAX_SEED = 2**32 - 1
"""Largest seed: ``jax.random.key`` keeps 32 bits of an integer seed, so larger ones (and
negative ones) would silently give the same key as another seed."""


def _where(config: Any, name: str) -> str:
    return f"{type(config).__name__}.{name}"


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def check_finite(config: Any, *, error: type[Exception] = ConfigError) -> None:
    """Every number in a config dataclass's fields (and in its tuple fields) is finite.

    Raises:
      error: naming the first field holding NaN or an infinity.
    """
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        items = enumerate(value) if isinstance(value, tuple | list) else ((None, value),)
        for i, item in items:
            if _is_real(item) and not _is_int(item) and not _finite(item):
                where = _where(config, field.name) + ("" if i is None else f"[{i}]")
                raise error(f"{where} must be a finite number, got {item!r}")


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return " and ".join(parts)


def _inside(value: float, low: float | None, high: float | None, low_open: bool,
            high_open: bool) -> bool:
    if low is not None and (value <= low if low_open else value < low):
        return False
    return not (high is not None and (value >= high if high_open else value > high))


def check_int(config: Any, name: str, low: int, high: int | None = None, *,
              error: type[Exception] = ConfigError) -> None:
    """``config.<name>`` is an int in ``[low, high]`` (``high``: the largest size that fits in
    memory or makes sense; named in the message)."""
    value = getattr(config, name)
    if not _is_int(value) or not _inside(value, low, high, False, False):
        raise error(f"{_where(config, name)} must be an int {_bounds(low, high, False, False)}, "
                    f"got {value!r}")


def check_number(config: Any, name: str, low: float | None = None, high: float | None = None,
                 *, low_open: bool = False, high_open: bool = False,
                 error: type[Exception] = ConfigError) -> None:
    """``config.<name>`` is a finite number within the bounds (open or closed at each end)."""
    value = getattr(config, name)
    if not (_is_real(value) and _finite(value)
            and _inside(value, low, high, low_open, high_open)):
        bounds = _bounds(low, high, low_open, high_open)
        bounds = f" {bounds}" if bounds else ""
        raise error(f"{_where(config, name)} must be a finite number{bounds}, got {value!r}")


def check_choice(config: Any, name: str, choices: Collection[str], *,
                 error: type[Exception] = ConfigError) -> None:
    """``config.<name>`` is one of ``choices``."""
    value = getattr(config, name)
    if not isinstance(value, str) or value not in choices:
        raise error(f"{_where(config, name)} must be one of {sorted(choices)}, got {value!r}")


def check_choices(config: Any, name: str, choices: Collection[str], *,
                  error: type[Exception] = ConfigError) -> None:
    """``config.<name>`` is one of ``choices``, or a non-empty tuple (or list) of distinct ones
    (a setting that may also name several options, one drawn at a time)."""
    value = getattr(config, name)
    if isinstance(value, str):
        ok = value in choices
    else:
        ok = (isinstance(value, tuple | list) and len(value) > 0
              and all(isinstance(v, str) and v in choices for v in value)
              and len(set(value)) == len(value))
    if not ok:
        shown = list(value) if isinstance(value, tuple) else value
        raise error(f"{_where(config, name)} must be one of {sorted(choices)} or a non-empty "
                    f"list of distinct ones, got {shown!r}")


def check_range(config: Any, name: str, low: float | None = None, high: float | None = None,
                *, low_open: bool = False, integer: bool = False,
                error: type[Exception] = ConfigError) -> None:
    """``config.<name>`` is a pair ``(lo, hi)`` with ``lo <= hi``, ``lo`` above ``low`` and
    ``hi`` at most ``high``; ints when ``integer``, else finite numbers."""
    value = getattr(config, name)
    kind = "ints" if integer else "finite numbers"
    ok = (isinstance(value, tuple | list) and len(value) == 2
          and all(_is_int(v) if integer else (_is_real(v) and _finite(v)) for v in value))
    if ok:
        lo, hi = value
        ok = lo <= hi and _inside(lo, low, None, low_open, False) \
            and _inside(hi, None, high, False, False)
    if not ok:
        rules = [kind, "lo <= hi"]
        if low is not None:
            rules.append(f"lo {'>' if low_open else '>='} {low}")
        if high is not None:
            rules.append(f"hi <= {high}")
        raise error(f"{_where(config, name)} must be [lo, hi] ({', '.join(rules)}), got "
                    f"{list(value) if isinstance(value, tuple) else value!r}")


def check_seeds(config: Any, name: str, *, min_items: int = 1,
                error: type[Exception] = ConfigError) -> None:
    """``config.<name>`` is a seed (an int in ``[0, MAX_SEED]``) or a tuple of at least
    ``min_items`` seeds."""
    value = getattr(config, name)
    items = value if isinstance(value, tuple | list) else (value,)
    if len(items) < min_items:
        raise error(f"{_where(config, name)} must list at least {min_items} seed(s), got "
                    f"{value!r}")
    what = "hold ints" if isinstance(value, tuple | list) else "be an int"
    for item in items:
        if not _is_int(item) or not 0 <= item <= MAX_SEED:
            raise error(f"{_where(config, name)} must {what} in [0, {MAX_SEED}] (2**32 - 1: a "
                        f"JAX key keeps 32 bits of a seed), got {item!r}")
