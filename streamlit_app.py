"""Overview: test-set composition, metric cards, confusion matrix and score distributions."""
import streamlit as st

from core import figures, near_copies, ui
from core.gallery import composition
from core.model_card import model_words
from core.prediction_cache import count_words
from core.quality import low_detail_set_note

ctx = ui.sidebar("Overview")
st.title("Deepfake detector: overview")
preds, sweep = ui.guard_evaluation(ctx, one_class=True)
t, positive = ctx.threshold, ctx.positive
frame = preds.frame

det = ctx.detector
st.markdown(f"**`{det.name}`**: {model_words(det.meta.get('model_args') or {}, det.preprocessing.input_size)}")
st.caption(f"`{ctx.data_dir}`, {preds.precision}: {count_words(preds)}. Verdict REAL when P(real) ≥ {t:.4f}; "
           f"positive class: {positive}.")

overlap = ui.seen_overlap(ctx, preds)
role = ui.set_role_words(overlap)  # a set the model was chosen on is said to be so where its numbers stand
st.subheader("Test set" + role)
cols = st.columns(4)
cols[0].metric("Real images", sweep.n_real)
cols[1].metric("Fake images", sweep.n_fake)
groups = frame.loc[frame["group"].fillna("") != "", "group"].nunique()
cols[2].metric("Groups", groups or "none", help="Sub-folders of real/ and fake/ (e.g. fake/gan/, fake/faceswap/): "
               "one per generator or source, so that the Slices page can show each one's numbers")
cols[3].metric("Unreadable files", len(preds.skipped))
if ctx.left_out:
    st.info(f"{ctx.left_out} images of `{ctx.data_dir}` are pictures this model was trained on (the files, or the "
            "pictures saved again); they are left out of "
            "every page (sidebar toggle), so these numbers measure detection only.", icon=":material/school:")
copies = ui.resaved_copies(ctx, preds)  # the same pictures saved again: no byte digest finds them
ui.show_overlap(overlap, frame, t, positive, copies)
if copies is not None and len(copies):
    for level, text in near_copies.resaved_words(copies, len(frame), ctx.seen.where):
        getattr(st, level)(text, icon=":material/content_copy:")
    with st.expander(f"The {len(copies)} re-saved copies"):
        ui.people_table(st, copies.drop(columns=["test_path"]))
note = low_detail_set_note(frame["detail_share"], frame["label"])
if note:
    st.warning(note, icon=":material/blur_on:")
comp = composition(frame)
if comp["group"].nunique() > 1:
    ui.chart(st, figures.composition_figure(comp), width="stretch")
problems = ui.set_problems(ctx.test_set, sweep.only_class)
if preds.skipped or problems:
    with st.expander(f"Unreadable files and warnings ({len(preds.skipped) + len(problems)})", expanded=True):
        for problem in problems:
            st.warning(problem)
        if preds.skipped:
            listed, some_unnamed = ui.skipped_markdown(preds.skipped)
            st.markdown(listed)
            if some_unnamed:
                st.dataframe(ui.skipped_table(preds.skipped), hide_index=True, width="stretch")

if sweep.only_class:  # e.g. a folder of new fakes: the share the model gets right is what it defines
    ui.one_class_cards(sweep, t)
    st.page_link("pages/1_Threshold_explorer.py", label="The share at every threshold: Threshold explorer",
                 icon=":material/tune:")
else:
    st.subheader(f"Metrics at threshold {t:.4f}" + role)
    summary = sweep.summary(t, positive)
    cards = ["accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "average_precision", "eer"]
    few = ui.few_images_words(sweep.n_real, sweep.n_fake)  # e.g. one fake: a ROC-AUC of 1.000 is not "perfect"
    for row in (cards[:5], cards[5:]):
        for col, key in zip(st.columns(5), row):
            ranking = key in ui.RANKING_METRICS  # a share of one class is flagged on that class's count alone
            flag = few if ranking else ui.few_of_its_class_words(key, positive, sweep.n_real, sweep.n_fake)
            col.metric(ui.metric_label(key, positive), ui.metric_value(key, summary[key]),
                       delta=flag, delta_color="off", delta_arrow="off",
                       help=summary["unavailable"].get(key) or (ui.few_images_help(sweep.n_real, sweep.n_fake)
                                                                if ranking and flag else ui.metric_help(key, positive)))

    st.subheader("Confusion matrix")
    c = sweep.confusion(t, positive)
    for col, (label, value) in zip(st.columns(4), [("fake caught", c.fake_caught),
                                                   ("fake missed (predicted real)", c.fake_missed),
                                                   ("real flagged as fake", c.real_flagged),
                                                   ("real passed", c.real_passed)]):
        col.metric(label, value)
    left, right = st.columns(2)
    ui.chart(left, figures.confusion_figure(c), width="stretch")
    ui.chart(right, figures.confusion_figure(c, normalize=True), width="stretch")

st.subheader("Score distributions")
ui.chart(st, figures.score_histogram(frame["label"], frame["p_real"], t), width="stretch")
