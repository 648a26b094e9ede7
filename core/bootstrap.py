"""Stratified bootstrap confidence intervals for every headline metric, vectorised.

Real and fake images are resampled separately (each class keeps its size), so every
resample has both classes whenever the set has. A resample is held as per-image counts
(how often each image was drawn), never as a Python loop: with the images in the order
of ``ThresholdSweep`` (descending score), cumulative sums of those counts give, for all
resamples at once, the same real/fake-predicted-real table the sweep holds. Confusion
metrics at the threshold, ROC-AUC (trapezoid over that table), average precision, EER
and the curve bands are then array operations over a (resamples x thresholds) matrix.

Intervals are percentile intervals. A metric that is 0/0 in some resamples (precision
with no predicted positives) uses the resamples where it is defined; ``n_valid`` says
how many.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import ThresholdSweep

THRESHOLD_METRICS = ("accuracy", "precision", "recall", "f1", "specificity", "balanced_accuracy", "mcc",
                     "fake_catch_rate", "real_pass_rate")
CURVE_METRICS = ("roc_auc", "average_precision", "eer")
HEADLINE = ("accuracy", "precision", "recall", "f1", "specificity", "balanced_accuracy", "mcc",
            "roc_auc", "average_precision", "eer")
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Interval:
    """A point estimate with its ``level`` percentile interval (fractions, not %)."""

    estimate: float | None
    low: float | None
    high: float | None
    n_valid: int
    level: float = 0.95

    def format(self, percent: bool = True, digits: int = 1) -> str:
        """``93.6% (95% CI 88.1–97.2)``; ``n/a`` when undefined."""
        if self.estimate is None:
            return "n/a"
        k = 100.0 if percent else 1.0
        unit = "%" if percent else ""
        d = digits if percent else digits + 2
        head = f"{self.estimate * k:.{d}f}{unit}"
        if self.low is None:
            return head
        return f"{head} ({self.level * 100:.0f}% CI {self.low * k:.{d}f}–{self.high * k:.{d}f})"

    def as_list(self) -> list[float] | None:
        return None if self.low is None else [self.low, self.high]


@dataclass(frozen=True)
class CurveBand:
    """Pointwise ``level`` band of ``y`` over a fixed ``x`` grid (TPR over FPR for ROC,
    precision over recall for PR)."""

    x: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class BootstrapResult:
    intervals: dict[str, Interval]
    roc_band: CurveBand | None
    pr_band: CurveBand | None
    n_resamples: int
    seed: int
    threshold: float
    positive: str

    def ci(self) -> dict[str, list[float] | None]:
        """metric -> [low, high] (None where undefined), as ``evaluate --json`` writes it."""
        return {name: iv.as_list() for name, iv in self.intervals.items()}


def draw_indices(n_real: int, n_fake: int, n_resamples: int, seed: int = DEFAULT_SEED):
    """(n_resamples, n_real) and (n_resamples, n_fake) indices into each class, in the
    class's order in ``ThresholdSweep`` (``score[label == c]``). Exposed so a slow
    reference can replay the same resamples."""
    rng = np.random.default_rng(seed)
    idx_real = rng.integers(0, max(n_real, 1), size=(n_resamples, n_real))
    idx_fake = rng.integers(0, max(n_fake, 1), size=(n_resamples, n_fake))
    return idx_real, idx_fake


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` items appears in each row of ``idx``: (rows, n) int32."""
    rows = idx.shape[0]
    if n == 0:
        return np.zeros((rows, 0), dtype=np.int32)
    flat = (idx + (np.arange(rows) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.int32)


def resampled_tables(sweep: ThresholdSweep, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED):
    """(real_ge, fake_ge), each (n_resamples, len(sweep.thresholds)): the sweep's table
    for every resample, over the full set's thresholds (a resample only holds scores of
    the full set, so its own sweep is these columns with repeats)."""
    label, score = sweep.label, sweep.score
    real_pos, fake_pos = np.flatnonzero(label == 1), np.flatnonzero(label == 0)
    idx_real, idx_fake = draw_indices(len(real_pos), len(fake_pos), n_resamples, seed)
    order = np.argsort(-score, kind="mergesort")
    rank = np.empty(len(score), dtype=np.int64)
    rank[order] = np.arange(len(score))  # column of each image in descending order
    s_desc = score[order]
    ends = np.flatnonzero(np.r_[np.diff(s_desc) != 0, True])  # last column of each tie group
    tables = []
    for pos, idx in ((real_pos, idx_real), (fake_pos, idx_fake)):
        w = np.zeros((n_resamples, len(score)), dtype=np.int32)
        w[:, rank[pos]] = _counts(idx, len(pos))
        cum = np.cumsum(w, axis=1, dtype=np.int32)[:, ends]
        tables.append(np.concatenate([np.zeros((n_resamples, 1), dtype=np.int32), cum], axis=1))
    return tables[0], tables[1]


def _threshold_metrics(real_ge, fake_ge, n_real, n_fake, positive):
    """Confusion metrics from predicted-real counts; arrays of any shape, NaN where 0/0."""
    real_ge, fake_ge = np.asarray(real_ge, float), np.asarray(fake_ge, float)
    real_flag, fake_caught = n_real - real_ge, n_fake - fake_ge
    if positive == "real":
        tp, fp, fn, tn = real_ge, fake_ge, real_flag, fake_caught
    else:
        tp, fp, fn, tn = fake_caught, real_flag, fake_ge, real_ge
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "accuracy": (tp + tn) / (n_real + n_fake),
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "specificity": tn / (tn + fp),
            "f1": 2 * tp / (2 * tp + fp + fn),
            "fake_catch_rate": fake_caught / n_fake,
            "real_pass_rate": real_ge / n_real,
        }
        out["balanced_accuracy"] = (out["recall"] + out["specificity"]) / 2
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = (tp * tn - fp * fn) / den
        out["mcc"] = np.where(den > 0, mcc, 0.0)
    return out


def _curve_metrics(real_ge, fake_ge, n_real, n_fake, positive):
    """ROC-AUC, AP and EER for each row of the (rows, thresholds) tables, exactly as
    ``ThresholdSweep.roc/pr/eer`` compute them for one table."""
    if positive == "real":
        tp, fp, n_pos = real_ge, fake_ge, n_real
    else:  # walk the table backwards, as ThresholdSweep._rates does
        tp, fp, n_pos = (n_fake - fake_ge)[:, ::-1], (n_real - real_ge)[:, ::-1], n_fake
    n_neg = n_fake if positive == "real" else n_real
    tpr, fpr = tp / n_pos, fp / n_neg
    auc = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
    recall = tp / n_pos
    ap = np.sum(np.diff(recall, axis=1, prepend=0.0) * precision, axis=1)
    # EER: same crossing and interpolation as ThresholdSweep.eer, row by row in arrays.
    fake_pass, real_flag = fake_ge / n_fake, 1 - real_ge / n_real
    diff = fake_pass - real_flag
    rows = np.arange(len(diff))
    k = np.argmax(diff >= 0, axis=1)
    km1 = np.maximum(k - 1, 0)
    d0, d1 = diff[rows, km1], diff[rows, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(d1 != d0, -d0 / (d1 - d0), 0.0)
    interp = fake_pass[rows, km1] + w * (fake_pass[rows, k] - fake_pass[rows, km1])
    exact = (k == 0) | (d1 == 0)
    eer = np.where(exact, (fake_pass[rows, k] + real_flag[rows, k]) / 2, interp)
    return {"roc_auc": auc, "average_precision": ap, "eer": eer}, (fpr, tpr, recall, precision)


def _band(x, y, grid, level, side):
    """Pointwise quantiles over rows of y at each grid value, where y at g is taken from
    the last column with x <= g (``side='right'``, ROC) or the first with x >= g
    (``side='left'``, PR). x must be non-decreasing along each row; rows are offset by
    2 so one searchsorted call serves them all."""
    rows, cols = x.shape
    offset = 2.0 * np.arange(rows)[:, None]
    flat = (x + offset).ravel()
    q = (grid[None, :] + offset).ravel()
    pos = np.searchsorted(flat, q + (1e-12 if side == "right" else -1e-12), side=side)
    if side == "right":
        pos = pos - 1
    pos = np.clip(pos, 0, rows * cols - 1).reshape(rows, len(grid))
    vals = y.ravel()[pos]
    a = (1 - level) / 2
    return CurveBand(x=grid, low=np.quantile(vals, a, axis=0), high=np.quantile(vals, 1 - a, axis=0))


def bootstrap(sweep: ThresholdSweep, threshold: float, positive: str = "real", *,
              n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, level: float = 0.95,
              bands: bool = True, grid_points: int = 101) -> BootstrapResult:
    """Stratified bootstrap of the headline metrics at ``threshold`` and of ROC-AUC, AP
    and EER, with ROC/PR bands on a ``grid_points`` grid. One-class sets get intervals
    for what they define (accuracy, catch or pass rate) and None elsewhere."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    n_real, n_fake = sweep.n_real, sweep.n_fake
    real_ge, fake_ge = resampled_tables(sweep, n_resamples, seed)
    j = int(np.sum(sweep.thresholds[1:] >= threshold)) if len(sweep) else 0
    point_real, point_fake = sweep.real_ge[j] if len(sweep) else 0, sweep.fake_ge[j] if len(sweep) else 0
    boot = _threshold_metrics(real_ge[:, j], fake_ge[:, j], n_real, n_fake, positive)
    point = _threshold_metrics(point_real, point_fake, n_real, n_fake, positive)
    roc_band = pr_band = None
    if sweep.has_both_classes:
        curves, (fpr, tpr, recall, precision) = _curve_metrics(real_ge, fake_ge, n_real, n_fake, positive)
        boot.update(curves)
        s = sweep.summary(threshold, positive)
        point.update({k: s[k] for k in CURVE_METRICS})
        if bands:
            grid = np.linspace(0.0, 1.0, grid_points)
            roc_band = _band(fpr, tpr, grid, level, "right")
            pr_band = _band(recall, precision, grid, level, "left")
    a = (1 - level) / 2
    intervals = {}
    for name in THRESHOLD_METRICS + CURVE_METRICS:
        est = point.get(name)
        est = None if est is None or not np.isfinite(est) else float(est)
        vals = boot.get(name)
        vals = vals[np.isfinite(vals)] if vals is not None else np.empty(0)
        if est is None or len(vals) == 0:
            intervals[name] = Interval(est, None, None, int(len(vals)), level)
        else:
            lo, hi = np.quantile(vals, [a, 1 - a])
            intervals[name] = Interval(est, float(lo), float(hi), int(len(vals)), level)
    return BootstrapResult(intervals=intervals, roc_band=roc_band, pr_band=pr_band, n_resamples=n_resamples,
                           seed=seed, threshold=float(threshold), positive=positive)
