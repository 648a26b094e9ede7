"""REST API over ``core``: ``POST /predict``, ``POST /predict/batch``, ``GET /health``, ``GET /model``.

Run it with ``make api``, ``uvicorn core.api:app`` or ``python -m core.api --help``.
Settings come from options or the environment (see ``ApiConfig.from_env``): WEIGHTS,
DEVICE, API_MAX_UPLOAD_MB, API_MAX_BATCH_FILES, API_MAX_BATCH_MB, API_MAX_BATCH_MEGAPIXELS, API_CORS_ORIGINS,
API_INFERENCE_THREADS.

The model is loaded once, in a background thread at start-up (``/health`` says 503 until
it is ready), and shared by all requests. Decoding and inference run in worker threads,
so the event loop keeps answering ``/health`` while a batch is scored. Images go through
``open_photo`` and ``score_tensors_and_members``, the same path as ``python -m core predict``, so the
numbers are the same. Errors are JSON ``{"detail", "error", "filename"}`` (``error`` repeats ``detail``
under the report API's key), never a traceback (``core.api_errors``); how uploads are scored: ``core.api_scoring``.

API_MAX_UPLOAD_MB is a per-file limit: ``/predict`` refuses a bigger file with 413, and in a
batch such a file gets its own 413 entry while the others are scored. A batch body may be
API_MAX_UPLOAD_MB x API_MAX_BATCH_FILES, at most API_MAX_BATCH_MB (``ApiConfig.body_limits``);
only a body past that is refused whole.
"""
from __future__ import annotations

if __name__ == "__main__":  # python -m core.api: restart once with the faster malloc, before torch is imported
    from core.malloc_tuning import restart_with_tuned_malloc

    restart_with_tuned_malloc("core.api")

import argparse  # noqa: E402
import logging
import sys
import threading
from contextlib import asynccontextmanager
from pathlib import PurePosixPath

import anyio
from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from . import model_card, provenance
from .api_errors import UploadRejected, add_error_handlers
from .api_schemas import (
    ERROR_RESPONSES,
    MB,
    ApiConfig,
    ApiConfigError,
    BatchResult,
    BodySizeLimit,
    Health,
    ModelCard,
    Prediction,
)
from .api_scoring import score_uploads
from .checkpoint import Detector, load_detector, resolve_device
from .cli_types import device_name, port_number

log = logging.getLogger("core.api")
CHUNK = 1 << 20


class ModelSlot:
    """The shared detector: filled once by the loader thread, then only read."""

    def __init__(self):
        self.detector: Detector | None = None
        self.error: str | None = None  # for clients: no server detail
        self.load_reason: str | None = None  # for the operator: the whole reason
        self.done = threading.Event()

    def load(self, config: ApiConfig) -> None:
        try:
            self.detector = load_detector(config.weights, resolve_device(config.device))
            log.info("model %s loaded on %s", self.detector.name, self.detector.device)
        except Exception as exc:  # the operator reads why in the log; clients get a generic 503
            self.error = f"the model could not be loaded ({type(exc).__name__}); see the server log"
            self.load_reason = f"could not load the model from {config.weights}: {exc}"
            log.error("%s", self.load_reason)
        finally:
            self.done.set()


def _client_name(filename: str | None) -> str:
    """The upload's own base name (never a client-chosen path), for messages."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    return name[:200] or "upload"


async def _read_upload(upload: UploadFile, name: str, limit: int) -> bytes:
    """The upload's bytes, read in chunks; past ``limit`` (API_MAX_UPLOAD_MB) a 413 naming the file."""
    chunks, total = [], 0
    too_big = (upload.size or 0) > limit  # counted by the parser as it spooled the part: refused unread
    while not too_big and (chunk := await upload.read(CHUNK)):
        total += len(chunk)
        too_big = total > limit
        if not too_big:
            chunks.append(chunk)
    if not too_big:
        return b"".join(chunks)
    await upload.close()  # its spooled temporary file goes now, not when the whole batch is answered
    raise UploadRejected(413, f"{name}: over the {limit / MB:g} MB per-file upload limit", name)


def _ready(request: Request) -> Detector:
    slot: ModelSlot = request.app.state.model
    if slot.detector is None:
        raise UploadRejected(503, slot.error or "the model is still loading; try again shortly")
    return slot.detector


THRESHOLD = Query(None, ge=0, le=1, description="REAL when real_prob >= threshold (default: the checkpoint's)")
CROP = Query(False, description="crop the largest face (OpenCV Haar cascade) before scoring, as the tester does")


def create_app(config: ApiConfig | None = None, *, background_load: bool = True,
               model: ModelSlot | None = None) -> FastAPI:
    """The FastAPI app for ``config`` (default: from the environment). With
    ``background_load`` start-up returns at once and ``/health`` is 503 until the model
    is loaded; without, start-up waits for it. ``model``: a slot already loaded (by
    ``main``, which checks the weights before it serves), used as it is."""
    config = config or ApiConfig.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.limiter = anyio.CapacityLimiter(config.inference_threads)
        if not app.state.model.done.is_set():
            loader = threading.Thread(target=app.state.model.load, args=(config,), name="model-loader", daemon=True)
            loader.start()
            if not background_load:
                await anyio.to_thread.run_sync(loader.join)
        yield

    app = FastAPI(
        title="Deepfake face detector",
        version="1.0",
        description="P(real) of face images from the project's FaceClassifier. Labels: 1 = real, 0 = fake.",
        lifespan=lifespan,
    )
    app.state.model, app.state.config = model or ModelSlot(), config
    default_limit, route_limits = config.body_limits()
    app.add_middleware(BodySizeLimit, default=default_limit, by_path=route_limits)
    if config.cors_origins:
        # Credentials stay off: the API uses no cookies, and '*' with credentials is unsafe.
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST"], allow_headers=["*"])
    add_error_handlers(app)

    async def run_model(request: Request, detector: Detector, uploads, crop: bool, threshold: float) -> list[dict]:
        return await anyio.to_thread.run_sync(score_uploads, detector, uploads, crop, threshold,
                                              int(config.max_batch_megapixels * 1e6), limiter=request.app.state.limiter)

    @app.post("/predict", response_model=Prediction, responses=ERROR_RESPONSES, summary="Score one image")
    async def predict(request: Request, file: UploadFile = File(..., description="an image (JPEG, PNG, ...)"),
                      threshold: float | None = THRESHOLD, crop_face: bool = CROP):
        detector = _ready(request)
        sent = len((await request.form()).getlist("file"))  # parsed once already; FastAPI keeps only the last
        if sent > 1:
            raise UploadRejected(422, f"{sent} files sent as 'file'; /predict scores one image: send several to "
                                      "/predict/batch, each as 'files'")
        name = _client_name(file.filename)
        data = await _read_upload(file, name, config.max_upload_bytes)
        t = detector.threshold if threshold is None else threshold
        (result,) = await run_model(request, detector, [(name, data)], crop_face, t)
        if "error" in result:
            raise UploadRejected(result["status"], result["error"], name)
        return result

    @app.post("/predict/batch", response_model=BatchResult, responses=ERROR_RESPONSES,
              summary="Score several images; a file that fails gets its own error entry")
    async def predict_batch(request: Request, files: list[UploadFile] = File(..., description="images"),
                            threshold: float | None = THRESHOLD, crop_face: bool = CROP):
        detector = _ready(request)
        if len(files) > config.max_batch_files:
            raise UploadRejected(422, f"{len(files)} files sent; at most {config.max_batch_files} per batch")
        uploads = []
        for upload in files:
            name = _client_name(upload.filename)
            try:
                uploads.append((name, await _read_upload(upload, name, config.max_upload_bytes)))
            except UploadRejected as exc:  # kept without its traceback, whose frame holds the bytes read
                uploads.append((name, exc.with_traceback(None)))
        t = detector.threshold if threshold is None else threshold
        results = await run_model(request, detector, uploads, crop_face, t)
        n_failed = sum("error" in r for r in results)
        return {"results": results, "n_ok": len(results) - n_failed, "n_failed": n_failed,
                "threshold": t, "weights_sha256": detector.sha256}

    @app.get("/health", response_model=Health, responses={503: {"model": Health}}, summary="Ready once the model is loaded")
    async def health(request: Request):
        slot: ModelSlot = request.app.state.model
        if slot.detector is not None:
            return {"status": "ok"}
        status = "failed" if slot.done.is_set() else "loading"
        return JSONResponse({"status": status, "detail": slot.error}, status_code=503)

    @app.get("/model", response_model=ModelCard, responses={503: ERROR_RESPONSES[503]}, summary="The model card")
    async def model_card(request: Request):
        return _model_card(_ready(request))

    return app


def _model_card(d: Detector) -> dict:
    meta, seen = d.meta, provenance.model_seen(d)
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    validation = training.get("validation")
    return {
        "name": d.name,
        "backbone": d.backbone,
        "attention": bool(meta.get("model_args", {}).get("attention", True)),
        "preprocessing": d.preprocessing.to_dict(),
        "threshold": d.threshold,
        "threshold_source": meta.get("threshold_source"),
        "classes": meta.get("classes", {}),
        "output": meta.get("output"),
        "validation": validation if isinstance(validation, dict) else None,
        "members": [{k: m.get(k) for k in ("file", "sha256", "backbone", "input_size", "attention", "validation_roc_auc")}
                    for m in training.get("members") or []] or None,
        "weights_sha256": d.sha256,
        "device": str(d.device),
        "lineage": model_card.lineage_table(model_card.lineages(meta, d.name)).to_dict(orient="records"),
        "seen_images": {"train": len(seen.train), "val": len(seen.val), "from": seen.where} if seen else None,
    }


def __getattr__(name: str):
    """``core.api.app``: built from the environment on first use (``uvicorn core.api:app``)."""
    if name == "app":
        try:
            globals()["app"] = create_app()
        except ApiConfigError as exc:
            raise SystemExit(f"error: {exc}") from None
        return globals()["app"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_parser() -> argparse.ArgumentParser:
    """``python -m core.api``'s options; their defaults come from the environment."""
    import os

    p = argparse.ArgumentParser(prog="python -m core.api", description="Serve the detector over HTTP.")
    p.add_argument("--host", default=os.environ.get("API_HOST", "127.0.0.1"))
    # a string default goes through the type too: API_PORT=99999 is refused like --port 99999
    p.add_argument("--port", type=port_number, default=os.environ.get("API_PORT", "8000"))
    p.add_argument("--weights", help="checkpoint (env WEIGHTS; default weights/default.pth)")
    p.add_argument("--device", type=device_name, help="auto|cpu|cuda (env DEVICE; default auto)")
    p.add_argument("--max-upload-mb", type=float, help="per-file upload limit; a batch may carry that much per file "
                   "(env API_MAX_UPLOAD_MB; default 20)")
    p.add_argument("--cors-origins", help="comma-separated allowed origins, e.g. http://localhost:3000 for the report's "
                   "React frontend (env API_CORS_ORIGINS; default: CORS off, so browser pages elsewhere cannot read answers)")
    return p


def _port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (taken, or not an address here), or None."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"--host {host}: {exc.strerror or exc}"
    bound, not_here = 0, None
    for family, _, _, _, address in infos:  # every address, as the server binds them
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is free
                probe.bind(address)
                bound += 1
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"cannot listen on {host}:{port}: the port is in use (another server?); pick another --port"
            not_here = exc  # an address (or family: IPv6 off) this machine does not have: skipped, as asyncio does
    if not bound:
        return f"cannot listen on {host}:{port} ({not_here.strerror or not_here}): is {host} an address of this machine?"
    return None


def main(argv: list[str] | None = None) -> int:
    """``python -m core.api``: options override the environment variables."""
    import os

    import uvicorn

    args = build_parser().parse_args(argv)
    env = dict(os.environ)
    for key, value in {"WEIGHTS": args.weights, "DEVICE": args.device, "API_MAX_UPLOAD_MB": args.max_upload_mb,
                       "API_CORS_ORIGINS": args.cors_origins}.items():
        if value is not None:
            env[key] = str(value)
    try:
        config = ApiConfig.from_env(env)
    except ApiConfigError as exc:
        print(f"error: {exc}")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    busy = _port_problem(args.host, args.port)
    if busy:  # said now, not after the model has loaded for half a minute
        print(f"error: {busy}; the API was not started", file=sys.stderr)
        return 2
    # Load before serving: from the command line, weights that cannot load stop here with the
    # reason (exit 2), rather than a server that answers every request 503.
    logging.getLogger("core.api").info("loading %s before serving on %s:%d (half a minute on a 2-core CPU)",
                                       config.weights, args.host, args.port)
    model = ModelSlot()
    model.load(config)
    if model.error:
        print(f"error: {model.load_reason}; the API was not started", file=sys.stderr)
        return 2
    uvicorn.run(create_app(config, model=model), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
