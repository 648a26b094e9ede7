"""Data check: is the same picture in the test set twice, or also in the training data?
Near copies (re-saved, resized, re-encoded) by perceptual hash, shown side by side."""
import streamlit as st

from core import gallery, near_copies, ui
from core.data import DatasetError

ctx = ui.sidebar("Data check")
st.title("Data check")
st.caption("Finds the same picture saved again: another JPEG quality, another size, a PNG copy (a 256-bit perceptual "
           "hash, pHash; two copies differ by at most a few bits, two different CIPLab faces by 28 or more). Copies "
           "of training images make the numbers measure memory; copies within the test set count one picture "
           "twice. Crops and flips are not looked for. It needs no model; when the sidebar's model records the "
           "perceptual hashes of its training and validation images, the test set is checked against those too, "
           "without their folder.")
if ctx.test_set is None:
    ui.test_set_help(ctx.test_set_error or "No test set.")
    st.stop()

left, mid, right = st.columns([3, 2, 1], vertical_alignment="bottom")
others = ui.other_test_sets(ctx.data_dir, ui.known_test_sets())
guess = next((s for s in others if s.endswith("/train")), "")  # a split's training half, when there is one
st.session_state.setdefault("near_other", guess)
other = left.text_input("Compare with the folder (e.g. the training data)", key="near_other",
                        placeholder="empty: only within the test set", help="A folder with real/ and fake/").strip()
if others:
    left.selectbox("Known folders", others, index=None, placeholder="or choose a known folder", key="near_known",
                   label_visibility="collapsed",
                   on_change=lambda: st.session_state.update(near_other=st.session_state["near_known"] or ""))
max_distance = mid.slider("Most differing bits (of 256)", 0, 40, near_copies.MAX_DISTANCE,
                          help=f"{near_copies.MAX_DISTANCE} is the default: copies measured at most 4 apart, "
                               "different faces 28 or more")
run = right.button("Check", type="primary", width="stretch")
try:
    found = ui.near_copies(ctx, other, max_distance, run)
except DatasetError as exc:
    st.warning(f"{other}: {str(exc).splitlines()[0]}", icon=":material/folder_off:")
    st.stop()
record = ctx.seen if ctx.seen is not None and ctx.seen.has_hashes else None
if found is None:
    st.info(f"Press **Check** to hash the {len(ctx.test_set.images):,} test images"
            + (f" and the images of `{other}`" if other else "")
            + (f", and to compare them with the {len(record.train_hashes) + len(record.val_hashes):,} training and "
               f"validation images `{ctx.detector.name}` records" if record else "") + ".", icon=":material/search:")
    if ctx.detector is not None and record is None:
        st.caption(f"`{ctx.detector.name}` records no perceptual hashes of its training images, so copies of them "
                   "are found only with their folder above (`python -m core fingerprint` records them).")
    st.stop()

said = near_copies.words(found, f"`{other}`")
findings = any(level != "ok" for level, _ in said)
for level, text in said:  # beside a finding, the clean checks are a plain line, not a green all-clear
    if level == "ok" and findings:
        st.caption(f":material/check: {text}")
    else:
        {"warning": st.warning, "info": st.info, "ok": st.success}[level](text)
if found.unreadable:
    st.caption(f"{found.unreadable} files could not be read as images and were not compared.")


def show_pairs(frame, a: str, b: str, title: str) -> None:
    """Pairs side by side, two pairs to a row, each in its own frame; the table below holds them all."""
    st.subheader(f"{title} ({len(frame)})")
    shown = frame.head(12)
    for start in range(0, len(shown), 2):
        for col, (_, row) in zip(st.columns(2), shown.iloc[start : start + 2].iterrows()):
            box = col.container(border=True)
            for half, side in zip(box.columns(2), (a, b)):
                thumb = gallery.thumbnail(row[f"{side}_path"])
                if thumb:
                    half.image(str(thumb), width="stretch")
                half.caption(f"`{row[f'{side}_relpath']}` · {row[f'{side}_label']}")
            box.caption(f"{row['distance']} of 256 bits apart")
    if len(frame) > len(shown):
        st.caption(f"The first {len(shown)} pairs, closest first; all {len(frame)} in the table.")
    table = frame.drop(columns=[c for c in frame if c.endswith("_path")])
    ui.people_table(st, table)  # named for people; the CSV keeps the data's names
    st.download_button("Download these pairs (CSV)", table.to_csv(index=False).encode(), f"near_copies_{a}_{b}.csv",
                       "text/csv", key=f"csv_{a}_{b}")


def show_recorded(frame) -> None:
    """Test images that are copies of images the model records: only their hashes are known, so
    each shows the test image and what it is a copy of."""
    st.subheader(f"Test images that are copies of images `{ctx.detector.name}` was trained or chosen on ({len(frame)})")
    shown = frame.head(12)
    for start in range(0, len(shown), 4):
        for col, (_, row) in zip(st.columns(4), shown.iloc[start : start + 4].iterrows()):
            thumb = gallery.thumbnail(row["test_path"])
            if thumb:
                col.image(str(thumb), width="stretch")
            col.caption(f"`{row['test_relpath']}` · {row['test_label']} · copy of a {row['seen_as']} image, "
                        f"{row['distance']} of 256 bits apart")
    if len(frame) > len(shown):
        st.caption(f"The first {len(shown)}, training copies and closest first; all {len(frame)} in the table.")
    table = frame.drop(columns=["test_path"])
    ui.people_table(st, table)
    st.download_button("Download these copies (CSV)", table.to_csv(index=False).encode(), "near_copies_model_record.csv",
                       "text/csv", key="csv_record")


if found.recorded is not None and len(found.recorded):
    show_recorded(found.recorded.sort_values(["seen_as", "distance"], kind="stable"))
if len(found.across):
    show_pairs(found.across, "test", "other", f"Test images that are copies of images in `{other}`")
if len(found.within):
    show_pairs(found.within, "a", "b", "Copies within the test set")
