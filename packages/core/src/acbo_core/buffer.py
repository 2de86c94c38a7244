"""ExperienceBuffer: an immutable, columnar record of observational and interventional data.

Data are kept as a persistent vector of read-only blocks, one block per ``add_*`` call (an
``[n, d]`` float64 array and the intervention that produced it, or ``None``). Appending shares
every earlier block with the old buffer, so its cost does not grow with the buffer's size; the
concatenated arrays are built on first use and cached on that (immutable) buffer.

Glossary of shape letters: N rows, d variables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pyrsistent as pyr

from acbo_core.errors import (
    InvalidInterventionError,
    NonFiniteDataError,
    ShapeMismatchError,
    UnknownVariableError,
)
from acbo_core.interventions import Sample, create_sample, validate_intervention

__all__ = ["ExperienceBuffer", "BufferArrays", "create_buffer", "standardisation", "STD_FLOOR"]

STD_FLOOR = 1e-8
"""A column whose standard deviation is at most this is constant (see :func:`standardisation`)."""


def standardisation(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of ``values [n, d]``, the one convention of every
    layer: a constant column (std <= :data:`STD_FLOOR`) gets std 1, so it standardises to about
    zero instead of blowing up."""
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    return mean, np.where(std > STD_FLOOR, std, 1.0)


class BufferArrays(NamedTuple):
    """Host arrays of a buffer, columns in the requested variable order."""

    values: np.ndarray  # [N, d] float64
    intervened: np.ndarray  # [N, d] bool


class _Block(NamedTuple):
    values: np.ndarray  # [n, d] float64, read-only
    intervention: pyr.PMap | None


def _permutation(variables: tuple[str, ...], order: Sequence[str] | None) -> np.ndarray:
    if order is None:
        return np.arange(len(variables))
    order = tuple(order)
    index = {v: i for i, v in enumerate(variables)}
    for v in order:
        if v not in index:
            raise UnknownVariableError(f"variable {v!r} is not in the buffer {list(variables)}")
    if len(order) != len(variables) or len(set(order)) != len(order):
        missing = sorted(set(variables) - set(order))
        raise ShapeMismatchError(
            f"variable_order must list each of the buffer's {len(variables)} variables once "
            f"(missing {missing})"
        )
    return np.asarray([index[v] for v in order])


@dataclasses.dataclass(frozen=True, eq=False)
class ExperienceBuffer:
    """Observational and interventional samples over a fixed set of variables.

    Create with :func:`create_buffer` (or :meth:`ExperienceBuffer.create`); every ``add_*``
    returns a new buffer and leaves the old one unchanged.

    Attributes:
      variables: the column order of stored rows.
    """

    variables: tuple[str, ...]
    _blocks: pyr.PVector = pyr.pvector()
    _size: int = 0
    _cache: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, variables: Sequence[str]) -> ExperienceBuffer:
        """An empty buffer over ``variables``.

        Raises:
          UnknownVariableError: no variables or duplicate names.
        """
        names = tuple(str(v) for v in variables)
        if not names or len(set(names)) != len(names):
            raise UnknownVariableError(f"a buffer needs unique variable names, got {names}")
        return cls(names)

    # -- appending ---------------------------------------------------------------------------

    def _rows(self, data: Any, what: str) -> np.ndarray:
        if isinstance(data, Sample):
            data = [data]
        if isinstance(data, Sequence) and data and isinstance(data[0], Sample):
            rows = []
            for s in data:
                if set(s.values) != set(self.variables):
                    extra = sorted(set(s.values) - set(self.variables))
                    missing = sorted(set(self.variables) - set(s.values))
                    if extra:
                        raise UnknownVariableError(f"{what}: unknown variable {extra[0]!r}")
                    raise ShapeMismatchError(f"{what}: a sample lacks variables {missing}")
                rows.append([s.values[v] for v in self.variables])
            arr = np.asarray(rows, dtype=np.float64)
        else:
            arr = np.array(data, dtype=np.float64)  # copies: the block must not alias caller data
        if arr.ndim == 1 and arr.shape[0] == len(self.variables):
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != len(self.variables):
            raise ShapeMismatchError(
                f"{what}: expected rows of shape [n, {len(self.variables)}] (one column per "
                f"variable {list(self.variables)}), got {arr.shape}"
            )
        bad = ~np.isfinite(arr)
        if bad.any():
            col = int(np.argmax(bad.any(axis=0)))
            raise NonFiniteDataError(
                f"{what}: non-finite value in variable {self.variables[col]!r}"
            )
        arr.setflags(write=False)
        return arr

    def _append(self, values: np.ndarray, intervention: pyr.PMap | None) -> ExperienceBuffer:
        if values.shape[0] == 0:
            return self
        return ExperienceBuffer(
            self.variables, self._blocks.append(_Block(values, intervention)),
            self._size + values.shape[0],
        )

    def add_observations(self, data: Any) -> ExperienceBuffer:
        """Appends observational rows.

        Args:
          data: ``[n, d]`` array-like in ``self.variables`` order, a :class:`Sample`, or a
            sequence of observational samples.

        Returns:
          The new buffer.

        Raises:
          ShapeMismatchError, NonFiniteDataError, UnknownVariableError: bad rows.
          InvalidInterventionError: a sample was produced by an intervention.
        """
        if isinstance(data, Sample):
            data = [data]
        if isinstance(data, Sequence) and data and isinstance(data[0], Sample):
            if any(s.intervened for s in data):
                raise InvalidInterventionError(
                    "add_observations got an interventional sample; use add_interventions"
                )
        return self._append(self._rows(data, "add_observations"), None)

    def add_interventions(self, intervention: Mapping[str, Any], data: Any) -> ExperienceBuffer:
        """Appends rows produced by one perfect intervention.

        Args:
          intervention: from :func:`acbo_core.create_perfect_intervention`.
          data: ``[n, d]`` array-like in ``self.variables`` order, or samples.

        Returns:
          The new buffer.

        Raises:
          UnknownVariableError: the intervention names an unknown variable.
          InvalidInterventionError: an intervened column differs from its intervention value.
          ShapeMismatchError, NonFiniteDataError: bad rows.
        """
        intervention = validate_intervention(intervention, self.variables)
        values = self._rows(data, "add_interventions")
        for var, val in intervention["values"].items():
            col = values[:, self.variables.index(var)]
            if not np.allclose(col, val, rtol=1e-5, atol=1e-6):
                raise InvalidInterventionError(
                    f"add_interventions: column {var!r} should hold the intervention value "
                    f"{val} but holds {col[~np.isclose(col, val, rtol=1e-5, atol=1e-6)][0]}"
                )
        return self._append(values, intervention)

    # -- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._size

    def _masks(self) -> np.ndarray:
        if "intervened" not in self._cache:
            d = len(self.variables)
            parts = []
            for block in self._blocks:
                mask = np.zeros((block.values.shape[0], d), bool)
                if block.intervention is not None:
                    cols = [self.variables.index(v) for v in block.intervention["targets"]]
                    mask[:, cols] = True
                parts.append(mask)
            mask = np.concatenate(parts) if parts else np.zeros((0, d), bool)
            mask.setflags(write=False)
            self._cache["intervened"] = mask
        return self._cache["intervened"]

    def _values(self) -> np.ndarray:
        if "values" not in self._cache:
            parts = [b.values for b in self._blocks]
            values = np.concatenate(parts) if parts else np.zeros((0, len(self.variables)))
            values.setflags(write=False)
            self._cache["values"] = values
        return self._cache["values"]

    @property
    def n_observational(self) -> int:
        return sum(b.values.shape[0] for b in self._blocks if b.intervention is None)

    @property
    def n_interventional(self) -> int:
        return self._size - self.n_observational

    def _filtered(self, keep_observational: bool) -> ExperienceBuffer:
        blocks = [b for b in self._blocks if (b.intervention is None) == keep_observational]
        return ExperienceBuffer(self.variables, pyr.pvector(blocks),
                                sum(b.values.shape[0] for b in blocks))

    def observational(self) -> ExperienceBuffer:
        """A buffer of the observational rows only."""
        return self._filtered(True)

    def interventional(self) -> ExperienceBuffer:
        """A buffer of the interventional rows only."""
        return self._filtered(False)

    def interventions(self) -> tuple[tuple[pyr.PMap, int], ...]:
        """``(intervention, number of rows)`` for each interventional block, in order added."""
        return tuple((b.intervention, b.values.shape[0]) for b in self._blocks
                     if b.intervention is not None)

    def to_arrays(self, variable_order: Sequence[str] | None = None) -> BufferArrays:
        """Values ``[N, d]`` (float64) and intervened mask ``[N, d]``, rows in order added.

        Raises:
          UnknownVariableError, ShapeMismatchError: ``variable_order`` is not a permutation of
            the buffer's variables.
        """
        perm = _permutation(self.variables, variable_order)
        values, mask = self._values(), self._masks()
        if np.array_equal(perm, np.arange(len(perm))):
            return BufferArrays(values, mask)  # cached, read-only
        return BufferArrays(values[:, perm], mask[:, perm])

    def network_encoding(self, variable_order: Sequence[str] | None, target: str) -> jax.Array:
        """The ``[N, d, 3]`` input of the neural models.

        Channel 0: values standardised per variable over all rows (a constant column gives 0);
        channel 1: 1 where the variable was intervened on; channel 2: 1 in the target's column.

        Raises:
          UnknownVariableError: the target is not a variable of the buffer.
        """
        if target not in self.variables:
            raise UnknownVariableError(f"target {target!r} is not in the buffer "
                                       f"{list(self.variables)}")
        values, mask = self.to_arrays(variable_order)
        order = self.variables if variable_order is None else tuple(variable_order)
        if values.shape[0]:
            mean, std = standardisation(values)
            constant = np.ptp(values, axis=0) == 0.0
            values = (values - mean) / std  # a fresh array
            values[:, constant] = 0.0
        is_target = np.zeros(values.shape, np.float32)
        is_target[:, order.index(target)] = 1.0
        return jnp.asarray(np.stack([values, mask, is_target], axis=-1), jnp.float32)

    def samples(self) -> tuple[Sample, ...]:
        """Every row as a :class:`Sample` (materialised; for inspection, not hot paths)."""
        out = []
        for block in self._blocks:
            fixed = () if block.intervention is None else block.intervention["targets"]
            for row in block.values:
                out.append(create_sample(dict(zip(self.variables, row.tolist(), strict=True)),
                                         fixed))
        return tuple(out)

    def blocks(self) -> tuple[tuple[np.ndarray, pyr.PMap | None], ...]:
        """``(values [n, d], intervention or None)`` per ``add_*`` call, for serialisation."""
        return tuple((b.values, b.intervention) for b in self._blocks)


def create_buffer(variables: Sequence[str]) -> ExperienceBuffer:
    """An empty :class:`ExperienceBuffer` over ``variables``."""
    return ExperienceBuffer.create(variables)
