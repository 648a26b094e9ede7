"""Operating points and confidence intervals: headline metrics with 95% CIs, threshold
presets that set the shared threshold in one click, the expected-cost curve, saving the
threshold next to the weights, and the HTML report."""
import pandas as pd
import streamlit as st

from core import figures, figures_analysis, operating_points, report, ui
from core.bootstrap import HEADLINE
from core.checkpoint import save_threshold

ctx = ui.sidebar("Operating points")
st.title("Operating points & confidence intervals")
preds, sweep = ui.guard_evaluation(ctx)
a = ui.analysis(ctx, preds)
t, positive = ctx.threshold, ctx.positive

st.subheader(f"At threshold {t:.4f} ({sweep.n_real} real, {sweep.n_fake} fake images)")
st.caption(f"95% stratified bootstrap intervals, {a.boot.n_resamples} resamples (real and fake resampled "
           f"separately), seed {a.boot.seed}. Positive class: {positive}.")
cols = st.columns(5)
for i, name in enumerate(HEADLINE):  # short labels ("Bal. acc.", "AP"): whole at a 1000 px window
    iv, pct = a.boot.intervals[name], name in ui.SHARE_METRICS  # as the Overview writes them: 82.8%, 0.904
    cols[i % 5].metric(ui.metric_label(name, positive), iv.format_estimate(pct), help=ui.metric_help(name, positive))
    cols[i % 5].markdown(iv.format_interval(pct) or "no interval")  # body text: a caption was lost on a projector

left, right = st.columns(2)
ui.chart(left, figures_analysis.with_band(figures.roc_figure(sweep.roc(positive), positive=positive),
                                             a.boot.roc_band), width="stretch")
ui.chart(right, figures_analysis.with_band(figures.pr_figure(sweep.pr(positive), positive=positive),
                                              a.boot.pr_band), width="stretch")

st.subheader("Presets")
c1, c2, c3, c4, c5 = st.columns(5)
fa = c1.number_input("Max false alarms (%)", 0.0, 100.0, 1.0, 0.5, help="The share of real faces flagged fake") / 100
catch = c2.number_input("Min fakes caught (%)", 0.0, 100.0, 95.0, 1.0) / 100
cost_miss = c3.number_input("Cost of a missed fake", 0.0, 1e6, 10.0, 1.0)
cost_fa = c4.number_input("Cost of a false alarm", 0.0, 1e6, 1.0, 1.0)
share = c5.number_input("Share of fakes (%)", 0.0, 100.0, 5.0, 1.0,  # a short label: a two-line one set its box lower
                        help="The share of fakes among the images the detector will meet in use (the test set's "
                             "own share is not it); the minimum-cost preset weighs the two errors by it") / 100
options = dict(false_alarm_rate=fa, catch_rate=catch, cost_miss=cost_miss, cost_false_alarm=cost_fa, fake_share=share)
problems: list[str] = []
presets = operating_points.all_presets(sweep, positive, **options, problems=problems)
for problem in problems:
    st.caption(f"Not offered: {problem}.")
if presets:
    for col, head in zip(st.columns([3, 4, 2, 3, 2]), ("preset", "optimises", "threshold", "flagged · caught")):
        col.caption(f"**{head}**", help="The share of real faces flagged fake · the share of fakes caught" if
                    head.startswith("flagged") else None)
for p in presets:
    row = st.columns([3, 4, 2, 3, 2])
    row[0].markdown(f"**{p.label}**")
    row[1].caption(f"{p.optimises}: {p.value_text()}")  # a share in %, as the rates beside it
    row[2].markdown(f"**{p.threshold:.4f}**")
    row[3].caption(f"{p.false_alarm_rate:.1%} · {p.catch_rate:.1%}")
    row[4].button("Use", key=f"use_{p.key}", on_click=ui.set_threshold, args=(p.threshold, p.label),
                  type="primary" if abs(p.threshold - t) < 1e-9 else "secondary")
if presets:
    best = next(p for p in presets if p.key == "min_cost")
    ui.chart(st, figures_analysis.cost_figure(operating_points.cost_curve(sweep, cost_miss, cost_fa, share), t, best),
                    width="stretch")

st.subheader("Keep this threshold")
why = st.text_input("Why this threshold (saved with it)", f"chosen in the dashboard on {ctx.data_dir}")
if st.button(f"Save threshold {t:.4f} next to {ctx.weights}"):
    try:
        path = save_threshold(ui.resolve_path(ctx.weights), t, why)
        st.success(f"Saved to {path.name}; the CLI and the single-image tester now use it by default.")
    except OSError as exc:
        st.error(f"Could not save the threshold: {exc}")

st.subheader("Report")
ident = report.identity(ctx.detector, ctx.test_set, preds.frame, f"set in the dashboard ({ctx.threshold:.4f})",
                        preds.skipped)
report_key = (*ui.analysis_key(ctx), tuple(sorted(options.items())))  # anything that changes the report
if st.button("Build the HTML report"):
    with st.spinner("Building the report…"):
        st.session_state["report"] = (report_key, report.build_html(a, ident, presets), report.predictions_csv(a))
if st.session_state.get("report", (None,))[0] == report_key:
    _, html, csv = st.session_state["report"]
    d1, d2 = st.columns(2)
    d1.download_button(f"Download report (HTML, {len(html) / 2**20:.1f} MiB, opens offline)", html,
                       file_name="deepfake_report.html", mime="text/html")
    d2.download_button("Download all predictions (CSV)", csv,
                       file_name="deepfake_predictions.csv", mime="text/csv")
st.dataframe(pd.DataFrame([{"metric": report.NAMES[m], "value (95% CI)": a.boot.intervals[m].format(percent=m in ui.SHARE_METRICS)}
                           for m in HEADLINE]), hide_index=True)
