"""Plotly figure builders for the dashboard: data in, ``plotly.graph_objects.Figure`` out.

Pure functions (the scikit-learn Display pattern): no streamlit, no recomputation of
metrics. Everything drawn comes from ``core.metrics.ThresholdSweep`` views passed in.
The confusion matrix is always laid out by real/fake (rows = true class, columns =
predicted class) whatever the positive class, with each cell named in plain words.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .metric_words import score_text
from .metrics import NAMES, Confusion, PrCurve, RocCurve

# Okabe-Ito bluish green and vermillion: real stays green and fake red-ish, and the two stay apart for
# red-green colour-blind readers (the old #2e7d32 / #c62828 pair did not, nor did their overlap in histograms)
COLORS = {"real": "#009E73", "fake": "#D55E00", "threshold": "#1f4e9c", "point": "#111111", "curve": "#0072B2"}
# The metrics drawn against the threshold, named as everywhere else (core.metrics.NAMES).
METRIC_NAMES = {k: NAMES[k] for k in ("accuracy", "precision", "recall", "f1", "specificity")}
# One look per metric, told apart by hue and dash (Okabe-Ito colours, safe for colour-blind readers):
# the theme's default colour cycle drew accuracy/precision and recall/F1 in near-identical shades.
METRIC_STYLES = {
    "accuracy": dict(color="#222222", width=2.5),
    "precision": dict(color="#E69F00", width=2),
    "recall": dict(color="#0072B2", width=2),
    "f1": dict(color="#CC79A7", width=2, dash="dash"),
    "specificity": dict(color="#009E73", width=2, dash="dot"),
}
# Dark inks of the figures above and in figures_analysis, and what each becomes on Streamlit's dark
# theme: near-black lines and markers vanished there, and the dark threshold blue read at 2.4:1.
DARK_THEME_SWAPS = {
    "#111111": "#eeeeee", "#212121": "#e0e0e0", "#222222": "#e0e0e0", "#1f4e9c": "#7fb0ff",
    "#6a1b9a": "#ce93d8",  # the Feature map's "wrong" purple: 2.0:1 on the dark page
    "rgba(31, 78, 156, 0.18)": "rgba(127, 176, 255, 0.28)",
}
MAX_POINTS = 1500  # points drawn per curve; large sets are thinned for the browser
# No named template: Streamlit draws with its own theme, and a named template costs ~35 ms
# per figure to apply, most of a threshold-change re-render on a large set.
FONT_SIZE = 14  # px: read on a projector
# Legends in rows under the plot: at the right (Plotly's default) the metric curves' legend took half
# the width of a phone's plot. Anchored by their top, so a legend of two rows grows down, not into the axis.
LEGEND_BELOW = dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0)
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=360, font=dict(size=FONT_SIZE), legend=LEGEND_BELOW)

# (true class, predicted class) -> words; the same whatever the positive class.
CELL_WORDS = {
    ("fake", "fake"): "fake caught",
    ("fake", "real"): "fake missed (predicted real)",
    ("real", "fake"): "real flagged as fake",
    ("real", "real"): "real passed",
}


def _layout(title: str, *, vline: float | None = None, vline_text: str = "", hline: float | None = None,
            hline_text: str = "", hline_side: str = "left", **extra) -> dict:
    """Layout dict, with lines drawn as plain shapes (``add_vline`` costs ~15 ms a call); the
    horizontal line's label sits at ``hline_side``, where no curve runs along the line."""
    shapes, notes = [], []
    if vline is not None:
        shapes.append(dict(type="line", x0=vline, x1=vline, y0=0, y1=1, yref="paper",
                           line=dict(color=COLORS["threshold"], dash="dash")))
        notes.append(dict(x=vline, y=1, yref="paper", text=vline_text, showarrow=False, yanchor="bottom"))
    if hline is not None:
        shapes.append(dict(type="line", y0=hline, y1=hline, x0=0, x1=1, xref="paper", line=dict(color="grey", dash="dot")))
        # at the left by default: a PR curve ends at (recall 1, chance) and covered a label at the right
        notes.append(dict(y=hline, x=0 if hline_side == "left" else 1, xref="paper", text=hline_text, showarrow=False,
                          xanchor=hline_side, yanchor="bottom"))
    return {**_LAYOUT, "title": title, "shapes": shapes, "annotations": notes, **extra}


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

    def cell(i: int, j: int) -> str:
        # Short lines, so that a cell's text stays inside it when two charts share a narrow screen
        # (a 1000 px window gives each cell about 85 px): the bracket ("(predicted real)") is what
        # the column's label already says, and "as" starts a line.
        words = CELL_WORDS[(classes[i], classes[j])].split(" (")[0].replace(" as ", "<br>as ")
        if not rows[i, 0]:
            return f"<b>{words}</b><br>no images"
        # the two charts lead with their own number: the count, or the share of the true class
        if normalize:
            return f"<b>{words}</b><br>{share[i, j]:.1%}<br>{counts[i, j]} of {rows[i, 0]}"
        return f"<b>{words}</b><br>{counts[i, j]}"

    text = [[cell(i, j) for j in range(2)] for i in range(2)]
    z = share if normalize else counts
    heatmap = go.Heatmap(
            z=z,
            x=["predicted fake", "predicted real"],
            y=["true fake", "true real"],
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=14),
            hovertemplate="%{y}, %{x}<br>%{text}<extra></extra>",
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else max(1, int(counts.max())),
            showscale=False,
    )
    title = "Share of each true class" if normalize else "Confusion matrix, counts"
    return go.Figure(heatmap, layout=_layout(title, height=320, yaxis=dict(autorange="reversed")))


def score_histogram(label, p_real, threshold: float, bins: int = 40, marks: dict[str, float] | None = None) -> go.Figure:
    """Distribution of P(real) for each true class, with the threshold drawn. Binned
    here (``bins`` equal bins over [0, 1]) so the figure stays small for large sets. The two
    classes stand side by side in each bin (fake left, real right), never on top of each
    other: overlaid translucent bars mixed into a third colour where the classes overlap.
    ``marks`` (name -> P(real)) draws one more line per entry, e.g. an uploaded image's score."""
    label, p_real = np.asarray(label), np.asarray(p_real, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, 1.0 / bins
    traces, top = [], 1
    for name, value in (("fake", 0), ("real", 1)):
        scores = p_real[label == value]
        if not len(scores) and len(p_real):  # a one-class set: no empty "true real (0)" in the legend
            continue
        counts, _ = np.histogram(np.clip(scores, 0.0, 1.0), bins=edges)
        top = max(top, int(counts.max()))
        traces.append(
            go.Bar(
                x=centers, y=counts, width=width / 2, offset=-width / 2 if value == 0 else 0.0, name=f"true {name} ({len(scores)})",
                marker_color=COLORS[name], opacity=0.9, customdata=np.c_[edges[:-1], edges[1:]],
                hovertemplate="P(real) %{customdata[0]:.3f}–%{customdata[1]:.3f}<br>%{y} images<extra>" + name + "</extra>",
            )
        )
    layout = _layout(
        "Score distribution per class", vline=threshold, vline_text=f"threshold {threshold:.4f}", barmode="overlay",
        xaxis=dict(title="P(real)", range=[0, 1]), yaxis=dict(title="images"))
    if marks:  # headroom above the tallest bar, where a mark's label covers no bar
        layout["yaxis"]["range"] = [0, top * 1.3]
    for name, x in (marks or {}).items():  # the label runs toward the wider side: from 0.70 rightward it was cut
        # off at the chart's edge on a 390 px phone ("this image 0.6")
        layout["shapes"].append(dict(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line=dict(color=COLORS["point"], width=3)))
        layout["annotations"].append(dict(x=x, y=top * 1.15, text=f"{name} {score_text(x)}", showarrow=False,
                                          xanchor="right" if x > 0.5 else "left", font=dict(color=COLORS["point"])))
    return go.Figure(traces, layout=layout)


def for_dark_theme(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` with every colour of ``DARK_THEME_SWAPS`` replaced, wherever it is set
    (traces, shapes, annotations, bands): the figures are drawn for a light page."""

    def swap(node):
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        if isinstance(node, str):
            return DARK_THEME_SWAPS.get(node.lower(), node)
        return node

    return go.Figure(swap(fig.to_plotly_json()))  # arrays come packed ({dtype, bdata}) and pass through as they are


def with_screen_fonts(fig: go.Figure, size: int = FONT_SIZE) -> go.Figure:
    """``fig`` with its tick labels, legend and colour-bar ticks at ``size`` px, set on each
    element: Streamlit's chart theme sets them to 12 px, above the layout font they would
    otherwise inherit. Changes ``fig`` and returns it."""
    fig.update_xaxes(tickfont_size=size)
    fig.update_yaxes(tickfont_size=size)
    fig.update_layout(legend_font_size=size)
    fig.update_traces(colorbar_tickfont_size=size, selector=lambda t: "colorbar" in t)
    return fig


def thin(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``max_points`` of ``n`` curve points, evenly spread, ends kept.
    Only what is drawn is thinned; every number shown comes from the full sweep."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def metric_curves_figure(curves: dict[str, np.ndarray], threshold: float, metrics=tuple(METRIC_NAMES)) -> go.Figure:
    """Metrics against the threshold (``ThresholdSweep.metric_curves`` output); NaN
    (0/0) values are drawn as gaps. The current threshold is a vertical line."""
    keep = thin(len(curves["threshold"]))
    thr = np.asarray(curves["threshold"], dtype=float)[keep]
    traces = []
    for key in metrics:
        traces.append(
            go.Scatter(
                x=thr,
                y=np.asarray(curves[key])[keep],
                name=METRIC_NAMES.get(key, key),
                mode="lines",
                line_shape="hv",
                line=METRIC_STYLES.get(key, {}),
                connectgaps=False,
                hovertemplate="threshold %{x:.4f}<br>%{y:.1%}<extra>" + METRIC_NAMES.get(key, key) + "</extra>",  # shares
            )
        )
    return go.Figure(traces, layout=_layout(
        "Metrics against the threshold", vline=threshold, vline_text=f"threshold {threshold:.4f}", height=420,
        hovermode="x unified", xaxis=dict(title="threshold on P(real)", range=[0, 1]),
        yaxis=dict(title="share of images", range=[0, 1.02], tickformat=".0%")))  # as the cards: 82.8%


def class_share_figure(shares: dict[str, np.ndarray], cls: str, threshold: float, target: float | None = None) -> go.Figure:
    """The share of class ``cls`` the verdict gets right against the threshold
    (``ThresholdSweep.class_shares`` output): fakes caught rise with it, reals passed fall.
    The current threshold is a vertical line; ``target`` a horizontal one."""
    key, words = ("fake_caught", "fakes caught") if cls == "fake" else ("real_passed", "reals passed")
    keep = thin(len(shares["threshold"]))
    thr, share = np.asarray(shares["threshold"], dtype=float)[keep], np.asarray(shares[key], dtype=float)[keep]
    # drawn across [0, 1]: above the top score every fake is caught and no real passes; below the lowest, it holds
    thr, share = np.r_[1.0, thr, 0.0], np.r_[1.0 if cls == "fake" else 0.0, share, share[-1:] if len(share) else [np.nan]]
    trace = go.Scatter(x=thr, y=share, name=words, mode="lines", line_shape="hv",
                       line=dict(color=COLORS[cls], width=3),
                       hovertemplate="threshold %{x:.4f}<br>%{y:.1%} " + words + "<extra></extra>")
    return go.Figure([trace], layout=_layout(
        f"Share of {words} against the threshold", vline=threshold, vline_text=f"threshold {threshold:.4f}",
        # the label where the curve is low: reals passed fall to 0 at the right, fakes caught start at 0 at the left
        hline=target, hline_text="" if target is None else f"target {target:.0%}", hline_side="left" if cls == "fake" else "right",
        height=400,
        xaxis=dict(title="threshold on P(real)", range=[0, 1]), yaxis=dict(title=words, range=[0, 1.02], tickformat=".0%")))


def _finite_thresholds(thresholds: np.ndarray) -> list[str]:
    """Hover text of P(real) thresholds. The curve's end at +inf calls every image FAKE
    whichever class is positive (REAL when P(real) >= threshold), so it is named by verdict."""
    return ["above every score (all FAKE)" if not np.isfinite(t) else f"{t:.4f}" for t in thresholds]


def roc_figure(roc: RocCurve, operating_point: tuple[float, float] | None = None, positive: str = "real") -> go.Figure:
    """ROC curve; hovering a point shows its threshold. ``operating_point`` = (fpr, tpr)."""
    keep = thin(len(roc.fpr))
    traces = [
        go.Scatter(
            x=roc.fpr[keep], y=roc.tpr[keep], mode="lines+markers", marker=dict(size=4, color=COLORS["curve"]),
            line=dict(color=COLORS["curve"]),
            name=f"ROC (AUC {roc.auc:.3f})", customdata=_finite_thresholds(roc.thresholds[keep]), line_shape="linear",
            hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<br>threshold %{customdata}<extra></extra>",
        ),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(dash="dot", color="grey"),
                   hoverinfo="skip"),
    ]
    if operating_point is not None:
        traces.append(_operating_point(operating_point, "FPR", "TPR"))
    return go.Figure(traces, layout=_layout(
        f"ROC (positive = {positive})",
        xaxis=dict(title="false positive rate", range=[-0.01, 1.01]),
        yaxis=dict(title="true positive rate", range=[-0.01, 1.01])))


def _operating_point(point: tuple[float, float], x_name: str, y_name: str) -> go.Scatter:
    """The marker of the current threshold on a curve."""
    return go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="current threshold",
                      marker=dict(size=13, color=COLORS["point"], symbol="x"),
                      hovertemplate=f"current threshold<br>{x_name} %{{x:.3f}}<br>{y_name} %{{y:.3f}}<extra></extra>")


def pr_figure(pr: PrCurve, operating_point: tuple[float, float] | None = None, positive: str = "real",
              prevalence: float | None = None) -> go.Figure:
    """Precision-recall curve; hovering a point shows its threshold.
    ``operating_point`` = (recall, precision); ``prevalence`` draws the chance level."""
    keep = thin(len(pr.recall))
    traces = [
        go.Scatter(
            x=pr.recall[keep], y=pr.precision[keep], mode="lines+markers", marker=dict(size=4, color=COLORS["curve"]),
            line=dict(color=COLORS["curve"]), line_shape="hv",
            name=f"PR (AP {pr.average_precision:.3f})", customdata=_finite_thresholds(pr.thresholds[keep]),
            hovertemplate="recall %{x:.3f}<br>precision %{y:.3f}<br>threshold %{customdata}<extra></extra>",
        )
    ]
    if operating_point is not None:
        traces.append(_operating_point(operating_point, "recall", "precision"))
    return go.Figure(traces, layout=_layout(
        f"Precision-recall (positive = {positive})", hline=prevalence, hline_text="chance",
        xaxis=dict(title="recall", range=[-0.01, 1.01]),
        yaxis=dict(title="precision", range=[-0.01, 1.01])))


def composition_figure(counts) -> go.Figure:
    """Bar chart of image counts per class and group; ``counts`` is a DataFrame with
    columns class, group, images (``core.gallery.composition``)."""
    traces = [
        go.Bar(x=part["group"], y=part["images"], name=cls, marker_color=COLORS[cls],
               hovertemplate="%{x}: %{y} images<extra>" + cls + "</extra>")
        for cls, part in ((c, counts[counts["class"] == c]) for c in ("real", "fake"))
    ]
    return go.Figure(traces, layout=_layout("Images per class and group", barmode="group", height=300,
                                            yaxis=dict(title="images")))
