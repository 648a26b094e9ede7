"""Figures for the analysis views: curve bands, reliability, expected cost, slices,
overlaid ROC curves. Pure functions: data in, ``plotly.graph_objects.Figure`` out."""
from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .bootstrap import CurveBand
from .calibration import Reliability
from .compare import lower_is_better
from .figures import LEGEND_BELOW
from .metric_words import SCORE_FORMAT
from .metrics import NAMES, SHARE_METRICS, RocCurve
from .operating_points import CostCurve, OperatingPoint

_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=360, template="plotly_white", font=dict(size=14),
               legend=LEGEND_BELOW)
BAND_FILL = "rgba(31, 78, 156, 0.18)"
# Characters per line of a slice's label: on one line "replaced region: right eye (n=51, fakes only)"
# took 70% of a phone's plot and left the bars a sliver.
SLICE_LABEL_CHARS = 20


def with_band(fig: go.Figure, band: CurveBand | None, name: str = "95% CI band") -> go.Figure:
    """A copy of ``fig`` with a shaded band (drawn beneath the existing traces)."""
    if band is None:
        return go.Figure(fig)
    lower = go.Scatter(x=band.x, y=band.low, mode="lines", line=dict(width=0), hoverinfo="skip", showlegend=False)
    upper = go.Scatter(x=band.x, y=band.high, mode="lines", line=dict(width=0), fill="tonexty",
                       fillcolor=BAND_FILL, name=name, hoverinfo="skip")
    return go.Figure(data=[lower, upper, *fig.data], layout=fig.layout)


def reliability_figure(curves: dict[str, Reliability]) -> go.Figure:
    """Reliability diagram: share of real images against mean P(real) per bin, one
    line per named curve (e.g. before / after temperature scaling), each bin with its 95 %
    Wilson interval as an error bar."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line=dict(dash="dot", color="grey"), hoverinfo="skip"))
    for name, r in curves.items():
        fig.add_trace(go.Scatter(x=r.confidence, y=r.observed, mode="lines+markers", name=f"{name} (ECE {r.ece:.3f})",
                                 marker=dict(size=np.clip(4 + np.sqrt(r.count) * 1.5, 4, 18)),
                                 error_y=dict(type="data", symmetric=False, array=r.high - r.observed,
                                              arrayminus=r.observed - r.low, thickness=1.2, width=4),
                                 customdata=np.column_stack([r.count, r.low, r.high]),
                                 hovertemplate="mean P(real) %{x:.3f}<br>share real %{y:.3f} "
                                               "(95% CI %{customdata[1]:.2f}–%{customdata[2]:.2f})"
                                               "<br>%{customdata[0]} images<extra></extra>"))
    fig.update_layout(title="Reliability (marker size = images in the bin; bars = 95% CI)", xaxis_title="mean P(real) in bin",
                      yaxis_title="share of real images", **_LAYOUT)
    fig.update_xaxes(range=[-0.01, 1.01])
    fig.update_yaxes(range=[-0.01, 1.01])
    return fig


def cost_figure(curve: CostCurve, threshold: float | None = None, best: OperatingPoint | None = None) -> go.Figure:
    """Expected cost per image against the threshold, with the current threshold and
    the minimum marked."""
    fig = go.Figure(go.Scatter(x=curve.thresholds, y=curve.cost, mode="lines", line_shape="hv", name="expected cost",
                               hovertemplate="threshold %{x:.4f}<br>cost %{y:.4f}<extra></extra>"))
    if best is not None:
        fig.add_trace(go.Scatter(x=[best.threshold], y=[best.value], mode="markers", name="minimum",
                                 marker=dict(size=12, color="#2e7d32", symbol="star")))
    if threshold is not None:
        fig.add_vline(x=threshold, line=dict(color="#1f4e9c", dash="dash"), annotation_text="current")
    fig.update_layout(title=(f"Expected cost per image (miss {curve.cost_miss:g}, false alarm "
                             f"{curve.cost_false_alarm:g}, {curve.fake_share:.0%} fakes)"),
                      xaxis_title="threshold on P(real)", yaxis_title="expected cost", **_LAYOUT)
    return fig


def _ci_words(row: pd.Series, metric: str) -> str:
    """The hover line for one slice's interval, saying where it is not a bootstrap one."""
    method = row.get(f"{metric}_ci", "bootstrap")
    if method == "none" or pd.isna(row[f"{metric}_low"]):
        return "no interval: every resample gives the same value"
    low, high = row[f"{metric}_low"], row[f"{metric}_high"]
    words = f"95% CI {low:.1%}–{high:.1%}" if metric in SHARE_METRICS else f"95% CI {low:.3f}–{high:.3f}"
    return words + (" (Wilson: every image right or every one wrong, nothing to resample)" if method == "wilson" else "")


def wrap_label(text: str, width: int) -> str:
    """``text`` in lines of at most ``width`` characters (a longer word keeps its own line), joined
    with Plotly's ``<br>``, so a long axis label takes height rather than the plot's width."""
    glued = re.sub(r"([<>≤≥]) ", "\\1\u00a0", text)  # "< 0.16" stays whole: textwrap breaks at ASCII spaces only
    return "<br>".join(textwrap.wrap(glued, width, break_long_words=False, break_on_hyphens=False)) or text


def slice_figure(table: pd.DataFrame, metric: str = "accuracy", dimension: str | None = None) -> go.Figure:
    """Horizontal bars of ``metric`` per slice with its CI as error bars."""
    t = table if dimension is None else table[table["dimension"] == dimension]
    t = t[t[metric].notna()]
    # n counts the images the rate is over: a fake catch rate is over the slice's fakes alone
    count, unit = {"fake_catch_rate": ("n_fake", " fakes"), "real_pass_rate": ("n_real", " reals")}.get(metric, ("n", ""))
    # a slice of one class (hard fakes, a JPEG quality only the fakes have): its accuracy is that class's
    # rate, so it is tagged, not left to be read against the mixed "all images" bar
    only = pd.Series("", index=t.index)
    if count == "n":
        only = only.mask(t["n_real"].eq(0) & t["n_fake"].gt(0), ", fakes only").mask(
            t["n_fake"].eq(0) & t["n_real"].gt(0), ", reals only")
    labels = [wrap_label(s, SLICE_LABEL_CHARS) for s in
              t["dimension"] + ": " + t["slice"].astype(str) + " (n=" + t[count].astype(str) + unit + only + ")"]
    lines = max((s.count("<br>") + 1 for s in labels), default=1)
    fig = go.Figure(go.Bar(
        x=t[metric], y=labels, orientation="h",
        error_x=dict(type="data", symmetric=False, array=(t[f"{metric}_high"] - t[metric]).fillna(0),
                     arrayminus=(t[metric] - t[f"{metric}_low"]).fillna(0)),
        customdata=[_ci_words(r, metric) for _, r in t.iterrows()],
        hovertemplate="%{y}<br>%{x:" + (".1%" if metric in SHARE_METRICS else ".3f") + "}<br>%{customdata}<extra></extra>"))
    name = NAMES.get(metric, metric)
    fig.update_layout(title=f"{name} by slice (95% CI)", xaxis_title=name,
                      **{**_LAYOUT, "height": max(300, (10 + 16 * lines) * len(t) + 80)})
    fig.update_xaxes(range=[0, 1.02], tickformat=".0%" if metric in SHARE_METRICS else None)  # as the table
    fig.update_yaxes(autorange="reversed")
    return fig


def overlaid_roc_figure(curves: dict[str, RocCurve], positive: str = "real") -> go.Figure:
    """Several ROC curves (for the ``positive`` class) on one plot, named with their AUC."""
    fig = go.Figure()
    for name, roc in curves.items():
        fig.add_trace(go.Scatter(x=roc.fpr, y=roc.tpr, mode="lines", name=f"{name} (AUC {roc.auc:.3f})",
                                 hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(dash="dot", color="grey"),
                             hoverinfo="skip"))
    fig.update_layout(title=f"ROC curves (positive = {positive})", xaxis_title="false positive rate",
                      yaxis_title="true positive rate", **_LAYOUT)
    return fig


def _middle_cut(name: str, limit: int = 36) -> str:
    """``name`` if it fits ``limit`` characters, else its start and end around an ellipsis
    (model files differ at the end: ``…_synthetic.pth`` vs ``…_scratch.pth``)."""
    if len(name) <= limit:
        return name
    tail = limit // 2
    return name[: limit - tail - 1] + "…" + name[-tail:]


PAIRED_NAMES = {"roc_auc": "ROC-AUC", "average_precision": "Average precision", "accuracy": "Accuracy", "eer": "EER"}


def paired_difference_figure(table: pd.DataFrame, a: str = "A", b: str = "B") -> go.Figure:
    """B − A per metric with its paired 95% interval (``core.compare.paired_difference``):
    a point and a bar per metric, and the zero line; green where the whole interval says B
    is better, red where it says A is, grey where it spans zero."""
    fig = go.Figure()
    for _, r in table.iterrows():
        lower_better = lower_is_better(r["metric"])
        b_wins = r["high"] < 0 if lower_better else r["low"] > 0
        a_wins = r["low"] > 0 if lower_better else r["high"] < 0
        colour = "#2ca02c" if b_wins else "#d62728" if a_wins else "#7f7f7f"
        label = f"{PAIRED_NAMES.get(r['metric'], r['metric'])} ({'lower' if lower_better else 'higher'} is better)"
        fig.add_trace(go.Scatter(
            x=[r["difference"]], y=[label], mode="markers", marker=dict(size=11, color=colour), showlegend=False,
            error_x=dict(type="data", symmetric=False, array=[r["high"] - r["difference"]],
                         arrayminus=[r["difference"] - r["low"]], color=colour, thickness=2),
            hovertemplate=(f"B: {b}<br>A: {a}<br>{label}: B − A = %{{x:+.4f}}<br>95% paired CI {r['low']:+.4f} to {r['high']:+.4f}<br>"
                           f"B better in {r['b_better']:.0%} of resamples<extra></extra>")))
    fig.add_vline(x=0, line=dict(dash="dot", color="grey"))
    # names go on a smaller second line, shortened in the middle so both fit; hover shows them whole
    fig.update_layout(title=dict(text=f"B − A with paired 95% intervals<br><sup>B: {_middle_cut(b)}  ·  A: {_middle_cut(a)}</sup>"),
                      xaxis_title="difference (B − A)",
                      yaxis=dict(autorange="reversed"), **{**_LAYOUT, "height": 120 + 50 * max(len(table), 1)})
    return fig


OUTCOME_STYLE = {"both right": ("#9e9e9e", 6), "both wrong": ("#212121", 7), "only A right": ("#1f4e9c", 10),
                 "only B right": ("#ff8f00", 10)}


def paired_scores_figure(m: pd.DataFrame, threshold_a: float, threshold_b: float, a: str = "A", b: str = "B") -> go.Figure:
    """P(real) of model B against model A per image (``core.compare.paired_scores``): circles
    for real images, diamonds for fakes, coloured by which model is right, with each model's
    threshold drawn. The images off the diagonal's quadrants are where the two disagree."""
    fig = go.Figure()
    for outcome, (colour, size) in OUTCOME_STYLE.items():
        part = m[m["outcome"] == outcome]
        if part.empty:
            continue
        fig.add_trace(go.Scatter(
            x=part["p_real_a"], y=part["p_real_b"], mode="markers", name=f"{outcome} ({len(part)})",
            marker=dict(color=colour, size=size, symbol=np.where(part["label"] == 1, "circle", "diamond"),
                        line=dict(width=0.5, color="white")),
            customdata=np.column_stack([part["relpath"], np.where(part["label"] == 1, "real", "fake")]),
            hovertemplate="%{customdata[0]} (%{customdata[1]})<br>A %{x:" + SCORE_FORMAT + "} · B %{y:" + SCORE_FORMAT + "}<extra></extra>"))
    fig.add_vline(x=threshold_a, line=dict(dash="dash", color="#1f4e9c"), annotation_text=f"A threshold {threshold_a:.4f}")
    fig.add_hline(y=threshold_b, line=dict(dash="dash", color="#ff8f00"), annotation_text=f"B threshold {threshold_b:.4f}")
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="lightgrey"),
                             hoverinfo="skip", showlegend=False))
    fig.update_layout(title=dict(text=f"P(real) per image: B against A (circle = real, diamond = fake)"
                                      f"<br><sup>B: {_middle_cut(b)}  ·  A: {_middle_cut(a)}</sup>"),
                      xaxis=dict(title="A: P(real)", range=[-0.02, 1.02]), yaxis=dict(title="B: P(real)", range=[-0.02, 1.02]),
                      **{**_LAYOUT, "height": 520})
    return fig


def training_curves_figure(history: pd.DataFrame, best_epoch: int | None = None) -> go.Figure:
    """Per-epoch training record (``core.model_card.history_frame``): losses on the left axis,
    validation ROC-AUC and accuracy on the right, the kept (best) epoch marked."""
    from plotly.subplots import make_subplots

    kept = f" (kept: epoch {best_epoch}, dotted)" if best_epoch is not None else ""
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"loss{kept}", f"validation{kept}"), horizontal_spacing=0.1)
    styles = {"train_loss": ("train loss", "#0072B2", "solid", 1), "val_loss": ("validation loss", "#D55E00", "solid", 1),
              "val_roc_auc": ("ROC-AUC", "#0072B2", "solid", 2), "val_accuracy": ("accuracy", "#009E73", "dash", 2)}
    for key, (name, colour, dash, col) in styles.items():
        if key in history:
            fig.add_trace(go.Scatter(x=history["epoch"], y=history[key], mode="lines+markers", name=name,
                                     line=dict(color=colour, dash=dash)), row=1, col=col)
    if best_epoch is not None:
        for col in (1, 2):
            fig.add_vline(x=best_epoch, line=dict(color="#111111", dash="dot", width=1), row=1, col=col)
    fig.update_xaxes(title_text="epoch", dtick=1 if len(history) <= 20 else None)
    fig.update_layout(**_LAYOUT, title="Training curves")
    return fig
