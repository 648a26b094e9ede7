"""Threshold explorer: metrics against the threshold, ROC and precision-recall with the operating point."""
import streamlit as st

from core import figures, ui

ctx = ui.sidebar("Threshold explorer")
st.title("Threshold explorer")
preds, sweep = ui.guard_evaluation(ctx)
t, positive = ctx.threshold, ctx.positive

c = sweep.confusion(t, positive)
reference = ctx.detector.threshold  # the checkpoint's own (or its saved) threshold: what deltas are against
base = sweep.confusion(reference, positive)
for col, (key, label) in zip(st.columns(5), figures.METRIC_NAMES.items()):
    now, before = getattr(c, key), getattr(base, key)
    delta = None if now is None or before is None or abs(t - reference) < 1e-9 else now - before
    unchanged = delta is not None and abs(delta) < 5e-4  # "+0.000": grey, no arrow
    col.metric(label, ui.fmt(now), delta=None if delta is None else f"{delta:+.3f}",
               delta_color="off" if unchanged else "normal", delta_arrow="off" if unchanged else "auto",
               delta_description=None if delta is None else f"vs {reference:.3f}",
               help=None if now is not None else "0/0 at this threshold")
change = ui.threshold_change_words(sweep, reference, t)
if change:
    st.caption(change)
eer = sweep.eer()
st.caption(f"Equal error rate {eer.eer:.1%} at threshold {eer.threshold:.4f}.")
st.button("Use the EER threshold", on_click=ui.set_threshold, args=(eer.threshold,))

st.plotly_chart(figures.metric_curves_figure(sweep.metric_curves(positive), t), width="stretch")

left, right = st.columns(2)
roc, pr = sweep.roc(positive), sweep.pr(positive)
fpr = c.fp / (c.fp + c.tn) if c.fp + c.tn else 0.0
left.plotly_chart(figures.roc_figure(roc, (fpr, c.recall or 0.0), positive), width="stretch")
n_pos = c.tp + c.fn
right.plotly_chart(
    figures.pr_figure(pr, None if c.precision is None else (c.recall, c.precision), positive, n_pos / c.n),
    width="stretch",
)
