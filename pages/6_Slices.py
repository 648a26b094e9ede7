"""Slices: where the model fails (group, difficulty, replaced regions, size, format, JPEG
quality, fine detail), each number with its CI, and the shortcut check."""
import streamlit as st

from core import figures_analysis, ui
from core.quality import LOW_DETAIL
from core.metrics import NAMES
from core.slices import undefined_slices_words

ctx = ui.sidebar("Slices")
st.title("Slices")
preds, sweep = ui.guard_evaluation(ctx, one_class=True)
a = ui.analysis(ctx, preds)
if not sweep.only_class and any(s.fires for s in a.shortcuts):  # the details stay below the chart; the alarm not
    st.warning("A property unrelated to faces alone separates real from fake in this set: the slices may measure "
               "it rather than the detector. See the shortcut check below.", icon=":material/warning:")

metrics = {None: ["accuracy", "fake_catch_rate", "real_pass_rate", "roc_auc"], "fake": ["fake_catch_rate"],
           "real": ["real_pass_rate"]}[sweep.only_class]  # one class defines only its own rate
metric = st.radio("Metric", metrics, horizontal=True,
                  format_func=NAMES.get)
dims = ["all"] + [d for d in a.slices["dimension"].unique() if d != "all"]
dim = st.selectbox("Slice by", dims, format_func=lambda d: "every dimension" if d == "all" else d)
ui.chart(st, figures_analysis.slice_figure(a.slices, metric, None if dim == "all" else dim), width="stretch")
if left_out := undefined_slices_words(a.slices, metric, None if dim == "all" else dim):  # not silently
    st.caption(left_out)
table = a.slices if dim == "all" else a.slices[a.slices["dimension"] == dim]
first = ["dimension", "slice", "n", "n_real", "n_fake", metric, f"{metric}_low", f"{metric}_high", f"{metric}_ci"]
table = table[[c for c in first if c in table] + [c for c in table if c not in first]]  # metric_table folds *_ci in
if sweep.only_class:  # the other class's count is 0 and its rates, accuracy aside (= the rate), are empty
    table = table[[c for c in table if c in ("dimension", "slice", "n") or c.startswith(metric)]]
shown, formats = ui.metric_table(table.rename(columns={"n": "images", "n_real": "real images", "n_fake": "fake images"}))
shown, formats, texts = ui.missing_as_na(shown, formats)  # a one-class slice's ROC-AUC reads "n/a", not "None"
st.dataframe(shown, hide_index=True, column_config={c: st.column_config.NumberColumn(format=f) for c, f in formats.items()}
             | {c: st.column_config.TextColumn(alignment="right") for c in texts})
with st.expander("How to read the slices"):
    st.caption(f"At threshold {ctx.threshold:.4f}. 95% stratified bootstrap CIs; where a slice has every image right "
               "(or every one wrong), no resample differs, so its rate gets the Wilson interval of k of n instead "
               "(marked ', Wilson') rather than a zero-width one. A slice of one class shows only what "
               "that class defines: fake catch rate for fakes (difficulty and replaced regions exist only for fakes), "
               "real pass rate for reals. Fine detail: the share of the image's spectrum above half the Nyquist frequency; "
               f"below {LOW_DETAIL:.2f} an image holds less fine detail than 97% of the labelled CIPLab faces (blurred, "
               "upscaled or smoothed), where pasted parts' seams are lost.")

st.subheader("Shortcut check")
if sweep.only_class:  # nothing to separate: the check compares the two classes
    st.info("Shortcut check: not run. It asks whether a face-unrelated property (JPEG quality, image size, file "
            "format, file size) alone separates real from fake, and this set has one class.", icon=":material/info:")
else:
    fired = [s for s in a.shortcuts if s.fires]
    for s in fired:
        st.warning(s.message, icon=":material/warning:")
    if not fired:
        st.success("Shortcut check: no face-unrelated property (JPEG quality, image size, file format, file size) "
                   "alone separates real from fake (every ROC-AUC below 0.7).", icon=":material/check_circle:")
    for s in a.shortcuts:
        if not s.fires and s.pure_share >= 0.1:
            st.info(s.message, icon=":material/info:")
    with st.expander("Shortcut check details"):
        st.dataframe([{"property": s.property, "ROC-AUC alone": round(s.auc, 3), "direction": s.direction}
                      for s in a.shortcuts], hide_index=True)

