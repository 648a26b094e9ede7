"""Batched inference over a test set, with a per-image disk cache (``core.prediction_cache``).

The cache holds one CSV per (weights, inference settings, test-set folder). Each
row is keyed by the image's relative path, size and modification time, so a changed,
added or removed image is noticed and only it is scored again. Rows are appended after
every batch: an interrupted run resumes where it stopped, and memory stays bounded by
the batch, not the set.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from . import atomic
from .checkpoint import Detector
from .data import TestSet, os_error_words
from .inference_model import inference_model
from .prediction_cache import (  # noqa: F401  (re-exported: the cache's names are part of this API)
    CACHE_COLUMNS,
    PREDICTION_COLUMNS,
    InferenceSettings,
    Predictions,
    Progress,
    assemble,
    cache_path,
    drop_torn_line,
    has_cache_header,
    merge_with_cache,
    record_relinked,
    read_cache,
)
from .identity import write_record
from .provenance import bytes_digest, checkpoint_record
from .preprocess import ImageError, open_image
from .quality import ANALYSIS_SIZE, detail_share

def set_draft_size(pre, fast: bool) -> int | None:
    """The size a test-set pass decodes JPEGs at (``open_image``'s ``draft_size``): None for a
    full decode, or with ``fast`` the model's input size, never below the detail measure's (a 224 px
    model's draft, 300 px from 600, would read as blur). Every view that re-reads a set image
    (the tester's picks, the Robustness page's clean copy) decodes it this way too."""
    return max(pre.input_size, ANALYSIS_SIZE) if fast else None


class _ImageFolder(Dataset):
    def __init__(self, paths: list[str], detector_pre, draft: bool):
        self.paths, self.transform = paths, detector_pre.eval_transform()
        self.draft_size = set_draft_size(detector_pre, draft)
        self.size = detector_pre.input_size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        try:  # read once: its digest (the cache keeps the score if only the file's time changes) and its pixels
            with open(self.paths[i], "rb") as f:
                data = f.read()
        except OSError:
            data = None  # open_image names the reason
        digest = bytes_digest(data) if data is not None else ""
        try:
            image, info = open_image(self.paths[i] if data is None else data, name=os.path.basename(self.paths[i]),
                                     draft_size=self.draft_size)
            # measured here, where the image is decoded anyway: the Slices page's "fine detail" rows
            return self.transform(image), i, info["width"], info["height"], info["format"], detail_share(image), "", digest
        except ImageError as exc:
            return torch.zeros(3, self.size, self.size), i, 0, 0, "", float("nan"), str(exc), digest

    def __getitems__(self, indices: list[int]) -> list:
        """A whole batch at once (the DataLoader asks for it this way). In the main
        process (no workers) the images decode on a thread per core: PIL and torch
        release the GIL while decoding and resizing, so the cores the model will use next
        are not left idle while one of them decodes (on 2 cores: ~1.3x for the fast path,
        ``bench/bench_inference.py``). Inside a DataLoader worker, one image at a time."""
        if get_worker_info() is not None or len(indices) < 2:
            return [self[i] for i in indices]
        return list(_decode_pool().map(self.__getitem__, indices))


@functools.cache
def _decode_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="decode")


def effective_workers(settings: InferenceSettings, device: torch.device) -> int:
    """DataLoader decode workers: the setting when given. Otherwise, on the CPU none: a
    batch decodes on a thread per core (``_ImageFolder.__getitems__``) and then the model
    gets every core; worker processes would fight the model's threads for the same cores
    (on 2 cores, 1 worker ran the fast path at 0.82x of no workers). On a GPU, one fewer
    than the CPU cores (at most 4), so that decoding overlaps the GPU's work."""
    if settings.workers is not None:
        return max(0, int(settings.workers))
    if device.type == "cpu":
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _autocast(device: torch.device, fast: bool):
    if fast:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return torch.autocast(device_type=device.type, enabled=False)


def _backend_flags(device: torch.device, fast: bool):
    """On a GPU the fast setting lets cuDNN pick kernels and use TF32 for what stays float32.
    The float32 setting turns TF32 off: PyTorch's default lets cuDNN convolutions run in TF32
    (10-bit mantissa), which on an H100 moved P(real) by up to 2e-3 against the report's loop
    and flipped a verdict (bench/bench_inference.py --device cuda)."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    if fast:
        return torch.backends.cudnn.flags(enabled=True, benchmark=True, deterministic=False, allow_tf32=True)
    return torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=False, allow_tf32=False)


@torch.inference_mode()
def _probabilities(detector: Detector, batch: torch.Tensor, settings: InferenceSettings) -> tuple[np.ndarray, np.ndarray | None]:
    """P(real) of a preprocessed batch, and for an ensemble each member's P(real),
    (N, members), from the same forward pass (flip TTA averages each over both views)."""
    device = detector.device
    model = prepare_model(detector, settings)
    per_member = hasattr(model, "member_logits")  # core.ensemble.EnsembleClassifier
    # non_blocking: a pinned batch (the DataLoader pins on CUDA) copies while the GPU works.
    batch = batch.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    views = [batch, torch.flip(batch, dims=[3])] if settings.tta else [batch]
    p = members = 0
    with _autocast(device, settings.fast), _backend_flags(device, settings.fast):
        for x in views:
            if per_member:  # the ensemble's forward is the mean of these logits, computed here once
                logits = model.member_logits(x)
                p = p + torch.sigmoid(logits.mean(1, keepdim=True).float())
                members = members + torch.sigmoid(logits.float())
            else:
                p = p + torch.sigmoid(model(x).float())
    p = (p / len(views)).squeeze(1).cpu().numpy().astype(np.float64)
    return p, (members / len(views)).cpu().numpy().astype(np.float64) if per_member else None


def score_batch(detector: Detector, batch: torch.Tensor, settings: InferenceSettings = InferenceSettings()) -> np.ndarray:
    """P(real) for a (N, 3, S, S) batch of preprocessed images."""
    return _probabilities(detector, batch, settings)[0]


def score_images(detector: Detector, images: Iterable, settings: InferenceSettings = InferenceSettings()) -> np.ndarray:
    """P(real) for PIL images (already RGB), e.g. uploads in the single-image tester."""
    return score_images_and_members(detector, images, settings)[0]


def score_images_and_members(detector: Detector, images: Iterable, settings: InferenceSettings = InferenceSettings()
                             ) -> tuple[np.ndarray, list[dict[str, float]] | None]:
    """P(real) for PIL images and, for an ensemble, per image its members' P(real) by
    member name (None for a single model). One forward pass gives both."""
    transform = detector.preprocessing.eval_transform()
    return score_tensors_and_members(detector, [transform(im) for im in images], settings)


def score_tensors_and_members(detector: Detector, tensors: list[torch.Tensor], settings: InferenceSettings = InferenceSettings()
                              ) -> tuple[np.ndarray, list[dict[str, float]] | None]:
    """``score_images_and_members`` for images already preprocessed (``eval_transform``), so a
    caller holding many large pictures can keep each only until it is a tensor."""
    names = member_names(detector)
    if not tensors:
        return np.zeros(0), ([] if names else None)
    parts = [_probabilities(detector, torch.stack(tensors[i : i + 32]), settings) for i in range(0, len(tensors), 32)]
    p = np.concatenate([part[0] for part in parts])
    if not names:
        return p, None
    return p, [dict(zip(names, row)) for row in np.concatenate([part[1] for part in parts]).tolist()]


def member_names(detector: Detector) -> list[str] | None:
    """File names of an ensemble's members (from its card), None for a single model."""
    members = (detector.meta.get("training") or {}).get("members")
    if not hasattr(detector.model, "members"):
        return None
    n = len(detector.model.members)
    names = [Path(m.get("file") or "").name for m in members] if members and len(members) == n else [""] * n
    if len(set(names)) < n or not all(names):  # unnamed or the same file name twice: number them
        names = [f"{i + 1}: {name or 'member'}" for i, name in enumerate(names)]
    return names


def prepare_model(detector: Detector, settings: InferenceSettings = InferenceSettings()) -> torch.nn.Module:
    """The model inference runs: a cached channels_last copy of ``detector.model`` with
    BatchNorm folded into the convolutions (same function, float32 rounding only; see
    ``core.inference_model``), for both settings. ``detector.model`` is not changed."""
    return inference_model(detector.model, detector.preprocessing.input_size)


def cache_file(detector: Detector, test_set: TestSet, settings: InferenceSettings, cache_dir: Path | None = None) -> Path:
    return cache_path(detector.sha256, test_set, settings, cache_dir)


def predict_test_set(
    detector: Detector,
    test_set: TestSet,
    settings: InferenceSettings = InferenceSettings(),
    *,
    use_cache: bool = True,
    cache_dir: Path | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> Predictions:
    """Score every image of ``test_set``; reuse cached scores of unchanged images. Where the cache
    folder cannot be written, the images are scored into a temporary copy of their cache file, dropped
    afterwards, and ``Predictions.note`` says so: a read-only cache costs speed, never the evaluation."""
    path = cache_file(detector, test_set, settings, cache_dir)
    refused = _unwritable(path)
    if not refused:
        return _predict_into(path, detector, test_set, settings, use_cache, progress)
    with tempfile.TemporaryDirectory(prefix="deepfake-predictions-") as tmp:
        spare = cache_file(detector, test_set, settings, Path(tmp))
        spare.parent.mkdir(parents=True, exist_ok=True)
        if use_cache and os.access(path, os.R_OK):  # a read-only cache still holds scores worth reading
            shutil.copyfile(path, spare)
        preds = _predict_into(spare, detector, test_set, settings, use_cache, progress)
    made = preds.scored - preds.unreadable_now  # unreadable files read now are no scores
    if not made:  # every score came from the read-only cache: nothing was lost
        return preds
    return dataclasses.replace(preds, note=(
        f"the prediction cache {path.parent.parent} cannot be written ({refused}): the {made} scores made "
        "now were not kept, so the next run makes them again (DEEPFAKE_CACHE_DIR names another folder)"))


def _predict_into(path: Path, detector: Detector, test_set: TestSet, settings: InferenceSettings, use_cache: bool,
                  progress: Callable[[Progress], None] | None) -> Predictions:
    """``predict_test_set`` with the cache file ``path``, which can be written."""
    images = test_set.images
    # lets a later fully cached `evaluate` describe this model without loading it
    backbone = getattr(detector.model, "backbone", None)  # None: a stand-in model, nothing to record
    if backbone:
        write_record(detector.sha256, backbone, detector.meta.get("checkpoint_threshold", detector.threshold), path.parent.parent,
                     checkpoint_record(detector.meta))
    # One scorer per cache file: two sessions opening one set at once used to append the same rows
    # (and a header each) to it. The second waits, then finds the images scored.
    waiting = (lambda: progress(Progress(0, len(images), 0.0, waiting=True))) if progress else None
    with atomic.exclusive(path, waiting):
        merged, todo = merge_with_cache(test_set, path, use_cache)
        n_cached = len(merged) - len(todo)
        record_relinked(merged, path)  # unchanged bytes under a new modification time: matched directly next time
        if todo:
            _score_and_append(detector, merged, todo, settings, path, progress)
            merged, _ = merge_with_cache(test_set, path)
    if not todo and progress:
        progress(Progress(len(images), len(images), 0.0, cached=len(images)))
    return assemble(merged, from_cache=n_cached, scored=len(todo), precision=settings.precision, todo=todo)


def _unwritable(path: Path) -> str | None:
    """Why the cache file ``path`` (and its lock beside it) cannot be written, or None."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a"):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        return os_error_words(exc)
    return None


def _score_and_append(detector, merged, todo, settings, path: Path, progress) -> None:
    device = detector.device
    if progress:  # folding the model takes seconds on a CPU the first time: the bar says what is happening
        progress(Progress(0, len(todo), 0.0, preparing=True))
    prepare_model(detector, settings)
    if progress:  # the count from the start, not only after the first batch (tens of seconds on a CPU)
        progress(Progress(0, len(todo), 0.0))
    workers = effective_workers(settings, device)
    loader = DataLoader(
        _ImageFolder(merged.loc[todo, "path"].tolist(), detector.preprocessing, draft=settings.fast),
        batch_size=settings.batch_size,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size and not has_cache_header(path):
        path.unlink()  # damaged (read_cache ignored it): rows appended under its first line could never be read
    if path.exists():
        drop_torn_line(path)  # a run killed mid-line: that row goes, and its image is among those scored now
    write_header = not path.exists() or path.stat().st_size == 0
    start, done = time.perf_counter(), 0
    with open(path, "a", newline="") as f:
        for batch, idx, width, height, fmt, detail, error, digest in loader:
            idx = idx.numpy()
            failed = np.array([bool(e) for e in error])
            p = np.full(len(idx), np.nan)
            if (~failed).any():
                p[~failed] = score_batch(detector, batch[torch.from_numpy(~failed)], settings)
            rows = merged.loc[[todo[i] for i in idx], ["relpath", "size_bytes", "mtime_ns"]].copy()
            rows["p_real"], rows["width"], rows["height"] = p, width.numpy(), height.numpy()
            rows["format"], rows["detail_share"], rows["error"], rows["digest"] = list(fmt), detail.numpy(), list(error), list(digest)
            rows[CACHE_COLUMNS].to_csv(f, header=write_header, index=False, float_format="%.17g")
            write_header = False
            f.flush()  # each batch is on disk before the next starts: resumable
            done += len(idx)
            if progress:
                progress(Progress(done, len(todo), time.perf_counter() - start))
