"""A 2-D map of the test set in the model's penultimate features.

``FaceClassifier.embed`` gives the pooled (attended) features that feed the head,
(N, C) with C = 2048 (ResNet50) or 1280 (EfficientNet-Lite). They are computed once
per model and test set (disk cache keyed like the prediction cache, plus the files'
size/mtime), standardised, and projected with PCA and with t-SNE (scikit-learn).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from . import atomic, gallery, metrics, pace, prediction_cache
from .checkpoint import Detector
from .data import TestSet
from .inference import prepare_model
from .robustness import Perturbation, _PerturbedFolder

METHODS = ("pca", "tsne")


@dataclass(frozen=True)
class Embeddings:
    """``features`` (N, C) float32 for the rows of ``frame`` (path, relpath, label, p_real)."""

    frame: pd.DataFrame
    features: np.ndarray


def _cache_path(detector: Detector, test_set: TestSet, cache_dir: Path | None) -> Path:
    files = list(zip(test_set.images["relpath"], prediction_cache.content_digests(test_set, cache_dir)))
    key = json.dumps({"v": 2, "weights": detector.sha256, "pre": detector.preprocessing.to_dict(), "root": str(test_set.root),
                      "files": files}, sort_keys=True)
    return Path(cache_dir or prediction_cache.DEFAULT_CACHE_DIR) / "features" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def embeddings_cached(detector: Detector, test_set: TestSet, cache_dir: Path | None = None) -> bool:
    """Whether ``embed_test_set`` would answer from the disk cache (no model pass)."""
    return _cache_path(detector, test_set, cache_dir).exists()


@torch.inference_mode()
def embed_test_set(detector: Detector, test_set: TestSet, *, batch_size: int = 32, workers: int | None = None,
                   use_cache: bool = True, cache_dir: Path | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Embeddings:
    """Penultimate features and P(real) of every readable image (unreadable ones are left out)."""
    path = _cache_path(detector, test_set, cache_dir)
    images = test_set.images.reset_index(drop=True)
    if use_cache and path.exists():
        try:
            with np.load(path) as z:
                keep, feats, p = z["keep"], z["features"], z["p_real"]
            return Embeddings(images.loc[keep, ["path", "relpath", "label"]].assign(p_real=p).reset_index(drop=True), feats)
        except (OSError, ValueError, KeyError):
            pass  # rebuilt below
    data = _PerturbedFolder(images["path"].tolist(), images["relpath"].tolist(), detector.preprocessing, Perturbation("identity"),
                            measure_detail=False)
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    start = time.perf_counter()
    # the model scoring runs (BatchNorm folded, channels_last): faster, and P(real) as scored
    model, feats, probs, keep, done = prepare_model(detector), [], [], [], 0
    for batch, idx, _, error in DataLoader(data, batch_size=batch_size, num_workers=workers):
        ok = np.array([not e for e in error])
        if ok.any():
            x = batch[torch.from_numpy(ok)].to(detector.device).contiguous(memory_format=torch.channels_last)
            e = model.embed(x)
            feats.append(e.float().cpu().numpy())
            probs.append(torch.sigmoid(model.classifier(e)).squeeze(1).float().cpu().numpy())
            keep.extend(idx.numpy()[ok].tolist())
        done += len(idx)
        if progress:
            progress(done, len(images))
    features = np.concatenate(feats).astype(np.float32) if feats else np.zeros((0, 1), np.float32)
    p_real = np.concatenate(probs).astype(np.float64) if probs else np.zeros(0)
    keep = np.asarray(keep, dtype=int)
    # this machine's speed at this work, for the Feature map's next estimate (core.pace)
    pace.record(pace.FEATURES, detector.sha256, detector.device.type, False, done, time.perf_counter() - start,
                cache_dir=cache_dir)
    if use_cache:
        buf = io.BytesIO()
        np.savez_compressed(buf, keep=keep, features=features, p_real=p_real)
        atomic.write_bytes(path, buf.getvalue())
    return Embeddings(images.loc[keep, ["path", "relpath", "label"]].assign(p_real=p_real).reset_index(drop=True), features)


def project(features: np.ndarray, method: str = "pca", *, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, C) → (N, 2). Features are standardised first; t-SNE's perplexity is capped
    below N (scikit-learn requires it) and seeded, so a rerun gives the same map."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    n = len(features)
    if n < 3:
        raise ValueError(f"a 2-D map needs at least 3 images, got {n}")
    x = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64))
    if method == "pca":
        out = PCA(n_components=2, random_state=seed).fit_transform(x)
    elif method == "tsne":
        # PCA to 50 dims first: the usual t-SNE recipe, and much faster on 1280-2048 dims
        x = PCA(n_components=min(50, n, x.shape[1]), random_state=seed).fit_transform(x)
        out = TSNE(n_components=2, perplexity=min(perplexity, (n - 1) / 3), init="pca", random_state=seed).fit_transform(x)
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return np.asarray(out, dtype=np.float64)


def layout_frame(emb: Embeddings, method: str = "pca", *, thumbnails: bool = True) -> pd.DataFrame:
    """The map's part that no threshold changes (the dashboard keeps it per model, set and
    projection: t-SNE takes 10-20 s here): x, y, label name, P(real), relpath, thumbnail."""
    xy = project(emb.features, method)
    f = emb.frame.copy()
    f["x"], f["y"] = xy[:, 0], xy[:, 1]
    f["truth"] = np.where(f["label"] == 1, "real", "fake")
    f["thumbnail"] = [gallery.thumbnail_uri(p, 64) or "" for p in f["path"]] if thumbnails else ""
    return f


def with_outcomes(layout: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """``layout_frame`` plus each image's verdict and right/wrong at ``threshold``."""
    f = layout.copy()
    f["verdict"] = np.where(metrics.predicted_real(f["p_real"], threshold), "real", "fake")
    f["outcome"] = np.where(f["truth"] == f["verdict"], "right", "wrong")
    return f


def feature_map_frame(emb: Embeddings, threshold: float, method: str = "pca", *, thumbnails: bool = True) -> pd.DataFrame:
    """One row per image: x, y, label name, verdict, right/wrong, P(real), relpath, thumbnail."""
    return with_outcomes(layout_frame(emb, method, thumbnails=thumbnails), threshold)
