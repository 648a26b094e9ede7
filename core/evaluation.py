"""Evaluate a detector on a test set: predictions + the sweep + the headline summary."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calibration import wilson_interval
from .data import TestSet
from .metrics import ThresholdSweep, fmt
from .metric_words import score_text
from .prediction_cache import InferenceSettings, Predictions, cached_predictions


@dataclass(frozen=True)
class Evaluation:
    predictions: Predictions
    sweep: ThresholdSweep

    def summary(self, threshold: float, positive: str = "real") -> dict:
        return self.sweep.summary(threshold, positive)


def evaluate(detector, test_set: TestSet, settings: InferenceSettings = InferenceSettings(), *, use_cache=True, cache_dir=None,
             progress=None) -> Evaluation:
    from .inference import predict_test_set  # imports PyTorch

    preds = predict_test_set(detector, test_set, settings, use_cache=use_cache, cache_dir=cache_dir, progress=progress)
    return Evaluation(predictions=preds, sweep=ThresholdSweep(preds.frame["label"], preds.frame["p_real"]))


def evaluate_cached(weights, test_set: TestSet, settings: InferenceSettings = InferenceSettings(), cache_dir=None):
    """(Evaluation, ModelIdentity) when every prediction of ``weights`` on ``test_set`` is
    cached, without importing PyTorch; None otherwise."""
    from . import prediction_cache
    from .identity import identify

    cache_dir = cache_dir or prediction_cache.DEFAULT_CACHE_DIR
    model = identify(weights, cache_dir)
    preds = cached_predictions(model.sha256, test_set, settings, cache_dir) if model else None
    if preds is None:
        return None
    return Evaluation(predictions=preds, sweep=ThresholdSweep(preds.frame["label"], preds.frame["p_real"])), model


ONE_CLASS_WORDS = {  # per class: what the verdict gets right, and wrong, in words
    "fake": ("caught (called FAKE)", "missed (passed as real)", "fakes caught"),
    "real": ("passed (called REAL)", "flagged as fake", "reals passed"),
}


def one_class_summary(sweep, threshold: float) -> dict:
    """The numbers a one-class set defines at ``threshold``: how many of its images the
    verdict gets right and wrong, that share with its 95 % Wilson interval, and the median
    P(real). From the set's one sweep; raises ValueError for a set of both classes."""
    cls = sweep.only_class
    if cls is None:
        raise ValueError("one_class_summary is for a test set of one class")
    c = sweep.confusion(threshold, "real")
    right, wrong = (c.fake_caught, c.fake_missed) if cls == "fake" else (c.real_passed, c.real_flagged)
    (low,), (high,) = wilson_interval([right], [right + wrong])
    return {"class": cls, "n": right + wrong, "right": right, "wrong": wrong, "share": right / (right + wrong),
            "low": float(low), "high": float(high), "median_p_real": float(np.median(sweep.score))}


def summary_json(ev: Evaluation, detector, test_set: TestSet, threshold: float, positive: str) -> dict:
    """The object ``evaluate --json`` writes. ``detector``: a ``Detector`` or a ``ModelIdentity``."""
    out = ev.summary(threshold, positive)
    out.update(
        {
            "data": str(test_set.root),
            "weights": str(detector.path) if detector.path else None,
            "weights_sha256": detector.sha256,
            "backbone": detector.backbone,
            "precision_mode": ev.predictions.precision,
            "n_images": len(ev.predictions.frame),
            "skipped": [{"path": p, "reason": r} for p, r in ev.predictions.skipped],
            "problems": list(test_set.problems),
        }
    )
    if ev.sweep.only_class:  # what a set of one class defines, ready to read
        out["one_class"] = one_class_summary(ev.sweep, threshold)
    # a class the folder holds but not one of whose files could be read: the set became one-class
    # (when nothing at all was read, "No image could be read" says it once, not a line per class)
    out["unreadable_classes"] = [cls for cls, listed in (("real", test_set.n_real), ("fake", test_set.n_fake))
                                 if listed and not out[f"n_{cls}"] and out["n_images"]]
    return out


def format_report(summary: dict) -> str:
    """The text the report's ``test.py`` printed, plus ROC-AUC, AP, EER and skipped files."""

    def pct(x):
        return fmt(x, 4)

    c = summary["confusion"]
    pos = summary["positive"]
    # Lay the matrix out by real/fake, whatever the positive class is.
    if pos == "real":
        ff, fr, rf, rr = c["tn"], c["fp"], c["fn"], c["tp"]
    else:
        ff, fr, rf, rr = c["tp"], c["fn"], c["fp"], c["tn"]
    head = f"Test set: {summary.get('data', '')}  ({summary['n_real']} real, {summary['n_fake']} fake"
    n_skipped = len(summary.get("skipped", []))
    if n_skipped:  # said at the top: the list at the end is easy to miss under a full report
        head += f"; {n_skipped} unreadable file{'s' if n_skipped != 1 else ''} left out, listed at the end"
    head += ")"
    for cls in summary.get("unreadable_classes", []):
        head += f"\nwarning: not one {cls} file could be read, so only {'fake' if cls == 'real' else 'real'} images are measured"
    if summary.get("n_images") == 0:  # every file skipped: a table of zeros and n/a would only hide why
        return "\n".join([head, "No image could be read, so there is nothing to measure.", *_tail_lines(summary)])
    lines = [
        head,
        f"Threshold: {summary['threshold']:.4f} (REAL when P(real) >= threshold)   positive class: {pos}",
        "",
        f"Accuracy:    {pct(summary['accuracy'])}",
        f"Precision:   {pct(summary['precision'])}",
        f"Recall:      {pct(summary['recall'])}",
        f"F1 Score:    {pct(summary['f1'])}",
        "",
        "Confusion Matrix:",
        "                 ┌────────────────┬────────────────┐",
        "                 │ Predicted Fake │ Predicted Real │",
        "┌────────────────┼────────────────┼────────────────┤",
        f"│ Actual Fake    │ {ff:>14} │ {fr:>14} │",
        "├────────────────┼────────────────┼────────────────┤",
        f"│ Actual Real    │ {rf:>14} │ {rr:>14} │",
        "└────────────────┴────────────────┴────────────────┘",
        "",
        f"True Negatives (TN):  {c['tn']}",
        f"False Positives (FP): {c['fp']}",
        f"False Negatives (FN): {c['fn']}",
        f"True Positives (TP):  {c['tp']}",
        f"Specificity: {pct(summary['specificity'])}",
        "",
        f"Balanced accuracy: {pct(summary['balanced_accuracy'])}   MCC: {pct(summary['mcc'])}",
        f"ROC-AUC: {pct(summary['roc_auc'])}   Average precision: {pct(summary['average_precision'])}   "
        f"EER: {pct(summary['eer'])}" + (f" at threshold {summary['eer_threshold']:.4f}" if summary["eer_threshold"] is not None else ""),
    ]
    one = summary.get("one_class")
    if one:
        right, wrong, _ = ONE_CLASS_WORDS[one["class"]]
        lines.append(f"Only {one['class']} images: {one['right']} of {one['n']} {right.split(' (')[0]} "
                     f"({one['share']:.1%}, 95% Wilson CI {one['low']:.1%}-{one['high']:.1%}), {one['wrong']} {wrong}; "
                     f"median P(real) {score_text(one['median_p_real'])}")
    for key, why in summary.get("unavailable", {}).items():
        lines.append(f"  {key}: unavailable ({why})")
    return "\n".join(lines + _tail_lines(summary))


def _tail_lines(summary: dict) -> list[str]:
    """The skipped files and the test set's warnings, the last lines of ``format_report``."""
    lines = []
    skipped = summary.get("skipped", [])
    lines.append(f"Skipped files: {len(skipped)}")
    lines.extend(f"  {s['path']}: {s['reason']}" for s in skipped[:20])
    if len(skipped) > 20:
        lines.append(f"  ... and {len(skipped) - 20} more (see --json)")
    for problem in summary.get("problems", []):
        lines.append(f"warning: {problem}")
    return lines
