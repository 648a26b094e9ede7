"""Several checkpoints on several test sets: one table with CIs, and where two disagree.

A ``Run`` is the predictions of one model on one test set at that model's threshold;
any way of producing them works (``core.evaluation.evaluate`` for a checkpoint, or a
predictions CSV), so this module needs no model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, bootstrap
from .metrics import MetricUnavailable, RocCurve, ThresholdSweep

TABLE_METRICS = ("roc_auc", "average_precision", "eer", "accuracy")


@dataclass(frozen=True)
class Run:
    """Predictions of ``model`` on ``test_set`` (frame with relpath, label, p_real)."""

    model: str
    test_set: str
    frame: pd.DataFrame
    threshold: float

    @property
    def sweep(self) -> ThresholdSweep:
        return ThresholdSweep(self.frame["label"], self.frame["p_real"])


def compare_table(runs: list[Run], *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """One row per run: n, threshold, ROC-AUC, AP, EER and accuracy at the model's own
    threshold, each with ``*_low``/``*_high`` (95% stratified bootstrap; NaN where the
    test set has one class)."""
    rows = []
    for run in runs:
        b = bootstrap(run.sweep, run.threshold, n_resamples=n_resamples, seed=seed, bands=False)
        row = {"model": run.model, "test_set": run.test_set, "n": len(run.frame), "threshold": run.threshold}
        row.update(b.columns(TABLE_METRICS))
        rows.append(row)
    return pd.DataFrame(rows)


def roc_curves(runs: list[Run]) -> dict[str, RocCurve]:
    """"model on test_set" -> ROC curve, for runs whose test set has both classes."""
    out = {}
    for run in runs:
        try:
            out[f"{run.model} on {run.test_set}"] = run.sweep.roc()
        except MetricUnavailable:
            continue
    return out


def disagreements(a: Run, b: Run) -> pd.DataFrame:
    """Images both runs scored where exactly one of them is right, matched by relpath.

    Columns: relpath, path, label, p_real_a, p_real_b, right (which run is right: the
    model name of a or b). Sorted by how far apart the two scores are."""
    cols = ["relpath", "path", "label", "p_real"]
    m = a.frame[cols].merge(b.frame[["relpath", "label", "p_real"]], on="relpath", suffixes=("_a", "_b"))
    if (m["label_a"] != m["label_b"]).any():
        raise ValueError("the two runs label some images differently; are they the same test set?")
    right_a = (m["p_real_a"] >= a.threshold) == (m["label_a"] == 1)
    right_b = (m["p_real_b"] >= b.threshold) == (m["label_b"] == 1)
    out = m[right_a != right_b].copy()
    out["right"] = np.where(right_a[right_a != right_b], a.model, b.model)
    out = out.rename(columns={"label_a": "label"}).drop(columns=["label_b"])
    out["gap"] = (out["p_real_a"] - out["p_real_b"]).abs()
    return out.sort_values("gap", ascending=False).reset_index(drop=True)
