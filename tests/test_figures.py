"""core.figures: pure plotly builders drawn from one ThresholdSweep."""
import json

import numpy as np
import plotly.graph_objects as go
import pytest

from core import figures
from core.metrics import ThresholdSweep

LABEL = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1])
SCORE = np.array([0.9, 0.8, 0.4, 0.7, 0.2, 0.6, 0.1, 0.3, 0.6, 0.55])


@pytest.fixture()
def sweep():
    return ThresholdSweep(LABEL, SCORE)


@pytest.mark.parametrize("positive", ["real", "fake"])
def test_confusion_cells_are_laid_out_by_real_and_fake(sweep, positive):
    c = sweep.confusion(0.5, positive)
    cells = figures.confusion_cells(c)
    # rows: true fake, true real; columns: predicted fake, predicted real
    pred_real = SCORE >= 0.5
    expected = [[np.sum((LABEL == 0) & ~pred_real), np.sum((LABEL == 0) & pred_real)],
                [np.sum((LABEL == 1) & ~pred_real), np.sum((LABEL == 1) & pred_real)]]
    np.testing.assert_array_equal(cells, expected)


def test_confusion_figure_names_cells_in_words_and_normalises_rows(sweep):
    c = sweep.confusion(0.5)
    counts = figures.confusion_figure(c)
    text = " ".join(" ".join(row) for row in counts.data[0].text)
    for words in ("fake caught", "fake missed", "real flagged<br>as fake", "real passed"):
        assert words in text  # long words broken into short lines, to stay inside a narrow cell
    assert "(predicted real)" not in text  # the column's own label says it
    assert max(len(line) for line in text.replace("<b>", "").replace("</b>", "").split("<br>")) <= 17
    np.testing.assert_array_equal(np.asarray(counts.data[0].z), figures.confusion_cells(c))
    normalized = figures.confusion_figure(c, normalize=True)
    shares = np.asarray(normalized.data[0].z)
    np.testing.assert_allclose(shares.sum(axis=1), [1.0, 1.0])
    cells = figures.confusion_cells(c)
    # each chart leads with its own number: the count, or the share with its k of n
    assert counts.data[0].text[0][0].endswith(f"<br>{cells[0, 0]}")
    assert normalized.data[0].text[0][0].endswith(f"<br>{shares[0, 0]:.1%}<br>{cells[0, 0]} of {cells[0].sum()}")


def test_confusion_figure_with_an_empty_class_has_no_nan():
    c = ThresholdSweep(np.array([1, 1]), np.array([0.2, 0.9])).confusion(0.5)
    z = np.asarray(figures.confusion_figure(c, normalize=True).data[0].z, dtype=float)
    assert np.isfinite(z).all()
    assert "no images" in figures.confusion_figure(c).data[0].text[0][0]


def test_score_histogram_has_one_trace_per_class_and_the_threshold(sweep):
    fig = figures.score_histogram(LABEL, SCORE, 0.42)
    assert isinstance(fig, go.Figure)
    assert [int(sum(t.y)) for t in fig.data] == [int((LABEL == 0).sum()), int((LABEL == 1).sum())]
    assert fig.data[0].y[np.searchsorted(np.linspace(0, 1, 41), 0.2, side="right") - 1] >= 1
    assert fig.layout.shapes[0].x0 == pytest.approx(0.42)
    assert fig.layout.annotations[0].text == "threshold 0.4200"
    fakes_only = figures.score_histogram(LABEL[LABEL == 0], SCORE[LABEL == 0], 0.42)
    assert [t.name for t in fakes_only.data] == [f"true fake ({int((LABEL == 0).sum())})"]  # no empty class


def test_metric_curves_figure_plots_the_sweep_curves(sweep):
    curves = sweep.metric_curves("real")
    fig = figures.metric_curves_figure(curves, 0.5)
    assert [t.name for t in fig.data] == list(figures.METRIC_NAMES.values())
    np.testing.assert_allclose(fig.data[0].x, curves["threshold"])
    np.testing.assert_allclose(fig.data[3].y, curves["f1"])  # NaN gaps stay NaN (drawn as gaps)
    assert fig.layout.shapes[0].x0 == 0.5
    looks = {(t.line.color, t.line.dash) for t in fig.data}
    assert len({t.line.color for t in fig.data}) == len(fig.data) == len(looks)  # each metric its own colour


def test_class_share_figure_spans_0_to_1_and_steps_where_the_sweep_does(sweep):
    fakes = ThresholdSweep(np.zeros(4, int), [0.2, 0.4, 0.4, 0.7])
    fig = figures.class_share_figure(fakes.class_shares(), "fake", 0.5, target=0.9)
    x, y = np.asarray(fig.data[0].x, float), np.asarray(fig.data[0].y, float)
    assert (x[0], y[0]) == (1.0, 1.0) and (x[-1], y[-1]) == (0.0, 0.0)  # all caught above the top score, none below
    for t, share in zip(x[1:-1], y[1:-1]):
        assert share == np.mean(np.array([0.2, 0.4, 0.4, 0.7]) < t)
    assert fig.data[0].line.shape == "hv" and fig.layout.shapes[1].y0 == 0.9  # the target line
    reals = figures.class_share_figure(ThresholdSweep(np.ones(2, int), [0.3, 0.6]).class_shares(), "real", 0.5, target=0.9)
    assert (reals.data[0].y[0], reals.data[0].y[-1]) == (0.0, 1.0)
    # the target's label sits at the end where the curve is low, not on the curve running along 100 %
    for f in (fig, reals):
        label = next(a for a in f.layout.annotations if a.text == "target 90%")
        low_end = f.data[0].y[0] if label.x == 1 else f.data[0].y[-1]  # the curve is drawn from threshold 1 to 0
        assert low_end == 0.0 and label.xanchor == ("right" if label.x == 1 else "left")


def test_roc_and_pr_figures_show_thresholds_on_hover_and_the_operating_point(sweep):
    roc, pr = sweep.roc(), sweep.pr()
    fig = figures.roc_figure(roc, (0.2, 0.8))
    assert len(fig.data[0].customdata) == len(roc.fpr)
    assert "threshold" in fig.data[0].hovertemplate
    assert fig.data[0].customdata[0] == "above every score (all FAKE)"  # the +inf point of the sweep
    # with fake positive the +inf end is the curve's last point (every image flagged): still all FAKE
    fake_roc = figures.roc_figure(sweep.roc("fake"), positive="fake")
    assert fake_roc.data[0].customdata[-1] == "above every score (all FAKE)" and fake_roc.data[0].y[-1] == 1.0
    assert (fig.data[-1].x[0], fig.data[-1].y[0]) == (0.2, 0.8)
    fig = figures.pr_figure(pr, (0.6, 0.75), prevalence=0.5)
    assert list(fig.data[0].customdata) == [f"{t:.4f}" for t in pr.thresholds]
    assert fig.data[-1].name == "current threshold"


def test_large_curves_are_thinned_for_drawing_only():
    rng = np.random.default_rng(0)
    big = ThresholdSweep(rng.integers(0, 2, 20_000), rng.uniform(0, 1, 20_000))
    roc = big.roc()
    fig = figures.roc_figure(roc)
    assert len(fig.data[0].x) <= figures.MAX_POINTS
    assert (fig.data[0].x[0], fig.data[0].x[-1]) == (roc.fpr[0], roc.fpr[-1])  # ends kept
    assert f"{roc.auc:.3f}" in fig.data[0].name  # the number comes from the full curve
    np.testing.assert_array_equal(figures.thin(5), np.arange(5))


def test_reliability_figure_draws_each_bins_interval():
    from core import calibration, figures_analysis

    r = calibration.reliability([0, 1, 1, 1, 0, 1], [0.05, 0.85, 0.9, 0.8, 0.82, 0.55], n_bins=10)
    fig = figures_analysis.reliability_figure({"before": r})
    trace = next(t for t in fig.data if t.name.startswith("before"))
    np.testing.assert_allclose(np.asarray(trace.error_y.array) + r.observed, r.high)
    np.testing.assert_allclose(r.observed - np.asarray(trace.error_y.arrayminus), r.low)
    assert "95% CI" in fig.layout.title.text


def test_the_dark_theme_copy_swaps_every_dark_ink_and_nothing_else(sweep):
    from core.bootstrap import CurveBand
    from core.figures_analysis import BAND_FILL, with_band

    roc = sweep.roc()
    fig = figures.roc_figure(roc, (0.2, 0.7))
    band = CurveBand(x=np.array([0.0, 1.0]), low=np.array([0.0, 0.5]), high=np.array([0.5, 1.0]))
    fig = with_band(fig, band)
    fig.update_layout(shapes=[dict(type="line", x0=0.5, x1=0.5, y0=0, y1=1, line=dict(color=figures.COLORS["threshold"]))])
    dark = figures.for_dark_theme(fig)
    text = json.dumps(dark.to_dict()).lower()
    for ink in (figures.COLORS["point"], figures.COLORS["threshold"], BAND_FILL):
        assert ink.lower() not in text and ink.lower() in json.dumps(fig.to_dict()).lower()
    assert figures.COLORS["curve"].lower() in text  # mid-tone inks stay
    # the data are untouched (both serialise each array the same way, as plotly sends it to the browser)
    assert [t["x"] for t in dark.to_plotly_json()["data"]] == [t["x"] for t in fig.to_plotly_json()["data"]]


def test_screen_fonts_reach_ticks_legend_and_colour_bars():
    """Streamlit's chart theme sets ticks and legends to 12 px unless each element says otherwise."""
    from plotly.subplots import make_subplots

    from core.figures import FONT_SIZE, with_screen_fonts

    fig = make_subplots(rows=1, cols=2)
    fig.add_scatter(x=[0, 1], y=[0, 1], row=1, col=1)
    fig.add_heatmap(z=[[1, 2], [3, 4]], row=1, col=2)
    assert with_screen_fonts(fig) is fig
    assert [fig.layout[a].tickfont.size for a in ("xaxis", "xaxis2", "yaxis", "yaxis2")] == [FONT_SIZE] * 4
    assert fig.layout.legend.font.size == FONT_SIZE and fig.data[1].colorbar.tickfont.size == FONT_SIZE
    assert fig.data[0].marker.colorbar.tickfont.size is None  # a scatter without a colour bar gets none


def test_legends_sit_in_rows_under_the_plot_not_at_its_right(sweep):
    """At the right (Plotly's default) the metric curves' legend squeezed the curves to half a phone's width."""
    from core import figures_analysis
    from core.calibration import reliability
    from core.operating_points import cost_curve

    y, p = LABEL, SCORE
    built = [figures.metric_curves_figure(sweep.metric_curves(), 0.5),
             figures.score_histogram(y, p, 0.5), figures.roc_figure(sweep.roc()), figures.pr_figure(sweep.pr()),
             figures_analysis.reliability_figure({"P(real)": reliability(y, p)}),
             figures_analysis.overlaid_roc_figure({"a": sweep.roc()}),
             figures_analysis.cost_figure(cost_curve(sweep))]
    for fig in built:
        legend = fig.layout.legend
        assert (legend.orientation, legend.yanchor) == ("h", "top") and legend.y < 0, fig.layout.title.text
