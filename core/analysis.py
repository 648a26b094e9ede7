"""Everything an analyst needs beyond the headline numbers, in one call.

``analyse`` gathers the bootstrap intervals, TPR at fixed FPRs, calibration scores,
threshold presets, the slice table and the shortcut check for one set of predictions;
``Analysis.extra_json`` is what ``evaluate --json`` adds to its summary, and the HTML
report is built from the same object.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import calibration
from .bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, BootstrapResult, bootstrap
from .metrics import MetricUnavailable, ThresholdSweep
from .operating_points import OperatingPoint, all_presets
from .slices import Shortcut, add_slice_columns, shortcut_check, slice_table, table_records

FPR_TARGETS = (0.01, 0.05, 0.1)


@dataclass(frozen=True)
class Analysis:
    sweep: ThresholdSweep
    frame: pd.DataFrame  # predictions with the slice columns
    threshold: float
    positive: str
    boot: BootstrapResult
    tpr_at_fpr: dict[str, float | None]
    calibration: calibration.CalibrationScores | None
    presets: list[OperatingPoint]
    slices: pd.DataFrame
    shortcuts: list[Shortcut]

    def extra_json(self) -> dict:
        """The keys ``evaluate --json`` gains: ci, tpr_at_fpr, ece, brier, log_loss,
        operating_points, slices (plus shortcuts and the bootstrap settings)."""
        cal = self.calibration
        return {
            "ci": self.boot.ci(),
            "ci_level": 0.95,
            "bootstrap": {"resamples": self.boot.n_resamples, "seed": self.boot.seed, "stratified": True},
            "tpr_at_fpr": self.tpr_at_fpr,
            "ece": None if cal is None else cal.ece,
            "brier": None if cal is None else cal.brier,
            "log_loss": None if cal is None else cal.log_loss,
            "operating_points": {p.key: p.threshold for p in self.presets},
            "operating_points_detail": [
                {"key": p.key, "label": p.label, "threshold": p.threshold, "optimises": p.optimises, "value": p.value,
                 "false_alarm_rate": p.false_alarm_rate, "catch_rate": p.catch_rate} for p in self.presets],
            "slices": table_records(self.slices),
            "shortcuts": [{"property": s.property, "auc": s.auc, "direction": s.direction, "fires": s.fires,
                           "message": s.message} for s in self.shortcuts],
        }


def tpr_at_fprs(sweep: ThresholdSweep, positive: str = "real") -> dict[str, float | None]:
    """TPR at FPR 1%, 5%, 10% keyed "0.01", "0.05", "0.1"; None for one-class sets."""
    out = {}
    for f in FPR_TARGETS:
        try:
            out[str(f)] = sweep.tpr_at_fpr(f, positive)[0]
        except MetricUnavailable:
            out[str(f)] = None
    return out


def analyse(frame: pd.DataFrame, threshold: float, positive: str = "real", *,
            n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, jpeg_quality: bool = True,
            **preset_options) -> Analysis:
    """Analyse a predictions frame (``core.inference.PREDICTION_COLUMNS``) at ``threshold``.
    ``preset_options`` go to ``operating_points.all_presets`` (false_alarm_rate, ...).
    ``jpeg_quality=False`` skips reading the files' JPEG tables and keeps a ``jpeg_quality``
    column the frame already has (one from ``add_slice_columns``)."""
    if len(frame) == 0:
        raise ValueError("no predictions to analyse: the test set has no readable images")
    sweep = ThresholdSweep(frame["label"], frame["p_real"])
    framed = add_slice_columns(frame, jpeg_quality=jpeg_quality)
    return Analysis(
        sweep=sweep, frame=framed, threshold=float(threshold), positive=positive,
        boot=bootstrap(sweep, threshold, positive, n_resamples=n_resamples, seed=seed),
        tpr_at_fpr=tpr_at_fprs(sweep, positive),
        calibration=calibration.scores(frame["label"], frame["p_real"]),
        presets=all_presets(sweep, positive, **preset_options),
        slices=slice_table(framed, threshold, n_resamples=n_resamples, seed=seed, positive=positive),
        shortcuts=shortcut_check(framed),
    )


def extra_json(frame: pd.DataFrame, threshold: float, positive: str = "real", n_resamples: int = DEFAULT_RESAMPLES) -> dict:
    """Shortcut for ``evaluate --json``: ``analyse(...).extra_json()``."""
    return analyse(frame, threshold, positive, n_resamples=n_resamples).extra_json()


@dataclass(frozen=True)
class ScoreContext:
    """Where one score falls among a labelled test set's scores.

    ``fakes_at_or_above`` / ``reals_at_or_above``: share of the set's fakes / reals scoring
    P(real) >= ``p_real`` (read off the set's one ThresholdSweep). ``near``: how many of the
    set's images score closest to ``p_real``, ``near_real`` of them real, their scores spanning
    ``near_low``..``near_high``: the images a verdict at this score most resembles."""

    p_real: float
    n_real: int
    n_fake: int
    fakes_at_or_above: float
    reals_at_or_above: float
    near: int
    near_real: int
    near_low: float
    near_high: float


SAME_SCORE = 1e-6  # P(real) values closer than this are one score (float noise between batch sizes)


def score_context(sweep: ThresholdSweep, p_real: float, k: int = 20) -> ScoreContext:
    """The test-set context of one image's P(real): the tail shares at that score and the
    class mix of the ``k`` set images scoring closest to it (ties broken by score order)."""
    sweep.require_both("placing a score in a test set")
    # An image scored alone and in a batch differs in the last digits; without the tolerance the
    # same upload says 48 % one time and 47 % the next when it is itself one of the set's images.
    real_ge, fake_ge = sweep.counts_at(float(p_real) - SAME_SCORE)
    k = max(1, min(int(k), len(sweep)))
    nearest = np.argsort(np.abs(sweep.score - float(p_real)), kind="mergesort")[:k]
    return ScoreContext(p_real=float(p_real), n_real=sweep.n_real, n_fake=sweep.n_fake,
                        fakes_at_or_above=fake_ge / sweep.n_fake, reals_at_or_above=real_ge / sweep.n_real,
                        near=k, near_real=int(sweep.label[nearest].sum()),
                        near_low=float(sweep.score[nearest].min()), near_high=float(sweep.score[nearest].max()))
