"""Settings, response bodies and the upload-size guard of the REST API (``core/api.py``).

Kept apart from the routes so the OpenAPI schema (what ``/docs`` shows and what the
schemathesis test checks responses against) is readable in one place.

Size limits: API_MAX_UPLOAD_MB bounds each file. A ``/predict`` body may be that much
(plus multipart framing); a ``/predict/batch`` body may be that much per file for
API_MAX_BATCH_FILES files, up to API_MAX_BATCH_MB in all (100 MB: every byte of a batch is
held until it is scored), so one big file or many ordinary ones never refuse the whole
batch: a file over the per-file limit gets its own 413 entry. ``BodySizeLimit`` enforces
the body limits from Content-Length and while the body streams in.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, NamedTuple

from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

MB = 1 << 20
# A multipart body carries boundaries and part headers around the file bytes; allow for
# them so a file of exactly the limit is accepted.
MULTIPART_OVERHEAD = 64 * 1024


class ApiConfigError(ValueError):
    """A setting of the API that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class ApiConfig:
    """What the API serves and how much it accepts.

    ``max_upload_mb`` bounds each uploaded file, and a batch body may carry
    ``max_batch_files`` such files, at most ``max_batch_mb`` in all (``max_batch_bytes``), and
    ``max_batch_megapixels`` bounds the pixels one request decodes (a 2 KB WebP can hold 50 MP);
    ``inference_threads`` is how many requests may run the model at once (each already
    uses all of torch's intra-op threads); ``cors_origins`` empty means CORS is off.
    """

    weights: Path
    device: str = "auto"
    max_upload_mb: float = 20.0
    max_batch_files: int = 32
    max_batch_mb: float = 100.0
    max_batch_megapixels: float = 400.0
    cors_origins: tuple[str, ...] = ()
    inference_threads: int = 1

    def __post_init__(self):
        if not self.max_upload_mb > 0:
            raise ApiConfigError(f"API_MAX_UPLOAD_MB must be a positive number of megabytes, got {self.max_upload_mb}")
        if not self.max_batch_megapixels > 0:
            raise ApiConfigError("API_MAX_BATCH_MEGAPIXELS must be a positive number of megapixels, "
                                 f"got {self.max_batch_megapixels}")
        if not self.max_batch_mb > 0:
            raise ApiConfigError(f"API_MAX_BATCH_MB must be a positive number of megabytes, got {self.max_batch_mb}")
        if self.max_batch_files < 1:
            raise ApiConfigError(f"API_MAX_BATCH_FILES must be at least 1, got {self.max_batch_files}")
        if self.inference_threads < 1:
            raise ApiConfigError(f"API_INFERENCE_THREADS must be at least 1, got {self.inference_threads}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    @property
    def max_batch_bytes(self) -> int:
        """The most file bytes one ``/predict/batch`` body may carry: every file at the limit, but
        no more than ``max_batch_mb`` (a batch's bytes are all held until it is scored)."""
        return min(self.max_upload_bytes * self.max_batch_files, int(self.max_batch_mb * MB))

    def body_limits(self) -> tuple["BodyLimit", dict[str, "BodyLimit"]]:
        """(the body limit of every route, {path: its own limit}) for ``BodySizeLimit``.

        Each file part is allowed ``MULTIPART_OVERHEAD`` for its framing, so a batch of
        ``max_batch_files`` files each exactly at the limit still fits."""
        mb = self.max_upload_mb
        single = BodyLimit(self.max_upload_bytes + MULTIPART_OVERHEAD,
                           f"upload too large: the limit is {mb:g} MB per file")
        batch = BodyLimit(self.max_batch_bytes + MULTIPART_OVERHEAD * self.max_batch_files,
                          f"batch too large: the limit is {self.max_batch_bytes / MB:g} MB per request "
                          f"(up to {self.max_batch_files} files of up to {mb:g} MB each)")
        return single, {"/predict/batch": batch}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ApiConfig":
        """Read WEIGHTS, DEVICE, API_MAX_UPLOAD_MB, API_MAX_BATCH_FILES, API_MAX_BATCH_MB,
        API_MAX_BATCH_MEGAPIXELS, API_CORS_ORIGINS
        (comma-separated) and API_INFERENCE_THREADS; unset ones take the defaults."""
        from .cli import default_weights

        env = os.environ if env is None else env

        def number(name: str, default, kind):
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                return kind(raw)
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise ApiConfigError(f"{name} must be {what}, got {raw!r}") from None

        origins = tuple(o.strip() for o in env.get("API_CORS_ORIGINS", "").split(",") if o.strip())
        return cls(
            weights=Path(env.get("WEIGHTS", "").strip() or default_weights()),
            device=env.get("DEVICE", "").strip() or "auto",
            max_upload_mb=number("API_MAX_UPLOAD_MB", 20.0, float),
            max_batch_files=number("API_MAX_BATCH_FILES", 32, int),
            max_batch_mb=number("API_MAX_BATCH_MB", 100.0, float),
            max_batch_megapixels=number("API_MAX_BATCH_MEGAPIXELS", 400.0, float),
            cors_origins=origins,
            inference_threads=number("API_INFERENCE_THREADS", 1, int),
        )


class ErrorBody(BaseModel):
    """Every error: what went wrong, and the file it concerns when there is one.

    ``detail`` is FastAPI's key; ``error`` carries the same text under the key the report's ``main.py``
    used (``{"error": str(e)}``), so clients written against that API still find the message.
    """

    detail: str = Field(examples=["photo.png: not a readable image: its content is not JPEG, PNG, WebP, BMP or TIFF data (a renamed or damaged file?)"])
    error: str = Field(default="", description="the same text as detail, the report API's key")
    filename: str | None = None

    def model_post_init(self, __context) -> None:
        self.error = self.error or self.detail


class FaceInfo(BaseModel):
    found: bool
    box: list[int] | None = Field(None, description="(left, top, right, bottom) in the uploaded image's pixels, "
                                  "upright (EXIF orientation applied), as width and height are")
    message: str


class Prediction(BaseModel):
    filename: str
    real_prob: float = Field(ge=0, le=1, description="P(real), the model's sigmoid output")
    fake_prob: float = Field(ge=0, le=1, description="1 - real_prob")
    verdict: Literal["REAL", "FAKE"] = Field(description="REAL when real_prob >= threshold")
    threshold: float = Field(ge=0, le=1)
    weights_sha256: str
    width: int = Field(description="of the picture upright (EXIF orientation applied)")
    height: int = Field(description="of the picture upright (EXIF orientation applied)")
    format: str
    face: FaceInfo | None = Field(None, description="present when crop_face=true")
    members: dict[str, float] | None = Field(
        None, description="an ensemble checkpoint's members: file name -> P(real); real_prob is the sigmoid of their mean logit")
    detail_share: float = Field(ge=0, le=1, description="share of the scored image's Fourier magnitude above half the "
                                "Nyquist frequency (core.quality); below 0.16 the image has less fine detail than 97% of "
                                "the labelled CIPLab faces")
    face_found: bool | None = Field(None, description="whether OpenCV's face detectors see a face in the upload "
                                    "(core.face.has_face, as the single-image tester looks); when false, warnings says "
                                    "the verdict may mean nothing")
    warnings: list[str] = Field(default_factory=list, description="why this verdict deserves less trust than usual")
    seen_by_model: Literal["training image", "validation image", "near copy of a training image",
                           "near copy of a validation image"] | None = Field(
        None, description="this exact file (by content digest, core.provenance) is one the model was trained or "
                          "chosen on, or a re-saved copy of one (by perceptual hash, core.near_copies, when the model "
                          "records those); null when it is neither, or when the checkpoint does not record its images")


class FileError(BaseModel):
    """One file of a batch that could not be scored."""

    filename: str
    error: str
    status: int = Field(description="the status a single /predict of this file would have had")


class BatchResult(BaseModel):
    results: list[Prediction | FileError] = Field(description="one entry per uploaded file, in upload order")
    n_ok: int
    n_failed: int
    threshold: float
    weights_sha256: str


class Health(BaseModel):
    status: Literal["ok", "loading", "failed"]
    detail: str | None = None


class ModelCard(BaseModel):
    name: str
    backbone: str
    attention: bool
    preprocessing: dict
    threshold: float
    threshold_source: str | None
    classes: dict
    output: str | None
    validation: dict | None = Field(None, description="validation metrics saved with the checkpoint, if any")
    members: list[dict] | None = Field(None, description="an ensemble's members (file, sha256, backbone, input size, own validation ROC-AUC)")
    weights_sha256: str
    device: str
    lineage: list[dict] = Field(default_factory=list, description="each training run behind the model, newest first per "
                                "member (core.model_card.lineage_table): run, started from, what, best epoch, val ROC-AUC")
    seen_images: dict | None = Field(None, description="how many training / validation file digests the model records "
                                     "(core.provenance) and where from; null when it records none")


ERROR_RESPONSES = {
    400: {"model": ErrorBody, "description": "malformed multipart body"},
    413: {"model": ErrorBody, "description": "a file over API_MAX_UPLOAD_MB, or a batch body over that times "
                                             "API_MAX_BATCH_FILES"},
    415: {"model": ErrorBody, "description": "not an image"},
    422: {"model": ErrorBody, "description": "corrupt image, over 50 megapixels, or a bad parameter"},
    500: {"model": ErrorBody, "description": "unexpected server error (details only in the server log)"},
    503: {"model": ErrorBody, "description": "the model is not loaded (yet)"},
}


class BodyLimit(NamedTuple):
    """A request-body limit in bytes (multipart framing included) and the 413's words for it."""

    bytes: int
    detail: str


class UploadTooLarge(HTTPException):
    """Raised while the request body streams in, once it passes the limit. An
    HTTPException, so FastAPI's body parsing passes it on instead of turning it into 400."""

    def __init__(self, detail: str):
        super().__init__(413, detail)


def too_large_response(detail: str) -> JSONResponse:
    return JSONResponse(ErrorBody(detail=detail).model_dump(), status_code=413)


class BodySizeLimit:
    """ASGI middleware: refuse a request body over its limit with a JSON 413.

    ``default`` applies to every path but those in ``by_path`` (matched after the
    root path is taken off, as the router matches). The declared Content-Length is
    checked before anything is read; the bytes that do arrive are counted as they
    stream in, so a body without (or lying about) its length is cut off at the limit
    instead of being buffered in full.
    """

    def __init__(self, app, default: BodyLimit, by_path: Mapping[str, BodyLimit] | None = None):
        self.app, self.default, self.by_path = app, default, dict(by_path or {})

    def limit_for(self, scope) -> BodyLimit:
        path, root = scope.get("path", ""), scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        return self.by_path.get(path.rstrip("/") or "/", self.default)  # "/predict/batch/" is the batch too

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit.bytes:
            return await too_large_response(limit.detail)(scope, receive, send)
        received, started = 0, False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.bytes:
                    raise UploadTooLarge(limit.detail)
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except UploadTooLarge:
            if started:
                raise
            await too_large_response(limit.detail)(scope, receive, send)
