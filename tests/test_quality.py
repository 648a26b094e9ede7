"""core.quality: the fine-detail measure behind the low-detail warning, and its wiring into every single-image verdict."""
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from core.quality import LOW_DETAIL, detail_share, low_detail_warning
from tests.conftest import photo_like as sharp_face


def jpeg_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def test_blur_and_upscaling_lower_the_share_and_trip_the_warning():
    sharp = sharp_face()
    blurred = sharp.filter(ImageFilter.GaussianBlur(2))
    upscaled = sharp.resize((150, 150), Image.BILINEAR).resize((600, 600), Image.BILINEAR)
    s, b, u = detail_share(sharp), detail_share(blurred), detail_share(upscaled)
    assert s > LOW_DETAIL > max(b, u)
    assert low_detail_warning(s) is None
    assert "Little fine detail" in low_detail_warning(b) and f"{b:.3f}" in low_detail_warning(b)


def test_brightness_and_contrast_do_not_move_it_and_a_flat_image_has_none():
    sharp = np.asarray(sharp_face(), dtype=np.float32)
    darker = Image.fromarray((sharp * 0.6 + 20).clip(0, 255).astype(np.uint8))
    assert detail_share(darker) == pytest.approx(detail_share(sharp_face()), abs=0.01)
    assert detail_share(Image.new("RGB", (300, 300), (120, 90, 80))) == 0.0
    assert 0.0 <= detail_share(Image.new("L", (5, 7), 3)) <= 1.0  # tiny and grey: still a number


def test_the_reference_level_is_reproduced_from_the_training_faces(ciplab_dir):
    """LOW_DETAIL sits at the 2.5th percentile of the CIPLab faces (every 4th image, to keep CI short)."""
    from core.data import scan_test_set

    paths = scan_test_set(ciplab_dir).images["path"][::4]
    shares = np.array([detail_share(Image.open(p).convert("RGB")) for p in paths])
    assert np.percentile(shares, 1) < LOW_DETAIL < np.percentile(shares, 5)
    assert 0.01 < np.mean(shares < LOW_DETAIL) < 0.05


def test_the_tester_the_cli_and_the_api_all_warn_on_a_blurred_upload(tiny_ckpt, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from core.api import create_app
    from core.api_schemas import ApiConfig
    from core.checkpoint import load_detector
    from core.face import NO_FACE_WARNING
    from core.cli import main
    from core.uploads import judge_uploads, verdict_table

    sharp, blurred = jpeg_bytes(sharp_face()), jpeg_bytes(sharp_face().filter(ImageFilter.GaussianBlur(2.5)))
    got = judge_uploads(load_detector(tiny_ckpt), [("sharp.jpg", sharp), ("blurred.jpg", blurred)])
    # the synthetic face is no face to OpenCV's detectors: the no-face caution comes first, in all three
    [sharp_said, blurred_said] = [[long for _, _, long in r.cautions] for r in got]
    assert sharp_said == [NO_FACE_WARNING] and blurred_said[0] == NO_FACE_WARNING and len(blurred_said) == 2
    assert got[1].p_real is not None  # warned, still scored
    assert [m.split("; ")[-1] for m in verdict_table(got, 0.5)["message"]] == [
        "no face found: the verdict may mean nothing", "little fine detail: fakes pass as real more often"]

    (tmp_path / "b.jpg").write_bytes(blurred)
    out = tmp_path / "p.json"
    assert main(["predict", str(tmp_path / "b.jpg"), "--weights", str(tiny_ckpt), "--json", str(out)]) == 0
    assert "warning: Little fine detail" in capsys.readouterr().out
    (cli,) = json.loads(out.read_text())
    assert cli["detail_share"] == pytest.approx(got[1].detail) and cli["warnings"] == blurred_said

    with TestClient(create_app(ApiConfig(weights=tiny_ckpt, device="cpu"), background_load=False)) as client:
        body = client.post("/predict", files={"file": ("b.jpg", blurred, "image/jpeg")}).json()
        assert body["warnings"] == blurred_said and body["detail_share"] == pytest.approx(got[1].detail)
        body = client.post("/predict", files={"file": ("s.jpg", sharp, "image/jpeg")}).json()
        assert body["warnings"] == sharp_said and body["detail_share"] > LOW_DETAIL


def test_a_test_set_is_flagged_only_when_many_of_its_images_are_low_detail():
    from core.quality import LOW_DETAIL_SET_SHARE, low_detail_set_note

    assert low_detail_set_note([0.3] * 95 + [0.1] * 5, [1, 0] * 50) is None  # 5 %: like the clean validation split
    # unmeasured images do not count; the low-detail ones are 1 real and 1 fake
    note = low_detail_set_note([0.3] * 8 + [0.1] * 2 + [np.nan] * 5, [1] * 8 + [1, 0] + [0] * 5)
    assert note.startswith("2 of 10 images (20%; 1 real, 1 fake) hold little fine detail")
    assert "passes such fakes as real" in note
    assert low_detail_set_note([np.nan, np.nan], [1, 0]) is None and low_detail_set_note([], []) is None
    assert 0.028 < LOW_DETAIL_SET_SHARE  # above the labelled faces' own share, or it would fire on them


def test_a_test_set_whose_low_detail_images_are_all_real_is_not_told_its_fakes_pass():
    """The note spoke of fakes passed as real when its one low-detail image was real, and on a set of reals only."""
    from core.quality import low_detail_set_note

    for labels in ([1] * 5 + [0] * 5, [1] * 10):  # the low-detail image real; a set of reals alone
        note = low_detail_set_note([0.1] + [0.3] * 9, labels)
        assert note.startswith("1 of 10 images (10%; 1 real, 0 fake) hold little fine detail"), note
        assert "fakes as real far more often" not in note and "mix two regimes" not in note
        assert "All of them are real" in note
    note = low_detail_set_note([0.3] * 9 + [0.1], [1] * 5 + [0] * 5)  # a fake this time
    assert "(10%; 0 real, 1 fake)" in note and "passes such fakes as real far more often" in note


def test_evaluate_and_the_overview_flag_a_blurred_test_set(tiny_ckpt, tmp_path, capsys, cache_dir, monkeypatch):
    from core.cli import main
    from tests.conftest import open_page, point_app_at

    root = tmp_path / "set"
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            face = sharp_face(400, seed=i + 3 * (label == "fake"))
            (root / label / f"s{i}.jpg").write_bytes(jpeg_bytes(face))
            (root / label / f"b{i}.jpg").write_bytes(jpeg_bytes(face.filter(ImageFilter.GaussianBlur(2))))
    assert main(["evaluate", "--data", str(root), "--weights", str(tiny_ckpt)]) == 0
    assert "warning: 6 of 12 images (50%; 3 real, 3 fake) hold little fine detail" in capsys.readouterr().err

    point_app_at(monkeypatch, root, tiny_ckpt)
    at = open_page()
    assert not at.exception
    assert any("6 of 12 images (50%; 3 real, 3 fake) hold little fine detail" in w.value for w in at.warning)


@pytest.mark.parametrize("depth", ["I;16", "I", "F"])
def test_high_bit_depth_greyscale_is_scaled_not_clipped_to_white(tmp_path, depth):
    """PIL's convert("RGB") clips 16-bit greyscale at 255: a 16-bit PNG face reached the
    model, the hashes and the thumbnails as a white square. Now it arrives as its 8-bit self."""
    from core import near_copies as nc
    from core.preprocess import open_image
    from core.quality import to_8bit

    grey = np.asarray(sharp_face(96).convert("L"))
    wide = grey.astype(np.uint16) * 257  # the full 16-bit range, as a 16-bit PNG stores it
    image = (Image.fromarray(wide) if depth == "I;16" else
             Image.fromarray(wide.astype(np.int32), mode="I") if depth == "I" else Image.fromarray(wide.astype(np.float32)))
    assert image.mode == depth
    np.testing.assert_array_equal(np.asarray(to_8bit(image)), grey)
    if depth == "I;16":
        image.save(tmp_path / "face16.png")
        assert Image.open(tmp_path / "face16.png").mode.startswith("I")
        rgb, info = open_image(tmp_path / "face16.png")
        np.testing.assert_array_equal(np.asarray(rgb)[..., 0], grey)
        assert nc.file_hash(tmp_path / "face16.png") == nc.image_hash(Image.fromarray(grey))
    assert to_8bit(sharp_face(32)).mode == "RGB"  # 8-bit images pass through untouched


def test_a_float_image_in_0_to_1_is_full_scale_not_black():
    """A float32 TIFF holding 0..1 decoded to an almost black face and was scored anyway."""
    from core.quality import to_8bit

    grey = np.asarray(sharp_face(64).convert("L"))
    fraction = Image.fromarray((grey / 255.0).astype(np.float32))
    assert fraction.mode == "F"
    np.testing.assert_allclose(np.asarray(to_8bit(fraction), dtype=int), grey, atol=1)
    levels = Image.fromarray(grey.astype(np.float32))  # a float image in 0..255 stays as it is
    np.testing.assert_array_equal(np.asarray(to_8bit(levels)), grey)


def test_a_tiny_image_is_warned_of():
    from core.quality import detail_report

    assert any("Tiny image (1x1 pixels" in w for w in detail_report(Image.new("RGB", (1, 1), (90, 80, 70)))["warnings"])
    assert not any("Tiny" in w for w in detail_report(sharp_face(96))["warnings"])
