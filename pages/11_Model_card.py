"""Model card: what the checkpoint says about itself: where it came from, how it was trained and
how that departs from the report's recipe, its training curves, and whether the validation
numbers it recorded come back."""
import streamlit as st

from core import figures_analysis, model_card, ui

ctx = ui.sidebar("Model card")
st.title("Model card")
detector = ui.guard_detector(ctx)
meta, training = detector.meta, detector.meta.get("training") or {}
size_mb = detector.path.stat().st_size / 1e6 if detector.path and detector.path.exists() else None
st.caption(f"`{detector.name}` · sha256 `{detector.sha256[:12]}`"
           + (f" · {size_mb:.1f} MB, stored as {meta.get('storage_dtype', 'float32')}" if size_mb else "")
           + f" · output: {meta.get('output', 'P(real)')}")
st.markdown(model_card.model_words(meta.get("model_args") or {}, detector.preprocessing.input_size))
cols = [c for _ in range(2) for c in st.columns(2)]  # two by two: "ensemble of 2", "384 + 224 px" whole at 1000 px
cols[0].metric("Model", model_card.short_name(detector.backbone, len(training.get("members") or [])), help=detector.backbone)
cols[1].metric("Input size", detector.input_size_words)
cols[2].metric("Threshold", f"{detector.threshold:.4f}", help=meta.get("threshold_source"))
chains = model_card.lineages(meta, detector.name)
devices = model_card.devices(chains)
cols[3].metric("Trained on", " + ".join(devices) or "not recorded", help="; ".join(devices.values()) or None)
if training.get("note"):
    with st.expander("The note it was saved with"):
        st.write(training["note"])

st.subheader("Where it came from")
if not chains:
    st.info("This checkpoint records no training (a bare state dict, as the report's code saved it): nothing to show "
            "here beyond its hash.")
    st.stop()
wide = model_card.lineage_direction(chains) == "LR" and sum(map(len, chains.values())) > 2  # a tall graph stays at its own size
st.graphviz_chart(model_card.lineage_dot(meta, detector.name), width="stretch" if wide else "content")
st.markdown(model_card.lineage_markdown(chains))  # wraps: every "what" whole, on a phone too

st.subheader("Recipe")
name = st.selectbox("Member", list(chains), key="card_member") if len(chains) > 1 else next(iter(chains))
recipe = chains[name][0].recipe
table = model_card.recipe_table(recipe)
departs = table[table["departs"]]
st.caption(f"{len(departs)} of {len(table)} settings of `{name}`'s last run depart from the report's recipe "
           "(the defaults of `python -m core train`)" + (": " + ", ".join(departs["setting"]) if len(departs) else "."))
st.dataframe(table.style.apply(lambda row: ["font-weight: bold" if row["departs"] else ""] * len(row), axis=1),
             hide_index=True, width="stretch", height=36 * (len(table) + 1) + 3)

member = list(chains).index(name) if len(chains) > 1 else None
history = model_card.history_frame(meta, member)
if history is None:  # a caption, not a heading over nothing
    st.caption(f"No training curves: {'`' + name + '`' if len(chains) > 1 else 'this checkpoint'} keeps no per-epoch "
               "history (an ensemble built before members carried theirs keeps each member's summary only; "
               "`python -m core unpack` and the member's own file may have it).")
else:
    st.subheader("Training curves" + (f" of `{name}`" if len(chains) > 1 else ""))
    ui.chart(st, figures_analysis.training_curves_figure(history, chains[name][0].best_epoch), width="stretch")

st.subheader("Recorded validation numbers, measured again")
preds, why = ui.scored_predictions(ctx)
if preds is None:
    st.caption(f"Nothing measured yet: {why}.")
    st.stop()
sweep = ui.sweep(ctx, preds)
overlap = ui.seen_overlap(ctx, preds)
same = model_card.is_validation_set(meta, preds.frame, overlap)
rec = model_card.recorded_vs_now(meta, sweep.summary(model_card.RECORDED_THRESHOLD), same)
if rec is None:
    st.caption("The checkpoint recorded no validation numbers.")
    st.stop()
st.markdown(model_card.recorded_words(rec, ctx.data_dir, preds.precision, training.get("recipe", {}).get("precision")))
if not rec.same_images:  # "now" on a set of training images is flattered: say so here too, not only on the Overview
    ui.show_overlap(overlap, preds.frame, 0.5, "real", ui.resaved_copies(ctx, preds))
st.dataframe(ui.rows_as_text(rec.table, rec.keys, values=("recorded", "now"), deltas=("difference",)), hide_index=True,
             width="stretch")
st.caption(model_card.recorded_basis_words(ctx.threshold, ctx.positive))
