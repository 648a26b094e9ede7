"""Optional automatic face crop with OpenCV's Haar cascade (opencv-python-headless < 5).

Used by the single-image tester and the REST API. When no face is found the whole
image is used, and the caller is told so. ``has_face`` is the check that a picture shows a face
at all, run on every picture the tester, ``predict`` and the API's ``/predict`` are given.
"""
from __future__ import annotations

import dataclasses
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


NO_FACE_WARNING = ("No face found by OpenCV's face detectors: the model knows only face photos, so on a picture of "
                   "anything else its verdict means nothing. The detectors can miss a face (rarely on photos like the "
                   "training faces), so look at the picture before trusting or dismissing the score.")
# crop_face's words when has_face sees a face its upright cascade found no box for
NO_BOX_MESSAGE = "A face, but no box to crop it by (it fills the picture or is turned): the whole image was used."
# has_face: frontal (two cascades) and profile (both ways) Haar cascades on a copy at most 400 px on a
# side, framed by a grey border of 30 % (CIPLab's faces fill the frame, and a cascade needs the face
# inside its window), upright and turned 20 degrees each way. Measured in session 21 (settings chosen on
# the validation split): a face in 163 of its 163 photos (crop_face's one upright cascade: 139) and in
# 1,618 of all 1,632 labelled photos (12 of 864 reals and 2 of 768 fakes missed), none in noise or a
# ramp (tests/test_uploads.py); 42 ms a photo on this 2-core CPU over the
# 1,632 (tools/face_check_rate.py, which reproduces these counts).
_PRESENCE_CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml", "haarcascade_profileface.xml")


def has_face(image: Image.Image) -> bool:
    """Whether any face shows in ``image``: a presence check for the no-face warning, tuned to
    miss few faces (``_PRESENCE_CASCADES``); ``crop_face`` finds where the largest one is."""
    import cv2

    small = _shrink(np.asarray(image.convert("L")), 400, cv2.INTER_AREA)
    pad = int(0.3 * max(small.shape))
    framed = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=128)
    side = max(24, int(min(framed.shape) * 0.1))
    h, w = framed.shape
    for angle in (0, 20, -20):
        turned = framed if angle == 0 else cv2.warpAffine(
            framed, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h), borderValue=128)
        for name in _PRESENCE_CASCADES:
            for view in (turned, cv2.flip(turned, 1)) if "profile" in name else (turned,):  # profiles face one way
                if len(_cascade(name).detectMultiScale(view, scaleFactor=1.1, minNeighbors=3, minSize=(side, side))):
                    return True
    return False


def _shrink(gray: np.ndarray, longest: int, interpolation: int | None = None) -> np.ndarray:
    """``gray`` scaled down to at most ``longest`` px on its long side, each side at least 1 px (a
    5000 x 5 strip scaled by the same factor is 0 px tall, which ``cv2.resize`` refuses)."""
    import cv2

    h, w = gray.shape
    scale = min(1.0, longest / max(h, w))
    if scale == 1.0:
        return gray
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(gray, size) if interpolation is None else cv2.resize(gray, size, interpolation=interpolation)


@lru_cache(maxsize=None)
def _cascade(name: str = "haarcascade_frontalface_default.xml"):
    import cv2

    path = cv2.data.haarcascades + name
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
    small = _shrink(gray, 800)
    sx, sy = small.shape[1] / gray.shape[1], small.shape[0] / gray.shape[0]
    min_side = max(24, int(min(small.shape) * 0.1))
    faces = _cascade().detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    # None upright and whole in the frame: the whole image, not a box of the presence search, whose
    # looser settings also frame an ear or a hat now and then (and a tight face photo needs no crop).
    if len(faces) == 0:
        return FaceCrop(image, None, False, "No face found: the whole image was used.")
    x, y, w, h = (v / k for v, k in zip(max(faces, key=lambda f: f[2] * f[3]), (sx, sy, sx, sy)))
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    W, H = image.size
    left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    right, bottom = int(min(W, cx + side / 2)), int(min(H, cy + side / 2))
    box = (left, top, right, bottom)
    msg = f"Face found at {box}" + (f" ({len(faces)} faces; the largest was used)" if len(faces) > 1 else "")
    return FaceCrop(image.crop(box), box, True, msg)


def look_for_face(image: Image.Image, crop: bool) -> tuple[FaceCrop | None, bool]:
    """(``crop_face``'s crop when ``crop``, else None; whether a face shows): the one look the tester
    and the API take at a picture. The crop's one upright cascade misses faces ``has_face`` sees, so
    a face found either way counts, and a crop without a box says ``NO_BOX_MESSAGE`` where there is a
    face. ``has_face`` costs 30-250 ms (bench/bench_face_check.py): no face is worth a warning."""
    face = crop_face(image) if crop else None
    found = (face is not None and face.found) or has_face(image)
    if face is not None and not face.found and found:  # a face, but no box upright and whole in the frame
        face = dataclasses.replace(face, message=NO_BOX_MESSAGE)
    return face, found
