"""Where a CIPLab fake was edited, and whether a heat map's peak falls there.

The CIPLab "Real and Fake Face" fakes name the replaced parts in the file name:
``{easy|mid|hard}_{N}_{mask}.jpg`` with four mask bits in the order left eye, right
eye, nose, mouth ("left" is the eye on the left of the image, checked on the
``*_1000`` fakes).

Layout: a FIXED canonical-face layout, not face landmarks. The boxes were chosen by
eye on the mean of 120 real CIPLab faces (600x600, roughly aligned: eyes near 45-50 %
of the height, mouth near 75 %) and checked on eight single-region fakes. They are
deliberately generous because faces vary in size and pose; coordinates are fractions
of the image width/height, so they apply to any image size.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REGION_NAMES = ("left eye", "right eye", "nose", "mouth")
# (x0, y0, x1, y1) as fractions of width / height
CANONICAL_BOXES = {
    "left eye": (0.22, 0.36, 0.48, 0.58),
    "right eye": (0.52, 0.36, 0.78, 0.58),
    "nose": (0.38, 0.45, 0.62, 0.70),
    "mouth": (0.30, 0.66, 0.70, 0.88),
}
LAYOUT_NOTE = (
    "Fixed canonical-face layout (no landmarks): boxes chosen on the mean of 120 real CIPLab "
    "faces and checked on single-region fakes; left eye = image left."
)
_MASK = re.compile(r"^(easy|mid|hard)_\d+_([01]{4})$")


def replaced_regions(path: str | Path) -> tuple[str, ...] | None:
    """Names of the replaced regions from a CIPLab fake's file name; None if the name
    does not follow the ``{level}_{N}_{mask}`` pattern."""
    m = _MASK.match(Path(path).stem)
    if not m:
        return None
    return tuple(name for name, bit in zip(REGION_NAMES, m.group(2)) if bit == "1")


def difficulty(path: str | Path) -> str | None:
    """``easy``/``mid``/``hard`` from a CIPLab fake's file name, else None."""
    m = _MASK.match(Path(path).stem)
    return m.group(1) if m else None


def region_mask(regions, height: int, width: int) -> np.ndarray:
    """(height, width) bool array, True inside the union of the named regions' boxes."""
    mask = np.zeros((height, width), dtype=bool)
    for name in regions:
        x0, y0, x1, y1 = CANONICAL_BOXES[name]
        mask[int(round(y0 * height)) : int(round(y1 * height)), int(round(x0 * width)) : int(round(x1 * width))] = True
    return mask


@dataclass(frozen=True)
class RegionHit:
    """One map on one fake: did its peak land in the replaced regions, against chance."""

    peak_inside: bool
    chance: float  # area share of the replaced regions: the hit rate of a uniformly random peak
    mass_inside: float  # share of the map's total weight inside the regions
    peak: tuple[float, float] = (0.0, 0.0)  # (y, x) of the peak as fractions of height / width


def map_region_hit(heat: np.ndarray, regions) -> RegionHit | None:
    """Score a (H, W) heat map against the replaced regions; None when the map is flat
    (no peak: e.g. the attention map of a model trained without the attention block)."""
    heat = np.asarray(heat, dtype=float)
    if not regions or not np.isfinite(heat).all() or np.ptp(heat) <= 1e-6 * max(1.0, np.abs(heat).max()):
        return None
    mask = region_mask(regions, *heat.shape)
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    weight = heat - heat.min()
    total = weight.sum()
    return RegionHit(
        peak_inside=bool(mask[peak]),
        chance=float(mask.mean()),
        mass_inside=float(weight[mask].sum() / total) if total > 0 else float(mask.mean()),
        peak=((peak[0] + 0.5) / heat.shape[0], (peak[1] + 0.5) / heat.shape[1]),
    )


def shuffled_hit_rate(peaks, regions_per_image, grid: int = 200) -> float | None:
    """Centre-bias baseline: how often image i's peak falls in image j's replaced regions
    (all pairs i != j). A map that always peaks mid-face scores well against chance but
    no better here; a map that finds the edited part beats this rate."""
    if len(peaks) < 2:
        return None
    masks = [region_mask(r, grid, grid) for r in regions_per_image]
    cells = [(min(grid - 1, int(y * grid)), min(grid - 1, int(x * grid))) for y, x in peaks]
    hits = [masks[j][cells[i]] for i in range(len(peaks)) for j in range(len(peaks)) if i != j]
    return float(np.mean(hits))


@dataclass(frozen=True)
class RegionStudy:
    """Per-fake region hits of both maps. ``frame`` columns: relpath, difficulty, regions,
    p_real, chance, attention_peak_inside, attention_mass_inside, gradcam_peak_inside,
    gradcam_mass_inside (NaN where a map is flat). ``skipped``: (relpath, reason)."""

    frame: pd.DataFrame
    skipped: tuple
    target: str
    has_attention: bool

    def summary(self) -> pd.DataFrame:
        """One row per map: fakes scored, peak-in-region rate, chance (area share), mass inside,
        and the shuffled-masks (centre-bias) baseline."""
        rows = []
        for name in ("attention", "gradcam"):
            ok = self.frame[f"{name}_peak_inside"].notna()
            sub = self.frame[ok]
            rows.append(
                {
                    "map": name,
                    "fakes": int(ok.sum()),
                    "peak_in_region": float(sub[f"{name}_peak_inside"].astype(float).mean()) if len(sub) else None,
                    "chance": float(sub["chance"].mean()) if len(sub) else None,
                    "mass_in_region": float(sub[f"{name}_mass_inside"].mean()) if len(sub) else None,
                    "shuffled_masks": shuffled_hit_rate(list(zip(sub[f"{name}_peak_y"], sub[f"{name}_peak_x"])),
                                                        [r.split(", ") for r in sub["regions"]]) if len(sub) else None,
                }
            )
        return pd.DataFrame(rows)


def region_summary_words(summary: pd.DataFrame) -> list[str]:
    """Each map's hit rate against both baselines, in a sentence: the area share (chance) and
    the shuffled masks (peaks in *another* fake's replaced parts), which measure how much of the
    hit rate is a pull towards the face centre rather than towards what was replaced."""
    words = []
    for r in summary.itertuples():
        if r.peak_in_region is None or r.fakes == 0 or pd.isna(r.peak_in_region):
            continue
        name = "Attention" if r.map == "attention" else "Grad-CAM"
        if r.shuffled_masks is None or pd.isna(r.shuffled_masks):  # one fake: no other fake's parts to compare with
            words.append(f"{name}: the peak falls in the replaced parts for {r.peak_in_region:.0%} of {r.fakes} fake, "
                         f"against {r.chance:.0%} by area; the centre-bias baseline needs at least two fakes.")
            continue
        gain = r.peak_in_region - r.shuffled_masks
        verdict = ("most of it is the pull towards the face centre that any fake's parts would show"
                   if gain < (r.peak_in_region - r.chance) / 2 else "most of it follows what was replaced")
        words.append(f"{name}: the peak falls in the replaced parts for {r.peak_in_region:.0%} of {r.fakes} fakes, "
                     f"against {r.chance:.0%} by area and {r.shuffled_masks:.0%} in another fake's parts; "
                     f"{gain * 100:+.0f} percentage points are specific to what was replaced, so {verdict}.")
    return words


def region_study(detector, test_set, *, target: str = "fake", progress=None, use_cache: bool = True) -> RegionStudy:
    """For every CIPLab-named fake of ``test_set``: does the peak of the attention map and
    of Grad-CAM fall inside the replaced regions? ``progress(done, total)`` after each image."""
    from .explain import explain_file
    from .preprocess import ImageError

    fakes = test_set.images[test_set.images["label"] == 0]
    todo = [(r.path, r.relpath, replaced_regions(r.path)) for r in fakes.itertuples()]
    todo = [t for t in todo if t[2]]  # '0000' or unnamed fakes have no region to hit
    rows, skipped = [], []
    for i, (path, relpath, regions) in enumerate(todo):
        try:
            ex = explain_file(detector, path, target=target, use_cache=use_cache)
        except ImageError as exc:
            skipped.append((relpath, str(exc)))
            continue
        row = {"relpath": relpath, "difficulty": difficulty(path), "regions": ", ".join(regions), "p_real": ex.p_real}
        for name, heat in (("attention", ex.attention), ("gradcam", ex.gradcam)):
            hit = map_region_hit(heat, regions)
            row["chance"] = float(region_mask(regions, *heat.shape).mean())
            row[f"{name}_peak_inside"] = None if hit is None else hit.peak_inside
            row[f"{name}_mass_inside"] = np.nan if hit is None else hit.mass_inside
            row[f"{name}_peak_y"], row[f"{name}_peak_x"] = (np.nan, np.nan) if hit is None else hit.peak
        rows.append(row)
        if progress:
            progress(i + 1, len(todo))
    columns = ["relpath", "difficulty", "regions", "p_real", "chance"] + [
        f"{m}_{c}" for m in ("attention", "gradcam") for c in ("peak_inside", "mass_inside", "peak_y", "peak_x")]
    return RegionStudy(frame=pd.DataFrame(rows, columns=columns), skipped=tuple(skipped), target=target,
                       has_attention=bool(detector.model.use_attention))
