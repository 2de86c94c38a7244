"""Typed errors raised by ACBO for bad input.

Every error derives from :class:`ACBOError`, and also from the builtin exception a caller would
expect (``ValueError``, ``KeyError``, ``TypeError``), so ``except ValueError`` keeps working.
Messages name the offending variable, edge, field or shape.
"""

from __future__ import annotations

__all__ = [
    "ACBOError",
    "CyclicGraphError",
    "UnknownVariableError",
    "InvalidMechanismError",
    "UnsupportedMechanismError",
    "InvalidInterventionError",
    "InvalidTargetError",
    "InvalidUnitsError",
    "ShapeMismatchError",
    "NonFiniteDataError",
    "InvalidPosteriorError",
    "InvalidStateError",
    "SchemaError",
    "GraphGenerationError",
    "CheckpointError",
    "ConfigError",
    "OverwriteRefusedError",
    "StorageError",
    "LockedError",
]


class ACBOError(Exception):
    """Base class of every error ACBO raises for bad input."""


class CyclicGraphError(ACBOError, ValueError):
    """The edges of an SCM contain a directed cycle."""


class UnknownVariableError(ACBOError, KeyError):
    """A name that is not one of the SCM's (or buffer's) variables."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class InvalidMechanismError(ACBOError, ValueError):
    """A mechanism is missing, malformed, or its parents disagree with the graph's edges."""


class UnsupportedMechanismError(ACBOError, TypeError):
    """An operation needs a mechanism family the SCM does not have (e.g. linear coefficients)."""


class InvalidInterventionError(ACBOError, ValueError):
    """An intervention names a forbidden variable, has a bad value, or a bad range."""


class InvalidTargetError(ACBOError, ValueError):
    """The target is not a variable, or cannot be optimised (no intervenable variable)."""


class InvalidUnitsError(ACBOError, ValueError):
    """A change of units with a scale that is not a finite number > 0, or a non-finite offset."""


class ShapeMismatchError(ACBOError, ValueError):
    """Arrays whose shapes disagree with each other or with the variables they describe."""


class NonFiniteDataError(ACBOError, ValueError):
    """NaN or infinity in data that must be finite."""


class InvalidPosteriorError(ACBOError, ValueError):
    """A parent-set posterior with bad probabilities, duplicate sets, or sets holding the target."""


class InvalidStateError(ACBOError, ValueError):
    """An acquisition state whose parts disagree (e.g. a posterior for another target)."""


class SchemaError(ACBOError, ValueError):
    """A JSON document that does not follow ACBO's schema; the message names the field."""


class GraphGenerationError(ACBOError, ValueError):
    """Generator arguments that cannot give a graph of the requested shape."""


class CheckpointError(ACBOError, ValueError):
    """A checkpoint that is missing, corrupt, of another kind or of another format version."""


class ConfigError(ACBOError, ValueError):
    """Settings with an unknown key, a value of the wrong type, or a value out of range (named)."""


class OverwriteRefusedError(ACBOError, FileExistsError):
    """A write that would replace a file or directory ACBO did not write itself (named)."""


class StorageError(ACBOError, OSError):
    """A file or directory that cannot be written or read (permissions, read-only, full disk)."""


class LockedError(ACBOError, RuntimeError):
    """A directory another process holds locked (its pid is named)."""
