"""The shared sidebar and the session state behind it.

Cross-page values live under plain session-state keys (``threshold``, ``data_dir``, ``weights``,
``positive``, ...), set once with ``setdefault`` from the URL query parameters, then the
environment, then the defaults, and handed back to each page's widgets (``_bind``). The URL is
kept in step so a copied link reopens the same view."""
from __future__ import annotations

import os

import streamlit as st

from .. import upload_files
from ..checkpoint import CheckpointError, resolve_device
from ..dashboard import (DEVICES, PAGES, REPO, Context, _display, file_stamp, initial_sources, known_test_sets,
                         known_weights, resolve_path, weights_stamp)
from ..data import DatasetError
from ..inference import InferenceSettings
from .cached import _load_detector, _scan, _with_seen


def _init_state() -> None:
    ss = st.session_state
    if "data_dir" not in ss:
        start = initial_sources(dict(st.query_params), dict(os.environ))
        ss.setdefault("data_dir", start["data_dir"])
        ss.setdefault("weights", start["weights"])
        if start["threshold"] is not None:
            ss.setdefault("threshold", start["threshold"])
        ss.setdefault("unseen_only", start["unseen_only"])
        ss.setdefault("positive", start["positive"])
    ss.setdefault("device", "auto")
    ss.setdefault("positive", "real")
    ss.setdefault("fast", False)
    ss.setdefault("unseen_only", False)


def _bind(key: str, widget: str | None = None) -> dict:
    """Widget arguments that show the plain session value ``key`` and copy changes back."""
    widget = widget or f"w_{key}"
    st.session_state[widget] = st.session_state[key]

    def copy_back() -> None:
        st.session_state[key] = st.session_state[widget]

    return {"key": widget, "on_change": copy_back}


def kept(key: str, default, options=None) -> dict:
    """Widget arguments for a page's widget whose value outlives a visit to another page (a
    widget's own state is dropped when its page is left): the plain session value ``key``,
    set once to ``default``; with ``options`` (a multiselect's), values no longer offered are dropped."""
    st.session_state.setdefault(key, default)
    if options is not None:
        st.session_state[key] = [v for v in st.session_state[key] if v in options]
    return _bind(key, f"w_{key}")


def _bind_threshold(widget: str) -> dict:
    st.session_state[widget] = float(st.session_state["threshold"])

    def copy_back() -> None:
        st.session_state["threshold"] = round(float(st.session_state[widget]), 6)

    return {"key": widget, "on_change": copy_back}


def _save_weights_upload() -> None:
    """Keep an uploaded checkpoint only if it loads: a refused file is deleted with the reason
    shown under the uploader, not left in the weights list to be picked again."""
    ss = st.session_state
    up = ss.get("w_weights_upload")
    if up is None:  # the uploader cleared: its old refusal goes with it
        ss.pop("weights_upload_error", None)
        return
    path = upload_files.save_weights(up.name, up.getvalue(), REPO / "weights" / "uploads")
    try:
        _load_detector(str(path), weights_stamp(path), str(resolve_device(ss["device"])))
    except CheckpointError as exc:
        path.unlink(missing_ok=True)
        ss["weights_upload_error"] = f"{up.name} was not kept: {exc}"
        return
    except RuntimeError:  # no GPU for the chosen device: the sidebar says so; the file itself may be fine
        pass
    ss.pop("weights_upload_error", None)
    ss["weights"] = _display(path)


def _save_zip_upload(widget: str) -> None:
    up = st.session_state.get(widget)
    if up is None:
        return
    try:
        root = upload_files.extract_test_set_zip(up, REPO / "data" / "uploads", up.name)
    except DatasetError as exc:
        st.session_state["zip_error"] = str(exc).split("\n\n")[0]
        return
    st.session_state.pop("zip_error", None)
    st.session_state["data_dir"] = _display(root)


def _load(ss) -> dict:
    out: dict = {}
    weights = resolve_path(ss["weights"])
    try:
        try:
            device = str(resolve_device(ss["device"]))
        except RuntimeError:
            raise RuntimeError("GPU was chosen, but PyTorch sees no CUDA GPU on this machine: choose auto or CPU "
                               "under Test set and model.") from None
        if not weights.exists():  # a folder or a pipe gets read_checkpoint's own words
            raise CheckpointError(f"No weights file at {ss['weights']}. Choose one in the sidebar or upload a .pth file.")
        out["detector"] = _load_detector(str(weights), weights_stamp(weights), device)
    except (CheckpointError, RuntimeError, OSError) as exc:
        out["detector_error"] = str(exc)
    data = resolve_path(ss["data_dir"])
    try:
        out["test_set"], out["set_signature"] = _scan(str(data), file_stamp(data))
    except DatasetError as exc:
        out["test_set_error"] = str(exc)
    if "detector" in out:
        out.update(_with_seen(out["detector"], out.get("test_set"), out.get("set_signature", ""), bool(ss["unseen_only"])))
    return out


def sidebar(title: str) -> Context:
    """Set up the page, draw the shared sidebar and return what it chose and loaded.
    Must be the first streamlit call of every page."""
    st.set_page_config(page_title=f"{title} · Deepfake detector", page_icon=":material/face:", layout="wide")
    _init_state()
    ss = st.session_state
    loaded = _load(ss)
    if "threshold" not in ss:
        det = loaded.get("detector")
        ss["threshold"] = float(det.threshold) if det else 0.5
    with st.sidebar:
        for page in PAGES:
            if (REPO / page.path).is_file():  # an entry whose file is not there yet must not break every page
                st.page_link(page.path, label=page.label, icon=page.icon)
        st.divider()
        st.slider("Decision threshold on P(real)", 0.0, 1.0, step=0.001, format="%.4f",  # as the box and the pages
                  help="REAL when P(real) >= threshold", **_bind_threshold("w_threshold_slider"))
        st.number_input("Threshold", 0.0, 1.0, step=0.001, format="%.4f", label_visibility="collapsed",
                        **_bind_threshold("w_threshold_box"))
        st.radio("Positive class", ["real", "fake"], horizontal=True,
                 help="real: the report's table; fake: the usual detection convention", **_bind("positive"))
        if loaded.get("n_trained"):  # only when the set holds pictures the model learned from
            st.toggle(f"Leave out the {loaded['n_trained']} test images it was trained on",
                      help="Every page then measures detection on images the model has not learned from",
                      **_bind("unseen_only"))
        with st.expander("Test set and model", expanded=False):
            st.text_input("Test set folder", help="A folder with real/ and fake/ inside", **_bind("data_dir"))
            sets = known_test_sets()
            if sets:
                ss["w_known_set"] = ss["data_dir"] if ss["data_dir"] in sets else None
                st.selectbox("Known test sets", sets, index=None, placeholder="choose a known set", key="w_known_set",
                             on_change=lambda: ss.update(data_dir=ss["w_known_set"] or ss["data_dir"]))
            options = sorted(set(known_weights()) | {ss["weights"]})
            st.selectbox("Weights", options, **_bind("weights"))
            st.file_uploader("Upload weights (.pth)", type=["pth", "pt"], key="w_weights_upload",
                             on_change=_save_weights_upload)
            if ss.get("weights_upload_error"):
                st.error(ss["weights_upload_error"], icon=":material/block:")
            st.radio("Device", list(DEVICES), format_func=DEVICES.get, horizontal=True, **_bind("device"))
            st.toggle("fast (bfloat16 + draft JPEG decode)", **_bind("fast"))
        precision = InferenceSettings(fast=ss["fast"]).precision
        det = loaded.get("detector")
        # an ensemble's backbone already names each member's size: no "(ensemble(… 384px + … 224px), 384 px)"
        if det:
            what = det.backbone if getattr(det.model, "input_sizes", None) else f"{det.backbone}, {det.input_size_words}"
        st.caption(f"Numbers from {precision} inference" + (f" of {det.name} ({what}) on {det.device}" if det else ""))
        if det and det.threshold_warning:  # a threshold saved earlier is not the one in use: say so where it is set
            st.warning(det.threshold_warning, icon=":material/tune:")
    note = ss.pop("threshold_note", None)
    if note:
        st.toast(note, icon=":material/tune:")
    _sync_url(ss)
    return Context(data_dir=ss["data_dir"], weights=ss["weights"], device=ss["device"], positive=ss["positive"],
                   threshold=float(ss["threshold"]), fast=bool(ss["fast"]), **loaded)


def _sync_url(ss) -> None:
    want = {"data": ss["data_dir"], "weights": ss["weights"], "threshold": repr(float(ss["threshold"]))}  # exact: a preset sits on a score
    for key, value in want.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    # the two settings that change every number shown, kept in a copied link only when not the default
    for key, value, on in (("unseen", "1", ss["unseen_only"]), ("positive", "fake", ss["positive"] == "fake")):
        if on:
            if st.query_params.get(key) != value:
                st.query_params[key] = value
        elif key in st.query_params:
            del st.query_params[key]
