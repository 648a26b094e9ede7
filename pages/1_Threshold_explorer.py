"""Threshold explorer: metrics against the threshold, ROC and precision-recall with the operating point."""
import streamlit as st

from core import figures, ui
from core.metrics import MetricUnavailable

ctx = ui.sidebar("Threshold explorer")
st.title("Threshold explorer")
preds, sweep = ui.guard_evaluation(ctx, one_class=True)
ui.threshold_slider()
t, positive = ctx.threshold, ctx.positive
reference = ctx.detector.threshold  # the checkpoint's own (or its saved) threshold: what deltas are against

if sweep.only_class:  # one class: its share at every threshold, and the threshold that reaches a target share
    cls = sweep.only_class
    ui.one_class_cards(sweep, t)
    change = ui.threshold_change_words(sweep, reference, t)
    if change:
        st.caption(change)
    words = ui.ONE_CLASS_WORDS[cls][2]
    target = st.slider(f"Target share of {words}", 0.5, 1.0, 0.95, 0.01, format="%.2f", key="one_class_target")
    ui.chart(st, figures.class_share_figure(sweep.class_shares(), cls, t, target), width="stretch")
    try:
        at = sweep.threshold_for_share(cls, target)
        st.button(f"Use threshold {at:.4f}: the {'lowest' if cls == 'fake' else 'highest'} that reaches {target:.0%} "
                  f"{words}", on_click=ui.set_threshold, args=(at, f"{target:.0%} {words}"))
    except MetricUnavailable as exc:
        st.info(f"{exc}.", icon=":material/info:")
    st.stop()

c = sweep.confusion(t, positive)
base = sweep.confusion(reference, positive)
for col, key in zip(st.columns(5), figures.METRIC_NAMES):
    now, before = getattr(c, key), getattr(base, key)
    delta = None if now is None or before is None or abs(t - reference) < 1e-9 else now - before
    unchanged = delta is not None and abs(delta) < 5e-4  # "+0.0 pp": grey, no arrow
    col.metric(ui.metric_label(key, positive), ui.metric_value(key, now),
               delta=None if delta is None else ui.metric_delta(key, delta),
               delta_color="off" if unchanged else "normal", delta_arrow="off" if unchanged else "auto",
               help=ui.metric_help(key, positive) if now is not None else "0/0 at this threshold")
change = ui.threshold_change_words(sweep, reference, t)
if change:  # what moved, in counts: the line a class reads aloud, so body text, not a grey caption
    st.markdown(f":material/swap_vert: {change}")
eer = sweep.eer()
st.caption(f"Equal error rate {eer.eer:.1%} at threshold {eer.threshold:.4f}.")
st.button("Use the EER threshold", on_click=ui.set_threshold, args=(eer.threshold, "the equal error rate point"))

ui.chart(st, figures.metric_curves_figure(sweep.metric_curves(positive), t), width="stretch")

left, right = st.columns(2)
roc, pr = sweep.roc(positive), sweep.pr(positive)
ui.chart(left, figures.roc_figure(roc, (c.fpr or 0.0, c.recall or 0.0), positive), width="stretch")
ui.chart(right,
    figures.pr_figure(pr, None if c.precision is None else (c.recall, c.precision), positive, c.prevalence),
    width="stretch",
)
