"""Error gallery: misclassified fakes first, then misclassified reals and borderline images."""
from pathlib import Path

import streamlit as st

from core import gallery, ui
from core.quality import LOW_DETAIL
from core.slices import slice_masks

ctx = ui.sidebar("Error gallery")
st.title("Error gallery")
preds, sweep = ui.guard_evaluation(ctx, one_class=True)
ss = st.session_state

absent = {"fake": gallery.REAL_FLAGGED, "real": gallery.FAKE_MISSED}.get(sweep.only_class)  # a kind the set cannot have
offered = [k for k in gallery.KINDS if k != absent]
# The choices are plain session values (ui.kept): a widget's own state is dropped when its page is
# left, so a visit to Calibration reset them all. A choice made on a two-class set keeps what this set can show.
# its own row: in a 3/5 column at 1280 px the three kinds' chips clipped the first ("…ed (predicted real)")
kinds = st.multiselect("Show", offered, **ui.kept("gallery_kinds", [gallery.FAKE_MISSED, gallery.REAL_FLAGGED], offered))
second = st.columns([2, 2, 1])
framed = ui.slice_frame(ctx, preds)
choices = slice_masks(framed)  # the Slices page's slices: difficulty, JPEG quality, fine detail, replaced region, ...
pick = second[0].selectbox("Only the images of", range(len(choices)),  # no key: a new set brings new options
                        format_func=lambda i: gallery.slice_label(*choices[i][:2]))
distance = second[1].slider("Borderline: within this distance of the threshold", 0.0, 0.5, step=0.005,
                            **ui.kept("gallery_distance", 0.05), disabled=gallery.BORDERLINE not in kinds,
                            help="Used when *Show* includes borderline")
per_page = second[2].selectbox("Per page", [12, 24, 48], **ui.kept("gallery_per_page", 24))
if not kinds:  # nothing chosen is not "no errors": say so before any green message
    st.info("Choose under *Show* which images to see: fakes missed, reals flagged, borderline.")
    st.stop()
rows = gallery.select_errors(preds.frame, ctx.threshold, kinds, distance)
rows = gallery.within(rows, framed["relpath"][choices[pick][2]])
scope = "" if pick == 0 else f" ({gallery.slice_label(*choices[pick][:2])})"
counts = rows["kind"].value_counts()
st.caption(" · ".join(f"{kind}: {counts.get(kind, 0)}" for kind in kinds))
dl = st.container(horizontal=True)
dl.download_button("Download the list (CSV)", gallery.gallery_csv(rows), file_name="error_gallery.csv",
                   mime="text/csv", icon=":material/download:")
if not rows.empty:  # a slide: the selection's first images as one PNG, built only when asked for
    dl.download_button(
        "Download as one picture (PNG)", mime="image/png", icon=":material/photo_library:", file_name="error_gallery.png",
        data=lambda: gallery.contact_sheet(rows, f"{ctx.detector.name} at threshold {ctx.threshold:.4f} on {ctx.data_dir}{scope}"))
if rows.empty:
    st.success(f"No image in this selection at threshold {ctx.threshold:.4f}.")
    st.stop()


def show_opened(item) -> None:
    """The opened image over the gallery (a dialog titled with its kind), wherever on the page
    its Open button was."""
    left, right = st.columns([3, 2])
    left.image(item["path"], caption=item["relpath"], width=460)
    right.markdown(f"**{Path(item['relpath']).name}**")
    right.dataframe(ui.image_details(item, preds.frame, ctx.threshold), hide_index=True, width="stretch")
    if right.button("Close"):
        ss.pop("gallery_open", None)
        st.rerun()
    if right.button("Open in the single-image tester", icon=":material/arrow_forward:"):
        ss.pop("gallery_open", None)
        ss["tester_picks"] = [item["relpath"]]  # the tester shows it with its true class, explanation a toggle away
        st.switch_page(ui.TESTER)
    if right.toggle("Explain (attention map + Grad-CAM)", key="gallery_explain"):
        from core.explain import NO_ATTENTION_NOTE, TARGET_NOTE, explain_file

        ex = explain_file(ctx.detector, item["path"])
        att, cam = ex.overlays()
        st.image([att, cam], width=300, caption=["attention map" if ex.has_attention else NO_ATTENTION_NOTE,
                                                 TARGET_NOTE[ex.target]])


opened = rows[rows["relpath"] == ss.get("gallery_open")]
if not opened.empty:
    st.dialog(opened["kind"].iloc[0].capitalize(), width="large",
              on_dismiss=lambda: ss.pop("gallery_open", None))(show_opened)(opened.iloc[0])

n_pages = max(1, -(-len(rows) // per_page))
ss["gallery_page"] = min(max(1, ss.get("gallery_page", 1)), n_pages)
page_rows, n_pages = gallery.paginate(rows, ss["gallery_page"], per_page)
if n_pages > 1:  # at the top too: the page box below sits thousands of pixels down at 48 a page
    page, nav = ss["gallery_page"], st.columns([2, 2, 8], vertical_alignment="center")
    nav[0].button("Previous", icon=":material/chevron_left:", disabled=page == 1, key="gallery_prev",
                  on_click=ss.update, args=({"gallery_page": page - 1},), width="stretch")
    nav[1].button("Next", icon=":material/chevron_right:", disabled=page == n_pages, key="gallery_next",
                  on_click=ss.update, args=({"gallery_page": page + 1},), width="stretch")
    nav[2].caption(f"Page {page} of {n_pages}: images {(page - 1) * per_page + 1}–{min(page * per_page, len(rows))} "
                   f"of {len(rows)}")
for start in range(0, len(page_rows), 4):
    for col, (_, item) in zip(st.columns(4), page_rows.iloc[start : start + 4].iterrows()):
        thumb = gallery.thumbnail(item["path"])
        if thumb:
            col.image(thumb, width="stretch")
        else:
            col.warning("no preview")
        col.caption(f"**{Path(item['relpath']).name}** · P(real) {ui.score_text(item['p_real'])}"
                    + (f" · {item['group']}" if item["group"] else "")  # a sub-folder (generator), when the set has them
                    + f"  \n{item['kind']}" + (" · low detail" if item["detail_share"] < LOW_DETAIL else ""))
        col.button("Open", key=f"open_{item['relpath']}", on_click=ss.update, args=({"gallery_open": item["relpath"]},))
if n_pages > 1:  # one page: nothing to go to
    st.number_input(f"Go to page (1–{n_pages})", 1, n_pages, **ui.kept("gallery_page", 1))

with st.expander(f"The list as a table ({len(rows)} image{'' if len(rows) == 1 else 's'})"):
    st.dataframe(gallery.rows_shown(rows), hide_index=True, width="stretch")
