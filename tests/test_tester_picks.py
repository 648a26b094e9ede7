"""core.tester_picks: test-set faces in the single-image tester, and their true class."""
import io
from pathlib import Path

import pytest
from PIL import Image

from core.checkpoint import load_detector
from core.data import scan_test_set
from core.uploads import judge_uploads, verdict_table

from .conftest import make_test_set


@pytest.fixture(scope="module")
def detector(tiny_ckpt):
    return load_detector(tiny_ckpt)


def test_test_set_picks_read_their_files_and_know_their_class(detector, tmp_path):
    import random

    from core.tester_picks import pick_words, random_pick, read_picks

    images = scan_test_set(make_test_set(tmp_path / "set", n_real=3, n_fake=2)).images
    real, fake = images.loc[images["label"] == 1, "relpath"].iloc[0], images.loc[images["label"] == 0, "relpath"].iloc[0]
    gone = images.loc[images["label"] == 1, "path"].iloc[1]
    Path(gone).unlink()  # deleted after the set was listed
    pairs, labels, problems = read_picks(images, [real, fake, images.loc[images["path"] == gone, "relpath"].iloc[0],
                                                  "real/never.jpg"])
    assert [n for n, _ in pairs] == [real, fake] and labels == {real: 1, fake: 0} and len(problems) == 2
    assert problems[0].endswith(": file not found") and "Error" not in " ".join(problems)  # no exception class names
    assert pairs[0][1] == Path(images.loc[images["relpath"] == real, "path"].iloc[0]).read_bytes()
    rng = random.Random(0)
    taken = [random_pick(images, 0, [], rng)]
    taken.append(random_pick(images, 0, taken, rng))
    assert sorted(taken) == sorted(images.loc[images["label"] == 0, "relpath"]) and random_pick(images, 0, taken) is None
    results = judge_uploads(detector, pairs)
    table = verdict_table(results, 0.5, labels=labels)
    assert table["true class"].tolist() == ["real", "fake"]
    assert table["right"].tolist() == [("yes" if (r.verdict(0.5) == "REAL") == (n == real) else "no")
                                       for r, n in zip(results, [real, fake])]
    assert "true class" not in verdict_table(results, 0.5).columns  # plain uploads: no such columns
    assert pick_words(0, "FAKE", 0.5).endswith("**right** at threshold 0.5000.") and "**wrong**" in pick_words(1, "FAKE", 0.5)


def test_an_uploaded_copy_of_a_test_set_file_gets_its_true_class(tmp_path, detector):
    """An uploaded validation image was recognised as one, yet its verdict had no right/wrong."""
    from core.provenance import file_digest
    from core.tester_picks import labels_by_content

    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    images = scan_test_set(root).images
    fake = images[images["label"] == 0].iloc[0]
    digests = {rel: file_digest(path) for rel, path in zip(images["relpath"], images["path"])}
    other = io.BytesIO()
    Image.new("RGB", (40, 40), (9, 9, 9)).save(other, format="PNG")
    results = judge_uploads(detector, [("mine.jpg", open(fake["path"], "rb").read()), ("new.png", other.getvalue()),
                                       ("broken.jpg", b"not an image")])
    assert labels_by_content(results, digests, images) == {"mine.jpg": 0}
    assert labels_by_content(results, {}, images) == {"mine.jpg": 0}  # none read yet: files of its size are read
    (root / "real" / "same_bytes.jpg").write_bytes(open(fake["path"], "rb").read())  # one content, both classes
    assert labels_by_content(results, {}, scan_test_set(root).images) == {}  # no class guessed


@pytest.mark.parametrize("fast", [False, True])
def test_a_pick_gets_the_score_the_test_set_pass_gave_it_and_an_upload_is_read_as_a_photo(tmp_path, fast):
    """A sideways-stored JPEG (EXIF orientation 6), large enough for the fast pass's draft decode:
    the set reads it as stored, and a pick must too, or its verdict contradicts the gallery's."""
    from core.inference import InferenceSettings, predict_test_set
    from core.tester_picks import read_picks

    from .conftest import make_checkpoint, photo_like

    root = make_test_set(tmp_path / "set", n_real=2, n_fake=2)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo_like(1600, seed=3).crop((0, 0, 1600, 1220)).convert("RGB").save(root / "real" / "phone.jpg", exif=exif.tobytes())
    det = load_detector(make_checkpoint(tmp_path / "m.pth", spread=5.0))
    test_set = scan_test_set(root)
    settings = InferenceSettings(fast=fast)
    set_score = predict_test_set(det, test_set, settings, cache_dir=tmp_path / "cache").frame.set_index("relpath")["p_real"]
    pairs, _, _ = read_picks(test_set.images, ["real/phone.jpg"])
    [pick] = judge_uploads(det, pairs, settings=settings, as_stored=("real/phone.jpg",))
    assert pick.p_real == pytest.approx(set_score["real/phone.jpg"], abs=1e-5)  # one image or a batch of five
    assert pick.image.size == ((800, 610) if fast else (1600, 1220))  # as stored, the draft's size when fast
    [upload] = judge_uploads(det, [("phone.jpg", pairs[0][1])], settings=settings)  # a person's photo: upright
    assert abs(upload.p_real - pick.p_real) > 1e-3 and upload.image.size == (1220, 1600)
