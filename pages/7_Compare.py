"""Compare: several checkpoints on several test sets, with CIs, overlaid ROC curves and
the images where two models disagree."""
from pathlib import Path

import streamlit as st

from core import compare, figures_analysis, gallery, ui

ctx = ui.sidebar("Compare")
st.title("Compare models and test sets")
ui.guard_detector(ctx)
# the choices outlive a visit to another page (kept under plain session keys)
offered = sorted(set(ui.known_weights()) | {ctx.weights})
weights = st.multiselect("Checkpoints", offered, **ui.kept("compare_weights", [ctx.weights], offered))
extra = st.text_area("More checkpoints (paths, one per line)", height=68, placeholder="weights/other.pth",
                     **ui.kept("compare_extra", ""))
weights += [w.strip() for w in extra.splitlines() if w.strip() and w.strip() not in weights]
offered_sets = [ctx.data_dir, *ui.other_test_sets(ctx.data_dir, ui.known_test_sets())]  # each folder once
sets = st.multiselect("Test sets", offered_sets, **ui.kept("compare_sets", [ctx.data_dir], offered_sets))
if not weights or not sets:
    st.info("Choose at least one checkpoint and one test set.")
    st.stop()
st.caption("Each model at its own threshold (the sidebar's for the sidebar's model). Models not yet run on a set "
           "are scored once (then cached).")

runs, seen, problems = ui.compare_runs(ctx, weights, sets)
for problem in problems:
    st.warning(problem)
if not runs:
    st.stop()

table = compare.compare_table(runs, ctx.positive)
table.insert(3, "test images seen", seen)  # a model trained on a set cannot be compared on it fairly

# accuracy first: defined on every set (a one-class set defines nothing else) and in view at 1280 px
lead = ["model", "test_set", "n", "test images seen", "threshold", "accuracy", "accuracy_low", "accuracy_high"]
shown, formats = ui.metric_table(table[lead + [c for c in table.columns if c not in lead]])
st.dataframe(shown, hide_index=True, column_config={c: st.column_config.NumberColumn(format=f) for c, f in formats.items()}
             | {"test_set": "test set"})
one_class = sorted({r.test_set for r in runs if not r.sweep.has_both_classes})
if one_class:  # their empty cells are undefined, not missing data
    st.caption(f"Empty ROC-AUC, average precision and EER cells: {', '.join(one_class)} "
               f"{'holds' if len(one_class) == 1 else 'hold'} one class only, and these need real and fake images; "
               "accuracy is compared alone.")
curves = compare.roc_curves(runs, ctx.positive)
if curves:
    ui.chart(st, figures_analysis.overlaid_roc_figure(curves, ctx.positive), width="stretch")

st.subheader("Where two models disagree")
names = [f"{r.model} on {r.test_set}" for r in runs]
if len(runs) < 2:
    st.info("Choose two checkpoints to see the images one gets right and the other wrong.")
    st.stop()
left, right = st.columns(2)
ia = left.selectbox("Model A", range(len(runs)), format_func=names.__getitem__, index=0)
same_set = [i for i, r in enumerate(runs) if i != ia and r.test_set == runs[ia].test_set]  # pairs match images
if not same_set:
    st.info(f"Model B must be scored on the same test set as A ({runs[ia].test_set}), image for image: choose a "
            "second checkpoint above.")
    st.stop()
ib = right.selectbox("Model B", same_set, format_func=names.__getitem__, index=0)
try:
    d = compare.disagreements(runs[ia], runs[ib])
    paired = compare.paired_difference(runs[ia], runs[ib], positive=ctx.positive)
except ValueError as exc:
    st.warning(str(exc))
    st.stop()
label_a, label_b = compare.short_names([runs[ia].model, runs[ib].model])  # one test set: the selectors name it
if len(paired):
    ui.chart(st, figures_analysis.paired_difference_figure(paired, label_a, label_b), width="stretch")
    st.caption("Paired bootstrap: each resample draws the same images for both models, so the interval is that of "
               "the difference itself, narrower than comparing the two rows' intervals above. B better in: the share "
               "of resamples in which B is better.")
    shown = ui.rows_as_text(paired, paired["metric"], values=("a", "b"), deltas=("difference", "low", "high"))
    st.dataframe(shown.assign(metric=paired["metric"].map(figures_analysis.PAIRED_NAMES).fillna(paired["metric"])),
                 hide_index=True, column_config={
                     "metric": "Metric", "n": "images", "a": "A", "b": "B", "difference": "B − A",
                     "low": "95% CI low", "high": "95% CI high",
                     "b_better": st.column_config.NumberColumn("B better in", format="percent")})
ui.chart(st, figures_analysis.paired_scores_figure(compare.paired_scores(runs[ia], runs[ib]), runs[ia].threshold,
                                                      runs[ib].threshold, label_a, label_b), width="stretch")
wins = d["right"].value_counts()
st.write(f"{len(d)} images where exactly one is right: A right on {wins.get('A', 0)}, "
         f"B right on {wins.get('B', 0)}.")
for start in range(0, min(len(d), 12), 6):  # the widest gaps first
    for col, row in zip(st.columns(6), d.iloc[start : start + 6].itertuples()):
        thumb = gallery.thumbnail(row.path)
        if thumb:
            col.image(str(thumb), width="stretch")
        else:
            col.warning("no preview")
        col.caption(f"**{Path(row.relpath).name}** ({'real' if row.label == 1 else 'fake'})  \n"
                    f"A {ui.score_text(row.p_real_a)} · B {ui.score_text(row.p_real_b)} · {row.right} right")
st.dataframe(compare.disagreements_shown(d), hide_index=True)
