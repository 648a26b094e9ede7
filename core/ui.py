"""The one streamlit module of ``core``: the shared sidebar, the guards and the cache wrappers.

Every page starts with ``ctx = sidebar("Page title")``. Cross-page values live under
plain session-state keys (``SETTINGS``), set once with ``setdefault`` from the URL
query parameters, then the environment, then the defaults, and handed back to each
page's widgets. The URL is kept in step so a copied link reopens the same view.

Adding a page: one file in ``pages/`` (starting with ``ctx = ui.sidebar(...)``) and one
``Page`` entry in ``core.dashboard.PAGES``. Streamlit's own file-named navigation is hidden
(``.streamlit/config.toml``); the sidebar lists ``PAGES`` with ``st.page_link``. What needs no
streamlit (the page list, ``Context``, cache keys, words) lives in ``core.dashboard``.
"""
from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from . import near_copies as nc
from . import prediction_cache, provenance, uploads
from .checkpoint import CheckpointError, Detector, load_detector, resolve_device
from .data import LABEL_NAMES, DatasetError, LAYOUT_HELP, TestSet, scan_test_set
from .inference import InferenceSettings, Predictions, Progress, predict_test_set
from .prediction_cache import cache_path, cached_predictions
from .figures import for_dark_theme
from .metrics import ThresholdSweep
from .bootstrap import DEFAULT_RESAMPLES
from .slices import add_slice_columns

from .dashboard import (  # noqa: F401  (re-exported: pages and tests use ui.<name>)
    DEFAULT_DATA, DEFAULT_WEIGHTS, DEVICES, PAGES, REPO, TESTER, Context, _display, file_stamp, fmt,
    weights_stamp, first_readable, image_details, initial_sources, known_test_sets, known_weights, progress_text,
    ONE_CLASS_WORDS, one_class_summary, one_class_words, resolve_path, score_context_words, seen_fields, set_problems,
    skipped_table, files_signature, threshold_change_words, uploads_digest, metric_help, metric_label, cpu_time_words,
)


# --- small helpers (the pure ones live in core.dashboard) ---------------------------
def set_threshold(value: float, why: str = "") -> None:
    """Button callback: move the one threshold (e.g. to the EER point), with a toast on the
    next run saying so: the numbers that change may be off the screen."""
    st.session_state["threshold"] = round(float(value), 6)
    st.session_state["threshold_note"] = f"Threshold set to {float(value):.4f}" + (f" ({why})" if why else "")


def threshold_slider(widget: str = "w_threshold_main") -> None:
    """The shared threshold as a slider in the page itself: on a phone the sidebar is folded
    away, and on a projector its slider sits below the fold."""
    st.slider("Decision threshold on P(real)", 0.0, 1.0, step=0.001, format="%.4f",
              help="REAL when P(real) >= threshold; the same threshold as the sidebar's", **_bind_threshold(widget))


def chart(where, fig, **kwargs):
    """``where.plotly_chart(fig, **kwargs)`` (``where``: ``st`` or a column), the figure recoloured
    for Streamlit's dark theme when that is on (``figures.for_dark_theme``)."""
    try:  # the frontend's report is "light" on a session's first run even when the server is set dark
        dark = st.context.theme.type == "dark" or st.get_option("theme.base") == "dark"
    except Exception:  # noqa: BLE001 - no theme known (bare mode, an old frontend): draw as is
        dark = False
    return where.plotly_chart(for_dark_theme(fig) if dark else fig, **kwargs)


# --- cache wrappers -----------------------------------------------------------------
@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _load_detector(path: str, stamp: tuple, device: str) -> Detector:
    return load_detector(path, device)


@st.cache_data(show_spinner="Listing the test set…", ttl=60, max_entries=8)
def _scan(path: str, stamp: tuple) -> tuple[TestSet, str]:
    test_set = scan_test_set(path)
    return test_set, files_signature(test_set)


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_predictions(weights_sha: str, set_signature: str, settings: tuple, _detector, _test_set) -> Predictions:
    return predict_test_set(_detector, _test_set, InferenceSettings(**dict(settings)))


# A resource, not data: cache_data would hand each rerun a fresh unpickled copy, losing the sweep's
# memo of ROC-AUC/AP/EER, so every threshold move redid them. The sweep is never changed but for
# that memo, which any session may fill with the same values.
@st.cache_resource(show_spinner=False, max_entries=16)
def _cached_sweep(weights_sha: str, set_signature: str, settings: tuple, _frame: pd.DataFrame) -> ThresholdSweep:
    return ThresholdSweep(_frame["label"].to_numpy(), _frame["p_real"].to_numpy())


_WARM: set[tuple] = set()  # prediction keys whose disk cache this process has filled


def predictions(ctx: Context) -> Predictions:
    """Predictions of ``ctx.detector`` on ``ctx.test_set``. The first time, the model runs
    with a progress bar (filling the disk cache); after that the cached result is used."""
    key = (ctx.detector.sha256, ctx.set_signature, ctx.settings_key)
    if key not in _WARM:
        bar = st.progress(0.0, text="Scoring the test set…")

        def report(p: Progress) -> None:
            bar.progress(min(1.0, p.done / p.total) if p.total else 1.0, text=progress_text(p))

        fresh = predict_test_set(ctx.detector, ctx.test_set, ctx.settings, progress=report)
        bar.empty()
        _WARM.add(key)
        return fresh  # this run's own counts: the cached copy would call every image "from cache"
    return _cached_predictions(*key, ctx.detector, ctx.test_set)


@st.cache_data(show_spinner="Projecting the features…", max_entries=8)
def _feature_layout(weights_sha: str, set_signature: str, method: str, _emb) -> pd.DataFrame:
    from .features import layout_frame

    return layout_frame(_emb, method)


def feature_layout(ctx: Context, emb, method: str) -> pd.DataFrame:
    """The Feature map's projection and thumbnails, made once per model, test set and method:
    switching PCA / t-SNE back, moving the threshold or recolouring no longer recomputes t-SNE."""
    return _feature_layout(ctx.detector.sha256, ctx.set_signature, method, emb)


def sweep(ctx: Context, preds: Predictions) -> ThresholdSweep:
    """The one ThresholdSweep of these predictions, built once and cached."""
    return _cached_sweep(ctx.detector.sha256, ctx.set_signature, ctx.settings_key, preds.frame)


@st.cache_data(show_spinner=False, max_entries=8)
def _if_scored(weights_sha: str, set_signature: str, settings: tuple, stamp: tuple, _test_set) -> Predictions | None:
    """``cached_predictions``, read once per state of the cache file (``stamp``), not on every rerun."""
    return cached_predictions(weights_sha, _test_set, InferenceSettings(**dict(settings)))


@st.cache_data(show_spinner=False, max_entries=8)
def _slice_frame(weights_sha: str, set_signature: str, settings: tuple, sidecar: tuple, _frame: pd.DataFrame,
                 _overlap: provenance.Overlap | None, _copies: pd.DataFrame | None) -> pd.DataFrame:
    framed = add_slice_columns(_frame)
    if _overlap is not None:
        framed["seen_by_model"] = provenance.seen_column(framed, _overlap, _copies)
    return framed


def slice_frame(ctx: Context, preds: Predictions) -> pd.DataFrame:
    """The predictions with the slice columns (``core.slices.add_slice_columns``, and
    ``seen_by_model`` when the model records what it has seen), built once per model, test set
    and precision: it does not depend on the threshold."""
    return _slice_frame(ctx.detector.sha256, ctx.set_signature, ctx.settings_key, _sidecar_stamp(ctx.detector), preds.frame,
                        seen_overlap(ctx, preds), resaved_copies(ctx, preds))


def scored_predictions(ctx: Context) -> tuple[Predictions | None, str]:
    """The model's predictions on the sidebar's test set when they are all on disk already,
    else None and why; it never runs the model (a page that only needs them for context must
    not start a whole test-set pass)."""
    if ctx.detector is None or ctx.test_set is None:
        return None, "no test set is loaded (choose one under *Test set and model* in the sidebar)"
    try:
        info = cache_path(ctx.detector.sha256, ctx.test_set, ctx.settings).stat()
        preds = _if_scored(ctx.detector.sha256, ctx.set_signature, ctx.settings_key, (info.st_mtime_ns, info.st_size),
                           ctx.test_set)
    except FileNotFoundError:
        preds = None
    if preds is None:
        return None, f"`{ctx.data_dir}` is not scored by this model yet; open the Overview once to score it"
    return preds, ""


def scored_sweep(ctx: Context) -> tuple[ThresholdSweep | None, str]:
    """``scored_predictions`` as the set's one sweep, or None and why (one class only included)."""
    preds, why = scored_predictions(ctx)
    if preds is None:
        return None, why
    sw = sweep(ctx, preds)
    if not sw.has_both_classes:
        return None, f"`{ctx.data_dir}` has readable images of one class only"
    return sw, ""


@st.cache_data(show_spinner=False, max_entries=32)
def judge_uploads(weights_sha: str, digest: str, face_crop: bool, fast: bool, _detector, _files) -> list:
    """``core.uploads.judge_uploads``, cached by the uploads' content."""
    return uploads.judge_uploads(_detector, _files, face_crop=face_crop, settings=InferenceSettings(fast=fast))



def _sidecar_stamp(det: Detector) -> tuple:
    """The state of the model's ``.seen.json`` sidecar: caches that depend on it key on this."""
    return file_stamp(provenance.sidecar_path(det.path)) if det.path else ()


@st.cache_data(show_spinner="Checking the test set against the images the model has seen…", max_entries=8)
def _seen_files(weights_sha: str, set_signature: str, sidecar: tuple, _detector,
                _images: pd.DataFrame) -> tuple[provenance.Seen | None, dict]:
    """What the model has seen and the digests of the set's files that may be among it: each
    such file is read once per model, set and sidecar state, for every page."""
    seen = provenance.model_seen(_detector)
    return seen, (seen.digest_map(_images) if seen else {})


_HASHED: set[tuple] = set()  # test sets whose perceptual hashes this process has put in the disk cache


@st.cache_data(show_spinner=False, max_entries=8)
def _set_copies(weights_sha: str, set_signature: str, sidecar: tuple, _seen: provenance.Seen,
                _images: pd.DataFrame) -> pd.DataFrame | None:
    return nc.resaved_for(_images, _seen, None, prediction_cache.DEFAULT_CACHE_DIR)


def _copies_of_seen(det: Detector, seen: provenance.Seen | None, images: pd.DataFrame, signature: str) -> pd.DataFrame | None:
    """``core.near_copies.resaved_for`` of the whole set when the model records perceptual hashes
    (None otherwise), once per model, set and sidecar state; the first time a set is hashed (into
    the disk cache) with a progress bar."""
    if seen is None or not seen.has_hashes or not len(images):
        return None
    key = (signature, prediction_cache.DEFAULT_CACHE_DIR)
    if key not in _HASHED:
        bar = st.progress(0.0, text="Looking for re-saved copies of the model's training images…")
        nc.cached_hashes(images["path"], prediction_cache.DEFAULT_CACHE_DIR,
                         lambda done, total: bar.progress(done / max(1, total), text=f"Hashing the images… {done:,} of {total:,}"))
        bar.empty()
        _HASHED.add(key)
    return _set_copies(det.sha256, signature, _sidecar_stamp(det), seen, images)


def _with_seen(det: Detector, test_set: TestSet | None, signature: str, leave_out: bool) -> dict:
    """Context fields for a model on a test set: ``seen``, ``seen_digests``, ``seen_copies`` (the
    set's re-saved copies of its training and validation pictures), ``n_trained`` (when some but
    not all images trained the model: its training files or those pictures saved again) and, with
    ``leave_out``, the set without them under its own signature, so that every cache keeps the two
    apart. Without a test set only ``seen`` (the single-image tester needs no set)."""
    images = test_set.images if test_set is not None else pd.DataFrame(columns=["path", "relpath", "size_bytes"])
    seen, digests = _seen_files(det.sha256, signature, _sidecar_stamp(det), det, images)
    copies = _copies_of_seen(det, seen, images, signature)
    trained_copies = frozenset(copies.loc[copies["seen_as"] == "training", "test_relpath"]) if copies is not None else frozenset()
    return {**seen_fields(seen, digests, test_set, signature, leave_out, trained_copies), "seen_copies": copies}


@st.cache_data(show_spinner=False, max_entries=8)
def _overlap(weights_sha: str, set_signature: str, sidecar: tuple, _seen: provenance.Seen | None, _digests: dict,
             _frame: pd.DataFrame) -> provenance.Overlap | None:
    return provenance.check(_frame, _seen, _digests)


def seen_overlap(ctx: Context, preds: Predictions) -> provenance.Overlap | None:
    """Which of the test set's images the model was trained or chosen on; None when it does not say."""
    return _overlap(ctx.detector.sha256, ctx.set_signature, _sidecar_stamp(ctx.detector), ctx.seen, ctx.seen_digests, preds.frame)


def resaved_copies(ctx: Context, preds: Predictions) -> pd.DataFrame | None:
    """The scored images that are the model's training or validation pictures saved again, not
    the same files (``core.near_copies.copies_in`` of the sidebar's ``seen_copies``: nothing is
    hashed or searched again); None when the model records no perceptual hashes."""
    if ctx.seen_copies is None:
        return None
    return nc.copies_in(ctx.seen_copies, preds.frame, seen_overlap(ctx, preds))


def show_overlap(o: provenance.Overlap | None, frame: pd.DataFrame, threshold: float, positive: str,
                 copies: pd.DataFrame | None = None) -> None:
    """The overlap in words: an error or warning box when the model trained on test images (with
    the list, and the numbers on the rest: without the training pictures saved again either, from
    ``copies``, ``resaved_copies``), an info box when it was chosen on them, a caption otherwise."""
    trained_copies = copies.loc[copies["seen_as"] == "training", "test_relpath"] if copies is not None else ()
    for level, text in provenance.overlap_words(o):
        if level in ("error", "warning"):
            rest = provenance.unseen_words(frame, o, threshold, positive, trained_copies)
            getattr(st, level)(text + (f" {rest}" if rest else ""), icon=":material/school:")
            with st.expander(f"The {len(o.train)} test images it was trained on"):
                st.dataframe(o.train.assign(label=o.train["label"].map(LABEL_NAMES)), hide_index=True,
                             width="stretch")
        elif level == "info":
            st.info(text, icon=":material/rule:")
        else:
            st.caption(text)


@st.cache_data(show_spinner="Bootstrapping intervals, slices and presets…", max_entries=16)
def _cached_analysis(weights_sha: str, set_signature: str, settings: tuple, sidecar: tuple, threshold: float,
                     positive: str, n_resamples: int, _frame: pd.DataFrame):
    from .analysis import analyse

    return analyse(_frame, threshold, positive, n_resamples=n_resamples, jpeg_quality=False)


def analysis_key(ctx: Context, n_resamples: int = DEFAULT_RESAMPLES) -> tuple:
    """What ``analysis`` depends on: model, test set, inference settings, the model's
    sidecar, threshold, positive class and resamples (also the key of anything built from it)."""
    return (ctx.detector.sha256, ctx.set_signature, ctx.settings_key, _sidecar_stamp(ctx.detector),
            float(ctx.threshold), ctx.positive, n_resamples)


def analysis(ctx: Context, preds: Predictions, n_resamples: int = DEFAULT_RESAMPLES):
    """``core.analysis.analyse`` of these predictions at the current threshold, cached. It
    starts from ``slice_frame``, so a set's JPEG headers are read once per model and set,
    not again for every threshold."""
    return _cached_analysis(*analysis_key(ctx, n_resamples), slice_frame(ctx, preds))


def context_for(ctx: Context, weights: str | None = None, data_dir: str | None = None) -> tuple[Context | None, str]:
    """The sidebar's context with other weights and/or another test set (for comparisons
    and calibration splits): (context, "") or (None, what went wrong)."""
    import dataclasses

    weights, data_dir = weights or ctx.weights, data_dir or ctx.data_dir
    try:
        wpath, dpath = resolve_path(weights), resolve_path(data_dir)
        det = _load_detector(str(wpath), weights_stamp(wpath), str(resolve_device(ctx.device)))
        test_set, signature = _scan(str(dpath), file_stamp(dpath))
    except (CheckpointError, DatasetError, RuntimeError, OSError) as exc:
        return None, f"{weights} on {data_dir}: {str(exc).splitlines()[0]}"
    # the sidebar's leave-out toggle holds here too: every page measures the same images
    fields = {"test_set": test_set, "set_signature": signature,
              **_with_seen(det, test_set, signature, bool(st.session_state.get("unseen_only")))}
    return dataclasses.replace(ctx, weights=weights, data_dir=data_dir, detector=det, detector_error=None,
                               test_set_error=None, **fields), ""


def compare_runs(ctx: Context, weights: list[str], sets: list[str]) -> tuple[list, list[str], list[str]]:
    """Every chosen checkpoint on every chosen test set, as ``core.compare.Run`` (each model at
    its own threshold; the sidebar's threshold for the sidebar's model), scored once and then
    cached; with, per run, what the model has seen of the set (``overlap_short``), and the
    problems of the pairs that could not run."""
    from .compare import Run
    from .provenance import overlap_short

    runs, seen, problems = [], [], []
    for w in weights:
        for d in sets:
            c, problem = context_for(ctx, weights=w, data_dir=d)
            if c is None:
                problems.append(problem)
                continue
            preds = predictions(c)
            if len(preds.frame) == 0:
                problems.append(f"{w} on {d}: no readable images.")
                continue
            t = ctx.threshold if w == ctx.weights else c.detector.threshold
            runs.append(Run(model=w, test_set=d, frame=preds.frame, threshold=t))
            seen.append(overlap_short(seen_overlap(c, preds)))
    return runs, seen, problems


def near_copies(ctx: Context, other: str | None, max_distance: int, run: bool) -> nc.NearCopies | None:
    """``core.near_copies.check`` of the sidebar's test set (and of ``other``, a folder, and of the
    sidebar model's record when it holds perceptual hashes), kept for the session by the sets'
    signatures, the model's record and the distance. It reads every image, so it runs only when
    ``run`` (a button), with a progress bar; otherwise the kept result or None. Raises
    ``DatasetError`` for an ``other`` that is not a test-set folder."""
    other_set, other_sig = None, ""
    if other:
        path = resolve_path(other)
        other_set, other_sig = _scan(str(path), file_stamp(path))
    seen = ctx.seen if ctx.seen is not None and ctx.seen.has_hashes else None
    record = (ctx.detector.sha256, _sidecar_stamp(ctx.detector)) if seen is not None else ()
    key = (ctx.set_signature, other_sig, record, int(max_distance))
    kept = st.session_state.setdefault("near_copies_result", {})
    if run and key not in kept:
        bar = st.progress(0.0, text="Hashing the images…")

        def report(done: int, total: int) -> None:
            bar.progress(done / max(1, total), text=f"Hashing the images… {done:,} of {total:,}")

        result = nc.check(ctx.test_set.images, None if other_set is None else other_set.images, max_distance, report,
                          seen, prediction_cache.DEFAULT_CACHE_DIR)
        bar.empty()
        kept.clear()  # one result per session: a new check replaces the last
        kept[key] = result
    return kept.get(key)


# --- the sidebar --------------------------------------------------------------------
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
    path = uploads.save_weights(up.name, up.getvalue(), REPO / "weights" / "uploads")
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
        root = uploads.extract_test_set_zip(up, REPO / "data" / "uploads", up.name)
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
        if not weights.is_file():
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
    want = {"data": ss["data_dir"], "weights": ss["weights"], "threshold": f"{ss['threshold']:.6g}"}
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


# --- guards and empty states --------------------------------------------------------
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
    cols[3].metric("Median P(real)", f"{one['median_p_real']:.3f}")
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
