"""The REST API's errors: the refusal a handler raises (``UploadRejected``) and the handlers that
turn every error (refusals, HTTP errors, invalid requests, bugs) into one JSON shape,
``ErrorBody`` (``{"detail", "error", "filename"}``), never a traceback."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .api_schemas import ErrorBody
from .preprocess import ImageError

log = logging.getLogger("core.api")


class UploadRejected(Exception):
    """A request the API refuses, with its status and the file it concerns."""

    def __init__(self, status: int, detail: str, filename: str | None = None):
        super().__init__(detail)
        self.status, self.detail, self.filename = status, detail, filename


def image_error_status(exc: ImageError) -> int:
    """The HTTP status of an image ``open_photo`` refused: 415 for content that is no image at
    all (or nothing), 422 for an image it recognised but will not score."""
    # open_image words "cannot identify" failures this way; everything else it raises
    # (truncated data, too many megapixels) is an image we recognised but refuse.
    return 415 if "not a readable image" in str(exc) or "empty file" in str(exc) else 422


def error_response(status: int, detail: str, filename: str | None = None, headers=None) -> JSONResponse:
    """Every error's one JSON shape (``ErrorBody``), with this status and headers."""
    return JSONResponse(ErrorBody(detail=detail, filename=filename).model_dump(), status_code=status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with ``error_response``: refusals, HTTP errors, invalid
    requests (in words that say how to send the image) and bugs (details only in the log)."""
    @app.exception_handler(UploadRejected)
    async def rejected(request: Request, exc: UploadRejected):
        return error_response(exc.status, exc.detail, exc.filename)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        parts = []
        field = "files" if request.url.path.endswith("/batch") else "file"  # the part name this endpoint reads
        multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ())[1:]) or "request"
            msg = e.get("msg", "invalid")
            if where == "threshold":  # "less than or equal to 1" for nan read as a riddle: one sentence for all cases
                msg = f"must be a number from 0 to 1 (REAL when real_prob >= threshold), got {str(e.get('input'))[:40]!r}"
            elif "Expected UploadFile" in msg:  # a form part without a filename arrives as text, not a file
                msg = (f"this part is text, not a file: send it as a file with a filename "
                       f"(curl -F '{field}=@face.jpg', or requests' files={{'{field}': ('face.jpg', data)}})")
            elif msg == "Field required" and where in ("file", "files"):
                # the usual mistakes: the image as the raw body, or a part under another name
                how = (f"no part named '{field}' in the form" if multipart else
                       f"the body is {request.headers.get('content-type') or 'not typed'}, not multipart/form-data")
                msg = f"{how}: send the image as a form part named '{field}' (curl -F '{field}=@face.jpg')"
            parts.append(f"{where}: {msg}")
        return error_response(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal server error; the details are in the server log")
