"""The dashboard's cache wrappers: the model, the test-set listing, predictions, the one threshold
sweep and everything derived from them, each built once per model, test set and settings.

``st.cache_resource`` holds the model and the sweep (shared, never changed); ``st.cache_data`` the
tables. Unhashable arguments carry a leading ``_`` and a hashable key beside them (the weights'
sha256, the test set's file signature, the inference settings)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from .. import near_copies as nc
from .. import pace, prediction_cache, provenance, uploads
from ..bootstrap import DEFAULT_RESAMPLES
from ..checkpoint import CheckpointError, Detector, load_detector, resolve_device
from ..dashboard import Context, file_stamp, files_signature, resolve_path, seen_fields, weights_stamp
from ..data import DatasetError, TestSet, scan_test_set
from ..inference import InferenceSettings, Predictions, Progress, predict_test_set
from ..metrics import ThresholdSweep
from ..prediction_cache import cache_path, cached_predictions
from ..slices import add_slice_columns


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
# predictions a cache folder that cannot be written did not keep: held here, or every rerun scored again
_UNKEPT: dict[tuple, Predictions] = {}


def predictions(ctx: Context) -> Predictions:
    """Predictions of ``ctx.detector`` on ``ctx.test_set``. The first time, the model runs
    with a progress bar (filling the disk cache); after that the cached result is used."""
    key = (ctx.detector.sha256, ctx.set_signature, ctx.settings_key)
    if key in _UNKEPT:
        preds = _UNKEPT[key]
    elif key not in _WARM:
        bar, last = st.progress(0.0, text="Scoring the test set…"), []
        # this model's last clean pass here: a time estimate before the first batch is done
        known = pace.measured(pace.CLEAN, ctx.detector.sha256, ctx.detector.device.type, ctx.fast)

        def report(p: Progress) -> None:
            bar.progress(min(1.0, p.done / p.total) if p.total else 1.0, text=pace.scoring_words(p, known))
            last[:] = [p]

        # this run's own counts: the cached copy would call every image "from cache"
        preds = predict_test_set(ctx.detector, ctx.test_set, ctx.settings, progress=report)
        bar.empty()
        if last and not last[0].waiting:  # this machine's speed, for the Robustness page's estimate
            pace.record(pace.CLEAN, ctx.detector.sha256, ctx.detector.device.type, ctx.fast,
                        last[0].done - last[0].cached, last[0].elapsed_s)
        if preds.note:  # not on disk: the other pages and later reruns read it from here
            while len(_UNKEPT) >= 4:
                _UNKEPT.pop(next(iter(_UNKEPT)))
            _UNKEPT[key] = preds
        else:
            _WARM.add(key)
    else:
        preds = _cached_predictions(*key, ctx.detector, ctx.test_set)
    if preds.note:  # a cache folder that cannot be written: the scores live only as long as this app
        st.warning(preds.note, icon=":material/storage:")
    return preds


@st.cache_data(show_spinner="Projecting the features…", max_entries=8)
def _feature_layout(weights_sha: str, set_signature: str, method: str, _emb) -> pd.DataFrame:
    from ..features import layout_frame

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
    unkept = _UNKEPT.get((ctx.detector.sha256, ctx.set_signature, ctx.settings_key))
    if unkept is not None:
        return unkept, ""
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
def judge_uploads(weights_sha: str, digest: str, face_crop: bool, fast: bool, _detector, _files,
                  as_stored: tuple[str, ...] = ()) -> list:
    """``core.uploads.judge_uploads``, cached by the uploads' content (and which are test-set picks)."""
    return uploads.judge_uploads(_detector, _files, face_crop=face_crop, settings=InferenceSettings(fast=fast),
                                 as_stored=as_stored)



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


@st.cache_data(show_spinner="Bootstrapping intervals, slices and presets…", max_entries=16)
def _cached_analysis(weights_sha: str, set_signature: str, settings: tuple, sidecar: tuple, threshold: float,
                     positive: str, n_resamples: int, _frame: pd.DataFrame):
    from ..analysis import analyse

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
    from ..compare import Run
    from ..provenance_words import overlap_short

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
