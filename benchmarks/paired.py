"""Is a quality drop real? Both reports scored the same eval rows (compare refuses them
otherwise), so the test is paired, row by row: McNemar's exact test on per-row correctness for
accuracy, a paired bootstrap for F1 (which does not split into per-row parts). Each gives a
one-sided p-value for "the new predictions are worse" and a two-sided interval of the change.

Reports keep per-row predictions compactly: one character per row (``0-9a-z``) while there are
at most 36 labels, a list of ints otherwise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
RESAMPLES = 2000


def encode(values: list[int]) -> str | list[int]:
    if all(0 <= v < len(DIGITS) for v in values):
        return "".join(DIGITS[v] for v in values)
    return list(values)


def decode(value: str | list[int] | None) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str):
        return np.array([DIGITS.index(c) for c in value], dtype=np.int64)
    return np.asarray(value, dtype=np.int64)


@dataclass(frozen=True)
class Paired:
    change_pt: float  # new - baseline, points
    low_pt: float  # two-sided interval of the change at 1 - level, points
    high_pt: float
    p_value: float  # one-sided: the new predictions are worse
    test: str


def accuracy_test(labels: np.ndarray, base: np.ndarray, new: np.ndarray, level: float) -> Paired:
    from scipy.stats import binomtest

    was, now = base == labels, new == labels
    lost, gained = int(np.sum(was & ~now)), int(np.sum(~was & now))
    p = binomtest(lost, lost + gained, 0.5, alternative="greater").pvalue if lost + gained else 1.0
    low, high = _interval(_accuracy, labels, base, new, level)[:2]
    return Paired(100 * (now.mean() - was.mean()), low, high, float(p),
                  f"McNemar exact, {lost} rows lost / {gained} gained")


def f1_test(labels: np.ndarray, base: np.ndarray, new: np.ndarray, classes: int,
            level: float) -> Paired:
    def f1(y: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
        return _f1(y, p, classes, axis)

    low, high, spread = _interval(f1, labels, base, new, level)
    p = (np.sum(spread >= 0) + 1) / (len(spread) + 1)
    change = float(f1(labels, new) - f1(labels, base)) * 100
    return Paired(change, low, high, float(p), f"paired bootstrap, {RESAMPLES} resamples")


def _accuracy(y: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y == p, axis=axis)


def _f1(y: np.ndarray, p: np.ndarray, classes: int, axis: int = -1) -> np.ndarray:
    """slimkit's F1 (positive class 1 for two labels, macro otherwise), over the last axis."""
    scores = []
    for k in ([1] if classes == 2 else range(classes)):
        tp = np.sum((p == k) & (y == k), axis=axis)
        wrong = np.sum((p == k) != (y == k), axis=axis)  # false positives + false negatives
        denominator = 2 * tp + wrong
        scores.append(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0))
    return np.mean(scores, axis=0)


def _interval(metric, labels: np.ndarray, base: np.ndarray, new: np.ndarray,
              level: float) -> tuple[float, float, np.ndarray]:
    """Percentile interval of metric(new) - metric(base) over rows resampled together (seeded),
    in points, and the resampled changes themselves."""
    from scipy.stats import bootstrap

    def change(y, b, n, axis=-1):
        return metric(y, n, axis=axis) - metric(y, b, axis=axis)

    result = bootstrap((labels, base, new), change, n_resamples=RESAMPLES, paired=True,
                       vectorized=True, confidence_level=1 - level, method="percentile",
                       rng=np.random.default_rng(0))
    interval = result.confidence_interval
    return 100 * float(interval.low), 100 * float(interval.high), result.bootstrap_distribution
