"""Where does the model fail? Per-slice metrics with CIs, and a shortcut check.

Slices come from the predictions frame (``core.inference.PREDICTION_COLUMNS``) plus a
few derived columns: the difficulty and replaced regions this data set encodes in fake
file names (``{easy|mid|hard}_{N}_{mask}.jpg``, mask bits = left eye, right eye, nose,
mouth), the image size, the file format, the JPEG quality estimated from the
quantization tables, and how much fine detail the image holds (``detail_share``, measured
in the inference pass; ``core.quality``): blurred or upscaled images are where the seams
the detector reads are gone. A slice may hold one class only (real files have no difficulty):
then only what that class defines is filled (catch rate for fakes, pass rate for reals).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .bootstrap import bootstrap
from .metrics import NAMES, ThresholdSweep
from .provenance import SEEN_VALUES
from .quality import LOW_DETAIL

REGIONS = ("left eye", "right eye", "nose", "mouth")
FAKE_NAME = re.compile(r"^(easy|mid|hard)_\d+_([01]{4})$", re.IGNORECASE)
SHORTCUT_AUC = 0.7
# The IJG (libjpeg) standard luminance table, natural order; quality q scales it.
IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=float)


def _ijg_tables() -> np.ndarray:
    q = np.arange(1, 101)
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)
    return np.clip(np.floor((IJG_LUMA[None, :] * scale[:, None] + 50) / 100), 1, 255)


_TABLES = _ijg_tables()


def estimate_jpeg_quality(path) -> int | None:
    """IJG quality (1-100) whose scaled luminance table is nearest to the file's, or
    None for non-JPEG or unreadable files. Reads the header only, no decoding."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            q = getattr(im, "quantization", None)
            if im.format != "JPEG" or not q or 0 not in q:
                return None
            luma = np.asarray(list(q[0])[:64], dtype=float)
    except Exception:  # unreadable files are reported elsewhere; here they just have no quality
        return None
    if luma.shape != (64,):
        return None
    return int(np.argmin(np.abs(_TABLES - luma).sum(axis=1)) + 1)


def quality_bucket(q) -> str:
    if q is None or (isinstance(q, float) and np.isnan(q)):
        return "not JPEG"
    q = int(q)
    for hi, name in ((70, "≤70"), (80, "71–80"), (90, "81–90"), (95, "91–95")):
        if q <= hi:
            return name
    return "96–100"


DETAIL_TYPICAL = 0.28  # near the median detail share of the labelled CIPLab faces (0.283; core.quality)


def detail_bucket(share) -> str:
    """Fine-detail band of an image's ``detail_share``: below ``LOW_DETAIL`` (less than 97 %
    of the labelled faces), up to their median, or above it."""
    if share is None or not np.isfinite(share):
        return "unknown"
    if share < LOW_DETAIL:
        return f"low (< {LOW_DETAIL:.2f})"
    return f"{LOW_DETAIL:.2f}–{DETAIL_TYPICAL:.2f}" if share < DETAIL_TYPICAL else f"≥ {DETAIL_TYPICAL:.2f}"


def add_slice_columns(frame: pd.DataFrame, jpeg_quality: bool = True) -> pd.DataFrame:
    """A copy of the predictions frame with ``difficulty``, ``mask``, one boolean column
    per replaced region, ``image_size``, ``file_format``, ``jpeg_quality`` (estimated) and
    ``detail_bucket`` ("unknown" where the frame has no ``detail_share``)."""
    out = frame.copy()
    stems = out["relpath"].map(lambda r: Path(str(r)).stem)
    m = stems.str.extract(FAKE_NAME)
    is_fake = out["label"] == 0
    out["difficulty"] = np.where(is_fake & m[0].notna(), m[0].str.lower(), None)
    out["mask"] = np.where(is_fake & m[1].notna(), m[1], None)
    for bit, region in enumerate(REGIONS):
        out[f"replaced_{region}"] = out["mask"].map(lambda s, b=bit: isinstance(s, str) and s[b] == "1")
    out["image_size"] = out["width"].astype("Int64").astype(str) + "x" + out["height"].astype("Int64").astype(str)
    out["file_format"] = out["format"].fillna("unknown").astype(str)
    if jpeg_quality:
        out["jpeg_quality"] = [estimate_jpeg_quality(p) for p in out["path"]]
    elif "jpeg_quality" not in out:
        out["jpeg_quality"] = None
    out["jpeg_quality_bucket"] = out["jpeg_quality"].map(quality_bucket)
    share = pd.to_numeric(out["detail_share"], errors="coerce") if "detail_share" in out else pd.Series(np.nan, out.index)
    out["detail_bucket"] = share.map(detail_bucket)
    return out


def _slice_order(value: str) -> tuple:
    """Bands in their natural order (low to high, easy to hard), anything else by name after them."""
    order = ["easy", "mid", "hard", "≤70", "71–80", "81–90", "91–95", "96–100", "not JPEG",
             detail_bucket(0.0), detail_bucket(LOW_DETAIL), detail_bucket(DETAIL_TYPICAL), "unknown",
             *SEEN_VALUES]
    return (order.index(value), "") if value in order else (len(order), value)


def slice_masks(frame: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
    """(dimension, value, boolean mask) for every slice of a frame from add_slice_columns."""
    out = [("all", "all images", np.ones(len(frame), dtype=bool))]
    for dim, col in (("group", "group"), ("difficulty", "difficulty"), ("image size", "image_size"),
                     ("file format", "file_format"), ("JPEG quality", "jpeg_quality_bucket"),
                     ("fine detail", "detail_bucket"), ("seen by the model", "seen_by_model")):
        if col not in frame:  # seen_by_model: only where the model records the images it has seen
            continue
        values = frame[col].fillna("").astype(str)
        if col == "difficulty":
            values = values.where(frame["label"] == 0, "")
        elif values.nunique() < 2:  # one value: the same as "all images" (the shortcut check says so)
            continue
        for v in sorted(values.unique(), key=_slice_order):
            if dim == "difficulty" and not v:
                continue
            out.append((dim, v or "(top level)", (values == v).to_numpy()))
    for region in REGIONS:
        mask = frame[f"replaced_{region}"].to_numpy(dtype=bool)
        if mask.any():
            out.append(("replaced region", region, mask))
    return out


def slice_table(frame: pd.DataFrame, threshold: float, *, n_resamples: int = 1000, seed: int = 0,
                positive: str = "real") -> pd.DataFrame:
    """One row per slice: counts, accuracy, fake catch rate, real pass rate and ROC-AUC
    (where both classes), each with ``*_low``/``*_high`` bootstrap bounds (NaN where the
    slice cannot define it). ``frame`` must come from ``add_slice_columns``."""
    rows = []
    for dim, value, mask in slice_masks(frame):
        sub = frame[mask]
        if len(sub) == 0:
            continue
        sweep = ThresholdSweep(sub["label"], sub["p_real"])
        b = bootstrap(sweep, threshold, positive, n_resamples=n_resamples, seed=seed, bands=False)
        row = {"dimension": dim, "slice": value, "n": len(sub), "n_real": sweep.n_real, "n_fake": sweep.n_fake}
        row.update(b.columns(("accuracy", "fake_catch_rate", "real_pass_rate", "roc_auc")))
        rows.append(row)
    return pd.DataFrame(rows)


# why a slice has no value for a metric: what the metric needs that the slice lacks
_NEEDS = {"roc_auc": "needs real and fake images to rank, and these slices hold one class only",
          "fake_catch_rate": "needs fake images, and these slices hold none",
          "real_pass_rate": "needs real images, and these slices hold none"}


def undefined_slices_words(table: pd.DataFrame, metric: str, dimension: str | None = None) -> str | None:
    """One sentence naming the slices of ``slice_table``'s ``table`` (within ``dimension``,
    when given) that have no ``metric``, so they leave a chart of it, and why; None when every
    slice has one. E.g. "Not in the chart (no ROC-AUC): difficulty easy, mid, hard; replaced
    region nose. ROC-AUC needs real and fake images to rank, and these slices hold one class only." """
    t = table if dimension is None else table[table["dimension"] == dimension]
    missing = t[t[metric].isna()]
    if missing.empty:
        return None
    name = NAMES.get(metric, metric)
    groups = "; ".join(f"{dim} {', '.join(str(v) for v in part['slice'])}"
                       for dim, part in missing.groupby("dimension", sort=False))
    return f"Not in the chart (no {name}): {groups}. {name} {_NEEDS.get(metric, 'is undefined there')}."


def table_records(table: pd.DataFrame) -> list[dict]:
    """The slice table as JSON-ready dicts (NaN -> None)."""
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in table.to_dict(orient="records")]


@dataclass(frozen=True)
class Shortcut:
    """How well one face-unrelated property alone separates real from fake."""

    property: str
    auc: float  # max(AUC, 1 - AUC): 0.5 = no information, 1 = gives the label away
    direction: str
    fires: bool
    message: str
    pure_share: float = 0.0  # share of images whose value only one class has (a partial giveaway)


def _property_auc(label: np.ndarray, values: pd.Series) -> tuple[float, str] | None:
    """AUC of a numeric property as a real-vs-fake score, or for a categorical one the
    AUC of each category's share of reals (the best any rule on it can do)."""
    if pd.api.types.is_numeric_dtype(values) and values.notna().all():
        score, kind = values.to_numpy(dtype=float), "numeric"
    else:
        cat = values.fillna("missing").astype(str)
        share = pd.Series(label, index=values.index).groupby(cat).transform("mean")
        score, kind = share.to_numpy(dtype=float), "categorical"
    sweep = ThresholdSweep(label, score)
    if not sweep.has_both_classes or np.all(score == score[0]):
        return None
    auc = sweep.roc().auc
    if kind == "categorical":
        return auc, "by category"
    return (auc, "higher means real") if auc >= 0.5 else (1 - auc, "higher means fake")


def _pure_values(label: np.ndarray, values: pd.Series) -> tuple[float, str]:
    """Share of images whose (discrete) value occurs in one class only, and which values."""
    names = values.map(lambda v: f"{v:g}" if isinstance(v, float) else str(v)).to_numpy()
    cls = pd.Series(label).groupby(names).agg(["min", "max", "size"])
    pure = cls[cls["min"] == cls["max"]]
    if len(pure) == len(cls):  # every value pure: the AUC already says it all
        return 0.0, ""
    parts = []
    for cls_value, name in ((0, "fakes"), (1, "reals")):
        mine = pure[pure["min"] == cls_value]
        if len(mine):
            shown = list(mine.index[:4]) + (["…"] if len(mine) > 4 else [])
            values = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
            n = int(mine["size"].sum())
            parts.append(f"{values} only among {name} ({n} image{'s' if n != 1 else ''})")
    return float(pure["size"].sum() / len(label)), "; ".join(parts)


def chance_auc(n_real: int, n_fake: int, z: float = 2.58) -> float:
    """The max(AUC, 1 - AUC) a property with no information reaches once in a hundred sets of
    this size (the Mann-Whitney null: AUC ~ N(0.5, (n_real + n_fake + 1) / (12 n_real n_fake))):
    on 6 + 6 images 0.95, on CIPLab's 86 + 77 validation images 0.62."""
    return 0.5 + z * float(np.sqrt((n_real + n_fake + 1) / (12.0 * max(n_real, 1) * max(n_fake, 1))))


def shortcut_check(frame: pd.DataFrame, min_auc: float = SHORTCUT_AUC) -> list[Shortcut]:
    """For JPEG quality, image size (pixels), file format and file size: does it alone
    separate real from fake (AUC >= ``min_auc`` either way, and beyond what chance gives a set
    this small: ``chance_auc``)? Then the metrics may
    measure the data set, not the model. ``frame`` must come from add_slice_columns."""
    label = frame["label"].to_numpy(dtype=int)
    props = {
        "JPEG quality": frame["jpeg_quality"].map(lambda q: "not JPEG" if q is None or pd.isna(q) else int(q)),
        "image size (pixels)": (frame["width"] * frame["height"]).astype(float),
        "file format": frame["file_format"],
        "file size (bytes)": frame["size_bytes"].astype(float),
    }
    q = pd.to_numeric(props["JPEG quality"], errors="coerce")
    if q.notna().all():
        props["JPEG quality"] = q.astype(float)
    out = []
    for name, values in props.items():
        got = _property_auc(label, values.reset_index(drop=True))
        if got is None:
            out.append(Shortcut(name, 0.5, "constant or one class", False, f"{name}: same for all images or one class only"))
            continue
        auc, direction = got
        chance = chance_auc(int(label.sum()), int(len(label) - label.sum()))
        fires = auc >= max(min_auc, chance)
        msg = (f"{name} alone separates real from fake (AUC {auc:.2f}, {direction}): the metrics may measure "
               f"the data set, not the model" if fires else
               f"{name}: AUC {auc:.2f}, within chance for {len(label)} images (a shortcut needs {chance:.2f})"
               if auc >= min_auc else f"{name}: AUC {auc:.2f}, no shortcut")
        share, pure = _pure_values(label, values) if name != "file size (bytes)" else (0.0, "")
        if share >= 0.1:
            msg += f"; but {share:.0%} of images have a {name.split(' (')[0]} only one class has: {pure}"
        out.append(Shortcut(name, float(auc), direction, bool(fires), msg, float(share)))
    return out
