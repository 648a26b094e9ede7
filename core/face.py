"""Optional automatic face crop with OpenCV's Haar cascade (opencv-python-headless < 5).

Used by the single-image tester and the REST API. When no face is found the whole
image is used, and the caller is told so.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class FaceCrop:
    image: Image.Image  # the crop, or the whole image when no face was found
    box: tuple[int, int, int, int] | None  # (left, top, right, bottom) in the original image
    found: bool
    message: str


# Measured with crop_face on data/ciplab_split/val (session 21): it found a face in 139 of the 163
# validation photos (all faces), and none in scikit-learn's sample photos, noise or a ramp.
NO_FACE_WARNING = ("No face found by OpenCV's face detector: the model knows only face photos, so on a picture of "
                   "anything else its verdict means nothing. The detector misses some faces too (24 of the 163 "
                   "validation faces), so look at the picture before trusting or dismissing the score.")


@lru_cache(maxsize=1)
def _cascade():
    import cv2

    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's Haar cascade could not be loaded from {path}")
    return cascade


def crop_face(image: Image.Image, margin: float = 0.25) -> FaceCrop:
    """Crop the largest detected face, grown by ``margin`` of its size on each side and
    made square (the training images are square face photos)."""
    import cv2

    rgb = np.asarray(image.convert("RGB"))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # Detect on a copy at most 800 px wide: much faster on large photos, same boxes.
    scale = min(1.0, 800 / max(gray.shape))
    small = cv2.resize(gray, None, fx=scale, fy=scale) if scale < 1 else gray
    min_side = max(24, int(min(small.shape) * 0.1))
    faces = _cascade().detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    if len(faces) == 0:
        return FaceCrop(image, None, False, "No face found: the whole image was used.")
    x, y, w, h = (v / scale for v in max(faces, key=lambda f: f[2] * f[3]))
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    W, H = image.size
    left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    right, bottom = int(min(W, cx + side / 2)), int(min(H, cy + side / 2))
    box = (left, top, right, bottom)
    msg = f"Face found at {box}" + (f" ({len(faces)} faces; the largest was used)" if len(faces) > 1 else "")
    return FaceCrop(image.crop(box), box, True, msg)
