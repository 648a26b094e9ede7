"""A PNG with see-through pixels scores as it looks on a light page, with a warning, in all three
places a person hands over single images (the tester, the API, `predict`); test sets keep the
report's reading of the stored colours."""
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
from core.preprocess import open_image, open_photo
from core.quality import transparency_warning
from core.uploads import judge_uploads, verdict_table
from tests.conftest import make_checkpoint, make_face_like


def _cut_out(size: int = 96) -> tuple[Image.Image, Image.Image, bytes]:
    """(the picture on white, the colours stored under it, an RGBA PNG whose outer ring is
    see-through and hides a red ring)."""
    face = make_face_like(np.random.default_rng(7), size, True)
    stored = np.asarray(face).copy()
    alpha = np.full((size, size), 255, np.uint8)
    ring = np.ones((size, size), bool)
    ring[size // 4:-size // 4, size // 4:-size // 4] = False  # 75 % of the pixels
    stored[ring] = (255, 0, 0)
    alpha[ring] = 0
    rgba = Image.fromarray(np.dstack([stored, alpha]), "RGBA")
    on_white = np.asarray(face).copy()
    on_white[ring] = 255
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    return Image.fromarray(on_white), Image.fromarray(stored), buf.getvalue()


def test_open_photo_lays_see_through_pixels_on_white_and_a_test_set_read_keeps_the_stored_colours():
    on_white, stored, data = _cut_out()
    photo, info = open_photo(data, name="cut.png")
    assert np.array_equal(np.asarray(photo), np.asarray(on_white)) and info["transparent"] == pytest.approx(0.75)
    as_stored, info = open_image(data, name="cut.png")  # the report's test.py: convert("RGB")
    assert np.array_equal(np.asarray(as_stored), np.asarray(stored)) and info["transparent"] == pytest.approx(0.75)


@pytest.mark.parametrize("mode", ["P", "LA", "RGBA-opaque", "RGB"])
def test_the_share_is_counted_for_palette_and_grey_images_and_is_zero_when_nothing_is_see_through(mode):
    img = Image.new("RGB", (20, 10), (30, 60, 90))
    if mode == "P":
        img = Image.new("P", (20, 10), 5)
        img.putpalette([30, 60, 90] * 256)
        img.info["transparency"] = 5  # every pixel has the see-through index
        want = 1.0
    elif mode == "LA":
        img = Image.merge("LA", [img.convert("L"), Image.new("L", (20, 10), 255)])
        img.putpixel((0, 0), (10, 0))  # one see-through pixel of 200
        want = 1 / 200
    else:
        img = img.convert("RGBA") if mode == "RGBA-opaque" else img
        want = 0.0
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    photo, info = open_photo(buf.getvalue(), name="x.png")
    assert info["transparent"] == pytest.approx(want) and photo.mode == "RGB"
    if want == 1.0:
        assert photo.getpixel((3, 3)) == (255, 255, 255)
    warning = transparency_warning(info["transparent"])
    assert (warning is None) == (want == 0.0)
    if want and want < 0.01:
        assert warning.startswith("Transparent image (under 1% of its pixels")


def test_the_tester_the_api_and_predict_score_the_picture_on_white_and_say_so(tmp_path):
    on_white, stored, data = _cut_out()
    ckpt = make_checkpoint(tmp_path / "m.pth", spread=5.0)  # P(real) away from 0 and 1, where pixels move it
    det = load_detector(ckpt)
    want, hidden = (float(p) for p in score_images(det, [on_white, stored]))
    assert abs(want - hidden) > 1e-3  # what lies under the see-through pixels matters to this model

    [tester] = judge_uploads(det, [("cut.png", data)])
    assert tester.p_real == pytest.approx(want, abs=1e-6)
    assert tester.warning.startswith("Transparent image (75% of its pixels see-through)")
    assert verdict_table([tester], 0.5)["message"].iloc[0].startswith("see-through pixels, scored on white")

    with TestClient(create_app(ApiConfig(weights=ckpt, device="cpu"), background_load=False)) as client:
        api = client.post("/predict", files={"file": ("cut.png", data, "image/png")}).json()
    assert api["real_prob"] == pytest.approx(want, abs=1e-6)
    assert api["warnings"][0].startswith("Transparent image (75%")

    path, out = tmp_path / "cut.png", tmp_path / "p.json"
    path.write_bytes(data)
    assert main(["predict", str(path), "--weights", str(ckpt), "--json", str(out)]) == 0
    [row] = json.loads(out.read_text())
    assert row["p_real"] == pytest.approx(want, abs=1e-6) and row["warnings"][0].startswith("Transparent image (75%")


def test_an_opaque_upload_gets_no_transparency_words(tiny_ckpt):
    buf = io.BytesIO()
    make_face_like(np.random.default_rng(3), 96, True).convert("RGBA").save(buf, format="PNG")
    [r] = judge_uploads(load_detector(tiny_ckpt), [("opaque.png", buf.getvalue())])
    assert r.transparent == 0.0 and "see-through" not in (r.warning or "")


def test_a_16_bit_grey_png_with_a_see_through_level_keeps_its_scaled_colours():
    """16-bit data is scaled to 8 bits (core.quality.to_8bit); the transparency path used to skip
    that and PIL clipped the ramp to near white."""
    ramp = Image.fromarray((np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16))
    buf = io.BytesIO()
    ramp.save(buf, format="PNG", transparency=0)
    plain, info = open_image(buf.getvalue(), name="ramp.png")
    assert info["transparent"] == pytest.approx(1 / 4096) and 120 < np.asarray(plain).mean() < 135
    photo, _ = open_photo(buf.getvalue(), name="ramp.png")
    assert photo.getpixel((0, 0)) == (255, 255, 255) and photo.getpixel((40, 40)) == plain.getpixel((40, 40))


@pytest.mark.parametrize("level", [0, 255, 1000, 61440])
def test_a_16_bit_see_through_level_marks_only_its_own_pixels(level):
    """PIL compares a 16-bit level with pixels clipped at 255: level 255 laid nearly the whole
    picture on white and a level above 255 was never seen through."""
    a = np.full((64, 64), 30000, dtype=np.uint16)
    a[:8, :8] = level
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", transparency=level)
    plain, info = open_image(buf.getvalue(), name="grey16.png")
    assert info["transparent"] == pytest.approx(64 / 4096)
    photo, _ = open_photo(buf.getvalue(), name="grey16.png")
    assert photo.getpixel((0, 0)) == (255, 255, 255) and photo.getpixel((40, 40)) == plain.getpixel((40, 40))
    assert photo.getpixel((40, 40)) == (117, 117, 117)  # 30000 / 257, the scaled grey, not white


def _png48(pixels: np.ndarray, see_through: int) -> bytes:
    """A 16-bit RGB PNG (PIL cannot write one) whose tRNS chunk names colour (see_through,) * 3."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w = pixels.shape[:2]
    rows = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"tRNS", struct.pack(">HHH", *(see_through,) * 3)) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("level", [255, 1000])
def test_a_16_bit_rgb_see_through_colour_marks_only_its_own_pixels(level):
    """PIL decodes 16-bit RGB to 8 bits and compares with the 16-bit colour: (255, 255, 255) laid a
    white picture 98 % on white, and a colour above 255 matched nothing."""
    a = np.full((64, 64, 3), 65535, dtype=np.uint16)
    a[:8, :8] = level
    _, info = open_image(_png48(a, level), name="rgb48.png")
    assert info["transparent"] == pytest.approx(64 / 4096)
    photo, _ = open_photo(_png48(a, level), name="rgb48.png")
    assert photo.getpixel((0, 0)) == photo.getpixel((40, 40)) == (255, 255, 255)


def test_each_reason_to_trust_a_verdict_less_gets_its_own_valid_icon():
    """See-through pixels said under the low-detail warning's blur icon read as "blurred"."""
    from streamlit.string_util import validate_material_icon

    from core.uploads import UploadVerdict

    r = UploadVerdict("cut.png", scored=Image.new("RGB", (20, 16)), p_real=0.5, detail=0.0, transparent=0.75,
                      face_found=False)
    icons, shorts, texts = zip(*r.cautions)
    assert [t.split(" ")[0] for t in texts] == ["Transparent", "No", "Tiny"]  # tiny says what low detail would
    assert list(shorts) == r.short_warnings and r.warning == " ".join(texts)
    blurred = UploadVerdict("b.png", scored=Image.new("RGB", (96, 96)), p_real=0.5, detail=0.0)
    [(blur_icon, _, text)] = blurred.cautions
    assert text.startswith("Little") and len(set(icons) | {blur_icon}) == 4
    assert all(validate_material_icon(i) for i in (*icons, blur_icon))
