"""How much fine detail an image holds, against the faces the detector learned from.

The shipped detector learned the seams that pasting leaves. Blur and upscaling wipe them
out, and then it passes fakes as real: at threshold 0.5 the default catches 25 % of the
validation fakes blurred with sigma 2 and 27 % of those at half resolution, against 79 %
clean (``python -m core robustness --data data/ciplab_split/val``). So every single-image
verdict (the tester page, ``predict``, the API) says when an image has less fine detail than
nearly all the labelled faces.

``detail_share`` is the share of the image's Fourier magnitude above half the Nyquist
frequency, on the grey image squashed to ``ANALYSIS_SIZE`` px (the shipped default's input
size): a ratio, so brightness and contrast do not move it. Over the 1,632 faces of
ciplab_train, real and fake alike, the validation split among them (`python
tools/detail_reference.py --data ../shared/datasets/ciplab_train`), its 2.5th percentile is
0.158 and its median 0.283;
``LOW_DETAIL`` is 0.16, which 2.8 % of them fall below. On the validation split
(``--perturbed``) it fires on 4.9 % of the clean images, 2.5 % of those re-encoded at JPEG
quality 30, 20 % of those blurred with sigma 1 or shrunk to three quarters, and 97.5 % of
those blurred with sigma 2, 93 % of those at half size and 91 % of those at a quarter: the
cases that cost the detector its catches. The clean images it fires on were not scored
worse (7 of 8 right at 0.5), so it warns of degradation, not of a harder face.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from .face import NO_FACE_WARNING

ANALYSIS_SIZE = 384
LOW_DETAIL = 0.16  # near the 2.5th percentile of the 1,632 labelled CIPLab faces (0.158); see the module docstring
# A test set is flagged when this share of its images is low-detail: 2.8 % of the labelled faces are, 4.9 % of the
# clean validation split; the split with a sigma-2 blurred copy of every fourth image, 24 %.
LOW_DETAIL_SET_SHARE = 0.10


def to_8bit(image: Image.Image) -> Image.Image:
    """The image itself, or for 16-bit and 32-bit greyscale ("I;16", "I", "F": 16-bit PNGs,
    TIFFs) an 8-bit "L" copy. PIL's own ``convert`` clips those at 255, so a 16-bit face
    would reach the model, the hashes and the thumbnails as a white square; they are scaled
    (by 257 for 16-bit data, by the maximum where values exceed 16 bits; float data within
    [0, 1] is taken as a fraction of full scale)."""
    if image.mode not in ("I", "F") and not image.mode.startswith("I;16"):
        return image
    a = np.asarray(image, dtype=np.float64)
    top = a.max(initial=0.0)
    if image.mode == "F" and top <= 1.0 and a.min(initial=0.0) >= 0.0:  # a float TIFF in [0, 1]: black if read as 0-255
        a, top = a * 255.0, top * 255.0
    scale = 1.0 if top <= 255 else 257.0 if top <= 65535 else top / 255.0
    return Image.fromarray(np.clip(np.rint(a / scale), 0, 255).astype(np.uint8))


def _radius_mask(size: int) -> np.ndarray:
    f = np.fft.fftshift(np.fft.fftfreq(size))  # cycles per pixel, -0.5 .. 0.5
    return np.hypot(*np.meshgrid(f, f, indexing="ij")) > 0.25


_HIGH = _radius_mask(ANALYSIS_SIZE)


def detail_share(image: Image.Image) -> float:
    """Share of the Fourier magnitude above half the Nyquist frequency (0 for a flat image)."""
    grey = np.asarray(image.convert("L").resize((ANALYSIS_SIZE, ANALYSIS_SIZE), Image.BILINEAR), dtype=np.float32)
    magnitude = np.abs(np.fft.fftshift(np.fft.fft2(grey - grey.mean())))
    total = float(magnitude.sum())
    return 0.0 if total <= 1e-6 * grey.size else float(magnitude[_HIGH].sum() / total)


def low_detail_warning(share: float) -> str | None:
    """A sentence for a verdict on an image with little fine detail, or None."""
    if share >= LOW_DETAIL:
        return None
    return (f"Little fine detail (detail share {share:.3f}, below {LOW_DETAIL:.3f}, the level of 97% of the labelled "
            "CIPLab faces): the image looks blurred, upscaled or heavily smoothed. The seams of pasted parts are lost in such "
            "images and fakes pass as real far more often (the shipped default model, at threshold 0.5, catches 79% of the "
            "validation fakes but 25% once they are blurred with sigma 2; the Robustness page measures other models). Use "
            "a sharper, larger copy if there is one.")


# Below this many pixels on a side a face is an icon: the model sees it blown up to its input
# size (224 or 384 px), and whatever it answers says little about the picture.
MIN_SIDE = 64


def detail_report(image: Image.Image, transparent: float = 0.0, face_found: bool | None = None) -> dict:
    """The fields ``predict`` and the API put beside a verdict: ``detail_share`` of the scored
    image, ``face_found`` as given (``core.face.has_face``; None: not looked) and ``warnings`` (with
    ``transparent``, the share of the upload's pixels that were transparent, the transparency warning;
    the no-face warning when ``face_found`` is False; a tiny image; the low-detail warning), in the
    single-image tester's order."""
    share = detail_share(image)
    warnings = [w for w in (transparency_warning(transparent), NO_FACE_WARNING if face_found is False else None,
                            tiny_image_warning(*image.size), low_detail_warning(share)) if w]
    return {"detail_share": share, "face_found": face_found, "warnings": warnings}


def transparency_warning(share: float) -> str | None:
    """A sentence for a verdict on an image with transparent pixels (``share`` of them, 0-1), or None."""
    if not share:
        return None
    amount = "under 1%" if share < 0.01 else f"{share:.0%}"
    return (f"Transparent image ({amount} of its pixels see-through): the model saw them as white, as a light page "
            "shows them, not as whatever colour the file keeps under them. It learned from photos, not cut-outs, so a face "
            "without its background says less about the picture it came from.")


def tiny_image_warning(width: int, height: int) -> str | None:
    """A sentence for a verdict on an image under ``MIN_SIDE`` pixels on a side, or None."""
    if min(width, height) >= MIN_SIDE:
        return None
    return (f"Tiny image ({width}x{height} pixels, under {MIN_SIDE} on a side): the model sees it enlarged many times "
            "over, so its verdict says little about the picture.")


def _measured(shares) -> np.ndarray:
    """The finite values of ``shares`` (images' ``detail_share``; NaN for one not measured)."""
    values = np.asarray(shares, dtype=float)
    return values[np.isfinite(values)]


def low_detail_share(shares) -> float | None:
    """Share of the measured images that the low-detail warning would flag, or None when
    none was measured."""
    values = _measured(shares)
    return float((values < LOW_DETAIL).mean()) if len(values) else None


def low_detail_set_note(shares, y_true) -> str | None:
    """A sentence for a whole test set when at least ``LOW_DETAIL_SET_SHARE`` of its measured
    images hold little fine detail, or None. ``y_true`` (1 real, 0 fake) beside ``shares`` says
    which classes those images are in: the cost of low detail is fakes passed as real, so a set
    whose low-detail images are all real is not told its fakes are."""
    values, labels = np.asarray(shares, dtype=float), np.asarray(y_true)
    measured = np.isfinite(values)
    low = measured & (values < LOW_DETAIL)
    n, n_low = int(measured.sum()), int(low.sum())
    if not n or n_low / n < LOW_DETAIL_SET_SHARE:
        return None
    low_real = int((labels[low] == 1).sum())
    low_fake = n_low - low_real
    head = (f"{n_low} of {n} images ({n_low / n:.0%}; {low_real} real, {low_fake} fake) hold little fine detail "
            f"(detail share below {LOW_DETAIL:.2f}; 2.8% of the labelled CIPLab faces do): blurred, upscaled or smoothed.")
    if low_fake:
        return (f"{head} The detector passes such fakes as real far more often, so these metrics mix two regimes; "
                "the Slices page's fine-detail rows show each.")
    return (f"{head} All of them are real, so the known cost of low detail (fakes passed as real) does not touch "
            "them; the Slices page's fine-detail rows show their numbers apart.")
