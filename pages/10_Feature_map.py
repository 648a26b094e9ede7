"""Feature map: the test set in the model's penultimate features (PCA / t-SNE)."""
import streamlit as st

from core import ui
from core.features import embed_test_set, embeddings_cached, with_outcomes
from core.figures_explain import feature_scatter

ctx = ui.sidebar("Feature map")
st.title("Feature map")
ui.guard_evaluation(ctx, one_class=True)
ss = st.session_state
st.caption("Each point is one image, placed by its penultimate features: the numbers the model computes just before "
           "its decision (1,280 per EfficientNet-Lite member), so images the model sees alike sit close together. PCA "
           "keeps the two directions of widest spread; t-SNE keeps each image's neighbours near it, and distances "
           "between its clusters mean little.")

top = st.columns(2)
method = top[0].radio("Projection", ["pca", "tsne"], format_func={"pca": "PCA", "tsne": "t-SNE"}.get, horizontal=True,
                      key="features_method")
colour_by = top[1].radio("Colour by", ["outcome", "truth"], horizontal=True, key="features_colour",
                         format_func={"outcome": "right / wrong", "truth": "true class"}.get)

key = (ctx.detector.sha256, ctx.set_signature)
if ss.get("features_key") != key:
    if not embeddings_cached(ctx.detector, ctx.test_set):  # a whole model pass: only on a click, as Robustness
        ask = st.empty()
        with ask.container():
            if words := ui.feature_time_words(len(ctx.test_set), ctx.detector.sha256, ctx.detector.device.type):
                st.caption(f":material/schedule: {words}")
            if not st.button(f"Compute the features of the {len(ctx.test_set):,} images (kept on disk after)",
                             icon=":material/play_arrow:"):
                st.info("The map needs one more pass of the model over the set: scoring keeps each image's P(real), "
                        "not the features the map is drawn from.", icon=":material/hourglass_empty:")
                st.stop()
        ask.empty()
    bar = st.progress(0.0, text="Computing penultimate features…")
    ss["features"] = embed_test_set(ctx.detector, ctx.test_set,
                                    progress=lambda d, t: bar.progress(d / t, text=f"Computing features: {d}/{t} images"))
    ss["features_key"] = key
    bar.empty()
emb = ss["features"]
if len(emb.frame) < 3:
    st.info("A 2-D map needs at least 3 readable images.")
    st.stop()
frame = with_outcomes(ui.feature_layout(ctx, emb, method), ctx.threshold)
event = ui.chart(st, feature_scatter(frame, colour_by, method), width="stretch", on_select="rerun",
                        selection_mode=("points", "box", "lasso"), key="features_chart")
symbols = "circle = real, diamond = fake" if colour_by == "outcome" else "circle = right, x = wrong"
st.caption(f"Select points (click, box or lasso) to see their images. Symbols: {symbols}.")
picked = [p["customdata"][0] for p in (event.selection.points if event and event.selection else []) if p.get("customdata")]
if picked:
    chosen = frame[frame["relpath"].isin(picked)].sort_values(["outcome", "relpath"], ascending=[False, True])
    rows = chosen.head(24)  # the wrong ones first: "wrong" sorts after "right"
    wrong = int((chosen["outcome"] == "wrong").sum())
    st.caption(f"{len(chosen):,} selected ({wrong:,} wrong at {ctx.threshold:.4f})"
               + (f"; the first {len(rows)} shown, the wrong ones first." if len(chosen) > len(rows) else "."))
    for start in range(0, len(rows), 6):
        for col, row in zip(st.columns(6), rows.iloc[start : start + 6].itertuples()):
            col.image(row.thumbnail or row.path, width="stretch")
            col.caption(f"{row.relpath} · P(real) {ui.score_text(row.p_real)} · {row.outcome}")
else:
    wrong = frame[frame["outcome"] == "wrong"]
    st.caption(f"{len(wrong)} of {len(frame)} images are wrong at threshold {ctx.threshold:.4f}.")
