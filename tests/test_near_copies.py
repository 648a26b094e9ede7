"""core/near_copies.py and `near-copies`: the same picture saved again is found, other pictures are not."""
import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core import near_copies as nc
from core import provenance
from core.cli import main
from core.identity import file_sha256

from .conftest import make_checkpoint, photo_like


def _reencoded(image: Image.Image, how: str) -> Image.Image:
    if how == "png":
        buf = io.BytesIO(); image.save(buf, "PNG")  # noqa: E702
    elif how == "jpeg60":
        buf = io.BytesIO(); image.save(buf, "JPEG", quality=60)  # noqa: E702
    elif how == "half":
        return image.resize((image.width // 2, image.height // 2), Image.BILINEAR)
    elif how == "flip":
        return image.transpose(Image.FLIP_LEFT_RIGHT)
    return Image.open(buf)


def _bits(a: bytes, b: bytes) -> int:
    return int((np.unpackbits(np.frombuffer(a, np.uint8)) != np.unpackbits(np.frombuffer(b, np.uint8))).sum())


@pytest.mark.parametrize("how", ["png", "jpeg60", "half"])
def test_a_resaved_copy_is_within_the_threshold(how):
    image = photo_like(300, seed=1)
    assert _bits(nc.image_hash(image), nc.image_hash(_reencoded(image, how))) <= nc.MAX_DISTANCE


def test_other_pictures_and_flips_are_far():
    a, b = photo_like(300, seed=1), photo_like(300, seed=2)
    assert _bits(nc.image_hash(a), nc.image_hash(b)) > 3 * nc.MAX_DISTANCE
    assert _bits(nc.image_hash(a), nc.image_hash(_reencoded(a, "flip"))) > 3 * nc.MAX_DISTANCE  # not a copy detector's job


def test_hash_is_256_bits_and_unreadable_files_give_none(tmp_path):
    (tmp_path / "x.jpg").write_text("not an image")
    photo_like(64, seed=0).save(tmp_path / "y.jpg")
    h = nc.hash_files([tmp_path / "x.jpg", tmp_path / "y.jpg", tmp_path / "missing.jpg"])
    assert h[0] is None and h[2] is None and len(h[1]) == 32


def test_near_pairs_equal_brute_force_in_any_chunking():
    rng = np.random.default_rng(0)
    base = [rng.bytes(32) for _ in range(30)]
    flip = lambda h, k: bytes(np.packbits(np.unpackbits(np.frombuffer(h, np.uint8)) ^ (np.arange(256) < k)))  # noqa: E731
    query = [flip(base[i], i % 20) for i in range(30)] + [None]
    brute = [(i, j, _bits(query[i], base[j])) for i in range(30) for j in range(30) if _bits(query[i], base[j]) <= 12]
    for chunk in (1, 7, 4096):
        got = nc.near_pairs(query, base, 12, chunk=chunk)
        assert sorted(map(tuple, got[["i", "j", "distance"]].to_numpy().tolist())) == sorted(brute)
    within = nc.near_pairs([base[0], flip(base[0], 3), None, base[1]])
    assert within[["i", "j", "distance"]].to_numpy().tolist() == [[0, 1, 3]]  # i < j, None skipped


def _set(root, pictures):
    """pictures: (relpath, label, PIL image) -> a frame as core.data lists it."""
    rows = []
    for rel, label, image in pictures:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        image.save(root / rel)
        rows.append({"path": str(root / rel), "relpath": rel, "label": label})
    return pd.DataFrame(rows)


def test_check_finds_copies_across_and_within_and_mislabelled_pairs(tmp_path):
    p = [photo_like(200, seed=s) for s in range(6)]
    train = _set(tmp_path / "train", [("real/a.jpg", 1, p[0]), ("fake/b.jpg", 0, p[1]), ("real/c.jpg", 1, p[2])])
    test = _set(tmp_path / "test", [("real/a_small.png", 1, _reencoded(p[0], "half")), ("real/d.jpg", 1, p[3]),
                                    ("real/d_again.jpg", 1, _reencoded(p[3], "jpeg60")), ("fake/e.jpg", 0, p[4]),
                                    ("real/e_real.jpg", 1, p[4]), ("fake/f.jpg", 0, p[5])])
    (tmp_path / "test" / "real" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    found = nc.check(pd.concat([test, pd.DataFrame([{"path": str(tmp_path / "test" / "real" / "broken.jpg"),
                                                     "relpath": "real/broken.jpg", "label": 1}])], ignore_index=True), train)
    assert found.unreadable == 1 and found.n_test == 7  # counted, compared with nothing, no crash
    assert found.across[["test_relpath", "other_relpath"]].to_numpy().tolist() == [["real/a_small.png", "real/a.jpg"]]
    pairs = {tuple(sorted(r)) for r in found.within[["a_relpath", "b_relpath"]].to_numpy().tolist()}
    assert pairs == {("real/d.jpg", "real/d_again.jpg"), ("fake/e.jpg", "real/e_real.jpg")}
    assert len(found.derived_fakes) == 1
    levels = [level for level, _ in nc.words(found)]
    assert levels == ["warning", "info", "warning"]  # every check found something: no "ok" line
    only_across = nc.check(test.iloc[[0, 1, 5]].reset_index(drop=True), train)
    assert [level for level, _ in nc.words(only_across, "train/")][-1] == "ok"
    assert nc.words(only_across, "train/")[-1][1].startswith("No near copies within the test set (")
    clean = nc.check(test.iloc[[1, 3, 5]].reset_index(drop=True))
    assert nc.words(clean)[0][0] == "ok" and clean.n_other == 0


def test_cli_exit_status_says_whether_copies_were_found(tmp_path, capsys, cache_dir):
    p = [photo_like(160, seed=s) for s in range(4)]
    _set(tmp_path / "train", [("real/a.jpg", 1, p[0]), ("fake/b.jpg", 0, p[1])])
    _set(tmp_path / "test", [("real/a.png", 1, p[0]), ("fake/c.jpg", 0, p[2]), ("real/d.jpg", 1, p[3])])
    out = tmp_path / "pairs.json"
    assert main(["near-copies", "--data", str(tmp_path / "test"), "--other", str(tmp_path / "train"), "--json", str(out)]) == 1
    text = capsys.readouterr().out
    assert "1 of the 3 test images is a near copy" in text and "real/a.png" in text
    saved = json.loads(out.read_text())
    assert saved["across"][0]["other_relpath"] == "real/a.jpg" and saved["within"] == []
    assert main(["near-copies", "--data", str(tmp_path / "test")]) == 0
    assert "No near copies within the 3 test images" in capsys.readouterr().out
    stored = (cache_dir / "phash" / "hashes_upright.csv").read_text()
    assert stored.count("\n") == 5  # every file hashed once, into the cache, though the test set was checked twice
    assert main(["near-copies", "--data", str(tmp_path / "test"), "--no-cache"]) == 0
    assert (cache_dir / "phash" / "hashes_upright.csv").read_text() == stored
    assert main(["near-copies", "--data", str(tmp_path / "nowhere")]) == 2
    assert main(["near-copies", "--data", str(tmp_path / "test"), "--max-distance", "300"]) == 2


def test_copies_of_the_images_a_model_records_are_found_without_their_folder(tmp_path, capsys, cache_dir):
    p = [photo_like(160, seed=s) for s in range(6)]
    _set(tmp_path / "train", [("real/a.jpg", 1, p[0]), ("fake/b.jpg", 0, p[1])])
    _set(tmp_path / "val", [("real/c.jpg", 1, p[2]), ("fake/d.jpg", 0, p[3])])
    ckpt = make_checkpoint(tmp_path / "m.pth")
    assert main(["near-copies", "--data", str(tmp_path / "val"), "--weights", str(ckpt)]) == 0
    assert "records no training images" in capsys.readouterr().out  # said, and the check still runs
    assert main(["fingerprint", str(ckpt), "--train", str(tmp_path / "train"), "--val", str(tmp_path / "val")]) == 0
    # a test set of re-saved copies (half size, PNG) of one training and one validation image, and a new face
    test = _set(tmp_path / "test", [("real/a_small.jpg", 1, _reencoded(p[0], "half")), ("fake/d.png", 0, _reencoded(p[3], "png")),
                                    ("real/e.jpg", 1, p[4])])
    capsys.readouterr()
    out = tmp_path / "found.json"
    assert main(["near-copies", "--data", str(tmp_path / "test"), "--weights", str(ckpt), "--json", str(out)]) == 1
    text = capsys.readouterr().out
    assert "1 of the 3 test images is a copy" in text and "trained on" in text and "validation images" in text
    recorded = {r["test_relpath"]: r["seen_as"] for r in json.loads(out.read_text())["recorded"]}
    assert recorded == {"real/a_small.jpg": "training", "fake/d.png": "validation"}

    seen = provenance.seen_from(None, ckpt, file_sha256(ckpt))
    found = nc.check(test, seen=seen)
    assert found.n_recorded == 4 and found.record_where.endswith(".seen.json")
    assert len(found.recorded_as("training")) == 1 and found.recorded_as("training")["distance"].iloc[0] <= nc.MAX_DISTANCE
    said = nc.words(found)
    assert [level for level, _ in said] == ["warning", "info", "ok"]  # the clean check is named, not left silent
    assert said[2][1].startswith("No near copies within the test set (")
    clean = nc.check(test.iloc[[2]].reset_index(drop=True), seen=seen)
    assert nc.words(clean)[0][0] == "ok" and "nor copies of the 4 images the model records" in nc.words(clean)[0][1]
    assert nc.check(test).recorded is None and nc.check(test).recorded_as("training").empty  # no record given
    assert main(["near-copies", "--data", str(tmp_path / "test"), "--weights", str(tmp_path / "none.pth")]) == 2


def test_the_hash_cache_hashes_a_file_once_and_again_when_it_changes(tmp_path, monkeypatch):
    import os

    pics = _set(tmp_path / "set", [(f"real/{i}.jpg", 1, photo_like(96, seed=i)) for i in range(4)])
    (tmp_path / "set" / "real" / "bad.jpg").write_bytes(b"no image")
    paths = [*pics["path"], str(tmp_path / "set" / "real" / "bad.jpg"), str(tmp_path / "gone.jpg")]
    cache = tmp_path / "cache"
    first = nc.cached_hashes(paths, cache)
    assert first == nc.hash_files(paths) and first[4] is None and first[5] is None
    made = []
    real = nc.file_hash
    monkeypatch.setattr(nc, "file_hash", lambda p: made.append(p) or real(p))
    calls = []
    assert nc.cached_hashes(paths, cache, lambda d, t: calls.append((d, t))) == first
    assert made == []  # all cached; a missing file is neither cached nor hashed
    photo_like(96, seed=9).save(paths[1])  # changed: its size or time moves, so it is hashed again
    os.utime(paths[1], ns=(1, 1))
    again = nc.cached_hashes(paths, cache, lambda d, t: calls.append((d, t)))
    assert again[1] == real(paths[1]) != first[1] and again[0] == first[0] and made[-1] == paths[1]
    assert calls[-1] == (6, 6)  # cached files count as done: the bar ends full
    with open(cache / "phash" / "hashes_upright.csv", "a") as f:
        f.write("torn line\n\"x\"\t1\t2\tzz\n")  # a torn or foreign line is skipped, not trusted
    assert nc.cached_hashes(paths, cache) == again
    found = nc.check(pics, pics.iloc[:1], cache_dir=cache)  # check() takes the cache too
    assert len(found.across) == 1 and found.across["distance"].iloc[0] == 0


def test_a_phone_photo_hashes_as_it_is_shown_upright(tmp_path):
    """Stored on its side with EXIF orientation 6, as phones save: the hash is the upright picture's,
    as the API's (it hashes what it scores), so `predict` finds the same training copies."""
    from core.near_copies import file_hash, image_hash
    from .conftest import photo_like

    def distance(a, b):
        return int(np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())

    face = photo_like(256, seed=3).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # the viewer turns it 90° clockwise
    face.rotate(90, expand=True).save(tmp_path / "phone.jpg", quality=95, exif=exif.tobytes())
    face.save(tmp_path / "plain.jpg", quality=95)
    upright = image_hash(face)
    assert distance(file_hash(tmp_path / "phone.jpg"), upright) == distance(file_hash(tmp_path / "plain.jpg"), upright) <= 4
    assert distance(image_hash(face.rotate(90, expand=True)), upright) > 40  # the stored pixels alone would not match
