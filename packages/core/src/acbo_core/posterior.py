"""ParentSetPosterior: a distribution over the target's candidate parent sets."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import pyrsistent as pyr

from acbo_core.errors import InvalidPosteriorError, ShapeMismatchError

__all__ = ["ParentSetPosterior", "kept_sets"]


def kept_sets(probs: Sequence[float] | np.ndarray, threshold: float) -> np.ndarray:
    """Which candidate sets a pruned posterior keeps, most probable first.

    Every set with probability ``>= threshold`` (and above 0), or the most probable set alone
    where none passes; ties keep table order, so the result never depends on hashing. Pass
    ``probs[kept]`` to :class:`ParentSetPosterior`, which renormalises them.

    Returns:
      ``[K']`` int indices into ``probs``.
    """
    probs = np.asarray(probs, np.float64).reshape(-1)
    order = np.argsort(-probs, kind="stable")
    keep = order[(probs[order] >= threshold) & (probs[order] > 0)]
    return keep if keep.size else order[:1]


@dataclasses.dataclass(frozen=True, eq=False)
class ParentSetPosterior:
    """A normalised distribution over candidate parent sets of one target.

    Construction validates and normalises ``probs`` (already-normalised input is kept bit for
    bit, so files round-trip exactly).

    Attributes:
      target: the variable whose parents these are.
      parent_sets: candidate sets (frozensets of names), unique, none holding the target.
      probs: ``[K]`` float64 probabilities, read-only, summing to 1.
    """

    target: str
    parent_sets: tuple[frozenset[str], ...]
    probs: np.ndarray

    def __post_init__(self) -> None:
        sets = tuple(frozenset(str(v) for v in s) for s in self.parent_sets)
        probs = np.array(self.probs, dtype=np.float64).reshape(-1)
        if len(sets) != probs.shape[0]:
            raise ShapeMismatchError(
                f"{len(sets)} parent sets but {probs.shape[0]} probabilities"
            )
        if not sets:
            raise InvalidPosteriorError("a posterior needs at least one parent set")
        if len(set(sets)) != len(sets):
            seen: set[frozenset[str]] = set()
            dup = next(s for s in sets if s in seen or seen.add(s))  # type: ignore[func-returns-value]
            raise InvalidPosteriorError(f"duplicate parent set {sorted(dup)}")
        for s in sets:
            if self.target in s:
                raise InvalidPosteriorError(
                    f"parent set {sorted(s)} contains the target {self.target!r}"
                )
        if not np.isfinite(probs).all() or (probs < 0).any():
            raise InvalidPosteriorError("probabilities must be finite and >= 0")
        total = probs.sum()
        if total <= 0:
            raise InvalidPosteriorError("probabilities sum to 0")
        if abs(total - 1.0) > 1e-12:
            probs = probs / total
        probs.setflags(write=False)
        object.__setattr__(self, "parent_sets", sets)
        object.__setattr__(self, "probs", probs)
        object.__setattr__(self, "target", str(self.target))

    @classmethod
    def from_log_weights(
        cls, target: str, parent_sets: Sequence[Iterable[str]], log_weights: Sequence[float]
    ) -> ParentSetPosterior:
        """Normalises unnormalised log weights with log-sum-exp (``-inf`` means probability 0).

        Raises:
          InvalidPosteriorError: NaN, ``+inf``, or every weight ``-inf``.
        """
        logw = np.asarray(log_weights, dtype=np.float64).reshape(-1)
        if np.isnan(logw).any() or np.isposinf(logw).any():
            raise InvalidPosteriorError("log weights must not be NaN or +inf")
        top = logw.max()
        if not np.isfinite(top):
            raise InvalidPosteriorError("every log weight is -inf")
        w = np.exp(logw - top)
        return cls(target, tuple(frozenset(s) for s in parent_sets), w / w.sum())

    def marginal_parent_probs(self, variables: Iterable[str] | None = None) -> pyr.PMap:
        """``P(v is a parent of the target)`` per variable.

        Args:
          variables: variables to report (default: those in any candidate set); variables in no
            set get 0.
        """
        names = sorted(set().union(*self.parent_sets)) if variables is None else list(variables)
        out = dict.fromkeys(names, 0.0)
        for s, p in zip(self.parent_sets, self.probs, strict=True):
            for v in s:
                if v in out:
                    out[v] += float(p)
        return pyr.pmap(out)

    def entropy(self) -> float:
        """Shannon entropy in nats."""
        p = self.probs[self.probs > 0]
        return float(-(p * np.log(p)).sum())

    def top_k(self, k: int) -> tuple[tuple[frozenset[str], float], ...]:
        """The ``k`` most probable sets with their probabilities (ties: earlier set first)."""
        idx = np.argsort(-self.probs, kind="stable")[: max(0, k)]
        return tuple((self.parent_sets[i], float(self.probs[i])) for i in idx)

    def map_set(self) -> frozenset[str]:
        """The most probable parent set."""
        return self.parent_sets[int(np.argmax(self.probs))]

    def prob_of(self, parent_set: Iterable[str]) -> float:
        """Probability of one set (0 if it is not a candidate)."""
        key = frozenset(parent_set)
        for s, p in zip(self.parent_sets, self.probs, strict=True):
            if s == key:
                return float(p)
        return 0.0

    def __len__(self) -> int:
        return len(self.parent_sets)
