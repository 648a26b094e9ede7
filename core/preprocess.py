"""Preprocessing that travels with the weights: input size, mean, std and resize rule.

The default reproduces the report's ``val_transform`` exactly: full decode,
``Resize((size, size))`` (a squash, no crop), ``ToTensor``, ImageNet ``Normalize``.
"""
from __future__ import annotations

import io
import math
import os
import stat
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision import transforms

from .data import os_error_words
from .quality import to_8bit

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_PIXELS = 50_000_000  # refuse decompression bombs before decoding in full

# PIL's own guard warns at ~89 Mpx and raises at twice that; we check ourselves.
Image.MAX_IMAGE_PIXELS = None


def unreadable_reason(exc: Exception) -> str:
    """Why PIL could not open a file, in words: "UnidentifiedImageError" alone meant nothing
    to a person who had renamed a text file to .jpg."""
    if isinstance(exc, UnidentifiedImageError):
        return "not a readable image: its content is not JPEG, PNG, WebP, BMP or TIFF data (a renamed or damaged file?)"
    if isinstance(exc, OSError) and exc.errno is not None:  # the file system refused, not the decoder
        return file_error_words(exc)
    return "not a readable image (corrupt or truncated image data)"  # PIL's class names (SyntaxError) meant nothing


def file_error_words(exc: OSError) -> str:
    """An operating-system error on opening a file, in words: "cannot be read (permission denied)",
    not "not a readable image (PermissionError)", which blamed the file's content."""
    if isinstance(exc, PermissionError):
        return "cannot be read (permission denied)"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    return f"cannot be read ({os_error_words(exc)})"


class ImageError(ValueError):
    """An image that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class Preprocessing:
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: str = "squash"  # Resize((s, s)) as the report did

    def to_dict(self) -> dict:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(
            input_size=int(d.get("input_size", 224)),
            mean=tuple(float(x) for x in d.get("mean", IMAGENET_MEAN)),
            std=tuple(float(x) for x in d.get("std", IMAGENET_STD)),
            resize=str(d.get("resize", "squash")),
        )

    def check(self) -> None:
        """Raise ValueError when these settings cannot preprocess an image."""
        if not 16 <= self.input_size <= 4096:
            raise ValueError(f"input size {self.input_size} px (expected 16 to 4096)")
        if len(self.mean) != 3 or len(self.std) != 3 or not all(math.isfinite(x) for x in self.mean + self.std):
            raise ValueError(f"mean {list(self.mean)} / std {list(self.std)} (expected three finite numbers each)")
        if min(self.std) <= 0:
            raise ValueError(f"std {list(self.std)} (every value must be above 0)")
        if self.resize != "squash":
            raise ValueError(f"resize rule {self.resize!r} (this version knows 'squash')")

    def eval_transform(self) -> transforms.Compose:
        if self.resize != "squash":
            raise ValueError(f"Unknown resize rule {self.resize!r}; this version knows 'squash'")
        return transforms.Compose(
            [
                transforms.Resize((self.input_size, self.input_size)),
                transforms.ToTensor(),
                transforms.Normalize(mean=self.mean, std=self.std),
            ]
        )


def _check_file(path, label: str) -> None:
    """ImageError for a path that is no image file before anything opens it: opening a named
    pipe waits for a writer forever, and a folder, an empty file or a dangling link each
    deserve their own words rather than a decoder's exception name."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        gone = "a link to a missing file" if os.path.islink(path) else "file not found"
        raise ImageError(f"{label}: {gone}") from None
    except OSError as exc:
        raise ImageError(f"{label}: {file_error_words(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{label}: is a folder, not an image")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(f"{label}: not a regular file (a pipe, socket or device)")
    if st.st_size == 0:
        raise ImageError(f"{label}: empty file (0 bytes)")


def _alpha(image: Image.Image) -> Image.Image:
    """The image's alpha as an "L" mask (255 opaque). A 16- or 32-bit grey image ("I;16", "I")
    names one see-through level in its full range; PIL's own RGBA conversion clips the pixels
    at 255 before comparing, so level 255 made every bright pixel see-through and a level
    above 255 matched nothing. Those compare the stored values instead."""
    level = image.info.get("transparency")
    if (image.mode == "I" or image.mode.startswith("I;16")) and isinstance(level, int):
        return Image.fromarray(np.where(np.asarray(image) == level, 0, 255).astype(np.uint8))
    return image.convert("RGBA").getchannel("A")


def _png48_alpha(image: Image.Image) -> Image.Image | None:
    """A 16-bit RGB PNG's alpha from its see-through colour, compared on the stored 16-bit values;
    None for any other image. PIL decodes such pixels to 8 bits and compares them with the colour's
    16-bit value: colour (255, 255, 255) made a white picture see-through and a colour above 255
    matched nothing. Read before the decode, while the file is open (OpenCV keeps the 16 bits)."""
    if (image.format != "PNG" or not isinstance(image.info.get("transparency"), tuple) or not image.tile
            or image.tile[0][3] != "RGB;16B"):
        return None
    import cv2

    image.fp.seek(0)
    stored = cv2.imdecode(np.frombuffer(image.fp.read(), np.uint8), cv2.IMREAD_UNCHANGED)
    if stored is None or stored.ndim != 3 or stored.shape[2] != 4:
        return None
    return Image.fromarray(np.where(stored[..., 3] == 0, 0, 255).astype(np.uint8))


def _to_rgb(image: Image.Image, on_white: bool, alpha: Image.Image | None = None) -> tuple[Image.Image, float]:
    """(RGB copy, share of pixels not fully opaque). PIL's ``convert("RGB")`` drops an alpha
    channel and keeps whatever colour lies under the transparent pixels, which a viewer never
    shows (often black, sometimes another picture); with ``on_white`` they are laid on white
    instead, so the model sees what the page shows. ``alpha``: the mask when it was read apart (``_png48_alpha``)."""
    rgb = to_8bit(image).convert("RGB")  # the colours as the report read them (16-bit data scaled, not clipped)
    if not image.has_transparency_data:
        return rgb, 0.0
    alpha = _alpha(image) if alpha is None else alpha
    lo, _ = alpha.getextrema()
    share = 0.0 if lo == 255 else float(np.count_nonzero(np.asarray(alpha) < 255)) / alpha.width / alpha.height
    if not on_white or not share:
        return rgb, share
    white = Image.new("RGB", rgb.size, (255, 255, 255))
    white.paste(rgb, mask=alpha)
    return white, share


def open_image(source, *, name: str | None = None, draft_size: int | None = None,
               on_white: bool = False) -> tuple[Image.Image, dict]:
    """Open an image file, path or bytes, check it, and return (RGB image, info).

    ``info`` holds the original ``width``, ``height`` and ``format``, and ``transparent``, the
    share of pixels that are not fully opaque (0 for most photos); ``on_white`` lays those on
    white rather than keeping the colour hidden under them (``_to_rgb``). Images over
    ``MAX_PIXELS`` are refused from their header, before a full decode. With
    ``draft_size`` a JPEG is decoded at the smallest DCT scale that still covers that
    size (much faster for large photos; results differ slightly from a full decode).
    Raises ``ImageError`` with the file name and the reason.
    """
    label = name or (source if isinstance(source, str) else getattr(source, "name", "upload"))
    if isinstance(source, (str, os.PathLike)):
        _check_file(source, label)
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError(f"{label}: empty file (0 bytes)")
        source = io.BytesIO(source)
    try:
        image = Image.open(source)
    except FileNotFoundError:
        raise ImageError(f"{label}: file not found") from None
    except Exception as exc:  # PIL raises UnidentifiedImageError, OSError, SyntaxError...
        raise ImageError(f"{label}: {unreadable_reason(exc)}") from None
    try:  # a refused or broken file is closed now, not whenever the garbage collector comes by
        width, height = image.size
        fmt = image.format or "UNKNOWN"
        if width * height > MAX_PIXELS:
            raise ImageError(
                f"{label}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
                f"{MAX_PIXELS / 1e6:.0f} megapixel limit that guards against decompression bombs; downscale it "
                "(the model sees a face at a few hundred pixels)"
            )
        try:
            if draft_size and fmt == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            rgb, transparent = _to_rgb(image, on_white, _png48_alpha(image))  # forces the full decode (a copy): truncated files fail here
        except Exception as exc:
            raise ImageError(f"{label}: corrupt or truncated image data") from None  # "(OSError)" said nothing more
    finally:
        image.close()
    return rgb, {"width": width, "height": height, "format": fmt, "transparent": transparent}


def exif_upright(image: Image.Image) -> Image.Image:
    """Rotate a phone photo by its EXIF orientation."""
    return ImageOps.exif_transpose(image)


def open_photo(source, *, name: str | None = None) -> tuple[Image.Image, dict]:
    """``open_image``, then upright by EXIF: how every single image a person hands over is
    read (the tester's uploads, the REST API, ``python -m core predict``), so a photo
    scores the same in all three. Not for test sets, whose numbers stay the report's (its
    ``test.py`` reads pixels as stored). ``info``'s width and height are the upright picture's,
    the frame a face box is given in (a phone photo stored 600 x 1200 on its side is 1200 x 600).
    Transparent pixels are laid on white, as a light page shows them (``info["transparent"]``
    says how many there were; ``core.quality.transparency_warning`` words it)."""
    image, info = open_image(source, name=name, on_white=True)
    upright = exif_upright(image)
    return upright, {**info, "width": upright.width, "height": upright.height}
