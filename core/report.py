"""One self-contained HTML report (opens offline) and a CSV of all predictions beside it.

The plotting library is embedded once (``include_plotlyjs=True`` on the first figure);
thumbnails are base64 data URIs; no stylesheet, font or script is fetched.
"""
from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from . import gallery, provenance, provenance_words
from .analysis import Analysis
from .bootstrap import HEADLINE
from .figures import confusion_figure, pr_figure, roc_figure
from .figures_analysis import reliability_figure, slice_figure, with_band
from .metric_words import score_text
from .metrics import NAMES, SHARE_METRICS, predicted_real  # noqa: F401  (pages read NAMES from here)
from .calibration import reliability
from .quality import low_detail_set_note

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%}
th{background:#f3f3f3}.warn{background:#fff3cd;border:1px solid #e0c36a;padding:.5em 1em;margin:.5em 0}
.grid{display:flex;flex-wrap:wrap;gap:8px}.grid figure{margin:0;width:150px;font-size:75%}
.grid img{width:150px;height:150px;object-fit:cover}code{background:#f3f3f3}"""


@dataclass(frozen=True)
class Identity:
    """What was evaluated: the weights file and the test set, by hash."""

    weights: str
    weights_sha256: str
    backbone: str
    data: str
    test_set_sha256: str
    n_images: int
    threshold_source: str
    overlap: provenance.Overlap | None = None  # which test images the model was trained / chosen on; None: unknown
    skipped: tuple = ()  # (relpath, reason) of the files that could not be read, left out of every number


def identity(detector, test_set, frame: pd.DataFrame, threshold_source: str, skipped=()) -> Identity:
    """The report's identity block for a ``core.checkpoint.Detector`` on a ``TestSet``, with
    whether the model was trained or chosen on any of its images (``core.provenance``) and
    the unreadable files left out (``Predictions.skipped``)."""
    seen = provenance.model_seen(detector)
    return Identity(weights=str(detector.path), weights_sha256=detector.sha256, backbone=detector.backbone,
                    data=str(test_set.root), test_set_sha256=test_set_fingerprint(frame), n_images=len(frame),
                    threshold_source=str(threshold_source),
                    overlap=provenance.check(frame, seen), skipped=tuple(tuple(s) for s in skipped))


def seen_words(a: Analysis, ident: Identity) -> list[tuple[str, str]]:
    """``core.provenance_words.overlap_words`` for the report, a training overlap with the numbers on the rest."""
    copies = a.frame.loc[a.frame["seen_by_model"] == "near copy of a training image", "relpath"] \
        if "seen_by_model" in a.frame else ()
    rest = provenance_words.unseen_words(a.frame, ident.overlap, a.threshold, a.positive, copies)
    return [(level, f"{text} {rest}" if rest and level in ("error", "warning") else text)
            for level, text in provenance_words.overlap_words(ident.overlap)]


def test_set_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the sorted (relpath, size in bytes, label) list: the same files give the
    same hash wherever the folder lives."""
    rows = sorted(f"{r}\t{s}\t{y}" for r, s, y in zip(frame["relpath"], frame["size_bytes"], frame["label"]))
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def top_errors(frame: pd.DataFrame, threshold: float, k: int = 12) -> pd.DataFrame:
    """The ``k`` wrong verdicts furthest from the threshold (most confidently wrong)."""
    wrong = frame[predicted_real(frame["p_real"], threshold) != (frame["label"] == 1)].copy()
    wrong["margin"] = (wrong["p_real"] - threshold).abs()
    return wrong.sort_values("margin", ascending=False).head(k)


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, na_rep="–", escape=True)


def _fig(fig: go.Figure, first: bool) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False, "responsive": True})


def _slices_display(table: pd.DataFrame) -> pd.DataFrame:
    out = table[["dimension", "slice", "n", "n_real", "n_fake"]].copy()
    for m in ("accuracy", "fake_catch_rate", "real_pass_rate", "roc_auc"):
        out[NAMES[m]] = [
            "–" if np.isnan(e) else f"{e:.1%} ({lo:.1%}–{hi:.1%}{', Wilson' if how == 'wilson' else ''})"
            if not np.isnan(lo) else f"{e:.1%}" + (" (no interval)" if how == "none" else "")
            for e, lo, hi, how in zip(table[m], table[f"{m}_low"], table[f"{m}_high"], table[f"{m}_ci"])]
    return out


def build_html(a: Analysis, ident: Identity, presets: list | None = None) -> str:
    """The report as one HTML string; ``presets`` (``OperatingPoint`` list) replaces the
    analysis's default ones, so a report built from a page lists what the page shows."""
    e = html.escape
    c = a.sweep.confusion(a.threshold, a.positive)
    metrics = pd.DataFrame([{"metric": NAMES[m], "value (95% CI)": a.boot.intervals[m].format(percent=m in SHARE_METRICS)} for m in HEADLINE])
    cal = a.calibration
    figs = [confusion_figure(c)]
    if a.sweep.has_both_classes:
        figs += [with_band(roc_figure(a.sweep.roc(a.positive), positive=a.positive), a.boot.roc_band),
                 with_band(pr_figure(a.sweep.pr(a.positive), positive=a.positive), a.boot.pr_band)]
    figs.append(reliability_figure({"P(real)": reliability(a.frame["label"], a.frame["p_real"])}))
    figs.append(slice_figure(a.slices, "accuracy"))
    presets = pd.DataFrame([{"preset": p.label, "threshold": f"{p.threshold:.4f}", "optimises": p.optimises,
                             "value": p.value_text(), "false alarms": f"{p.false_alarm_rate:.1%}",
                             "fakes caught": f"{p.catch_rate:.1%}"} for p in (a.presets if presets is None else presets)])
    seen = seen_words(a, ident)
    warn = "".join(f'<div class="warn">⚠ {e(text)}</div>' for level, text in seen if level in ("error", "warning"))
    warn += "".join(f'<div class="warn">⚠ {e(s.message)}</div>' for s in a.shortcuts if s.fires)
    detail_note = low_detail_set_note(a.frame["detail_share"], a.frame["label"]) if "detail_share" in a.frame else None
    if detail_note:  # the same note as the Overview page and `evaluate`
        warn += f'<div class="warn">⚠ {e(detail_note)}</div>'
    thumbs = []
    for _, r in top_errors(a.frame, a.threshold).iterrows():
        uri = gallery.thumbnail_uri(r["path"], 150)
        truth = "real" if r["label"] == 1 else "fake"
        img = f'<img alt="{e(r["relpath"])}" src="{uri}">' if uri else "<div>(unreadable)</div>"
        thumbs.append(f"<figure>{img}<figcaption>{e(str(r['relpath']))}<br>true {truth}, "
                      f"P(real) {score_text(r['p_real'])}</figcaption></figure>")
    tpr = ", ".join(f"FPR {k}: {'n/a' if v is None else f'{v:.1%}'}" for k, v in a.tpr_at_fpr.items())
    parts = [
        f"<h1>Deepfake detector report</h1><p>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}.</p>",
        "<h2>What was evaluated</h2>",
        _table(pd.DataFrame([
            ["weights", ident.weights], ["weights sha256", ident.weights_sha256], ["backbone", ident.backbone],
            ["test set", ident.data], ["test set sha256 (relpath, size, label list)", ident.test_set_sha256],
            ["images", f"{ident.n_images} ({a.sweep.n_real} real, {a.sweep.n_fake} fake)"],
            *([["left out (unreadable)", f"{len(ident.skipped)} files: " + "; ".join(
                f"{r} ({why})" for r, why in ident.skipped[:20]) + ("; …" if len(ident.skipped) > 20 else "")]]
              if ident.skipped else []),
            *[["seen by the model", text] for _, text in seen]], columns=["", "value"])),
        f"<h2>Threshold</h2><p>REAL when P(real) ≥ <b>{a.threshold:.4f}</b> — {e(ident.threshold_source)}. "
        f"Positive class: {e(a.positive)}.</p>",
        warn,
        f"<h2>Headline metrics</h2><p>95% stratified bootstrap, {a.boot.n_resamples} resamples, seed {a.boot.seed}.</p>",
        _table(metrics),
        f"<p>TPR at fixed FPR: {e(tpr)}.</p>",
        "" if cal is None else f"<p>Calibration: ECE {cal.ece:.4f}, Brier {cal.brier:.4f}, log loss {cal.log_loss:.4f}.</p>",
        "<h2>Threshold presets</h2>", _table(presets) if len(presets) else "<p>Needs both classes.</p>",
        "<h2>Figures</h2>", "".join(_fig(f, i == 0) for i, f in enumerate(figs)),
        "<h2>Slices</h2>", _table(_slices_display(a.slices)),
        "<h2>Shortcut check</h2>", "<ul>" + "".join(f"<li>{e(s.message)}</li>" for s in a.shortcuts) + "</ul>",
        "<h2>Most confident errors</h2>", f'<div class="grid">{"".join(thumbs) or "<p>No errors.</p>"}</div>',
        "<p>All predictions: the CSV file next to this report.</p>",
    ]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Deepfake detector report</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")


def predictions_csv(a: Analysis) -> str:
    cols = ["relpath", "label", "group", "p_real", "width", "height", "format", "size_bytes", "detail_share", "jpeg_quality",
            "difficulty", "mask", "seen_by_model"]
    out = a.frame[[c for c in cols if c in a.frame]].copy()
    out["verdict"] = np.where(predicted_real(out["p_real"], a.threshold), "REAL", "FAKE")
    out["correct"] = (out["verdict"] == "REAL") == (out["label"] == 1)
    return out.to_csv(index=False)


def write_report(a: Analysis, ident: Identity, out: str | Path) -> tuple[Path, Path]:
    """Write ``out`` (HTML) and ``out`` with ``.csv`` (all predictions); return both paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_html(a, ident), encoding="utf-8")
    csv = out.with_suffix(".csv")
    csv.write_text(predictions_csv(a), encoding="utf-8")
    return out, csv
