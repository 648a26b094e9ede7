"""What pages share on screen: the in-page threshold slider, the themed chart call, the
training-overlap boxes, and the guards that stop a page with guidance when the weights or
the test set are missing or unfit."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from .. import provenance, provenance_words
from ..checkpoint import Detector
from ..dashboard import ONE_CLASS_WORDS, PAGES, TESTER, Context, one_class_summary, one_class_words
from ..data import LABEL_NAMES, LAYOUT_HELP
from ..figures import for_dark_theme, with_screen_fonts
from ..inference import Predictions
from ..metric_words import score_text
from ..metrics import ThresholdSweep
from .cached import predictions, sweep
from .state import _bind, _bind_threshold, _save_zip_upload


def set_threshold(value: float, why: str = "") -> None:
    """Button callback: move the one threshold (e.g. to the EER point), with a toast on the
    next run saying so: the numbers that change may be off the screen. Kept exact: a preset's
    threshold is an image's score, and rounded up past it that image changes sides."""
    st.session_state["threshold"] = float(value)
    st.session_state["threshold_note"] = f"Threshold set to {float(value):.4f}" + (f" ({why})" if why else "")


def threshold_slider(widget: str = "w_threshold_main") -> None:
    """The shared threshold as a slider in the page itself: on a phone the sidebar is folded
    away, and on a projector its slider sits below the fold."""
    st.slider("Decision threshold on P(real)", 0.0, 1.0, step=0.001, format="%.4f",
              help="REAL when P(real) >= threshold; the same threshold as the sidebar's", **_bind_threshold(widget))


def chart(where, fig, **kwargs):
    """``where.plotly_chart(fig, **kwargs)`` (``where``: ``st`` or a column), the figure recoloured
    for Streamlit's dark theme when that is on (``figures.for_dark_theme``) and its small text set
    to the projector size (``figures.with_screen_fonts``; it changes ``fig``, which pages build per run)."""
    try:  # the frontend's report is "light" on a session's first run even when the server is set dark
        dark = st.context.theme.type == "dark" or st.get_option("theme.base") == "dark"
    except Exception:  # noqa: BLE001 - no theme known (bare mode, an old frontend): draw as is
        dark = False
    return where.plotly_chart(with_screen_fonts(for_dark_theme(fig) if dark else fig), **kwargs)


def people_table(where, table: pd.DataFrame, **kwargs):
    """``where.dataframe`` of a table of seen or near-copy images with its columns named for a
    person, with help where a name needs it (``provenance_words.shown_table``); a download of
    ``table`` keeps the data's names."""
    shown, helps = provenance_words.shown_table(table)
    config = {name: st.column_config.Column(help=text) for name, text in helps.items()}
    return where.dataframe(shown, hide_index=True, width="stretch", column_config=config, **kwargs)


def show_overlap(o: provenance.Overlap | None, frame: pd.DataFrame, threshold: float, positive: str,
                 copies: pd.DataFrame | None = None) -> None:
    """The overlap in words: an error or warning box when the model trained on test images (with
    the list, and the numbers on the rest: without the training pictures saved again either, from
    ``copies``, ``resaved_copies``), an info box when it was chosen on them, a caption otherwise."""
    trained_copies = copies.loc[copies["seen_as"] == "training", "test_relpath"] if copies is not None else ()
    for level, text in provenance_words.overlap_words(o):
        if level in ("error", "warning"):
            rest = provenance_words.unseen_words(frame, o, threshold, positive, trained_copies)
            getattr(st, level)(text + (f" {rest}" if rest else ""), icon=":material/school:")
            with st.expander(f"The {len(o.train)} test images it was trained on"):
                people_table(st, o.train.assign(label=o.train["label"].map(LABEL_NAMES)))
        elif level == "info":
            st.info(text, icon=":material/rule:")
        else:
            st.caption(text)


def test_set_help(problem: str) -> None:
    """Say what is wrong with the test set, show the expected layout, and offer a new
    path or a zip upload; the single-image tester stays one click away."""
    st.warning(problem.split("\n\n")[0], icon=":material/folder_off:")
    st.markdown("**How to fix it:** point the dashboard at a folder laid out like this")
    st.code(LAYOUT_HELP, language=None)
    left, right = st.columns(2)
    left.text_input("Test set folder", **_bind("data_dir", "w_data_dir_main"))
    right.file_uploader("…or upload a .zip holding real/ and fake/", type=["zip"], key="w_zip_upload",
                        on_change=_save_zip_upload, args=("w_zip_upload",))
    if st.session_state.get("zip_error"):
        right.error(st.session_state["zip_error"])
    st.page_link(TESTER, label="The single-image tester works without a test set", icon=":material/arrow_forward:")


def weights_help(problem: str) -> None:
    st.warning(problem, icon=":material/error:")
    st.markdown("**How to fix it:** choose a weights file (`weights/*.pth`) under *Test set and model* in the "
                "sidebar, or upload one there. The shipped model is `weights/default.pth`.")


def guard_detector(ctx: Context) -> Detector:
    """The loaded detector, or the weights guidance and a stop."""
    if ctx.detector is None:
        weights_help(ctx.detector_error or "No weights loaded.")
        st.stop()
    return ctx.detector


def one_class_pages() -> None:
    """Links to the pages that show what a one-class test set defines."""
    st.markdown("These pages work with a test set of one class:")
    for page in PAGES:
        if page.one_class:
            st.page_link(page.path, label=page.label, icon=page.icon)


def one_class_cards(sweep: ThresholdSweep, threshold: float) -> None:
    """A one-class set's numbers at ``threshold`` (``one_class_summary``) as metric cards."""
    one = one_class_summary(sweep, threshold)
    right_words, wrong_words, share_words = ONE_CLASS_WORDS[one["class"]]
    st.subheader(f"At threshold {threshold:.4f}")
    cols = st.columns([1, 1.7, 1, 1])  # the interval ("68.9%–86.8%") needs the room
    cols[0].metric(share_words.capitalize(), f"{one['share']:.1%}", help=f"{one['right']} of {one['n']} images")
    # named on the card: Slices and Operating points give bootstrap intervals, which differ a little
    cols[1].metric("95% Wilson CI", f"{one['low']:.1%}–{one['high']:.1%}", help="Wilson score interval of k of n")
    cols[2].metric(wrong_words.capitalize(), one["wrong"])
    cols[3].metric("Median P(real)", score_text(one['median_p_real']))
    st.caption(f"{one['right']} of {one['n']} {one['class']} images {right_words} at threshold {threshold:.4f}.")


def guard_evaluation(ctx: Context, one_class: bool = False) -> tuple[Predictions, ThresholdSweep]:
    """Predictions and their sweep, or the guidance for what is missing and a stop.
    ``one_class``: the page shows what a set of one class defines (it must then read
    ``sweep.only_class``); without it such a set gets the reason and links to those pages."""
    guard_detector(ctx)
    if ctx.test_set is None:
        test_set_help(ctx.test_set_error or "No test set.")
        st.stop()
    if not ctx.test_set.has_both_classes and not one_class:
        only = "real" if ctx.test_set.n_real else "fake"
        st.warning(f"`{ctx.data_dir}` holds only {only} images: this page needs both real/ and fake/ images.",
                   icon=":material/folder_off:")
        one_class_pages()
        st.stop()
    preds = predictions(ctx)
    sw = sweep(ctx, preds)
    if not len(sw):
        test_set_help(f"None of the images in {ctx.data_dir} could be read ({len(preds.skipped)} unreadable files).")
        st.stop()
    if sw.only_class:
        if not one_class:
            st.warning(f"After skipping {len(preds.skipped)} unreadable files, `{ctx.data_dir}` has readable images of "
                       f"{sw.only_class} only: this page needs both classes.", icon=":material/folder_off:")
            one_class_pages()
            st.stop()
        st.info(one_class_words(sw.only_class, len(sw)), icon=":material/filter_1:")
    return preds, sw
