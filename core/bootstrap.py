"""Stratified bootstrap confidence intervals for every headline metric, vectorised.

Real and fake images are resampled separately (each class keeps its size), so every
resample has both classes whenever the set has. A resample is held as per-image counts
(how often each image was drawn), never as a Python loop: per class, with the images in
descending score order, cumulative sums of those counts read through the sweep's own
counts give every resample's real/fake-predicted-real table without building it.
Confusion metrics at the threshold are one column of it; ROC-AUC and average precision
come from ranks; EER and the curve bands from a bisection run on all resamples at once.

Intervals are percentile intervals. A metric that is 0/0 in some resamples (precision
with no predicted positives) uses the resamples where it is defined; ``n_valid`` says
how many. Where every image a rate counts is right (or every one wrong), no resample can
differ and the percentile interval has zero width, which would read as certainty on a
slice of five images: such rates get the Wilson score interval of k of n instead, and
other metrics that cannot vary (F1, MCC, ROC-AUC at 1.0) get no interval, saying why.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calibration import wilson_interval
from .metrics import ThresholdSweep, confusion_rates

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
    method: str = "bootstrap"  # "bootstrap", "wilson" (a rate no resample can vary) or "none"

    def format(self, percent: bool = True, digits: int = 1) -> str:
        """``93.6% (95% CI 88.1–97.2)``; ``n/a`` when undefined; ``Wilson`` marks a
        rate whose interval could not come from resampling."""
        head, interval = self.format_estimate(percent, digits), self.format_interval(percent, digits)
        return f"{head} ({interval})" if self.estimate is not None and interval else head

    def _scale(self, percent: bool, digits: int) -> tuple[float, str, int]:
        return (100.0, "%", digits) if percent else (1.0, "", digits + 2)

    def format_estimate(self, percent: bool = True, digits: int = 1) -> str:
        """The point estimate alone: ``93.6%``, or ``n/a``."""
        if self.estimate is None:
            return "n/a"
        k, unit, d = self._scale(percent, digits)
        return f"{self.estimate * k:.{d}f}{unit}"

    def format_interval(self, percent: bool = True, digits: int = 1) -> str:
        """The interval alone: ``95% CI 88.1–97.2``, why there is none, or "" when the
        metric is undefined or was not resampled."""
        if self.estimate is None:
            return ""
        if self.method == "none":
            return "no interval: every resample gives the same value"
        if self.low is None:
            return ""
        k, _, d = self._scale(percent, digits)
        name = "Wilson CI" if self.method == "wilson" else "CI"
        return f"{self.level * 100:.0f}% {name} {self.low * k:.{d}f}–{self.high * k:.{d}f}"

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

    def columns(self, names, methods: bool = True) -> dict[str, float | str]:
        """``name``, ``name_low``, ``name_high`` for each metric, NaN where undefined, and
        with ``methods`` ``name_ci`` (the interval's method): one table row's worth
        (slices, comparisons)."""
        row = {}
        for name in names:
            iv = self.intervals[name]
            for key, value in ((name, iv.estimate), (f"{name}_low", iv.low), (f"{name}_high", iv.high)):
                row[key] = np.nan if value is None else value
            if methods:
                row[f"{name}_ci"] = iv.method if iv.estimate is not None else ""
        return row


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


class _Resamples:
    """Per-class cumulative draw counts for every resample, and the sweep's table read
    through them.

    ``real_cum[b, i]`` counts the draws of resample ``b`` among the ``i`` highest-scoring
    real images (descending, as the sweep orders them); likewise ``fake_cum``. The sweep
    column ``k`` holds ``sweep.real_ge[k]`` real images of the full set, so resample
    ``b`` has ``real_cum[b, sweep.real_ge[k]]`` real images predicted real there: the
    whole (resamples x thresholds) table is available without being built."""

    def __init__(self, sweep: ThresholdSweep, n_resamples: int, seed: int):
        self.sweep, self.rows = sweep, np.arange(n_resamples)[:, None]
        self.n_real, self.n_fake, self.m = sweep.n_real, sweep.n_fake, len(sweep.thresholds) - 1
        idx_real, idx_fake = draw_indices(sweep.n_real, sweep.n_fake, n_resamples, seed)
        cums = []
        for label, idx in ((1, idx_real), (0, idx_fake)):
            # draw_indices index the class in sweep order; map them to descending-score order
            within = np.argsort(-sweep.score[sweep.label == label], kind="mergesort")
            rank = np.empty(len(within), dtype=np.int64)
            rank[within] = np.arange(len(within))
            w = _counts(rank[idx] if idx.size else idx, len(within))
            cums.append(np.concatenate([np.zeros((n_resamples, 1), np.int32), np.cumsum(w, axis=1, dtype=np.int32)], 1))
        self.real_cum, self.fake_cum = cums
        self.real_w, self.fake_w = (np.diff(c, axis=1) for c in cums)  # counts in descending order

    def real_ge(self, k):
        """Real images predicted real at sweep column(s) ``k`` (shape of k, one row each)."""
        return self.real_cum[self.rows, self.sweep.real_ge[k]]

    def fake_ge(self, k):
        return self.fake_cum[self.rows, self.sweep.fake_ge[k]]

    def tp_fp(self, k, positive):
        """(tp, fp) at column(s) ``k`` of the order ROC and PR walk (predicted positives
        grow with k), as ``ThresholdSweep._rates`` orders them."""
        if positive == "real":
            return self.real_ge(k), self.fake_ge(k)
        return self.n_fake - self.fake_ge(self.m - k), self.n_real - self.real_ge(self.m - k)


def _first_true(pred, shape, hi: int, top: int | None = None) -> np.ndarray:
    """Smallest k in [0, hi] with pred(k) True, for each entry of ``shape``; pred must be
    monotone (False...True) along k and is taken True at ``hi``; it is only called with
    k <= ``top`` (default ``hi``). Bisection: about
    log2(hi) vectorised steps, never a loop over resamples."""
    top = hi if top is None else top
    lo, hi = np.zeros(shape, np.int64), np.full(shape, hi, np.int64)
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        ok = pred(np.minimum(mid, top))
        ok = ok | (mid >= hi)
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid + 1)
    return lo


def _threshold_metrics(real_ge, fake_ge, n_real, n_fake, positive):
    """Confusion metrics from predicted-real counts; arrays of any shape, NaN where 0/0."""
    real_ge, fake_ge = np.asarray(real_ge, float), np.asarray(fake_ge, float)
    real_flag, fake_caught = n_real - real_ge, n_fake - fake_ge
    if positive == "real":
        tp, fp, fn, tn = real_ge, fake_ge, real_flag, fake_caught
    else:
        tp, fp, fn, tn = fake_caught, real_flag, fake_ge, real_ge
    out = confusion_rates(tp, fp, fn, tn)
    with np.errstate(divide="ignore", invalid="ignore"):  # a one-class set: NaN, as for the other 0/0
        out["fake_catch_rate"], out["real_pass_rate"] = fake_caught / n_fake, real_ge / n_real
    return out


def _auc_ap(r: _Resamples, positive: str):
    """ROC-AUC and average precision of every resample, from ranks instead of curves.

    AUC (the trapezoid area, ties counting half) = mean over (real, fake) draw pairs of
    [real above fake] + 0.5 [tie]. AP (scikit-learn's step sum) = mean over positive
    draws of the precision at that draw's own score."""
    sw = r.sweep
    real_desc = np.sort(sw.score[sw.label == 1])[::-1]
    fake_desc = np.sort(sw.score[sw.label == 0])[::-1]
    # reals strictly above / at-or-above each fake (counts in the full set, descending)
    above = np.searchsorted(-real_desc, -fake_desc, side="left")
    at_or_above = np.searchsorted(-real_desc, -fake_desc, side="right")
    pairs = 2 * r.real_cum[:, above] + (r.real_cum[:, at_or_above] - r.real_cum[:, above])
    auc = np.einsum("ij,ij->i", r.fake_w, pairs, dtype=np.int64) / (2.0 * r.n_real * r.n_fake)
    if positive == "real":  # each real draw: precision with threshold at its score
        tp = r.real_cum[:, np.searchsorted(-real_desc, -real_desc, side="right")]
        fp = r.fake_cum[:, np.searchsorted(-fake_desc, -real_desc, side="right")]
        w, n_pos = r.real_w, r.n_real
    else:  # each fake draw: predicted fake when P(real) < threshold, i.e. scores <= its own
        tp = r.n_fake - r.fake_cum[:, np.searchsorted(-fake_desc, -fake_desc, side="left")]
        fp = r.n_real - r.real_cum[:, np.searchsorted(-real_desc, -fake_desc, side="left")]
        w, n_pos = r.fake_w, r.n_fake
    den = tp + fp  # 0 only where no positive draw sits at or above the score: weight 0 there
    precision = np.divide(tp, den, out=np.zeros(den.shape), where=den > 0)
    ap = np.einsum("ij,ij->i", w, precision) / n_pos
    return auc, ap


def _eer(r: _Resamples) -> np.ndarray:
    """EER of every resample, found and interpolated as ``ThresholdSweep.eer`` does."""
    shape = (len(r.rows), 1)

    def diff(k):
        return r.fake_ge(k) / r.n_fake - (1 - r.real_ge(k) / r.n_real)

    k = _first_true(lambda k: diff(k) >= 0, shape, r.m)
    km1 = np.maximum(k - 1, 0)
    d0, d1 = diff(km1), diff(k)
    fp0, fp1 = r.fake_ge(km1) / r.n_fake, r.fake_ge(k) / r.n_fake
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(d1 != d0, -d0 / (d1 - d0), 0.0)
    exact = (k == 0) | (d1 == 0)
    eer = np.where(exact, (fp1 + 1 - r.real_ge(k) / r.n_real) / 2, fp0 + w * (fp1 - fp0))
    return eer[:, 0]


def _bands(r: _Resamples, positive: str, grid: np.ndarray, level: float):
    """Pointwise bands: TPR at the last sweep point with FPR <= g (ROC), precision at
    the first point with recall >= g (PR; at g = 0 the first point predicting any)."""
    n_pos, n_neg = (r.n_real, r.n_fake) if positive == "real" else (r.n_fake, r.n_real)
    shape = (len(r.rows), len(grid))
    g = grid[None, :]
    k = _first_true(lambda k: r.tp_fp(k, positive)[1] > g * n_neg + 1e-9, shape, r.m + 1, r.m) - 1
    tpr = r.tp_fp(k, positive)[0] / n_pos
    k = _first_true(lambda k: r.tp_fp(k, positive)[0] >= np.maximum(g * n_pos, 1) - 1e-9, shape, r.m)
    tp, fp = r.tp_fp(k, positive)
    precision = tp / np.maximum(tp + fp, 1)
    a = (1 - level) / 2
    return (CurveBand(grid, np.quantile(tpr, a, axis=0), np.quantile(tpr, 1 - a, axis=0)),
            CurveBand(grid, np.quantile(precision, a, axis=0), np.quantile(precision, 1 - a, axis=0)))


def resample_metrics(sweep: ThresholdSweep, threshold: float, positive: str = "real", *,
                     n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED):
    """Every metric of every resample: name -> (n_resamples,) array (NaN where 0/0), and
    the ``_Resamples`` they came from (for the bands)."""
    r = _Resamples(sweep, n_resamples, seed)
    j = np.full((n_resamples, 1), int(np.sum(sweep.thresholds[1:] >= threshold)))
    out = {k: v[:, 0] for k, v in _threshold_metrics(r.real_ge(j), r.fake_ge(j), r.n_real, r.n_fake, positive).items()}
    if sweep.has_both_classes:
        out["roc_auc"], out["average_precision"] = _auc_ap(r, positive)
        out["eer"] = _eer(r)
    return out, r


def _rate_trials(c, n_real: int, n_fake: int, positive: str) -> dict[str, int]:
    """The n of each k-of-n rate at the threshold (its denominator), where it is not 0."""
    n_pos, n_neg = (n_real, n_fake) if positive == "real" else (n_fake, n_real)
    n = {"accuracy": n_real + n_fake, "precision": c.tp + c.fp, "recall": n_pos, "specificity": n_neg,
         "fake_catch_rate": n_fake, "real_pass_rate": n_real}
    return {k: int(v) for k, v in n.items() if v > 0}


def bootstrap(sweep: ThresholdSweep, threshold: float, positive: str = "real", *,
              n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, level: float = 0.95,
              bands: bool = True, grid_points: int = 101) -> BootstrapResult:
    """Stratified bootstrap of the headline metrics at ``threshold`` and of ROC-AUC, AP
    and EER, with ROC/PR bands on a ``grid_points`` grid. One-class sets get intervals
    for what they define (accuracy, catch or pass rate) and None elsewhere."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    boot, r = resample_metrics(sweep, threshold, positive, n_resamples=n_resamples, seed=seed)
    c = sweep.confusion(threshold, positive)
    point = _threshold_metrics(sweep.n_real - c.real_flagged, c.fake_missed, sweep.n_real, sweep.n_fake, positive)
    roc_band = pr_band = None
    if sweep.has_both_classes:
        s = sweep.summary(threshold, positive)
        point.update({k: s[k] for k in CURVE_METRICS})
        if bands:
            roc_band, pr_band = _bands(r, positive, np.linspace(0.0, 1.0, grid_points), level)
    a = (1 - level) / 2
    trials = _rate_trials(c, sweep.n_real, sweep.n_fake, positive)
    intervals = {}
    for name in THRESHOLD_METRICS + CURVE_METRICS:
        est = point.get(name)
        est = None if est is None or not np.isfinite(est) else float(est)
        vals = boot.get(name)
        vals = vals[np.isfinite(vals)] if vals is not None else np.empty(0)
        if est is None or len(vals) == 0:
            intervals[name] = Interval(est, None, None, int(len(vals)), level)
            continue
        lo, hi = np.quantile(vals, [a, 1 - a])
        if lo < hi:
            intervals[name] = Interval(est, float(lo), float(hi), int(len(vals)), level)
        elif name in trials:  # all right or all wrong: k of n still says how sure
            (wl,), (wh,) = wilson_interval([est * trials[name]], [trials[name]], level)
            intervals[name] = Interval(est, float(wl), float(wh), int(len(vals)), level, "wilson")
        else:
            intervals[name] = Interval(est, None, None, int(len(vals)), level, "none")
    return BootstrapResult(intervals=intervals, roc_band=roc_band, pr_band=pr_band, n_resamples=n_resamples,
                           seed=seed, threshold=float(threshold), positive=positive)
