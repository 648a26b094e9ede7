"""Plotly figure builders for the dashboard: data in, ``plotly.graph_objects.Figure`` out.

Pure functions (the scikit-learn Display pattern): no streamlit, no recomputation of
metrics. Everything drawn comes from ``core.metrics.ThresholdSweep`` views passed in.
The confusion matrix is always laid out by real/fake (rows = true class, columns =
predicted class) whatever the positive class, with each cell named in plain words.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .metrics import Confusion, PrCurve, RocCurve

COLORS = {"real": "#2e7d32", "fake": "#c62828", "threshold": "#1f4e9c", "point": "#ff8f00"}
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "specificity": "Specificity",
}
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=360, template="plotly_white")

# (true class, predicted class) -> words; the same whatever the positive class.
CELL_WORDS = {
    ("fake", "fake"): "fake caught",
    ("fake", "real"): "fake missed (predicted real)",
    ("real", "fake"): "real flagged as fake",
    ("real", "real"): "real passed",
}


def confusion_cells(confusion: Confusion) -> np.ndarray:
    """2x2 counts, rows = true (fake, real), columns = predicted (fake, real)."""
    return np.array(
        [[confusion.fake_caught, confusion.fake_missed], [confusion.real_flagged, confusion.real_passed]],
        dtype=np.int64,
    )


def confusion_figure(confusion: Confusion, normalize: bool = False) -> go.Figure:
    """Confusion matrix heat map; ``normalize`` divides each row by its class size.
    Each cell shows its words, its count and its share of the true class."""
    counts = confusion_cells(confusion)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=float), where=rows > 0)
    classes = ("fake", "real")
    text = [
        [
            f"<b>{CELL_WORDS[(t, p)]}</b><br>{counts[i, j]}"
            + (f" ({share[i, j]:.1%})" if rows[i, 0] else " (no images)")
            for j, p in enumerate(classes)
        ]
        for i, t in enumerate(classes)
    ]
    z = share if normalize else counts
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=["predicted fake", "predicted real"],
            y=["true fake", "true real"],
            text=text,
            texttemplate="%{text}",
            hovertemplate="%{y}, %{x}<br>%{text}<extra></extra>",
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else max(1, int(counts.max())),
            showscale=False,
        )
    )
    fig.update_yaxes(autorange="reversed")
    title = "Confusion matrix, share of each true class" if normalize else "Confusion matrix, counts"
    fig.update_layout(title=title, **{**_LAYOUT, "height": 320})
    return fig


def score_histogram(label, p_real, threshold: float, bins: int = 40) -> go.Figure:
    """Distribution of P(real) for each true class, with the threshold drawn."""
    label, p_real = np.asarray(label), np.asarray(p_real, dtype=float)
    fig = go.Figure()
    for name, value in (("fake", 0), ("real", 1)):
        scores = p_real[label == value]
        fig.add_trace(
            go.Histogram(
                x=scores,
                name=f"true {name} ({len(scores)})",
                xbins=dict(start=0, end=1.0 + 1e-9, size=1.0 / bins),
                marker_color=COLORS[name],
                opacity=0.6,
                hovertemplate="P(real) %{x}<br>%{y} images<extra>" + name + "</extra>",
            )
        )
    fig.add_vline(x=threshold, line=dict(color=COLORS["threshold"], dash="dash"),
                  annotation_text=f"threshold {threshold:.3f}", annotation_position="top")
    fig.update_layout(title="Score distribution per class", barmode="overlay", xaxis_title="P(real)",
                      yaxis_title="images", legend=dict(orientation="h", y=-0.2), **_LAYOUT)
    fig.update_xaxes(range=[0, 1])
    return fig


def metric_curves_figure(curves: dict[str, np.ndarray], threshold: float, metrics=tuple(METRIC_NAMES)) -> go.Figure:
    """Metrics against the threshold (``ThresholdSweep.metric_curves`` output); NaN
    (0/0) values are drawn as gaps. The current threshold is a vertical line."""
    thr = np.asarray(curves["threshold"], dtype=float)
    fig = go.Figure()
    for key in metrics:
        fig.add_trace(
            go.Scatter(
                x=thr,
                y=curves[key],
                name=METRIC_NAMES.get(key, key),
                mode="lines",
                line_shape="hv",
                connectgaps=False,
                hovertemplate="threshold %{x:.4f}<br>%{y:.3f}<extra>" + METRIC_NAMES.get(key, key) + "</extra>",
            )
        )
    fig.add_vline(x=threshold, line=dict(color=COLORS["threshold"], dash="dash"),
                  annotation_text=f"threshold {threshold:.3f}", annotation_position="top")
    fig.update_layout(title="Metrics against the threshold", xaxis_title="threshold on P(real)",
                      yaxis_title="value", hovermode="x unified", **{**_LAYOUT, "height": 420})
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def _finite_thresholds(thresholds: np.ndarray) -> list[str]:
    return ["none (all negative)" if not np.isfinite(t) else f"{t:.4f}" for t in thresholds]


def roc_figure(roc: RocCurve, operating_point: tuple[float, float] | None = None, positive: str = "real") -> go.Figure:
    """ROC curve; hovering a point shows its threshold. ``operating_point`` = (fpr, tpr)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=roc.fpr, y=roc.tpr, mode="lines+markers", marker=dict(size=4), name=f"ROC (AUC {roc.auc:.3f})",
            customdata=_finite_thresholds(roc.thresholds), line_shape="linear",
            hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<br>threshold %{customdata}<extra></extra>",
        )
    )
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(dash="dot", color="grey"),
                             hoverinfo="skip"))
    if operating_point is not None:
        fig.add_trace(
            go.Scatter(x=[operating_point[0]], y=[operating_point[1]], mode="markers", name="current threshold",
                       marker=dict(size=13, color=COLORS["point"], symbol="x"),
                       hovertemplate="current threshold<br>FPR %{x:.3f}<br>TPR %{y:.3f}<extra></extra>")
        )
    fig.update_layout(title=f"ROC (positive = {positive})", xaxis_title="false positive rate",
                      yaxis_title="true positive rate", legend=dict(orientation="h", y=-0.25), **_LAYOUT)
    fig.update_xaxes(range=[-0.01, 1.01])
    fig.update_yaxes(range=[-0.01, 1.01])
    return fig


def pr_figure(pr: PrCurve, operating_point: tuple[float, float] | None = None, positive: str = "real",
              prevalence: float | None = None) -> go.Figure:
    """Precision-recall curve; hovering a point shows its threshold.
    ``operating_point`` = (recall, precision); ``prevalence`` draws the chance level."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=pr.recall, y=pr.precision, mode="lines+markers", marker=dict(size=4), line_shape="hv",
            name=f"PR (AP {pr.average_precision:.3f})", customdata=_finite_thresholds(pr.thresholds),
            hovertemplate="recall %{x:.3f}<br>precision %{y:.3f}<br>threshold %{customdata}<extra></extra>",
        )
    )
    if prevalence is not None:
        fig.add_hline(y=prevalence, line=dict(dash="dot", color="grey"), annotation_text="chance")
    if operating_point is not None:
        fig.add_trace(
            go.Scatter(x=[operating_point[0]], y=[operating_point[1]], mode="markers", name="current threshold",
                       marker=dict(size=13, color=COLORS["point"], symbol="x"),
                       hovertemplate="current threshold<br>recall %{x:.3f}<br>precision %{y:.3f}<extra></extra>")
        )
    fig.update_layout(title=f"Precision-recall (positive = {positive})", xaxis_title="recall",
                      yaxis_title="precision", legend=dict(orientation="h", y=-0.25), **_LAYOUT)
    fig.update_xaxes(range=[-0.01, 1.01])
    fig.update_yaxes(range=[-0.01, 1.01])
    return fig


def composition_figure(counts) -> go.Figure:
    """Bar chart of image counts per class and group; ``counts`` is a DataFrame with
    columns class, group, images (``core.gallery.composition``)."""
    fig = go.Figure()
    for cls in ("real", "fake"):
        part = counts[counts["class"] == cls]
        fig.add_trace(go.Bar(x=part["group"], y=part["images"], name=cls, marker_color=COLORS[cls],
                             hovertemplate="%{x}: %{y} images<extra>" + cls + "</extra>"))
    fig.update_layout(title="Images per class and group", barmode="group", yaxis_title="images",
                      **{**_LAYOUT, "height": 300})
    return fig
