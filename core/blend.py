"""Synthetic part-swap fakes made from real training faces (``train --synthetic-fakes``).

CIPLab fakes are local composites: an eye, the nose or the mouth of another face pasted
into a real face. With about 700 such fakes in a training split, a detector can memorise them
instead of learning what pasting leaves behind. This module makes more of them, from
the real training faces, with the pasted area known exactly:

- the parts are CIPLab's four (``core.regions``), at their canonical-face boxes, each
  pasted with probability 1/2 (at least one);
- the source is another real face (a part swap, as CIPLab's were made) or the same face
  changed in colour, contrast, sharpness or scale and shifted by a few pixels (a
  self-blend, after Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images",
  CVPR 2022), so that the seam, not a foreign identity, is the evidence;
- the mask is an ellipse inside the part's box, jittered, and feathered by a Gaussian
  blur of random width, so some seams are hard and some are invisible to the eye.

Randomness comes from ``torch``'s generator, so a training run stays reproducible and
``--resume`` stays exact. Arrays are (H, W, 3) uint8 in, (H, W, 3) uint8 and an (H, W)
float mask in [0, 1] out.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFilter

from .regions import CANONICAL_BOXES, REGION_NAMES


def _uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(()))


def _ellipse(height: int, width: int, box) -> np.ndarray:
    """(H, W) float mask: an ellipse inside ``box`` (fractions), shrunk and moved at random."""
    x0, y0, x1, y1 = box
    dx, dy = _uniform(-0.1, 0.1) * (x1 - x0), _uniform(-0.1, 0.1) * (y1 - y0)
    cx, cy = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy
    # the radii leave room for the shift (and a pixel's rounding), so the ellipse stays in the box
    rx = ((x1 - x0) / 2 - abs(dx)) * _uniform(0.7, 0.98)
    ry = ((y1 - y0) / 2 - abs(dy)) * _uniform(0.7, 0.98)
    yy, xx = np.mgrid[0:height, 0:width]
    inside = ((xx + 0.5) / width - cx) ** 2 / rx**2 + ((yy + 0.5) / height - cy) ** 2 / ry**2 <= 1.0
    return inside.astype(np.float32)


def _changed_copy(image: Image.Image) -> Image.Image:
    """The same face, altered the ways a pasted part differs from its new surroundings."""
    out = image
    for enhance in (ImageEnhance.Color, ImageEnhance.Brightness, ImageEnhance.Contrast):
        out = enhance(out).enhance(_uniform(0.8, 1.2))
    kind = int(torch.randint(0, 3, ()))
    if kind == 0:  # resampled: pasted parts are often scaled to fit
        w, h = out.size
        f = _uniform(0.5, 0.9)
        out = out.resize((max(1, int(w * f)), max(1, int(h * f))), Image.BILINEAR).resize((w, h), Image.BILINEAR)
    elif kind == 1:
        out = out.filter(ImageFilter.GaussianBlur(_uniform(0.5, 1.5)))
    else:
        out = ImageEnhance.Sharpness(out).enhance(_uniform(1.5, 3.0))
    return out


def _shift(array: np.ndarray, max_px: int) -> np.ndarray:
    dy, dx = (int(torch.randint(-max_px, max_px + 1, ())) for _ in range(2))
    return np.roll(array, (dy, dx), axis=(0, 1))


def paste_parts(target: np.ndarray, source: np.ndarray, parts) -> tuple[np.ndarray, np.ndarray]:
    """Paste ``parts`` (names from ``core.regions.REGION_NAMES``) of ``source`` into
    ``target`` (both (H, W, 3) uint8, same size) through feathered ellipses. Returns the
    composite and the blend mask (H, W) in [0, 1]; outside the mask the target is untouched."""
    if target.shape != source.shape:
        raise ValueError(f"target {target.shape} and source {source.shape} differ in size")
    h, w = target.shape[:2]
    mask = np.zeros((h, w), dtype=np.float32)
    for name in parts:
        mask = np.maximum(mask, _ellipse(h, w, CANONICAL_BOXES[name]))
    sigma = _uniform(0.0, 0.03) * min(h, w)  # 0: a hard cut-out; 3 %: a wide feather
    if sigma > 0.3:
        soft = np.asarray(Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255
        # blurred 0.5 lies on the ellipse's edge: map [0.5, 1] to [0, 1] so the feather runs inward, inside the box
        mask = np.clip((soft - 0.5) * 2, 0, 1) * mask
    m = mask[..., None]
    out = source.astype(np.float32) * m + target.astype(np.float32) * (1 - m)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), mask


def synthetic_fake(target: np.ndarray, donor: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic fake from the real face ``target``: random parts pasted from the real
    face ``donor`` (a part swap) or, when ``donor`` is None, from an altered copy of
    ``target`` itself (a self-blend). Returns (composite, mask) as ``paste_parts``."""
    chosen = [name for name in REGION_NAMES if float(torch.rand(())) < 0.5]
    if not chosen:
        chosen = [REGION_NAMES[int(torch.randint(0, len(REGION_NAMES), ()))]]
    source = donor if donor is not None else np.asarray(_changed_copy(Image.fromarray(target)))
    source = _shift(source, max(1, target.shape[0] // 50))
    return paste_parts(target, source, chosen)
