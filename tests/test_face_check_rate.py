"""tools/face_check_rate.py: the counts behind the no-face check's quoted rates."""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import face_check_rate  # noqa: E402


def test_it_counts_each_class_and_names_the_misses(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for cls, n in (("real", 2), ("fake", 3)):
        (tmp_path / cls).mkdir()
        for i in range(n):  # noise: no face to any detector
            Image.fromarray((rng.random((120, 120, 3)) * 255).astype(np.uint8)).save(tmp_path / cls / f"{cls}_{i}.png")
    (tmp_path / "fake" / "broken.jpg").write_bytes(b"not an image")
    r = face_check_rate.rates(tmp_path)
    assert {c: (row["images"], row["has_face"], row["crop_face"]) for c, row in r["classes"].items()} == {
        "real": (2, 0, 0), "fake": (3, 0, 0)}
    assert r["classes"]["real"]["missed"] == ["real/real_0.png", "real/real_1.png"]
    assert set(r["seconds_per_image"]) == {"has_face", "crop_face"} and all(v > 0 for v in r["seconds_per_image"].values())
    assert face_check_rate.main(["--data", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "real: has_face 0/2, crop_face 0/2; has_face missed real/real_0.png" in out.out and "broken.jpg" in out.err
