"""Evaluation metrics of parent-set posteriors against the truth or a reference posterior.

Per data set: F1 of the MAP set against the true parents and top-1 set accuracy (MAP set ==
true set). Pooled over data sets: AUROC and AUPRC of the marginal parent probabilities (every
(data set, candidate variable) pair is one scored item, so small graphs with one parent still
count), and the expected calibration error of those marginals. KL(reference || model) compares
two posteriors over sets.

Everything takes plain Python/numpy values (``ParentSetPosterior`` objects or arrays), so the
metrics serve the surrogate, the expert and any baseline alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from acbo_core import ParentSetPosterior
from acbo_core.errors import InvalidPosteriorError, ShapeMismatchError

__all__ = [
    "f1_score",
    "auroc",
    "auprc",
    "expected_calibration_error",
    "kl_divergence",
    "posterior_metrics",
]


def f1_score(predicted: Iterable[str], truth: Iterable[str]) -> float:
    """F1 of a predicted parent set against the true one (1.0 when both are empty)."""
    p, t = set(predicted), set(truth)
    if not p and not t:
        return 1.0
    return 2.0 * len(p & t) / (len(p) + len(t))


def _check_scores(scores: np.ndarray, labels: np.ndarray) -> None:
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ShapeMismatchError(f"scores {scores.shape} and labels {labels.shape} must be "
                                 "equal-length vectors")


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve (Mann-Whitney statistic; ties count one half).

    Returns:
      NaN when only one class is present.
    """
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, bool)
    _check_scores(s, y)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    # average ranks over ties
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = 0.5 * (a + b - 1) + 1.0
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auprc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the precision-recall curve as average precision (tied scores enter
    together).

    Returns:
      NaN when there is no positive.
    """
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, bool)
    _check_scores(s, y)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s) - 1]
    tp = np.cumsum(y_sorted)[last_of_tie]
    seen = last_of_tie + 1
    precision = tp / seen
    recall_gain = np.diff(np.r_[0, tp]) / n_pos
    return float((precision * recall_gain).sum())


def expected_calibration_error(probs: Sequence[float], labels: Sequence[bool], *,
                               n_bins: int = 10) -> float:
    """ECE of probabilities against binary outcomes, equal-width bins on [0, 1]:
    ``sum_b (n_b / n) |mean(label in b) - mean(prob in b)|``."""
    p = np.asarray(probs, np.float64)
    y = np.asarray(labels, np.float64)
    _check_scores(p, y)
    if p.size == 0:
        return float("nan")
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            total += sel.sum() / p.size * abs(y[sel].mean() - p[sel].mean())
    return float(total)


def kl_divergence(reference: ParentSetPosterior, model: ParentSetPosterior, *,
                  floor: float = 1e-12) -> float:
    """KL(reference || model) in nats over the union of their sets.

    A set the model left out (pruned) gets probability ``floor``, so the value stays finite; pass
    the model's unpruned posterior for the exact KL.

    Raises:
      InvalidPosteriorError: the posteriors are for different targets.
    """
    if reference.target != model.target:
        raise InvalidPosteriorError(f"KL between posteriors for {reference.target!r} and "
                                    f"{model.target!r}")
    q = dict(zip(model.parent_sets, model.probs, strict=True))
    total = 0.0
    for s, p in zip(reference.parent_sets, reference.probs, strict=True):
        if p > 0:
            total += float(p) * (np.log(p) - np.log(max(float(q.get(s, 0.0)), floor)))
    return max(total, 0.0)


def posterior_metrics(
    posteriors: Sequence[ParentSetPosterior],
    truths: Sequence[Iterable[str]],
    variables: Sequence[Sequence[str]],
    *,
    marginals: Sequence[Mapping[str, float]] | None = None,
    references: Sequence[ParentSetPosterior] | None = None,
) -> dict[str, float]:
    """Mean metrics of posteriors over several data sets.

    Args:
      posteriors: one posterior per data set.
      truths: the true parent set of each.
      variables: every variable of each data set (the candidates are all but the target).
      marginals: marginal parent probabilities per data set (default: from each posterior;
        pass exact ones when the posteriors are pruned).
      references: reference posteriors for the KL (e.g. the expert's); omitted -> no ``kl``.

    Returns:
      ``f1``, ``top1_accuracy`` (means over data sets), ``median_f1`` (mean F1 of the median
      probability model, the variables with marginal > 1/2), ``auroc``, ``auprc``, ``ece``
      (pooled over (data set, candidate) pairs) and ``kl`` (mean KL(reference || posterior)).

    Raises:
      ShapeMismatchError: the sequences differ in length.
    """
    n = len(posteriors)
    if len(truths) != n or len(variables) != n or (marginals is not None and len(marginals)
                                                   != n) or (references is not None
                                                             and len(references) != n):
        raise ShapeMismatchError("posteriors, truths, variables (and marginals, references) "
                                 "must have one entry per data set")
    f1s, median_f1s, hits, scores, labels = [], [], [], [], []
    for i, (post, truth) in enumerate(zip(posteriors, truths, strict=True)):
        truth = frozenset(truth)
        pred = post.map_set()
        f1s.append(f1_score(pred, truth))
        hits.append(float(pred == truth))
        cands = [v for v in variables[i] if v != post.target]
        marg = (marginals[i] if marginals is not None
                else post.marginal_parent_probs(cands))
        probs = [float(marg.get(v, 0.0)) for v in cands]
        median_f1s.append(f1_score({v for v, p in zip(cands, probs, strict=True) if p > 0.5},
                                   truth))
        scores += probs
        labels += [v in truth for v in cands]
    out = {
        "f1": float(np.mean(f1s)),
        "top1_accuracy": float(np.mean(hits)),
        "median_f1": float(np.mean(median_f1s)),
        "auroc": auroc(scores, labels),
        "auprc": auprc(scores, labels),
        "ece": expected_calibration_error(scores, labels),
    }
    if references is not None:
        out["kl"] = float(np.mean([kl_divergence(r, p) for r, p in
                                   zip(references, posteriors, strict=True)]))
    return out
