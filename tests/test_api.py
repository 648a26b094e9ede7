"""core/api.py through FastAPI's TestClient, on a small random-weight checkpoint."""
from __future__ import annotations

import asyncio
import collections
import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.testing import assert_allclose
from PIL import Image

import core.api
import core.api_scoring
from core.api import create_app
from core.api_schemas import ApiConfig, ApiConfigError
from core.checkpoint import file_sha256


def _image_bytes(seed: int = 0, fmt: str = "JPEG", size: int = 72) -> bytes:
    """A small gradient-plus-noise image (no face in it), encoded as ``fmt``."""
    y, x = np.mgrid[0:size, 0:size] / size
    pixels = np.stack([0.6 + 0.3 * x, 0.5 + 0.2 * y, 0.4 + 0.1 * x * y], axis=-1)
    pixels += np.random.default_rng(seed).normal(0, 0.05, pixels.shape)
    buf = io.BytesIO()
    Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(buf, fmt)
    return buf.getvalue()


def _huge_png() -> bytes:
    """A valid PNG header of 8000 x 7000 = 56 Mpx; PIL compresses the blank pixels to a few KB."""
    buf = io.BytesIO()
    Image.new("1", (8000, 7000)).save(buf, "PNG")
    return buf.getvalue()


def _app(weights, **kw):
    return create_app(ApiConfig(weights=weights, device="cpu", **kw), background_load=False)


@pytest.fixture(scope="module")
def client(tiny_ckpt):
    with TestClient(_app(tiny_ckpt, max_upload_mb=1, max_batch_files=4)) as c:
        yield c


def _assert_clean_error(r, status: int, filename: str | None = None) -> dict:
    """A JSON error with the status asked for, and nothing of the server's internals."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"detail", "error", "filename"} and body["detail"]
    assert body["error"] == body["detail"]  # the report's main.py clients read "error"
    assert "Traceback" not in r.text and "/work/" not in r.text and "/tmp/" not in r.text
    if filename:
        assert body["filename"] == filename and filename in body["detail"]
    return body


def test_predict_equals_cli_predict(client, tiny_ckpt, tmp_path):
    from core.cli import main

    path = tmp_path / "face.jpg"
    path.write_bytes(_image_bytes(seed=3))
    out = tmp_path / "cli.json"
    assert main(["predict", str(path), "--weights", str(tiny_ckpt), "--device", "cpu", "--json", str(out)]) == 0
    (cli,) = json.loads(out.read_text())

    r = client.post("/predict", files={"file": ("face.jpg", path.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_allclose(body["real_prob"], cli["p_real"], rtol=0, atol=1e-7)
    assert_allclose(body["fake_prob"], cli["p_fake"], rtol=0, atol=1e-7)
    assert body["verdict"] == cli["verdict"]
    assert body["filename"] == "face.jpg" and body["threshold"] == 0.5 and body["face"] is None
    assert body["weights_sha256"] == file_sha256(tiny_ckpt)
    assert (body["width"], body["height"], body["format"]) == (72, 72, "JPEG")
    assert body["face_found"] is cli["face_found"] is False and body["warnings"] == cli["warnings"]


def test_threshold_decides_the_verdict(client):
    data = _image_bytes(seed=4)
    at0 = client.post("/predict", params={"threshold": 0}, files={"file": ("a.jpg", data)}).json()
    at1 = client.post("/predict", params={"threshold": 1}, files={"file": ("a.jpg", data)}).json()
    assert at0["verdict"] == "REAL" and at0["threshold"] == 0
    assert at1["verdict"] == ("REAL" if at1["real_prob"] >= 1 else "FAKE")
    assert at0["real_prob"] == at1["real_prob"]


def test_crop_face_reports_no_face_on_a_gradient(client):
    r = client.post("/predict", params={"crop_face": "true"}, files={"file": ("g.png", _image_bytes(fmt="PNG"))})
    assert r.status_code == 200, r.text
    face = r.json()["face"]
    assert face["found"] is False and face["box"] is None and "whole image" in face["message"]


def test_a_picture_with_no_face_is_warned_of_as_the_tester_warns(client, monkeypatch):
    """The tester warned of a picture with no face; /predict answered the same picture with a bare verdict."""
    import core.face
    from core.face import NO_BOX_MESSAGE, NO_FACE_WARNING

    for crop in ("false", "true"):
        body = client.post("/predict", params={"crop_face": crop}, files={"file": ("g.png", _image_bytes(fmt="PNG"))}).json()
        assert body["face_found"] is False and NO_FACE_WARNING in body["warnings"]
    monkeypatch.setattr(core.face, "has_face", lambda image: True)  # a face, but no box upright in the frame
    body = client.post("/predict", params={"crop_face": "true"}, files={"file": ("g.png", _image_bytes(fmt="PNG"))}).json()
    assert body["face_found"] is True and NO_FACE_WARNING not in body["warnings"]
    assert body["face"]["found"] is False and body["face"]["message"] == NO_BOX_MESSAGE


def test_crop_face_finds_a_real_face(client, ciplab_dir):
    photo = sorted((ciplab_dir / "real").glob("*.jpg"))[0]
    r = client.post("/predict", params={"crop_face": "true"}, files={"file": (photo.name, photo.read_bytes())})
    assert r.status_code == 200, r.text
    face = r.json()["face"]
    assert face["found"] is True and r.json()["face_found"] is True and not any("No face" in w for w in r.json()["warnings"])
    left, top, right, bottom = face["box"]
    assert 0 <= left < right <= 600 and 0 <= top < bottom <= 600


@pytest.mark.parametrize(
    "name, data, params, status",
    [
        ("notes.png", b"hello, not an image", {}, 415),
        ("empty.jpg", b"", {}, 415),
        ("cut.jpg", _image_bytes(size=400)[:4000], {}, 422),
        ("huge.png", _huge_png(), {}, 422),
    ],
    ids=["not-an-image", "empty", "truncated", "over-50-megapixels"],
)
def test_bad_images_get_json_errors_naming_the_file(client, name, data, params, status):
    r = client.post("/predict", params=params, files={"file": (name, data)})
    body = _assert_clean_error(r, status, filename=name)
    if name == "huge.png":
        assert "megapixel" in body["detail"]
    if name == "empty.jpg":
        assert body["detail"] == "empty.jpg: empty file (0 bytes)"


def test_client_paths_are_reduced_to_the_base_name(client):
    r = client.post("/predict", files={"file": ("../../etc/passwd", b"root:x:0:0")})
    body = _assert_clean_error(r, 415, filename="passwd")
    assert "etc" not in body["detail"]


@pytest.mark.parametrize("threshold", ["1.5", "-0.1", "nan", "inf", "abc"])
def test_threshold_outside_0_1_is_422(client, threshold):
    r = client.post("/predict", params={"threshold": threshold}, files={"file": ("a.jpg", _image_bytes())})
    body = _assert_clean_error(r, 422)
    # one sentence for every case: "less than or equal to 1" was a riddle for nan
    assert body["detail"] == f"threshold: must be a number from 0 to 1 (REAL when real_prob >= threshold), got {threshold!r}"


def test_a_file_part_without_a_filename_is_told_to_send_a_file(client):
    body = _assert_clean_error(client.post("/predict", files={"file": ("", _image_bytes())}), 422)
    assert "this part is text, not a file" in body["detail"] and "UploadFile" not in body["detail"]


def test_missing_file_is_422(client):
    body = _assert_clean_error(client.post("/predict"), 422)
    assert "file" in body["detail"]


def test_the_usual_upload_mistakes_are_told_how_to_send_an_image(client):
    """'file: Field required' left a raw-body or wrongly named upload guessing."""
    raw = client.post("/predict", content=_image_bytes(), headers={"Content-Type": "image/jpeg"})
    detail = _assert_clean_error(raw, 422)["detail"]
    assert "the body is image/jpeg, not multipart/form-data" in detail and "-F 'file=@face.jpg'" in detail
    named = client.post("/predict/batch", files={"file": ("a.jpg", _image_bytes())})
    detail = _assert_clean_error(named, 422)["detail"]
    assert "no part named 'files'" in detail and "-F 'files=@face.jpg'" in detail
    text = client.post("/predict/batch", files={"files": ("", _image_bytes())})
    assert "-F 'files=@face.jpg'" in _assert_clean_error(text, 422)["detail"]  # the batch's own part name


def test_two_files_to_predict_are_refused_not_half_scored(client):
    two = [("file", ("a.jpg", _image_bytes(1))), ("file", ("b.jpg", _image_bytes(2)))]
    body = _assert_clean_error(client.post("/predict", files=two), 422)
    assert "2 files" in body["detail"] and "/predict/batch" in body["detail"]
    assert client.post("/predict", files=two[:1]).status_code == 200


def test_upload_over_the_limit_is_413_from_content_length(client):
    big = b"\xff\xd8" + b"\0" * (2 << 20)  # 2 MB against a 1 MB limit
    body = _assert_clean_error(client.post("/predict", files={"file": ("big.jpg", big)}), 413)
    assert "1 MB" in body["detail"]


def _send_chunked(app, path: str, field: str, n_chunks: int) -> tuple[list, list]:
    """POST a chunked multipart body (no Content-Length: TestClient would buffer it) of ``n_chunks``
    64 KB chunks to ``path`` at the ASGI level; (the chunks the app pulled, the messages it sent)."""
    head = f'--b\r\nContent-Disposition: form-data; name="{field}"; filename="s.jpg"\r\n\r\n'.encode()
    chunks = [head] + [b"\0" * (64 << 10)] * n_chunks + [b"\r\n--b--\r\n"]
    pulled, sent = [], []

    async def receive():
        chunk = chunks[len(pulled)]
        pulled.append(chunk)
        return {"type": "http.request", "body": chunk, "more_body": len(pulled) < len(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"multipart/form-data; boundary=b"), (b"host", b"testserver")],
             "client": ("127.0.0.1", 1), "server": ("testserver", 80), "state": {}}
    asyncio.run(app(scope, receive, send))
    return pulled, sent


def test_upload_without_length_is_cut_off_at_the_limit(client):
    """A chunked body (no Content-Length) is counted as it arrives and refused at the
    limit, before the rest is read. Driven at the ASGI level: TestClient would buffer it."""
    pulled, sent = _send_chunked(client.app, "/predict", "file", 64)  # 4 MB against 1 MB
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["detail"].startswith("upload too large")
    assert len(pulled) < 20  # stopped soon after 1 MB, not at the end of the 4 MB body


def test_batch_scores_the_good_files_and_reports_the_bad_one(client):
    good = [_image_bytes(seed=s) for s in (10, 11)]
    files = [("files", ("a.jpg", good[0])), ("files", ("bad.png", b"nope")), ("files", ("b.jpg", good[1]))]
    r = client.post("/predict/batch", files=files)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["n_ok"], body["n_failed"]) == (2, 1)
    a, bad, b = body["results"]
    assert bad == {"filename": "bad.png", "error": "bad.png: not a readable image: its content is not JPEG, PNG, WebP, BMP or "
                   "TIFF data (a renamed or damaged file?)", "status": 415}
    for result, data in ((a, good[0]), (b, good[1])):
        single = client.post("/predict", files={"file": (result["filename"], data)}).json()
        assert_allclose(result["real_prob"], single["real_prob"], rtol=0, atol=1e-5)


def test_a_batch_holds_one_decoded_picture_at_a_time(client, monkeypatch):
    """32 small PNGs of 7000 x 7000 px (0.5 MB on the wire) held at full size together took the server
    from 0.8 to 7 GB; each picture is now dropped once it is the model's input."""
    import gc
    import weakref

    alive, most = [], []
    decode = core.api_scoring._decode

    def tracked(*args, **kwargs):
        gc.collect()
        most.append(sum(ref() is not None for ref in alive))  # earlier pictures still held
        image, info, face = decode(*args, **kwargs)
        alive.append(weakref.ref(image))
        return image, info, face

    monkeypatch.setattr(core.api_scoring, "_decode", tracked)
    files = [("files", (f"{i}.jpg", _image_bytes(seed=i))) for i in range(4)]
    r = client.post("/predict/batch", files=files)
    assert r.status_code == 200 and r.json()["n_ok"] == 4
    assert most == [0, 0, 0, 0]


def test_batch_over_the_file_count_is_422(client):
    files = [("files", (f"{i}.jpg", _image_bytes(seed=i))) for i in range(5)]
    body = _assert_clean_error(client.post("/predict/batch", files=files), 422)
    assert "at most 4" in body["detail"]


def _noise_png(seed: int, size: int = 450) -> bytes:
    """Random pixels, which PNG cannot compress: 450 px is about 0.6 MB, under the fixture's 1 MB limit."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_a_file_over_the_limit_gets_its_own_entry_and_the_others_are_scored(client, monkeypatch):
    """API_MAX_UPLOAD_MB is per file: one big file in a batch used to turn the whole batch into a 413
    that named no file. Its bytes are never read into the server: the parser's count refuses it."""
    from starlette.datastructures import UploadFile

    read_from, read = collections.Counter(), UploadFile.read

    async def counted(self, size: int = -1):
        data = await read(self, size)
        read_from[self.filename] += len(data)
        return data

    monkeypatch.setattr(UploadFile, "read", counted)
    good, big = _image_bytes(seed=20), b"\xff\xd8" + b"\0" * (3 << 19)  # 1.5 MB against 1 MB
    files = [("files", ("a.jpg", good)), ("files", ("big.jpg", big))]
    r = client.post("/predict/batch", files=files)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["n_ok"], body["n_failed"]) == (1, 1)
    a, too_big = body["results"]
    assert too_big == {"filename": "big.jpg", "status": 413, "error": "big.jpg: over the 1 MB per-file upload limit"}
    assert read_from["big.jpg"] == 0 and read_from["a.jpg"] == len(good)
    single = client.post("/predict", files={"file": ("a.jpg", good)}).json()
    assert_allclose(a["real_prob"], single["real_prob"], rtol=0, atol=1e-5)


def test_a_batch_may_carry_the_per_file_limit_for_each_file(client):
    """Three 0.6 MB photos (1.8 MB) against a 1 MB per-file limit: each is within it, so all are scored;
    four files of exactly the limit also fit with their multipart framing."""
    files = [("files", (f"{i}.png", _noise_png(seed=i))) for i in range(3)]
    assert sum(len(data) for _, (_, data) in files) > 1 << 20 > max(len(data) for _, (_, data) in files)
    r = client.post("/predict/batch", files=files)
    assert r.status_code == 200, r.text
    assert (r.json()["n_ok"], r.json()["n_failed"]) == (3, 0)

    at_limit = [("files", (f"{i}.jpg", b"\xff\xd8" + b"\0" * ((1 << 20) - 2))) for i in range(4)]
    r = client.post("/predict/batch", files=at_limit)
    assert r.status_code == 200, r.text
    assert [e["status"] for e in r.json()["results"]] == [415] * 4  # under the limit, so only "not an image"


def test_a_batch_over_files_times_the_limit_is_413_from_content_length(client):
    files = [("files", (f"{i}.jpg", b"\xff\xd8" + b"\0" * (5 << 18))) for i in range(4)]  # 4 x 1.25 MB > 4 x 1 MB
    body = _assert_clean_error(client.post("/predict/batch", files=files), 413)
    assert body["detail"] == "batch too large: the limit is 4 MB per request (up to 4 files of up to 1 MB each)"


def test_a_batch_body_is_capped_in_all_since_its_bytes_are_held_until_scored():
    from core.api_schemas import MB, ApiConfig, ApiConfigError

    assert ApiConfig(weights=Path("w.pth")).max_batch_bytes == 100 * MB  # not 32 x 20 MB = 640 MB
    small = ApiConfig(weights=Path("w.pth"), max_upload_mb=1, max_batch_files=4, max_batch_mb=2.5)
    single, routes = small.body_limits()
    assert small.max_batch_bytes == int(2.5 * MB) and routes["/predict/batch"].bytes < 3 * MB
    assert ApiConfig.from_env({"API_MAX_BATCH_MB": "50", "WEIGHTS": "w.pth"}).max_batch_mb == 50.0
    with pytest.raises(ApiConfigError, match="API_MAX_BATCH_MB must be a positive"):
        ApiConfig(weights=Path("w.pth"), max_batch_mb=0)


def test_a_batch_without_length_is_cut_off_at_files_times_the_limit(client):
    """As for /predict: a chunked batch body is refused once past 4 x 1 MB, before the rest is read."""
    pulled, sent = _send_chunked(client.app, "/predict/batch", "files", 128)  # 8 MB against 4 MB
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["detail"].startswith("batch too large")
    assert 64 < len(pulled) < 80  # past 4 MB (4 x 1 MB plus framing), and stopped soon after, not at 8 MB


def test_health_answers_while_a_batch_is_scored(client, monkeypatch):
    started, release, replies = threading.Event(), threading.Event(), []
    real_score = core.api_scoring.score_tensors_and_members

    def slow_score(*args, **kwargs):
        started.set()
        release.wait(20)
        return real_score(*args, **kwargs)

    monkeypatch.setattr(core.api_scoring, "score_tensors_and_members", slow_score)
    files = [("files", (f"{i}.jpg", _image_bytes(seed=i))) for i in range(3)]
    batch = threading.Thread(target=lambda: replies.append(client.post("/predict/batch", files=files)))
    batch.start()
    try:
        assert started.wait(20), "the batch never reached the model"
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert batch.is_alive()  # the batch was still being scored when /health answered
    finally:
        release.set()
        batch.join(30)
    assert replies and replies[0].status_code == 200 and replies[0].json()["n_ok"] == 3


def test_health_is_503_until_the_model_is_loaded(tiny_ckpt, monkeypatch):
    release = threading.Event()
    real_load = core.api.load_detector
    monkeypatch.setattr(core.api, "load_detector", lambda *a, **k: (release.wait(20), real_load(*a, **k))[1])
    app = create_app(ApiConfig(weights=tiny_ckpt, device="cpu"), background_load=True)
    with TestClient(app) as c:
        loading = c.get("/health")
        assert loading.status_code == 503 and loading.json()["status"] == "loading"
        _assert_clean_error(c.post("/predict", files={"file": ("a.jpg", _image_bytes())}), 503)
        _assert_clean_error(c.get("/model"), 503)
        release.set()
        for _ in range(200):
            if c.get("/health").status_code == 200:
                break
            time.sleep(0.05)
        assert c.get("/health").json() == {"status": "ok", "detail": None}


def test_missing_weights_fail_health_without_the_path(tmp_path):
    with TestClient(_app(tmp_path / "absent.pth")) as c:
        r = c.get("/health")
        assert r.status_code == 503 and r.json()["status"] == "failed"
        assert "CheckpointError" in r.json()["detail"] and str(tmp_path) not in r.text


def test_unexpected_errors_are_a_generic_500(tiny_ckpt, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret detail at /srv/internal/model.py")

    monkeypatch.setattr(core.api_scoring, "score_tensors_and_members", broken)
    with TestClient(_app(tiny_ckpt), raise_server_exceptions=False) as c:
        r = c.post("/predict", files={"file": ("a.jpg", _image_bytes())})
    body = _assert_clean_error(r, 500)
    assert "secret" not in r.text and "internal server error" in body["detail"]


def test_model_card(client, tiny_ckpt):
    card = client.get("/model").json()
    assert card["backbone"] == "efficientnet_lite0" and card["attention"] is True
    assert card["preprocessing"]["input_size"] == 64 and card["threshold"] == 0.5
    assert card["weights_sha256"] == file_sha256(tiny_ckpt) and card["validation"] is None
    assert card["classes"] == {"0": "fake", "1": "real"} and card["name"] == tiny_ckpt.name
    assert card["lineage"] == [] and card["seen_images"] is None  # random weights: nothing recorded


def test_model_card_carries_saved_validation_metrics(tmp_path):
    from core.checkpoint import save_checkpoint
    from core.model import build_model
    from core.preprocess import Preprocessing

    path = save_checkpoint(tmp_path / "v.pth", build_model("efficientnet_lite0", pretrained=None).eval(),
                           Preprocessing(input_size=64), threshold=0.4,
                           training={"validation": {"roc_auc": 0.91, "accuracy": 0.8}})
    with TestClient(_app(path)) as c:
        card = c.get("/model").json()
    assert card["validation"] == {"roc_auc": 0.91, "accuracy": 0.8} and card["threshold"] == 0.4


def test_cors_is_off_by_default_and_never_sends_credentials(client, tiny_ckpt):
    preflight = {"Origin": "http://ui.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/predict", headers=preflight).headers
    with TestClient(_app(tiny_ckpt, cors_origins=("http://ui.example",))) as c:
        allowed = c.options("/predict", headers=preflight)
        other = c.options("/predict", headers={**preflight, "Origin": "http://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "http://ui.example"
    assert "access-control-allow-credentials" not in allowed.headers
    assert "access-control-allow-origin" not in other.headers


def test_config_from_environment(tmp_path):
    cfg = ApiConfig.from_env({"WEIGHTS": str(tmp_path / "w.pth"), "API_MAX_UPLOAD_MB": "5",
                              "API_CORS_ORIGINS": " http://a.example , ,http://b.example"})
    assert cfg.weights == tmp_path / "w.pth" and cfg.max_upload_bytes == 5 << 20 and cfg.device == "auto"
    assert cfg.cors_origins == ("http://a.example", "http://b.example")
    assert ApiConfig.from_env({}).cors_origins == ()
    with pytest.raises(ApiConfigError, match="API_MAX_UPLOAD_MB"):
        ApiConfig.from_env({"API_MAX_UPLOAD_MB": "lots"})
    with pytest.raises(ApiConfigError, match="API_MAX_UPLOAD_MB"):
        ApiConfig.from_env({"API_MAX_UPLOAD_MB": "-1"})


def test_the_batch_body_limit_applies_to_the_batch_route_only(tmp_path):
    """Behind a proxy the path carries the root path (ASGI), which the router takes off; so does the limit."""
    from core.api_schemas import BodySizeLimit

    cfg = ApiConfig(weights=tmp_path / "w.pth", max_upload_mb=2, max_batch_files=3)
    single, routes = cfg.body_limits()
    assert cfg.max_batch_bytes == 6 << 20 and routes["/predict/batch"].bytes > 6 << 20 > single.bytes > 2 << 20
    guard = BodySizeLimit(None, single, routes)
    assert guard.limit_for({"path": "/api/predict/batch", "root_path": "/api"}) == routes["/predict/batch"]
    assert guard.limit_for({"path": "/predict/batch", "root_path": ""}) == routes["/predict/batch"]
    assert guard.limit_for({"path": "/predict/batch/", "root_path": ""}) == routes["/predict/batch"]  # trailing slash
    assert guard.limit_for({"path": "/api/predict", "root_path": "/api"}) == single


# --- property-based: schemathesis against the app's own OpenAPI schema ------------------

SCHEMA_RUNS = [("GET", "/health", "positive"), ("GET", "/model", "positive"),
               ("POST", "/predict", "positive"), ("POST", "/predict", "negative"),
               ("POST", "/predict/batch", "positive"), ("POST", "/predict/batch", "negative")]


@pytest.fixture(scope="module")
def api_schema(tiny_ckpt):
    import schemathesis

    app = _app(tiny_ckpt, max_upload_mb=1, max_batch_files=4)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("method, path, mode", SCHEMA_RUNS)
def test_schemathesis_finds_no_server_error(api_schema, method, path, mode):
    """Generated requests (schema-valid, and for the uploads also schema-violating) never
    get a 5xx, and every response matches the documented status codes and bodies."""
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

    # Left out: the schema cannot say "the bytes must decode as an image", so schemathesis
    # takes a random-bytes upload refused with 415 for a wrongly rejected valid request, and
    # a batch answering 200 with per-file errors (as designed) for accepted invalid data.
    skip = [positive_data_acceptance, negative_data_rejection]
    statuses = collections.Counter()

    @given(case=api_schema[path][method].as_strategy(GenerationMode(mode)))
    @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case):
        statuses[case.call_and_validate(excluded_checks=skip).status_code] += 1

    run()
    print(f"schemathesis {method} {path} ({mode}): {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    assert statuses and not any(s >= 500 for s in statuses)


def test_an_upload_the_model_was_trained_on_is_marked(tmp_path, tiny_ckpt):
    """seen_by_model and a warning, from the checkpoint's .seen.json (core.provenance)."""
    import shutil

    from core.cli import main

    from .conftest import make_test_set

    weights = shutil.copy(tiny_ckpt, tmp_path / "m.pth")
    train = make_test_set(tmp_path / "train", n_real=2, n_fake=2)
    assert main(["fingerprint", str(weights), "--train", str(train)]) == 0
    seen_file = next((train / "fake").iterdir())
    resaved = io.BytesIO()  # the same picture at another size and format: other bytes
    Image.open(seen_file).resize((144, 144)).save(resaved, "PNG")
    with TestClient(_app(weights, max_upload_mb=1, max_batch_files=4)) as c:
        files = [("files", ("mine.jpg", seen_file.read_bytes())), ("files", ("new.jpg", _image_bytes(seed=3))),
                 ("files", ("resaved.png", resaved.getvalue()))]
        mine, new, copy = c.post("/predict/batch", files=files).json()["results"]
        assert c.get("/model").json()["seen_images"] == {"train": 4, "val": 0, "from": "m.pth.seen.json"}
    assert mine["seen_by_model"] == "training image"
    assert any(w.startswith("This exact file is one of the model's training images") for w in mine["warnings"])
    assert new["seen_by_model"] is None and not any("training images" in w for w in new["warnings"])
    assert copy["seen_by_model"] == "near copy of a training image"
    assert any(w.startswith("This picture is a re-saved copy") for w in copy["warnings"])


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_command_line_server_says_a_taken_port_before_loading_the_model(tiny_ckpt, capsys, monkeypatch):
    """The port was found taken only after the model had loaded (37 s here), as uvicorn's '[Errno 98]', exit 3."""
    import socket

    import uvicorn

    loads = []
    monkeypatch.setattr(core.api.ModelSlot, "load", lambda self, config: loads.append(config))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("served on a taken port"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert core.api.main(["--weights", str(tiny_ckpt), "--device", "cpu", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in err and "pick another --port" in err and not loads
    assert "is 192.0.2.1 an address of this machine?" in core.api._port_problem("192.0.2.1", port)  # TEST-NET-1


def test_the_command_line_server_refuses_weights_that_do_not_load_before_serving(tiny_ckpt, tmp_path, capsys, monkeypatch):
    """Started with a 3-class file, the server ran on and answered every request 503, its reason only in the log."""
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    port = ["--port", str(_free_port())]
    assert core.api.main(["--weights", str(bad), "--device", "cpu", *port]) == 2
    err = capsys.readouterr().err
    assert f"could not load the model from {bad}" in err and "not a PyTorch checkpoint" in err
    assert "the API was not started" in err and not served
    assert core.api.main(["--weights", str(tiny_ckpt), "--device", "cpu", *port]) == 0
    [app] = served
    assert app.state.model.detector is not None  # loaded once, before serving, and not again at start-up
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200


def test_one_request_decodes_at_most_its_pixel_budget(tiny_ckpt):
    """32 lossless 7070 x 7070 WebPs of 2 KB each took 48 s to decode and held every other request as long."""
    def flat(side: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (side, side), (120, 90, 80)).save(buf, "WEBP", lossless=True)
        return buf.getvalue()

    big = flat(2000)  # 4 megapixels in a few hundred bytes
    assert len(big) < 10_000
    with TestClient(_app(tiny_ckpt, max_batch_megapixels=10)) as c:
        r = c.post("/predict/batch", files=[("files", (f"{i}.webp", big)) for i in range(3)] + [
            ("files", ("small.jpg", _image_bytes()))])
        results = r.json()["results"]
        assert r.status_code == 200 and [e.get("status") for e in results] == [None, None, 413, None]
        assert results[2]["error"] == ("2.webp: over this request's budget of 10 megapixels (API_MAX_BATCH_MEGAPIXELS): "
                                       "send it in another request")
        assert c.post("/predict", files={"file": ("one.webp", flat(3500))}).status_code == 200  # 12 MP alone: fits
        # an image over the 50 MP limit is refused for that, not sent to "another request" where it is refused again
        results = c.post("/predict/batch", files=[("files", ("a.webp", big)), ("files", ("huge.png", _huge_png()))]).json()["results"]
        assert results[1]["status"] == 422 and "over the 50 megapixel limit" in results[1]["error"]
