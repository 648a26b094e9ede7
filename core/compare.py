"""Several checkpoints on several test sets: one table with CIs, and where two disagree.

A ``Run`` is the predictions of one model on one test set at that model's threshold;
any way of producing them works (``core.evaluation.evaluate`` for a checkpoint, or a
predictions CSV), so this module needs no model.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, bootstrap, resample_metrics
from .data import LABEL_NAMES
from .metric_words import score_text
from .metrics import MetricUnavailable, RocCurve, ThresholdSweep, predicted_real

TABLE_METRICS = ("roc_auc", "average_precision", "eer", "accuracy")
PAIRED_METRICS = ("roc_auc", "average_precision", "accuracy", "eer")


@dataclass(frozen=True)
class Run:
    """Predictions of ``model`` on ``test_set`` (frame with relpath, label, p_real)."""

    model: str
    test_set: str
    frame: pd.DataFrame
    threshold: float

    @cached_property
    def sweep(self) -> ThresholdSweep:
        """Sorted once per run: the table, the ROC curves and the one-class check all read it."""
        return ThresholdSweep(self.frame["label"], self.frame["p_real"])


def compare_table(runs: list[Run], positive: str = "real", *, n_resamples: int = DEFAULT_RESAMPLES,
                  seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """One row per run: n, threshold, ROC-AUC, AP, EER and accuracy at the model's own
    threshold, each with ``*_low``/``*_high`` (95% stratified bootstrap; NaN where the
    test set has one class). ``positive`` is the class average precision ranks for (the
    other three do not depend on it)."""
    rows = []
    for run in runs:
        b = bootstrap(run.sweep, run.threshold, positive, n_resamples=n_resamples, seed=seed, bands=False)
        row = {"model": run.model, "test_set": run.test_set, "n": len(run.frame), "threshold": run.threshold}
        row.update(b.columns(TABLE_METRICS, methods=False))
        rows.append(row)
    return pd.DataFrame(rows)


def roc_curves(runs: list[Run], positive: str = "real") -> dict[str, RocCurve]:
    """"model on test_set" -> ROC curve for ``positive``, for runs whose test set has both classes."""
    out = {}
    for run in runs:
        try:
            out[f"{run.model} on {run.test_set}"] = run.sweep.roc(positive)
        except MetricUnavailable:
            continue
    return out


def short_names(names: list[str]) -> list[str]:
    """Each checkpoint's file name where those differ, else the names as given (two
    ``default.pth`` in different folders): what a figure title has room for."""
    from pathlib import PurePath

    files = [PurePath(n).name for n in names]
    return files if len(set(files)) == len(files) else list(names)


def lower_is_better(metric: str) -> bool:
    """``*_error`` metrics and the EER fall as a model gets better; the rest rise."""
    return metric.endswith(("_error", "eer"))


def _paired_frames(a: Run, b: Run, extra_a: tuple[str, ...] = ()) -> pd.DataFrame:
    """The images both runs scored, matched by relpath: label_a/label_b, p_real_a/p_real_b
    (plus ``extra_a`` columns of run A)."""
    if a.test_set != b.test_set:
        # relpaths repeat across sets (real/1.jpg in each), so pairing them would pair different pictures
        raise ValueError(f"A is scored on {a.test_set} and B on {b.test_set}: pairing images needs one test set "
                         "for both")
    cols = ["relpath", *extra_a, "label", "p_real"]
    m = a.frame[cols].merge(b.frame[["relpath", "label", "p_real"]], on="relpath", suffixes=("_a", "_b"))
    if (m["label_a"] != m["label_b"]).any():
        raise ValueError("the two runs label some images differently; are they the same test set?")
    return m


def paired_scores(a: Run, b: Run, extra_a: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every image both runs scored: relpath (``extra_a`` columns of run A), label, p_real_a,
    p_real_b and ``outcome``, one of "both right", "both wrong", "only A right", "only B right"
    (each run at its own threshold)."""
    m = _paired_frames(a, b, extra_a).rename(columns={"label_a": "label"}).drop(columns=["label_b"])
    right_a = predicted_real(m["p_real_a"], a.threshold) == (m["label"] == 1)
    right_b = predicted_real(m["p_real_b"], b.threshold) == (m["label"] == 1)
    m["outcome"] = np.select([right_a & right_b, right_a, right_b], ["both right", "only A right", "only B right"],
                             default="both wrong")
    return m


def paired_difference(a: Run, b: Run, metrics=PAIRED_METRICS, positive: str = "real", *,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, level: float = 0.95) -> pd.DataFrame:
    """B minus A on the images both scored, with a paired stratified bootstrap: each
    resample draws the same images for both models, so what the two share (the easy and
    the hard images) cancels, and the interval of the difference is far narrower than
    two separate intervals suggest. Columns: metric, a, b, difference, low, high,
    b_better (share of resamples where B is better: higher, or lower for ``eer``), n.
    Metrics a one-class set leaves undefined are left out; ``positive`` as in ``compare_table``."""
    m = _paired_frames(a, b)
    sweep_a = ThresholdSweep(m["label_a"], m["p_real_a"])
    sweep_b = ThresholdSweep(m["label_a"], m["p_real_b"])
    # Same seed, same class sizes and the same image order: resample k draws the same images for both.
    boot_a, _ = resample_metrics(sweep_a, a.threshold, positive, n_resamples=n_resamples, seed=seed)
    boot_b, _ = resample_metrics(sweep_b, b.threshold, positive, n_resamples=n_resamples, seed=seed)
    point_a, point_b = sweep_a.summary(a.threshold, positive), sweep_b.summary(b.threshold, positive)
    q = (1 - level) / 2
    rows = []
    for name in metrics:
        if name not in boot_a or point_a.get(name) is None or point_b.get(name) is None:
            continue
        diff = boot_b[name] - boot_a[name]
        diff = diff[np.isfinite(diff)]
        if len(diff) == 0:
            continue
        better = diff < 0 if lower_is_better(name) else diff > 0
        lo, hi = np.quantile(diff, [q, 1 - q])
        rows.append({"metric": name, "a": point_a[name], "b": point_b[name], "difference": point_b[name] - point_a[name],
                     "low": float(lo), "high": float(hi), "b_better": float(better.mean()), "n": len(m)})
    return pd.DataFrame(rows, columns=["metric", "a", "b", "difference", "low", "high", "b_better", "n"])


def disagreements(a: Run, b: Run) -> pd.DataFrame:
    """Images both runs scored where exactly one of them is right, matched by relpath.

    Columns: relpath, path, label, p_real_a, p_real_b, right ("A" or "B": which run is
    right; not the model names, which are the same when one model is compared with
    itself at two thresholds). Sorted by how far apart the two scores are."""
    m = paired_scores(a, b, extra_a=("path",))
    out = m[m["outcome"].isin(["only A right", "only B right"])].copy()
    out["right"] = np.where(out["outcome"] == "only A right", "A", "B")
    out = out.drop(columns=["outcome"])
    out["gap"] = (out["p_real_a"] - out["p_real_b"]).abs()
    return out.sort_values("gap", ascending=False).reset_index(drop=True)


def disagreements_shown(d: pd.DataFrame) -> pd.DataFrame:
    """``disagreements``' table for a person: named columns ("file", "true class" real/fake,
    "P(real) A") and every P(real) and gap written as ``score_text`` writes it (four decimals;
    the grid mixed 0.707 with 0.3971). Text of one width, so the grid still sorts by it."""
    return pd.DataFrame({"file": d["relpath"], "true class": d["label"].map(LABEL_NAMES),
                         "P(real) A": d["p_real_a"].map(score_text), "P(real) B": d["p_real_b"].map(score_text),
                         "right": d["right"], "score gap": d["gap"].map(score_text)})
