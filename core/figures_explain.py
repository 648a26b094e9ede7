"""Figures of the "why it fails" views: pure functions, data in, plotly Figure out."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .figures import COLORS, LEGEND_BELOW
from .metric_words import SCORE_FORMAT, metric_delta, metric_value, plain_number
from .metrics import SHARE_METRICS

METRIC_LABELS = {"roc_auc": "ROC-AUC", "accuracy": "accuracy", "fake_catch_rate": "fake catch rate",
                 "real_pass_rate": "real pass rate"}
KIND_LABELS = {"jpeg": "JPEG quality", "downscale": "downscale factor (of input size)", "blur": "blur σ (px)",
               "noise": "noise σ (grey levels)"}
# Green and orange mean real and fake on every page (``figures.COLORS``); right and wrong get colours of
# their own (grey, and a purple that stands out) so an orange dot never reads as "a fake" when it meant "wrong".
OUTCOME_COLOURS = {"right": "#a0aec0", "wrong": "#6a1b9a"}
TRUTH_COLOURS = {"real": COLORS["real"], "fake": COLORS["fake"]}


def region_figure(summary: pd.DataFrame, has_attention: bool, target: str, n_fakes: int) -> go.Figure:
    """Bars: share of fakes whose map peak lies in the replaced regions, beside chance
    (the regions' mean area share). ``summary`` is ``RegionStudy.summary()``."""
    fig = go.Figure()
    names = {"attention": "attention map", "gradcam": f"Grad-CAM ({target})"}
    rows = summary.set_index("map")
    x = [names[m] for m in rows.index]
    hit = [None if not rows.loc[m, "fakes"] else rows.loc[m, "peak_in_region"] for m in rows.index]
    chance = [None if not rows.loc[m, "fakes"] else rows.loc[m, "chance"] for m in rows.index]
    mass = [None if not rows.loc[m, "fakes"] else rows.loc[m, "mass_in_region"] for m in rows.index]
    fig.add_bar(x=x, y=hit, name="peak in replaced regions", marker_color="#1c7ed6",
                text=[f"{v:.0%}" if v is not None else "" for v in hit], textposition="outside")
    fig.add_bar(x=x, y=mass, name="map mass in replaced regions", marker_color="#74c0fc",
                text=[f"{v:.0%}" if v is not None else "" for v in mass], textposition="outside")
    fig.add_bar(x=x, y=chance, name="chance (area share)", marker_color="#adb5bd",
                text=[f"{v:.0%}" if v is not None else "" for v in chance], textposition="outside")
    shuffled = [None if not rows.loc[m, "fakes"] else rows.loc[m, "shuffled_masks"] for m in rows.index]
    fig.add_bar(x=x, y=shuffled, name="peak in another fake's regions (centre bias)", marker_color="#dee2e6",
                text=[f"{v:.0%}" if v is not None else "" for v in shuffled], textposition="outside")
    if not has_attention:
        fig.add_annotation(x=names["attention"], y=0.5, text="no attention block in this model:<br>its map is flat",
                           showarrow=False, font={"color": "#868e96"})
    fig.update_layout(barmode="group", yaxis={"range": [0, 1.1], "tickformat": ".0%", "title": "share of fakes"},
                      title=f"Do the maps point at the replaced face parts? ({n_fakes} fakes)",
                      legend={"orientation": "h", "y": -0.15}, height=420, margin={"t": 60})
    return fig


def robustness_figure(table: pd.DataFrame, metrics=tuple(METRIC_LABELS)) -> go.Figure:
    """One panel per perturbation kind: change of each of ``metrics`` from clean against the level,
    in percentage points as the table writes the rates' changes (a ROC-AUC change, a decimal in
    the table, is drawn x 100 on the same axis, and its hover gives the decimal)."""
    kinds = [k for k in KIND_LABELS if k in set(table["kind"])]
    fig = make_subplots(rows=1, cols=max(1, len(kinds)), shared_yaxes=True,
                        subplot_titles=[KIND_LABELS[k] for k in kinds])
    colours = dict(zip(METRIC_LABELS, ("#1c7ed6", "#2b8a3e", "#c2255c", "#f08c00")))
    for col, kind in enumerate(kinds, start=1):
        # harsher to the right: falling JPEG quality and scale, rising blur and noise
        rows = table[table["kind"] == kind].sort_values("level", ascending=kind not in ("jpeg", "downscale"))
        for metric in metrics:
            label = METRIC_LABELS[metric]
            delta = pd.to_numeric(rows[f"d_{metric}"], errors="coerce")
            value = pd.to_numeric(rows[metric], errors="coerce")
            # the hover's words are the table's: "82.8% (Δ -3.4 pp)", "0.904 (Δ -0.012)"
            words = [f"{metric_value(metric, plain_number(v))} (Δ {metric_delta(metric, plain_number(d))})" for v, d in zip(value, delta)]
            fig.add_scatter(x=rows["level"].map("{:g}".format), y=delta * 100, mode="lines+markers", name=label,
                            legendgroup=metric, showlegend=col == 1, line={"color": colours[metric]},
                            customdata=np.c_[rows["condition"], words],
                            hovertemplate="%{customdata[0]}<br>" + label + " %{customdata[1]}<extra></extra>",
                            row=1, col=col)
        fig.add_hline(y=0, line={"color": "#868e96", "dash": "dot"}, row=1, col=col)
        fig.update_xaxes(type="category", row=1, col=col)
    auc = "roc_auc" in metrics and any(m in SHARE_METRICS for m in metrics)  # a decimal among shares: say its scale
    fig.update_yaxes(title_text="change from clean (pp" + ("; ROC-AUC × 100)" if auc else ")"), tickformat="+.3~g",
                     ticksuffix=" pp", row=1, col=1)
    fig.update_layout(height=420, legend={"orientation": "h", "y": -0.2}, margin={"t": 60},
                      title="Metrics under perturbation, as a change from the clean test set")
    return fig


def feature_scatter(frame: pd.DataFrame, colour_by: str = "outcome", method: str = "pca") -> go.Figure:
    """2-D feature map; ``colour_by`` is ``outcome`` (right/wrong) or ``truth`` (real/fake).
    Symbols show the other attribute; each point carries its relpath for selection."""
    colours = OUTCOME_COLOURS if colour_by == "outcome" else TRUTH_COLOURS
    other = "truth" if colour_by == "outcome" else "outcome"
    symbols = {"real": "circle", "fake": "diamond", "right": "circle", "wrong": "x"}
    fig = go.Figure()
    crowded = len(frame) > 1000  # smaller, see-through points, so a dense cluster shows its mix
    for value, colour in colours.items():
        sub = frame[frame[colour_by] == value]
        if sub.empty:
            continue
        fig.add_scatter(
            x=sub["x"], y=sub["y"], mode="markers", name=f"{value} ({len(sub)})", showlegend=False,
            opacity=0.6 if crowded else 1.0,
            marker={"color": colour, "size": 6 if crowded else 9, "symbol": [symbols[v] for v in sub[other]],
                    "line": {"width": 0.5, "color": "white"}},
            customdata=np.c_[sub["relpath"], sub["p_real"], sub["truth"], sub["verdict"]],
            hovertemplate="%{customdata[0]}<br>P(real) %{customdata[1]:" + SCORE_FORMAT + "}<br>true %{customdata[2]}, "
                          "predicted %{customdata[3]}<extra></extra>",
        )
    # Point-less legend entries: a colour trace's own entry shows its first point's symbol (a diamond
    # for "right" and for "wrong" alike), so colours get plain squares and symbols a neutral grey.
    for value, colour in colours.items():
        n = int((frame[colour_by] == value).sum())
        if n:
            fig.add_scatter(x=[None], y=[None], mode="markers", name=f"{value} ({n})", legendgroup="colours",
                            legendgrouptitle_text=colour_by, marker={"color": colour, "size": 11, "symbol": "square"},
                            hoverinfo="skip")
    present = set(frame[other])
    for value in [v for v in symbols if v in present]:
        fig.add_scatter(x=[None], y=[None], mode="markers", name=value, legendgroup="symbols", legendgrouptitle_text=other,
                        marker={"color": "#868e96", "size": 9, "symbol": symbols[value]}, hoverinfo="skip")
    axis = "PC" if method == "pca" else "t-SNE "
    fig.update_layout(title=f"Test set in the model's penultimate features ({'PCA' if method == 'pca' else 't-SNE'}), "
                            f"coloured by {'right/wrong' if colour_by == 'outcome' else 'true class'}",
                      xaxis_title=f"{axis}1", yaxis_title=f"{axis}2", height=560, legend=LEGEND_BELOW,
                      dragmode="select", clickmode="event+select")
    return fig
