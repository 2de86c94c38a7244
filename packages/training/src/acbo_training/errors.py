"""Typed errors of the training layer (all derive from :class:`acbo_core.errors.ACBOError`)."""

from __future__ import annotations

from acbo_core.errors import ACBOError, ConfigError

__all__ = ["ConfigError", "CorruptShardError", "DatasetMismatchError", "TaskFailedError"]


class CorruptShardError(ACBOError, ValueError):
    """A damaged dataset: a shard or manifest that is missing, truncated, unreadable, of the
    wrong shape or fails its checksum, or runs missing from the count its manifest records (the
    file is named)."""


class DatasetMismatchError(ACBOError, ValueError):
    """A dataset directory written with another configuration, kind or format version than the
    one asked for."""


class TaskFailedError(ACBOError, RuntimeError):
    """A distributed task that kept failing after its retries."""
