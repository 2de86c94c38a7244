"""Typed errors of the training layer (all derive from :class:`acbo_core.errors.ACBOError`)."""

from __future__ import annotations

from acbo_core.errors import ACBOError, ConfigError

__all__ = ["ConfigError", "CorruptShardError", "DatasetMismatchError", "TaskFailedError"]


class CorruptShardError(ACBOError, ValueError):
    """A demonstration shard whose files are missing, truncated or fail their checksum."""


class DatasetMismatchError(ACBOError, ValueError):
    """A dataset directory written with another configuration than the one asked for."""


class TaskFailedError(ACBOError, RuntimeError):
    """A distributed task that kept failing after its retries."""
