"""Robustness: metrics under JPEG re-compression, downscaling, blur, noise, and flip TTA."""
from pathlib import Path

import streamlit as st

from core import ui
from core.figures_explain import METRIC_LABELS, robustness_figure
from core.robustness import conditions_words, images_to_score, robustness_sweep

ctx = ui.sidebar("Robustness")
st.title("Robustness")
preds, _ = ui.guard_evaluation(ctx, one_class=True)
ss = st.session_state
st.markdown("Perturbed copies are made in memory (the files are never changed) and scored with the model's own "
            "preprocessing. Downscaling shrinks to a fraction of the model's input size and back; blur σ is in pixels "
            "of the stored image; noise σ in grey levels. *flip TTA* averages P(real) over the image and its mirror.")

key = (ctx.detector.sha256, ctx.set_signature, ctx.fast, ctx.threshold)  # exact, as the session keeps it
if ss.get("robustness_key") != key:
    todo, total = images_to_score(ctx.detector, ctx.test_set, settings=ctx.settings)
    # a sweep already on disk (an earlier visit, another threshold, `python -m core robustness`) opens without a click
    ask = st.empty()  # the button goes once pressed: the results below must not sit under a "Run" button
    if todo:
        with ask.container():
            cost = ui.sweep_time_words(todo, ctx.detector.sha256, ctx.detector.device.type, ctx.fast)  # from what was measured here
            st.caption(f":material/schedule: Conditions: {conditions_words()}. {cost}")
            if not st.button(f"Run the sweep ({todo:,} of {total:,} images still to score; cached on disk after)",
                             icon=":material/play_arrow:"):
                st.stop()
    ask.empty()
    bar = st.progress(0.0, text="Perturbing and scoring…")
    result = robustness_sweep(ctx.detector, ctx.test_set, threshold=ctx.threshold, settings=ctx.settings,
                              progress=lambda p: bar.progress(min(1.0, p.done / p.total), text=ui.progress_text(p, "Perturbing and scoring")))
    bar.empty()
    ss["robustness_key"], ss["robustness"] = key, result
result = ss["robustness"]

metrics = result.defined_metrics  # a one-class set: its own rate only
ui.chart(st, robustness_figure(result.table, metrics), width="stretch")
undefined = [c for m in METRIC_LABELS if m not in metrics for c in (m, f"d_{m}")]
shown = result.table.drop(columns=["kind", "level", *undefined]).rename(columns={"n_images": "images"})
table, formats = ui.metric_table(shown, extra_shares=("low_detail",))  # shares in %, changes in pp, as the cards
st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(shown) + 1) + 3,
             column_config={c: st.column_config.NumberColumn(format=f) for c, f in formats.items()})
st.caption(f"Threshold {result.threshold:.4f} (REAL when P(real) ≥ threshold). Rates: fake catch = fakes called FAKE / fakes; "
           "real pass = reals called REAL / reals. Δ = change from the clean row. low detail = share of the (perturbed) "
           "images that the tester's low-detail warning would flag.")

st.subheader("Images whose verdict flips")
conditions = [c for c in result.table["condition"][1:] if result.table.set_index("condition").loc[c, "flips"] > 0]
if not conditions:
    st.success("No verdict changes under any perturbation.")
    st.stop()
condition = st.selectbox("Perturbation", conditions, key="robustness_condition")
flips = result.flips(condition)
st.caption(f"{len(flips)} {'image changes' if len(flips) == 1 else 'images change'} verdict under {condition}.")
for start in range(0, min(len(flips), 24), 6):
    for col, row in zip(st.columns(6), flips.iloc[start : start + 6].itertuples()):
        col.image(row.path, width="stretch")
        col.caption(f"**{Path(row.relpath).name}** ({'real' if row.label == 1 else 'fake'})  \n"
                    f"{row.clean_verdict} {ui.score_text(row.p_clean)} → {row.new_verdict} {ui.score_text(row.p_perturbed)}")
if len(flips) > 24:
    with st.expander(f"All {len(flips)} flips"):
        st.dataframe(result.flips_shown(condition), hide_index=True, width="stretch")  # no download reads it
