"""core.uploads: the single-image tester's batch scoring and the zipped test-set upload."""
import io
import struct
import zipfile
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.checkpoint import load_detector
from core.data import DatasetError, scan_test_set
from core.face import NO_BOX_MESSAGE, NO_FACE_WARNING, FaceCrop
from core.inference import score_images
from core.upload_files import extract_test_set_zip, safe_name
from core.uploads import SCORE_MISSING, judge_uploads, scores_as_text, verdict_csv, verdict_table


def image_bytes(fmt: str, size=(96, 96), color=(180, 120, 90)) -> bytes:
    noise = np.random.default_rng(sum(color)).integers(0, 60, (size[1], size[0], 3))
    buf = io.BytesIO()
    Image.fromarray((np.array(color) + noise).clip(0, 255).astype(np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def huge_png_header(width=8_000, height=7_000) -> bytes:
    """A PNG whose header claims 56 megapixels with almost no pixel data: it must be
    refused from the header, before a decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def detector(tiny_ckpt):
    return load_detector(tiny_ckpt)


def test_bad_uploads_get_a_message_and_the_good_ones_a_verdict(detector):
    good_jpg, good_png, good_webp = image_bytes("JPEG"), image_bytes("PNG", color=(20, 200, 40)), image_bytes("WEBP")
    files = [
        ("a.jpg", good_jpg),
        ("notes.jpg", b"hello, not an image"),
        ("b.png", good_png),
        ("cut.jpg", good_jpg[: len(good_jpg) // 3]),
        ("huge.png", huge_png_header()),
        ("c.webp", good_webp),
        ("doc.pdf", b"%PDF-1.4"),
        ("d.BMP", image_bytes("BMP")),  # a test set may hold .bmp, so the tester takes it too
    ]
    results = judge_uploads(detector, files)
    assert [r.name for r in results] == [name for name, _ in files]
    assert [r.ok for r in results] == [True, False, True, False, False, True, False, True]
    assert "not a readable image" in results[1].error
    assert results[3].error == "cut.jpg: corrupt or truncated image data"  # no "(OSError)"
    assert "megapixel" in results[4].error
    assert ".pdf is not accepted" in results[6].error
    # the good ones get exactly what the model gives for them alone
    good = (good_jpg, good_png, good_webp, files[-1][1])
    expected = score_images(detector, [Image.open(io.BytesIO(b)).convert("RGB") for b in good])
    np.testing.assert_allclose([results[i].p_real for i in (0, 2, 5, 7)], expected, rtol=1e-6)
    for r in (results[0], results[2], results[5]):
        assert r.p_fake == pytest.approx(1 - r.p_real)
        assert r.verdict(r.p_real) == "REAL" and r.verdict(min(1.0, r.p_real + 1e-9)) == "FAKE"
    table = verdict_table(results, 0.5)
    assert table["verdict"].tolist().count("not scored") == 4
    assert table.loc[1, "message"] == results[1].error
    shown = scores_as_text(table)  # the screen: a dash for no score, and the text sorts as the numbers do
    assert shown.loc[1, "P(real)"] == shown.loc[1, "P(fake)"] == SCORE_MISSING
    assert shown.loc[0, "P(real)"] == f"{results[0].p_real:.4f}" and table["P(real)"].isna().sum() == 4
    scored = table["P(real)"].notna()
    assert list(shown[scored].sort_values("P(real)").index) == list(table[scored].sort_values("P(real)").index)
    csv = pd.read_csv(io.BytesIO(verdict_csv(results, 0.5, "m.pth")), keep_default_na=False)
    assert list(csv.columns) == ["file", "P(real)", "P(fake)", "verdict", "threshold", "model", "face crop", "message"]
    assert (csv["threshold"] == 0.5).all() and (csv["model"] == "m.pth").all() and len(csv) == len(results)
    assert float(csv["P(real)"].iloc[0]) == pytest.approx(results[0].p_real, abs=1e-6)
    assert csv.loc[1, "message"] == results[1].error  # failed uploads are listed, not dropped


def test_face_crop_falls_back_to_the_whole_image_with_a_message(detector):
    [r] = judge_uploads(detector, [("plain.png", image_bytes("PNG"))], face_crop=True)
    assert r.ok and not r.face.found and "No face found" in r.face.message
    assert r.scored.size == r.image.size


def test_a_picture_with_no_face_is_warned_of_cropped_or_not(detector, monkeypatch):
    """A picture of noise got a confident green REAL and no word that the model knows only faces."""
    for crop in (False, True):
        [r] = judge_uploads(detector, [("plain.png", image_bytes("PNG"))], face_crop=crop)
        assert r.face_found is False and (r.face is not None) == crop and not r.cropped  # the whole image was scored
        assert r.warning.startswith(NO_FACE_WARNING)
        assert verdict_table([r], 0.5).loc[0, "message"].startswith("no face found: the verdict may mean nothing")
    import core.face

    monkeypatch.setattr(core.face, "has_face", lambda image: True)
    [r] = judge_uploads(detector, [("face.png", image_bytes("PNG"))])
    assert r.face_found and r.face is None and not r.cropped and "No face" not in (r.warning or "")
    assert "no face" not in verdict_table([r], 0.5).loc[0, "message"]
    [r] = judge_uploads(detector, [("face.png", image_bytes("PNG"))], face_crop=True)  # a face, but no box to crop
    assert r.face_found and not r.cropped and r.face.message == NO_BOX_MESSAGE and "No face" not in (r.warning or "")
    assert verdict_table([r], 0.5).loc[0, "face crop"] == "face seen, no box (whole image)"  # not "none found"
    monkeypatch.setattr(core.face, "crop_face", lambda image: FaceCrop(image, (0, 0, *image.size), True, "Face found"))
    monkeypatch.setattr(core.face, "has_face", lambda image: False)  # a small face the crop's cascade found
    [r] = judge_uploads(detector, [("face.png", image_bytes("PNG"))], face_crop=True)
    assert r.cropped and r.face_found and "No face" not in (r.warning or "")


def test_the_face_check_finds_the_labelled_faces_and_no_face_in_noise(ciplab_dir):
    """The one upright cascade crop_face uses missed 24 of the 163 validation faces, so the no-face
    warning would have fired on one real upload in seven; has_face looks harder."""
    from core.face import has_face

    for cls in ("real", "fake"):
        for path in sorted((ciplab_dir / cls).iterdir())[::80]:  # about 10 of each, spread over the set
            assert has_face(Image.open(path)), path.name


def test_the_face_check_sees_no_face_in_noise_a_ramp_or_a_strip(detector):
    """Needs no data set (README quotes it). A 5000 x 5 strip scaled to 400 px on its long side was 0 px
    tall: cv2.resize raised, and the whole batch of uploads with it."""
    from core.face import crop_face, has_face

    rng = np.random.default_rng(0)
    assert not has_face(Image.fromarray((rng.random((600, 600, 3)) * 255).astype(np.uint8)))
    assert not has_face(Image.fromarray(np.tile(np.linspace(0, 255, 600).astype(np.uint8), (600, 1))))
    for size in ((5000, 5), (5, 5000), (2000, 1)):
        strip = Image.new("RGB", size, (120, 90, 80))
        assert not has_face(strip) and not crop_face(strip).found
    ok, strip = judge_uploads(detector, [("ok.png", image_bytes("PNG")), ("strip.png", image_bytes("PNG", size=(5000, 5)))])
    assert ok.ok and strip.ok and strip.face_found is False and strip.p_real is not None


def test_all_bad_batch_scores_nothing(detector):
    results = judge_uploads(detector, [("x.png", b"junk")])
    assert not results[0].ok and results[0].p_real is None


def make_zip(entries: dict, links=()) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, "/etc/passwd")
    buf.seek(0)
    return buf


def test_zip_with_a_top_folder_is_extracted_as_a_test_set(tmp_path):
    jpg = image_bytes("JPEG")
    z = make_zip({"myset/real/r1.jpg": jpg, "myset/fake/gan/f1.jpg": jpg, "myset/readme.txt": b"x",
                  "__MACOSX/myset/real/._r1.jpg": b"junk"})
    root = extract_test_set_zip(z, tmp_path, "My Set!.zip")
    assert root.parent.parent == tmp_path and root.parent.name.startswith("My_Set-") and root.name == "myset"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg")) == ["fake/gan/f1.jpg", "real/r1.jpg"]
    assert not (root / "readme.txt").exists()


def test_zip_of_the_ciplab_download_layout_is_a_test_set(tmp_path):
    from core.dashboard import known_test_sets

    jpg = image_bytes("JPEG")
    z = make_zip({"real_and_fake_face/training_real/r1.jpg": jpg, "real_and_fake_face/training_fake/easy_1_1000.jpg": jpg})
    root = extract_test_set_zip(z, tmp_path, "ciplab.zip")
    assert root.parent.name.startswith("ciplab-") and root.name == "real_and_fake_face"
    ts = scan_test_set(root, require_both=True)
    assert (ts.n_real, ts.n_fake) == (1, 1)
    assert [p.name for p in map(tmp_path.joinpath, known_test_sets(tmp_path))] == ["real_and_fake_face"]


@pytest.mark.parametrize("entries,links,message", [
    ({"../evil.jpg": b"x", "real/a.jpg": b"x"}, (), "outside"),
    ({"/abs/real/a.jpg": b"x"}, (), "outside"),
    ({"real/a.jpg": b"x"}, ("real/link.jpg",), "symbolic link"),
    ({"photos/a.jpg": b"x"}, (), "no real/ or fake/"),
])
def test_unsafe_or_wrong_zips_are_refused_and_leave_nothing(tmp_path, entries, links, message):
    with pytest.raises(DatasetError, match=message):
        extract_test_set_zip(make_zip(entries, links), tmp_path / "up", "set.zip")
    assert not (tmp_path / "evil.jpg").exists()
    assert not any((tmp_path / "up").rglob("*.jpg")) if (tmp_path / "up").exists() else True


def test_two_archives_of_one_name_get_their_own_folders_and_the_same_archive_reuses_its(tmp_path):
    """Sessions share data/uploads: one upload must never delete or overwrite another's."""
    jpg = image_bytes("JPEG")
    first = extract_test_set_zip(make_zip({"real/a.jpg": jpg, "fake/b.jpg": jpg}), tmp_path, "set.zip")
    (first / "real" / "marker.txt").write_text("still here")
    other = extract_test_set_zip(make_zip({"real/c.jpg": jpg, "fake/d.jpg": jpg}), tmp_path, "set.zip")
    assert other != first and (first / "real" / "marker.txt").exists() and (other / "real" / "c.jpg").exists()
    again = extract_test_set_zip(make_zip({"real/a.jpg": jpg, "fake/b.jpg": jpg}), tmp_path, "set.zip")
    assert again == first and (first / "real" / "marker.txt").exists()  # reused, not unpacked over
    assert not list(tmp_path.glob(".*.tmp"))  # no staging folder left behind


def test_not_a_zip_and_oversized_zip(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match="not a readable .zip"):
        extract_test_set_zip(io.BytesIO(b"plain text"), tmp_path, "x.zip")
    import core.upload_files

    monkeypatch.setattr(core.upload_files, "MAX_ZIP_BYTES", 10)
    with pytest.raises(DatasetError, match="over the limit"):
        extract_test_set_zip(make_zip({"real/a.jpg": image_bytes("JPEG")}), tmp_path, "big.zip")


def test_safe_name():
    assert safe_name("../../etc/passwd.zip") == "passwd"
    assert safe_name("..zip") == "upload"
    assert safe_name("a b/c.zip") == "c"


def test_the_perceptual_hash_is_made_only_when_the_model_records_hashes_and_once(detector, monkeypatch):
    import core.uploads as uploads
    from core.provenance import Seen

    calls = []
    real = uploads.image_hash
    monkeypatch.setattr(uploads, "image_hash", lambda image: calls.append(1) or real(image))
    [r] = judge_uploads(detector, [("a.jpg", image_bytes("JPEG"))])
    assert calls == []  # scoring alone never hashes
    assert r.seen_as(None) == "" and r.seen_as(Seen(frozenset({"1-a"}), frozenset(), "x")) == "" and calls == []
    with_hashes = Seen(frozenset({"1-a"}), frozenset(), "x", train_hashes=frozenset({bytes(32)}))
    assert r.seen_as(with_hashes) == r.seen_as(with_hashes) == "" and calls == [1]  # made once, then kept


def test_a_tiny_upload_is_judged_but_warned_of(detector):
    import io

    buf = io.BytesIO()
    Image.new("RGB", (20, 16), (120, 90, 80)).save(buf, format="PNG")
    [r] = judge_uploads(detector, [("icon.png", buf.getvalue())])
    assert r.ok and r.p_real is not None and "Tiny image (20x16 pixels" in r.warning
    assert verdict_table([r], 0.5).loc[0, "message"].endswith("; tiny image: the verdict says little")


def test_no_face_or_a_tiny_image_withholds_the_verdict_colour_but_still_says_the_score():
    import dataclasses

    from core.uploads import UploadVerdict

    face = UploadVerdict("face.jpg", scored=Image.new("RGB", (200, 200)), p_real=0.6968, face_found=True, detail=0.5)
    assert face.withheld is None and face.context_note is None and face.mark_name == "this image"
    assert face.verdict_words(0.5) == "Verdict: **REAL** at threshold 0.5000"
    assert dataclasses.replace(face, face_found=None).withheld is None  # not looked for: nothing to withhold on
    # the other cautions weaken a verdict on a face; they keep its colour
    for kept in (dataclasses.replace(face, transparent=0.4), dataclasses.replace(face, detail=0.0)):
        assert kept.cautions and kept.withheld is None

    flat = dataclasses.replace(face, name="flat.png", face_found=False)
    assert flat.withheld == "no face found"
    assert flat.verdict_words(0.5) == ("No trustworthy verdict: no face found (the model would say **REAL** at "
                                       "threshold 0.5000, P(real) 0.6968)")
    strict = flat.verdict_words(0.8)
    assert strict.startswith("No trustworthy verdict") and "**FAKE** at threshold 0.8000" in strict
    assert "no face found" in flat.context_note and "mostly" not in flat.context_note
    assert flat.mark_name == "this image (no face)"

    tiny = UploadVerdict("icon.png", scored=Image.new("RGB", (8, 8)), p_real=0.3, face_found=True)
    assert tiny.withheld == "the image is too small to judge" and tiny.mark_name == "this image (tiny)"
    assert tiny.verdict_words(0.5).startswith("No trustworthy verdict: the image is too small to judge "
                                              "(the model would say **FAKE**")
    both = dataclasses.replace(tiny, face_found=False)
    assert both.withheld == "no face found and the image is too small to judge"
    assert both.mark_name == "this image (no face, tiny)"
    # the score and the verdict stay in the table and the downloaded file
    table = verdict_table([face, flat, tiny], 0.5)
    assert table["verdict"].tolist() == ["REAL", "REAL", "FAKE"] and table["P(real)"].tolist() == [0.6968, 0.6968, 0.3]


def test_a_flat_blue_square_gets_no_verdict_colour(detector):
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (90, 140, 200)).save(buf, format="PNG")
    [r] = judge_uploads(detector, [("flat.png", buf.getvalue())])
    assert r.ok and r.face_found is False and r.withheld == "no face found"
    assert r.verdict_words(0.5).startswith("No trustworthy verdict: no face found (the model would say")
