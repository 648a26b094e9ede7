"""A phone photo stored sideways with an EXIF orientation tag scores as the upright photo
in all three places a person hands over single images: the tester, the API, `predict`."""
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from core.api import create_app
from core.api_schemas import ApiConfig
from core.checkpoint import load_detector
from core.cli import main
from core.inference import score_images
from core.uploads import judge_uploads
from tests.conftest import make_face_like


@pytest.fixture()
def photos(tmp_path):
    upright = make_face_like(np.random.default_rng(4), 96, True).resize((96, 128))  # portrait, not square
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to show": the pixels are stored turned left
    stored = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(stored, format="PNG", exif=exif.tobytes())
    path = tmp_path / "phone.png"
    path.write_bytes(stored.getvalue())
    return upright, path


def test_every_single_image_path_scores_the_upright_photo(photos, tiny_ckpt, tmp_path):
    upright, path = photos
    det = load_detector(tiny_ckpt)
    want = float(score_images(det, [upright])[0])
    as_stored = float(score_images(det, [Image.open(path).convert("RGB")])[0])
    assert abs(want - as_stored) > 1e-3  # the orientation matters to this model: the test can fail

    tester = judge_uploads(det, [(path.name, path.read_bytes())])[0]
    assert tester.p_real == pytest.approx(want, abs=1e-6) and tester.image.size == upright.size

    with TestClient(create_app(ApiConfig(weights=tiny_ckpt, device="cpu"), background_load=False)) as client:
        api = client.post("/predict", files={"file": (path.name, path.read_bytes(), "image/png")}).json()
    assert api["real_prob"] == pytest.approx(want, abs=1e-6)
    assert (api["width"], api["height"]) == upright.size == (96, 128)  # the frame a face box is given in

    out = tmp_path / "p.json"
    assert main(["predict", str(path), "--weights", str(tiny_ckpt), "--json", str(out)]) == 0
    assert json.loads(out.read_text())[0]["p_real"] == pytest.approx(want, abs=1e-6)
