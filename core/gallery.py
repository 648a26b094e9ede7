"""Error gallery helpers: which images to show, in what order, and their thumbnails.

Pure functions over a predictions frame (``core.prediction_cache.PREDICTION_COLUMNS``).
The verdict is REAL when P(real) >= threshold. Thumbnails are written once to
``<cache>/thumbs`` keyed by the source file's path, size and modification time, so a
page never decodes full-size images on a rerun.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from . import prediction_cache
from .data import LABEL_NAMES
from .preprocess import ImageError, open_image

FAKE_MISSED, REAL_FLAGGED, BORDERLINE = "fake missed (predicted real)", "real flagged as fake", "borderline"
KINDS = (FAKE_MISSED, REAL_FLAGGED, BORDERLINE)
GALLERY_COLUMNS = ["kind", "relpath", "group", "true", "predicted", "p_real", "distance", "detail_share", "path"]
THUMB_SIZE = 192


def composition(frame: pd.DataFrame) -> pd.DataFrame:
    """Image counts per class and group: columns class, group ('(top level)' for ''), images."""
    if frame.empty:
        return pd.DataFrame(columns=["class", "group", "images"])
    groups = frame["group"].fillna("").replace("", "(top level)")
    out = (
        pd.DataFrame({"class": frame["label"].map(LABEL_NAMES), "group": groups})
        .value_counts()
        .rename("images")
        .reset_index()
        .sort_values(["class", "group"], ascending=[False, True], ignore_index=True)
    )
    return out


def select_errors(frame: pd.DataFrame, threshold: float, kinds=(FAKE_MISSED, REAL_FLAGGED),
                  borderline: float = 0.05) -> pd.DataFrame:
    """Images to review, in order: misclassified fakes, misclassified reals, then
    correctly classified images within ``borderline`` of the threshold.

    Within each kind the most confidently wrong (farthest from the threshold) come
    first; borderline images come nearest first. Returns GALLERY_COLUMNS.
    """
    p, label = frame["p_real"].to_numpy(float), frame["label"].to_numpy(int)
    pred_real = p >= threshold
    distance = np.abs(p - threshold)
    masks = {
        FAKE_MISSED: (label == 0) & pred_real,
        REAL_FLAGGED: (label == 1) & ~pred_real,
        BORDERLINE: (pred_real == (label == 1)) & (distance <= borderline),
    }
    parts = []
    for kind in KINDS:
        if kind not in kinds:
            continue
        part = frame.loc[masks[kind], ["relpath", "group", "label", "p_real", "path"]].copy()
        # NaN for a frame without the measure (core.quality; the inference pass records it)
        part["detail_share"] = frame.loc[masks[kind], "detail_share"].astype(float) if "detail_share" in frame else np.nan
        part["distance"] = distance[masks[kind]]
        part = part.sort_values(["distance", "relpath"], ascending=[kind == BORDERLINE, True], kind="mergesort")
        part.insert(0, "kind", kind)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=GALLERY_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["true"] = out["label"].map(LABEL_NAMES)
    out["predicted"] = np.where(out["p_real"].to_numpy(float) >= threshold, "real", "fake")
    out["group"] = out["group"].fillna("")
    return out[GALLERY_COLUMNS]


def paginate(rows: pd.DataFrame, page: int, per_page: int) -> tuple[pd.DataFrame, int]:
    """Rows of page ``page`` (1-based, clamped) and the number of pages (at least 1)."""
    n_pages = max(1, math.ceil(len(rows) / per_page))
    page = min(max(1, int(page)), n_pages)
    return rows.iloc[(page - 1) * per_page : page * per_page], n_pages


def gallery_csv(rows: pd.DataFrame) -> bytes:
    """The gallery list as CSV bytes (for the download button)."""
    return rows.drop(columns=["path"], errors="ignore").to_csv(index=False, float_format="%.6f").encode()


def thumbnail(path: str | os.PathLike, size: int = THUMB_SIZE, cache_dir: Path | None = None) -> Path | None:
    """A JPEG thumbnail (longest side ``size``) of the image at ``path``, made once.

    Returns None when the image cannot be read. The cache key includes the file's size
    and modification time, so an edited image gets a new thumbnail."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return None
    key = f"{path.absolute()}|{stat.st_size}|{stat.st_mtime_ns}|{size}"
    root = Path(cache_dir or prediction_cache.DEFAULT_CACHE_DIR) / "thumbs"
    out = root / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.jpg"
    if out.exists():
        return out
    try:
        image, _ = open_image(str(path), draft_size=size)
    except ImageError:
        return None
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    root.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    image.save(tmp, format="JPEG", quality=85)
    os.replace(tmp, out)  # atomic: a concurrent reader never sees half a file
    return out
