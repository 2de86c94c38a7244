"""Configuration errors of this package: acbo-core's :class:`~acbo_core.errors.ConfigError`,
re-exported so ``acbo_acquisition.ConfigError`` keeps working (one class across layers)."""

from __future__ import annotations

from acbo_core.errors import ConfigError

__all__ = ["ConfigError"]
