"""How the REST API scores uploaded files: decode each (``open_photo``, as ``python -m core
predict`` does, so the numbers are the same), crop the face when asked, score the readable ones
in one batch, and answer each file in upload order, a refused one with its own error entry."""
from __future__ import annotations

import io

from PIL import Image

from . import near_copies, provenance, provenance_words
from .api_errors import UploadRejected, image_error_status
from .checkpoint import Detector
from .face import look_for_face
from .inference import score_tensors_and_members
from .metrics import verdict
from .preprocess import MAX_PIXELS, ImageError, open_photo
from .quality import detail_report


def _decode(data: bytes, name: str, crop: bool, want_hash: bool = False):
    """(RGB image to score, info dict (with the whole picture's ``phash`` when ``want_hash``, and
    ``face_found``: whether a face shows, as the tester looks), face dict or None); raises UploadRejected."""
    try:
        image, info = open_photo(data, name=name)
    except ImageError as exc:
        raise UploadRejected(image_error_status(exc), str(exc), name) from None
    if want_hash:  # of the whole picture, before any face crop
        info = {**info, "phash": near_copies.image_hash(image)}
    face, found = look_for_face(image, crop)
    info = {**info, "face_found": found}
    if face is None:
        return image, info, None
    return face.image, info, {"found": face.found, "box": list(face.box) if face.box else None, "message": face.message}


def _prediction(name: str, p_real: float, threshold: float, detector: Detector, info: dict, face, members,
                quality: dict, seen: str = "") -> dict:
    note = provenance_words.upload_words(seen)
    if note:
        quality = {**quality, "warnings": [*quality.get("warnings", []), note]}
    return {
        "filename": name,
        "real_prob": p_real,
        "fake_prob": 1.0 - p_real,
        "verdict": verdict(p_real, threshold),
        "threshold": threshold,
        "weights_sha256": detector.sha256,
        "width": info["width"],
        "height": info["height"],
        "format": info["format"],
        "face": face,
        "members": members,
        "seen_by_model": seen or None,
        **quality,  # detail_share, warnings
    }


def _pixels(data: bytes) -> int:
    """Width x height from the image's header (no decode); 0 where there is none to read."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.width * image.height
    except Exception:  # noqa: BLE001 - not an image: _decode says why
        return 0


def score_uploads(detector: Detector, uploads: list[tuple[str, bytes | UploadRejected]], crop: bool, threshold: float,
                   max_pixels: int | None = None) -> list[dict]:
    """Decode every upload, score the readable ones in one batch, keep upload order.

    Each picture is kept only until it is the model's input tensor and its detail is measured:
    32 small PNGs of 7000 x 7000 px (0.5 MB on the wire) held at full size took the server from
    0.8 to 7 GB. ``max_pixels`` bounds the pixels decoded for one request (the first image always
    fits): 32 lossless 7070 x 7070 WebPs of 2 KB each took 48 s to decode, holding every other
    client's request for as long."""
    seen = provenance.model_seen(detector)
    want_hash = seen is not None and seen.has_hashes  # a re-saved copy can be recognised only then
    transform = detector.preprocessing.eval_transform()
    decoded: list[tuple[str, tuple | UploadRejected]] = []
    spent = 0  # pixels decoded for this request so far
    for name, data in uploads:
        try:
            if isinstance(data, UploadRejected):
                raise data
            pixels = _pixels(data)
            if pixels > MAX_PIXELS:  # refused on its own (open_photo says why): "send it in another request" would not help
                pixels = 0
            if max_pixels is not None and spent and spent + pixels > max_pixels:
                raise UploadRejected(413, f"{name}: over this request's budget of {max_pixels / 1e6:g} megapixels "
                                          "(API_MAX_BATCH_MEGAPIXELS): send it in another request", name)
            spent += pixels
            image, info, face = _decode(data, name, crop, want_hash)
            decoded.append((name, (transform(image), info, face, detail_report(image, info["transparent"], info["face_found"]))))
            del image
        except UploadRejected as exc:
            decoded.append((name, exc))
    good = [d for _, d in decoded if not isinstance(d, UploadRejected)]
    scores, members = score_tensors_and_members(detector, [tensor for tensor, _, _, _ in good])
    p_real, members = iter(scores.tolist()), iter(members or [None] * len(good))
    results = []
    for (name, d), (_, data) in zip(decoded, uploads):
        if isinstance(d, UploadRejected):
            results.append({"filename": name, "error": d.detail, "status": d.status})
        else:
            results.append(_prediction(name, float(next(p_real)), threshold, detector, d[1], d[2], next(members), d[3],
                                       provenance.seen_as(seen, provenance.bytes_digest(data), d[1].get("phash"))))
    return results
