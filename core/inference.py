"""Batched inference over a test set, with a per-image disk cache.

The cache holds one CSV per (model, preprocessing, precision, test-set folder). Each
row is keyed by the image's relative path, size and modification time, so a changed,
added or removed image is noticed and only it is scored again. Rows are appended after
every batch: an interrupted run resumes where it stopped, and memory stays bounded by
the batch, not the set.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from .checkpoint import Detector
from .data import TestSet
from .inference_model import inference_model
from .preprocess import ImageError, open_image

DEFAULT_CACHE_DIR = Path(os.environ.get("DEEPFAKE_CACHE_DIR", Path(__file__).resolve().parent.parent / ".cache"))
CACHE_COLUMNS = ["relpath", "size_bytes", "mtime_ns", "p_real", "width", "height", "format", "error"]
PREDICTION_COLUMNS = ["path", "relpath", "label", "group", "p_real", "width", "height", "format", "size_bytes"]


@dataclass(frozen=True)
class InferenceSettings:
    """How the model is run.

    The default reproduces the report's numbers (full JPEG decode, ``Resize((S, S))``,
    float32). ``fast`` decodes JPEGs in draft mode, folds BatchNorm into the convolutions
    and runs in bfloat16 (CPU: AVX512-BF16 or AMX when present; GPU: bfloat16 with TF32
    convolutions): ~2-3x faster on CPU, P(real) moves by up to ~0.04 on the shipped model
    (bench/bench_inference.py). ``tta`` averages P(real) over the image and its mirror.
    ``workers``: see ``effective_workers``.
    """

    fast: bool = False
    tta: bool = False
    batch_size: int = 32
    workers: int | None = None

    @property
    def precision(self) -> str:
        return "bfloat16" if self.fast else "float32"

    def key(self) -> dict:
        return {"fast": self.fast, "tta": self.tta}


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    elapsed_s: float

    @property
    def images_per_s(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.images_per_s
        return (self.total - self.done) / rate if rate > 0 else None


@dataclass(frozen=True)
class Predictions:
    """``frame`` has PREDICTION_COLUMNS for every readable image; ``skipped`` lists
    (relpath, reason) of images that could not be read; ``from_cache`` counts images
    not scored in this call."""

    frame: pd.DataFrame
    skipped: list[tuple[str, str]]
    from_cache: int
    scored: int
    precision: str


class _ImageFolder(Dataset):
    def __init__(self, paths: list[str], detector_pre, draft: bool):
        self.paths, self.transform = paths, detector_pre.eval_transform()
        self.draft_size = detector_pre.input_size if draft else None
        self.size = detector_pre.input_size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        try:
            image, info = open_image(self.paths[i], name=os.path.basename(self.paths[i]), draft_size=self.draft_size)
            return self.transform(image), i, info["width"], info["height"], info["format"], ""
        except ImageError as exc:
            return torch.zeros(3, self.size, self.size), i, 0, 0, "", str(exc)


def effective_workers(settings: InferenceSettings, device: torch.device) -> int:
    """DataLoader decode workers: the setting when given, else one fewer than the CPU
    cores (at most 4), so that decoding overlaps the model without starving its threads."""
    if settings.workers is not None:
        return max(0, int(settings.workers))
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _autocast(device: torch.device, fast: bool):
    if fast:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return torch.autocast(device_type=device.type, enabled=False)


def _backend_flags(device: torch.device, fast: bool):
    """On a GPU the fast setting lets cuDNN pick kernels and use TF32 for what stays float32."""
    if device.type == "cuda" and fast:
        return torch.backends.cudnn.flags(enabled=True, benchmark=True, deterministic=False, allow_tf32=True)
    return contextlib.nullcontext()


@torch.inference_mode()
def score_batch(detector: Detector, batch: torch.Tensor, settings: InferenceSettings = InferenceSettings()) -> np.ndarray:
    """P(real) for a (N, 3, S, S) batch of preprocessed images."""
    device = detector.device
    model = prepare_model(detector, settings)
    # non_blocking: a pinned batch (the DataLoader pins on CUDA) copies while the GPU works.
    batch = batch.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    with _autocast(device, settings.fast), _backend_flags(device, settings.fast):
        p = torch.sigmoid(model(batch).float())
        if settings.tta:
            p = (p + torch.sigmoid(model(torch.flip(batch, dims=[3])).float())) / 2
    return p.squeeze(1).cpu().numpy().astype(np.float64)


def score_images(detector: Detector, images: Iterable, settings: InferenceSettings = InferenceSettings()) -> np.ndarray:
    """P(real) for PIL images (already RGB), e.g. uploads in the single-image tester."""
    transform = detector.preprocessing.eval_transform()
    tensors = [transform(im) for im in images]
    if not tensors:
        return np.zeros(0)
    return np.concatenate([score_batch(detector, torch.stack(tensors[i : i + 32]), settings) for i in range(0, len(tensors), 32)])


def prepare_model(detector: Detector, settings: InferenceSettings = InferenceSettings()) -> torch.nn.Module:
    """The model inference runs: a cached channels_last copy of ``detector.model``, with
    BatchNorm folded into the convolutions when ``settings.fast`` (same function; see
    ``core.inference_model``). ``detector.model`` itself is not changed."""
    return inference_model(detector.model, detector.preprocessing.input_size, fold=settings.fast)


def cache_file(detector: Detector, test_set: TestSet, settings: InferenceSettings, cache_dir: Path | None = None) -> Path:
    key = json.dumps(
        {
            "weights": detector.sha256,
            "pre": detector.preprocessing.to_dict(),
            "settings": settings.key(),
            "root": str(test_set.root),
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return Path(cache_dir or DEFAULT_CACHE_DIR) / "predictions" / f"{digest}.csv"


def _read_cache(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=CACHE_COLUMNS)
    try:
        cached = pd.read_csv(path, keep_default_na=False, na_values={"p_real": [""]}, dtype={"error": str, "format": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return pd.DataFrame(columns=CACHE_COLUMNS)  # a damaged cache is rebuilt, never trusted
    # Later rows win: a re-scored image appends a newer row.
    return cached.drop_duplicates(subset=["relpath"], keep="last")


def predict_test_set(
    detector: Detector,
    test_set: TestSet,
    settings: InferenceSettings = InferenceSettings(),
    *,
    use_cache: bool = True,
    cache_dir: Path | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> Predictions:
    """Score every image of ``test_set``; reuse cached scores of unchanged images."""
    images = test_set.images
    path = cache_file(detector, test_set, settings, cache_dir)
    cached = _read_cache(path) if use_cache else pd.DataFrame(columns=CACHE_COLUMNS)
    merged = images.merge(cached, on=["relpath", "size_bytes", "mtime_ns"], how="left", indicator=True)
    todo = merged.index[merged["_merge"] == "left_only"].tolist()
    n_cached = len(merged) - len(todo)
    if todo:
        _score_and_append(detector, merged, todo, settings, path, progress)
        merged = images.merge(_read_cache(path), on=["relpath", "size_bytes", "mtime_ns"], how="left")
    elif progress:
        progress(Progress(len(images), len(images), 0.0))
    err = merged["error"].fillna("").astype(str)
    ok = err == ""
    frame = merged.loc[ok, PREDICTION_COLUMNS].reset_index(drop=True)
    frame["p_real"] = frame["p_real"].astype(float)
    frame[["width", "height"]] = frame[["width", "height"]].astype(int)
    skipped = list(zip(merged.loc[~ok, "relpath"], err[~ok]))
    return Predictions(frame=frame, skipped=skipped, from_cache=n_cached, scored=len(todo), precision=settings.precision)


def _score_and_append(detector, merged, todo, settings, path: Path, progress) -> None:
    device = detector.device
    prepare_model(detector, settings)
    workers = effective_workers(settings, device)
    loader = DataLoader(
        _ImageFolder(merged.loc[todo, "path"].tolist(), detector.preprocessing, draft=settings.fast),
        batch_size=settings.batch_size,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_header = not path.exists() or path.stat().st_size == 0
    start, done = time.perf_counter(), 0
    with open(path, "a", newline="") as f:
        for batch, idx, width, height, fmt, error in loader:
            idx = idx.numpy()
            failed = np.array([bool(e) for e in error])
            p = np.full(len(idx), np.nan)
            if (~failed).any():
                p[~failed] = score_batch(detector, batch[torch.from_numpy(~failed)], settings)
            rows = merged.loc[[todo[i] for i in idx], ["relpath", "size_bytes", "mtime_ns"]].copy()
            rows["p_real"], rows["width"], rows["height"] = p, width.numpy(), height.numpy()
            rows["format"], rows["error"] = list(fmt), list(error)
            rows[CACHE_COLUMNS].to_csv(f, header=write_header, index=False, float_format="%.17g")
            write_header = False
            f.flush()  # each batch is on disk before the next starts: resumable
            done += len(idx)
            if progress:
                progress(Progress(done, len(todo), time.perf_counter() - start))
