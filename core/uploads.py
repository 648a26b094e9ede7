"""Uploads in the dashboard: face images for the single-image tester.

``judge_uploads`` scores a batch of uploaded files; each file that cannot be used
(not an image, corrupt, over 50 megapixels) gets its own message and the others are
still scored. Zipped test sets and weights files: ``core.upload_files``.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from . import metrics
from .checkpoint import Detector
from .data import IMAGE_EXTENSIONS
from .face import NO_FACE_WARNING, FaceCrop, look_for_face
from .inference import InferenceSettings, score_images_and_members, set_draft_size
from .metric_words import score_text
from .near_copies import image_hash
from .preprocess import ImageError, open_image, open_photo
from .provenance import Seen, bytes_digest, seen_as
from .quality import detail_share, low_detail_warning, tiny_image_warning, transparency_warning

UPLOAD_TYPES = tuple(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)  # what a test set may hold
MAX_IMAGE_UPLOAD_MB = 100  # per face image in the dashboard's uploaders (the server's own limit, 1 GB, is for zips)
# Streamlit material icons of the reasons a verdict is trusted less (``UploadVerdict.cautions``)
TRANSPARENT_ICON, NO_FACE_ICON = ":material/opacity:", ":material/face_retouching_off:"
TINY_ICON, LOW_DETAIL_ICON = ":material/photo_size_select_small:", ":material/blur_on:"
WITHHELD_ICON = ":material/help:"  # the verdict box's icon when ``UploadVerdict.withheld``


@dataclass(frozen=True)
class UploadVerdict:
    """One uploaded file: either ``error`` is set, or the scores and verdict are."""

    name: str
    error: str | None = None
    image: Image.Image | None = None  # the upload, upright
    scored: Image.Image | None = None  # what the model saw (the face crop or the whole image)
    face: FaceCrop | None = None
    p_real: float | None = None
    width: int | None = None
    height: int | None = None
    members: dict[str, float] | None = None  # an ensemble's members: file name -> P(real)
    detail: float | None = None  # core.quality.detail_share of what the model saw
    digest: str | None = None  # core.provenance.bytes_digest of the uploaded bytes
    transparent: float = 0.0  # share of the upload's pixels that were see-through (laid on white to score)
    face_found: bool | None = None  # whether OpenCV's face detector found a face (None: not looked)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def cropped(self) -> bool:
        """Whether the model scored a face crop rather than the whole image."""
        return self.face is not None and self.face.found

    @property
    def tiny(self) -> str | None:
        """The warning for a scored image too small to judge, or None."""
        return None if self.scored is None else tiny_image_warning(*self.scored.size)

    @property
    def cautions(self) -> list[tuple[str, str, str]]:
        """Why this verdict deserves less trust than usual, one (icon, a few words for a table cell,
        the full warning) a reason: see-through pixels, no face found, a tiny image, else little
        fine detail. Each reason has its own icon, so a page's boxes say at a glance which it is
        (a blur icon over a cut-out read as "blurred")."""
        out = []
        if self.transparent:
            out.append((TRANSPARENT_ICON, "see-through pixels, scored on white", transparency_warning(self.transparent)))
        if self.face_found is False:
            out.append((NO_FACE_ICON, "no face found: the verdict may mean nothing", NO_FACE_WARNING))
        if (tiny := self.tiny) is not None:
            out.append((TINY_ICON, "tiny image: the verdict says little", tiny))
        elif self.detail is not None and (low := low_detail_warning(self.detail)) is not None:
            out.append((LOW_DETAIL_ICON, "little fine detail: fakes pass as real more often", low))
        return out

    def _withheld_reasons(self) -> list[tuple[str, str]]:
        """(a word or two for a chart label, the reason in words) for each reason in ``withheld``."""
        reasons = []
        if self.face_found is False:
            reasons.append(("no face", "no face found"))
        if self.tiny is not None:
            reasons.append(("tiny", "the image is too small to judge"))
        return reasons

    @property
    def withheld(self) -> str | None:
        """Why this verdict gets no REAL-green or FAKE-red box, in words ("no face found", "the image is
        too small to judge", or both), or None. On a blue square or an 8x8 icon the model still says
        REAL or FAKE, and a green REAL read as a finding; the other cautions (see-through pixels,
        little fine detail) weaken a verdict on a face, so they leave its colour."""
        return " and ".join(long for _, long in self._withheld_reasons()) or None

    def verdict_words(self, threshold: float) -> str:
        """The verdict box's text (markdown): "Verdict: **REAL** at threshold 0.5000", or when
        ``withheld`` "No trustworthy verdict: no face found (the model would say **REAL** at
        threshold 0.5000, P(real) 0.6968)", so the score is still said."""
        verdict = self.verdict(threshold)
        why = self.withheld
        if why is None:
            return f"Verdict: **{verdict}** at threshold {threshold:.4f}"
        return (f"No trustworthy verdict: {why} (the model would say **{verdict}** at threshold {threshold:.4f}, "
                f"P(real) {score_text(self.p_real)})")

    @property
    def context_note(self) -> str | None:
        """When ``withheld``, the words in place of the test set's nearest scores ("mostly real faces:
        0 fake, 20 real" beside a blue square read as evidence), else None."""
        why = self.withheld
        return None if why is None else (f"Not compared with the test set's faces: {why}, so where its score falls "
                                         "among theirs says nothing about it.")

    @property
    def mark_name(self) -> str:
        """This image's label on a chart of the test set's scores: "this image", or with the
        ``withheld`` reasons in short, "this image (no face)", so the mark is not read as a verdict."""
        short = ", ".join(word for word, _ in self._withheld_reasons())
        return f"this image ({short})" if short else "this image"

    @property
    def warning(self) -> str | None:
        """The full ``cautions`` in one text, or None."""
        return " ".join(long for _, _, long in self.cautions) or None

    @property
    def short_warnings(self) -> list[str]:
        """``cautions`` in a few words each, for a table cell."""
        return [short for _, short, _ in self.cautions]

    @property
    def p_fake(self) -> float | None:
        return None if self.p_real is None else 1.0 - self.p_real

    @functools.cached_property
    def image_hash(self) -> bytes | None:
        """``core.near_copies.image_hash`` of the whole upload, upright; made only when a model
        that records perceptual hashes asks (``seen_as``), then kept."""
        return None if self.image is None else image_hash(self.image)

    def seen_as(self, seen: Seen | None) -> str:
        """"training image" or "validation image" when the model has seen this exact file, "near copy
        of a training image" (or validation) when it is a re-saved copy of one, else ""."""
        return seen_as(seen, self.digest, self.image_hash if seen is not None and seen.has_hashes else None)

    def verdict(self, threshold: float) -> str | None:
        """REAL when P(real) >= threshold, else FAKE (None for a failed upload)."""
        return None if self.p_real is None else metrics.verdict(self.p_real, threshold)


def judge_uploads(detector: Detector, files, *, face_crop: bool = False,
                  settings: InferenceSettings = InferenceSettings(), as_stored=()) -> list[UploadVerdict]:
    """Score uploaded files given as (name, bytes) pairs, in order.

    A file that cannot be read gets an ``error`` message naming it; the rest of the
    batch is scored in one pass. With ``face_crop`` the largest face is cropped first
    (when none is found the whole image is used and ``face.message`` says so); either way a
    picture with no face found gets a warning. Uploads are
    read as a person's photo (``open_photo``: upright, see-through pixels on white); the names
    in ``as_stored``, test-set files taken into the tester, are read as the test-set pass read
    them (``open_image``, with its draft size), so they get the score the other pages show."""
    draft = set_draft_size(detector.preprocessing, settings.fast)
    results: list[UploadVerdict] = []
    for name, data in files:
        suffix = Path(name).suffix.lower().lstrip(".")
        if suffix not in UPLOAD_TYPES:
            results.append(UploadVerdict(name, error=f"{name}: .{suffix or '(none)'} is not accepted; "
                                                     f"upload {', '.join(UPLOAD_TYPES)} images"))
            continue
        photo = name not in as_stored
        try:
            image, info = open_photo(bytes(data), name=name) if photo else open_image(bytes(data), name=name,
                                                                                        draft_size=draft)
        except ImageError as exc:
            results.append(UploadVerdict(name, error=str(exc)))
            continue
        face, found = look_for_face(image, face_crop)
        results.append(UploadVerdict(name, image=image, scored=face.image if face else image, face=face,
                                     width=info["width"], height=info["height"], digest=bytes_digest(bytes(data)),
                                     transparent=info["transparent"] if photo else 0.0,  # on white only in a photo
                                     face_found=found))
    good = [i for i, r in enumerate(results) if r.ok]
    scores, members = score_images_and_members(detector, [results[i].scored for i in good], settings)
    members = members or [None] * len(good)
    for i, p, m in zip(good, np.asarray(scores, dtype=float), members):
        r = results[i]
        results[i] = dataclasses.replace(r, p_real=float(p), members=m, detail=detail_share(r.scored))
    return results


def verdict_table(results: list[UploadVerdict], threshold: float, seen: Seen | None = None,
                  labels: dict[str, int] | None = None) -> pd.DataFrame:
    """One row per upload: file, P(real), P(fake), verdict, face, message (the error, or a warning);
    with ``seen`` (``core.provenance``), also whether the model was trained or chosen on the file;
    with ``labels`` (name -> 1 real / 0 fake: test-set images, ``read_picks``), their true class and
    whether the verdict is right (empty for uploads of unknown class)."""
    rows = []
    for r in results:
        face = "" if r.face is None else ("found" if r.face.found else "face seen, no box (whole image)" if r.face_found
                                          else "none found (whole image)")
        message = r.error or "; ".join(r.short_warnings)
        rows.append({"file": r.name, "P(real)": r.p_real, "P(fake)": r.p_fake,
                     "verdict": r.verdict(threshold) or "not scored", "face crop": face, "message": message,
                     "seen by the model": r.seen_as(seen)})
    columns = ["file", "P(real)", "P(fake)", "verdict", "face crop", "message"]
    table = pd.DataFrame(rows, columns=columns + (["seen by the model"] if seen is not None else []))
    if labels:
        truth = [true_verdict(labels[r.name]) if r.name in labels else "" for r in results]
        table.insert(4, "true class", [t.lower() for t in truth])
        table.insert(5, "right", ["" if not t or v == "not scored" else ("yes" if v == t else "no")
                                  for t, v in zip(truth, table["verdict"])])
    return table


SCORE_MISSING = "—"


def scores_as_text(table: pd.DataFrame) -> pd.DataFrame:
    """``verdict_table`` for the screen: P(real) and P(fake) as 4-decimal text and a dash for a
    file that was not scored, where the data grid would print "None". Scores lie in [0, 1], so the
    fixed-width text still sorts in numeric order."""
    shown = table.copy()
    for column in ("P(real)", "P(fake)"):
        shown[column] = [SCORE_MISSING if pd.isna(v) else f"{v:.4f}" for v in table[column]]
    return shown


def verdict_csv(results: list[UploadVerdict], threshold: float, model: str, seen: Seen | None = None,
                labels: dict[str, int] | None = None) -> bytes:
    """``verdict_table`` as CSV bytes, each row also naming the model and the threshold, so a
    downloaded file still says where its verdicts came from."""
    table = verdict_table(results, threshold, seen, labels)
    table.insert(4, "threshold", threshold)
    table.insert(5, "model", model)
    return table.to_csv(index=False, float_format="%.6f").encode()


def true_verdict(label: int) -> str:
    """The verdict a test-set image of ``label`` (1 real, 0 fake) should get: "REAL" or "FAKE"."""
    return "REAL" if label == 1 else "FAKE"

