"""Single-image tester: upload face photos, optionally crop the face, get P(real), P(fake) and the verdict."""
import streamlit as st

from core import figures, ui
from core.analysis import score_context
from core.provenance_words import upload_words
from core.tester_picks import MAX_PICKS, labels_by_content, pick_words, random_pick, read_picks
from core.uploads import (MAX_IMAGE_UPLOAD_MB, UPLOAD_TYPES, WITHHELD_ICON, scores_as_text, true_verdict, verdict_csv,
                          verdict_table)

ctx = ui.sidebar("Single-image tester")
st.title("Single-image tester")
detector = ui.guard_detector(ctx)
t = ctx.threshold

files = st.file_uploader(f"Face images ({', '.join(UPLOAD_TYPES)})", type=list(UPLOAD_TYPES), accept_multiple_files=True,
                         key="tester_files", max_upload_size=MAX_IMAGE_UPLOAD_MB)
picks = st.session_state.setdefault("tester_picks", [])
if ctx.test_set is not None:  # for a class demo: faces of the sidebar's test set, with their true class
    images = ctx.test_set.images
    listed = set(images["relpath"])
    st.session_state["tester_picks"] = [p for p in picks if p in listed]  # another test set drops the old picks

    def add_random(label: int) -> None:
        rel = random_pick(images, label, st.session_state["tester_picks"])
        if rel and len(st.session_state["tester_picks"]) < MAX_PICKS:
            st.session_state["tester_picks"] = [*st.session_state["tester_picks"], rel]

    with st.expander(f"…or take faces from the test set `{ctx.data_dir}`", expanded=bool(picks)):
        left, real, fake = st.columns([4, 1, 1], vertical_alignment="bottom")
        picks = left.multiselect("Test-set images", images["relpath"].tolist(), key="tester_picks",
                                 max_selections=MAX_PICKS, placeholder="type part of a file name")
        real.button("Random real", on_click=add_random, args=(1,), width="stretch")
        fake.button("Random fake", on_click=add_random, args=(0,), width="stretch")
crop = st.toggle("Crop the face automatically (OpenCV Haar cascade)", key="tester_crop")
picks = picks if ctx.test_set is not None else []
picked, labels, problems = read_picks(ctx.test_set.images, picks) if picks else ([], {}, [])
for problem in problems:
    st.warning(problem, icon=":material/folder_off:")
pairs = [(f.name, f.getvalue()) for f in files or []] + picked
if not pairs:
    st.info(f"Upload one or more face photos, or take some from the test set: each gets P(real), P(fake) and the "
            f"verdict at threshold {t:.4f} from `{detector.name}`.")
    st.stop()

with st.spinner(f"Scoring {len(pairs)} image(s)…"):
    results = ui.judge_uploads(detector.sha256, ui.uploads_digest(pairs), crop, ctx.fast, detector, pairs,
                               tuple(name for name, _ in picked))  # read as the set's pass read them

for r in results:
    if not r.ok:
        st.error(r.error, icon=":material/broken_image:")
seen = ctx.seen  # what the model was trained and chosen on, re-read when its sidecar changes
if ctx.test_set is not None:  # an uploaded copy of a test-set file is judged right or wrong, as a pick is
    labels = {**labels_by_content(results, ctx.seen_digests, ctx.test_set.images), **labels}
if len(results) > 1:
    st.dataframe(scores_as_text(verdict_table(results, t, seen, labels)), hide_index=True, width="stretch")
if any(r.ok for r in results):  # nothing scored: no file of errors to download
    st.download_button("Download the verdicts (CSV)", verdict_csv(results, t, detector.name, seen, labels),
                       file_name="verdicts.csv", mime="text/csv", icon=":material/download:")
set_sweep, why = ui.scored_sweep(ctx)  # the sidebar's test set, when already scored (never runs it here)
for i, r in enumerate(results):
    if not r.ok:
        continue
    with st.container(border=True):
        cols = st.columns(3 if r.face is not None else 2)
        cols[0].image(r.image, caption=f"{r.name} ({r.width}x{r.height})", width="stretch")
        if r.face is not None:
            cols[1].image(r.scored, caption="face crop used" if r.cropped else "whole image used", width="stretch")
            (cols[1].caption if r.cropped else cols[1].info)(r.face.message)
        verdict = r.verdict(t)
        out = cols[-1]
        if r.name in labels:  # truth known: the colour says right or wrong, not which class (green read as "correct")
            right = verdict == true_verdict(labels[r.name])
            (out.success if right else out.error)(f"Verdict: **{verdict}** at threshold {t:.4f}: "
                                                  f"**{'right' if right else 'wrong'}**",
                                                  icon=":material/check_circle:" if right else ":material/cancel:")
            out.markdown(pick_words(labels[r.name], verdict, t))
        elif r.withheld:  # no face, or tiny: a green REAL beside a blue square read as a finding
            out.info(r.verdict_words(t), icon=WITHHELD_ICON)
        else:
            (out.success if verdict == "REAL" else out.error)(r.verdict_words(t))
        for icon, _, text in r.cautions:  # a box a reason, each with its icon
            out.warning(text, icon=icon)
        seen_note = upload_words(r.seen_as(seen))
        if seen_note:
            (out.warning if "training image" in r.seen_as(seen) else out.info)(seen_note, icon=":material/school:")
        out.metric("P(real)", ui.score_text(r.p_real))
        out.metric("P(fake)", ui.score_text(r.p_fake))
        if r.members:
            out.caption("Ensemble members' P(real) (the verdict uses their mean logit): "
                        + " · ".join(f"{name} {ui.score_text(p)}" for name, p in r.members.items()))
        if r.context_note or set_sweep is None:
            out.caption(r.context_note or f"No test-set context: {why}.")
        else:
            out.caption(ui.score_context_words(score_context(set_sweep, r.p_real), ctx.data_dir, r.cropped))
        # the maps come right under the image, above the histogram: further down they were out of sight of the toggle
        if out.toggle("Explain (attention map + Grad-CAM)", key=f"tester_explain_{i}"):
            from core.explain import NO_ATTENTION_NOTE, TARGET_NOTE, explain_image

            ex = explain_image(detector, r.scored)
            att, cam = ex.overlays()
            st.image([att, cam], width=300, caption=["attention map" if ex.has_attention else NO_ATTENTION_NOTE,
                                                      TARGET_NOTE[ex.target]])
        if set_sweep is not None:
            with st.expander(f"Where {r.name} falls among the test set's scores", expanded=len(results) == 1):
                ui.chart(st, figures.score_histogram(set_sweep.label, set_sweep.score, t, marks={r.mark_name: r.p_real}),
                                width="stretch", key=f"tester_context_{i}")
