"""The one error type this package adds to :mod:`acbo_core.errors` (which it uses for the rest)."""

from __future__ import annotations

from acbo_core.errors import ACBOError

__all__ = ["ConfigError"]


class ConfigError(ACBOError, ValueError):
    """A configuration field or a keyword argument outside its valid range (named)."""
