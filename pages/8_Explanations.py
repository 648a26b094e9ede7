"""Explanations: the model's attention map and Grad-CAM for one image, and the replaced-region test."""
from pathlib import Path

import streamlit as st

from core import metrics, ui
from core.explain import ENSEMBLE_NOTE, NO_ATTENTION_NOTE, TARGET_NOTE, explain_file, explain_image
from core.figures_explain import region_figure
from core.preprocess import ImageError, open_photo
from core.quality import detail_share, low_detail_warning
from core.regions import LAYOUT_NOTE, region_study, region_summary_words, replaced_regions
from core.uploads import MAX_IMAGE_UPLOAD_MB, UPLOAD_TYPES

ctx = ui.sidebar("Explanations")
st.title("Explanations")
detector = ui.guard_detector(ctx)
ss = st.session_state
if not detector.model.use_attention:
    st.info(NO_ATTENTION_NOTE, icon=":material/info:")
if hasattr(detector.model, "members"):
    st.caption(ENSEMBLE_NOTE)

left, right = st.columns([3, 1])
target = right.radio("Grad-CAM explains", ["fake", "real"], horizontal=True, key="explain_target",
                     help="The model has one logit (sigmoid = P(real)): 'real' targets the logit, 'fake' the negated logit.")
upload = right.file_uploader("…or upload an image", type=list(UPLOAD_TYPES), key="explain_upload",
                             max_upload_size=MAX_IMAGE_UPLOAD_MB,  # the narrow box cuts its own list of types short
                             help=f"{', '.join(t.upper() for t in UPLOAD_TYPES)}; up to {MAX_IMAGE_UPLOAD_MB} MB")
choices = [] if ctx.test_set is None else ctx.test_set.images["relpath"].tolist()
scored, _ = ui.scored_predictions(ctx)  # once the set is scored, its unreadable files are known: not offered
if scored is not None and scored.skipped:
    unreadable = {rel for rel, _ in scored.skipped}
    choices = [c for c in choices if c not in unreadable]
    first = 0 if choices else None
else:
    first = ui.first_readable(ctx.test_set) if choices else None  # not a broken file on arrival
chosen = left.selectbox("Image from the test set", choices, index=first, key="explain_relpath",
                        placeholder="no test set loaded: upload an image")

ex = None
try:
    if upload is not None:
        image, _ = open_photo(upload.getvalue(), name=upload.name)
        ex, name = explain_image(detector, image, target=target), upload.name
    elif chosen:
        path = ctx.test_set.images.set_index("relpath").loc[chosen, "path"]
        ex, name = explain_file(detector, path, target=target), chosen
    else:
        st.info("Choose an image from the test set or upload one.")
except ImageError as exc:  # this image only: the region study below still runs
    st.error(str(exc))

if ex is not None:
    verdict = metrics.verdict(ex.p_real, ctx.threshold)
    st.markdown(f"**{name}** · P(real) {ui.score_text(ex.p_real)} → **{verdict}** at threshold {ctx.threshold:.4f}"
                + (f" · replaced: {', '.join(replaced_regions(name)) or 'nothing'}" if replaced_regions(name) is not None else ""))
    warning = low_detail_warning(detail_share(ex.image))
    if warning:
        st.warning(warning, icon=":material/blur_on:")
    att, cam = ex.overlays()
    cols = st.columns(3)
    cols[0].image(ex.image, caption="image", width="stretch")
    cols[1].image(att, width="stretch",
                  caption="attention map" if ex.has_attention else "attention map: none (flat, no attention block)")
    cols[2].image(cam, caption=TARGET_NOTE[target], width="stretch")
    st.caption(f"Heat maps are scaled to [0, 1] per image (red = high). {'From the disk cache.' if ex.from_cache else ''}")

st.subheader("Do the maps point at the replaced face parts?")
st.markdown("CIPLab fakes name the replaced parts in their file names (left eye, right eye, nose, mouth). "
            "For each such fake: does the peak of the map fall inside those parts? Chance is their area share. "
            f"{LAYOUT_NOTE}")
if ctx.test_set is None:
    st.info("Load a test set to run this.")
    st.stop()
key = (detector.sha256, ctx.set_signature, target)
if ss.get("region_study_key") != key:
    named = sum(bool(replaced_regions(p)) for p in ctx.test_set.images.loc[ctx.test_set.images["label"] == 0, "path"])
    if not named:
        st.info("This test set has no fakes named in the CIPLab way ({easy|mid|hard}_N_mask.jpg).")
        st.stop()
    if detector.device.type == "cpu" and named > 20:
        st.caption(f":material/schedule: On this CPU this takes about {max(1, round(named * 2.4 / 60))} min for the "
                   "shipped ensemble (2.4 s a fake on a quiet 2-core machine; longer while other work runs), with a "
                   "progress bar.")
    if not st.button(f"Explain the {named} named fakes", icon=":material/play_arrow:",
                     help="One Grad-CAM pass per fake: about 2.4 s each for the shipped ensemble on a 2-core CPU "
                          "(77 fakes took 187 s), far less on a GPU. Each map is kept on disk, so a second run is quick."):
        st.stop()
    bar = st.progress(0.0, text="Explaining fakes…")
    study = region_study(detector, ctx.test_set, target=target,
                         progress=lambda d, t: bar.progress(d / t, text=f"Explaining fakes: {d}/{t}"))
    bar.empty()
    ss["region_study_key"], ss["region_study"] = key, study
study = ss["region_study"]
summary = study.summary()
ui.chart(st, region_figure(summary, study.has_attention, study.target, len(study.frame)), width="stretch")
for sentence in region_summary_words(summary):
    st.markdown(sentence)
st.dataframe(summary, hide_index=True, width="stretch", column_config={
    "map": "Map", "fakes": "Fakes", "peak_in_region": st.column_config.NumberColumn("Peak in replaced parts", format="percent"),
    "chance": st.column_config.NumberColumn("Chance (area share)", format="percent"),
    "mass_in_region": st.column_config.NumberColumn("Map mass in replaced parts", format="percent"),
    "shuffled_masks": st.column_config.NumberColumn("Peak in another fake's parts", format="percent")})
with st.expander(f"Per fake ({len(study.frame)})"):
    st.dataframe(study.frame, hide_index=True, width="stretch")
if study.skipped:
    st.warning(f"{len(study.skipped)} unreadable files skipped: " + ", ".join(Path(p).name for p, _ in study.skipped[:5]))
