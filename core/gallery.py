"""Error gallery helpers: which images to show, in what order, and their thumbnails.

Pure functions over a predictions frame (``core.prediction_cache.PREDICTION_COLUMNS``).
The verdict is REAL when P(real) >= threshold. Thumbnails are written once to
``<cache>/thumbs`` keyed by the source file's path, size and modification time, so a
page never decodes full-size images on a rerun.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from . import metrics, prediction_cache
from .atomic import atomic_path
from .data import LABEL_NAMES
from .metric_words import score_text
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
    pred_real = metrics.predicted_real(p, threshold)
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
    out["predicted"] = np.where(metrics.predicted_real(out["p_real"].to_numpy(float), threshold), "real", "fake")
    out["group"] = out["group"].fillna("")
    return out[GALLERY_COLUMNS]


def paginate(rows: pd.DataFrame, page: int, per_page: int) -> tuple[pd.DataFrame, int]:
    """Rows of page ``page`` (1-based, clamped) and the number of pages (at least 1)."""
    n_pages = max(1, math.ceil(len(rows) / per_page))
    page = min(max(1, int(page)), n_pages)
    return rows.iloc[(page - 1) * per_page : page * per_page], n_pages


def slice_label(dimension: str, value: str) -> str:
    """How a slice of ``core.slices.slice_masks`` is named in a menu: "difficulty: hard"."""
    return value if dimension == "all" else f"{dimension}: {value}"


def within(rows: pd.DataFrame, relpaths) -> pd.DataFrame:
    """The gallery rows whose image is among ``relpaths`` (e.g. one slice's), order kept."""
    return rows[rows["relpath"].isin(set(relpaths))].reset_index(drop=True)


SHOWN_NAMES = {"relpath": "file", "true": "true class", "predicted": "verdict", "p_real": "P(real)",
               "distance": "distance to threshold", "detail_share": "fine detail"}


def rows_shown(rows: pd.DataFrame) -> pd.DataFrame:
    """The gallery list for the page's table: names for people (the opened image's details table's
    "distance to threshold" too) and the numbers written as that table writes them: P(real) and its
    distance to the threshold, a difference of P(real), to the threshold's 4 decimals
    (``score_text``), fine detail to 3. Fixed-width text, so the columns still sort;
    ``gallery_csv`` keeps the data's own names and numbers."""
    shown = rows.drop(columns=["path"], errors="ignore").rename(columns=SHOWN_NAMES)
    return shown.assign(**{"P(real)": rows["p_real"].map(score_text), "distance to threshold": rows["distance"].map(score_text),
                           "fine detail": rows["detail_share"].map(lambda s: metrics.fmt(s, 3))})


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
    spare = spare_thumbs() / out.name
    if spare.exists():
        return spare
    try:
        image, _ = open_image(str(path), draft_size=size)
    except ImageError:
        return None
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    for where in (out, spare):  # a cache folder that cannot be written: this user's temp one
        try:
            if where.parent != root:
                where.parent.mkdir(mode=0o700, exist_ok=True)
            with atomic_path(where) as tmp:  # a concurrent reader never sees half a file
                image.save(tmp, format="JPEG", quality=85)
            return where
        except OSError:
            continue
    return None


def spare_thumbs() -> Path:
    """Where thumbnails go when the cache folder cannot be written: a folder of this user's in the
    system's temp, readable by no one else (another user could otherwise plant the pictures shown)."""
    return Path(tempfile.gettempdir()) / f"deepfake-detector-thumbs-{os.getuid() if hasattr(os, 'getuid') else 0}"


def thumbnail_uri(path: str | os.PathLike, size: int = THUMB_SIZE, cache_dir: Path | None = None) -> str | None:
    """``thumbnail`` as a data: URI (for hover previews and a self-contained report), or None
    when the image cannot be read. Read through ``open_image`` like every picture shown, so
    the megapixel limit holds, and made once on disk."""
    import base64

    thumb = thumbnail(path, size, cache_dir)
    if thumb is None:
        return None
    try:
        return "data:image/jpeg;base64," + base64.b64encode(thumb.read_bytes()).decode()
    except OSError:
        return None


SHEET_COLUMNS, SHEET_TILE, SHEET_MAX = 6, 200, 48
# Okabe-Ito vermillion (called orange: that is how it reads, and what other pages call fake's colour), blue and
# yellow: told apart by red-green colour-blind readers too
KIND_COLOURS = {FAKE_MISSED: (213, 94, 0), REAL_FLAGGED: (0, 114, 178), BORDERLINE: (240, 228, 66)}
KIND_COLOUR_NAMES = {FAKE_MISSED: "orange", REAL_FLAGGED: "blue", BORDERLINE: "yellow"}


def contact_sheet(rows: pd.DataFrame, title: str, *, columns: int = SHEET_COLUMNS, tile: int = SHEET_TILE,
                  limit: int = SHEET_MAX, cache_dir: Path | None = None) -> bytes:
    """The first ``limit`` gallery rows as one PNG for a slide: a title line, then a grid of
    thumbnails, each framed in its kind's colour and captioned with file name and P(real).
    An unreadable image gets a grey tile that says so; it never stops the sheet."""
    shown = rows.head(limit)
    n_rows = max(1, math.ceil(len(shown) / columns))
    pad, caption_h, head_h = 8, 38, 64
    width = columns * (tile + pad) + pad
    sheet = Image.new("RGB", (width, head_h + n_rows * (tile + caption_h + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    big, small = ImageFont.load_default(size=20), ImageFont.load_default(size=13)
    draw.text((pad, 10), title, fill=(30, 30, 30), font=big)
    more = f" (first {limit} of {len(rows)})" if len(rows) > limit else ""
    legend = " · ".join(f"{k}: {int((rows['kind'] == k).sum())} ({KIND_COLOUR_NAMES[k]} frame)"
                        for k in KINDS if (rows["kind"] == k).any())
    draw.text((pad, 38), legend + more, fill=(90, 90, 90), font=small)
    for i, (_, item) in enumerate(shown.iterrows()):
        x = pad + (i % columns) * (tile + pad)
        y = head_h + (i // columns) * (tile + caption_h + pad)
        thumb = thumbnail(item["path"], size=tile, cache_dir=cache_dir)
        if thumb is None:
            draw.rectangle((x, y, x + tile - 1, y + tile - 1), fill=(220, 220, 220))
            draw.text((x + 10, y + tile // 2 - 8), "unreadable image", fill=(80, 80, 80), font=small)
        else:
            with Image.open(thumb) as im:
                im = im.convert("RGB")
                sheet.paste(im, (x + (tile - im.width) // 2, y + (tile - im.height) // 2))
        draw.rectangle((x, y, x + tile - 1, y + tile - 1), outline=KIND_COLOURS.get(item["kind"], (0, 0, 0)), width=4)
        name = Path(str(item["relpath"])).name
        name = name if len(name) <= 26 else name[:12] + "…" + name[-12:]
        draw.text((x, y + tile + 3), name, fill=(30, 30, 30), font=small)
        draw.text((x, y + tile + 19), f"P(real) {score_text(item['p_real'])} · true {item['true']}", fill=(90, 90, 90), font=small)
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=True)
    return out.getvalue()
