"""core.split: stratified splits and split folders written as symlinks."""
import os

import pytest

from core.data import scan_test_set
from core.split import stratified_split, write_split

from .conftest import make_test_set


def test_stratified_split_is_reproducible_and_stratified(tmp_path):
    root = make_test_set(tmp_path / "s", n_real=20, n_fake=10, size=16)
    images = scan_test_set(root).images
    tr1, va1 = stratified_split(images, 0.2, seed=3)
    tr2, va2 = stratified_split(images, 0.2, seed=3)
    assert list(va1["relpath"]) == list(va2["relpath"])
    assert (va1["label"] == 1).sum() == 4 and (va1["label"] == 0).sum() == 2
    assert not set(tr1["relpath"]) & set(va1["relpath"])
    assert len(tr1) + len(va1) == 30


def test_write_split_makes_symlink_folders(tmp_path):
    root = make_test_set(tmp_path / "s", n_real=10, n_fake=10, size=16)
    info = write_split(root, tmp_path / "split", 0.2, 0)
    assert info["counts"]["val"] == {"fake": 2, "real": 2}
    val = scan_test_set(tmp_path / "split" / "val")
    assert len(val) == 4 and all(os.path.islink(p) for p in val.images["path"])
    write_split(root, tmp_path / "split", 0.2, 0)  # re-running is fine


def test_rewriting_a_split_leaves_no_old_links_and_leaves_out_unreadable_files(tmp_path):
    root = make_test_set(tmp_path / "s", n_real=10, n_fake=10, size=16, corrupt=True)
    out = tmp_path / "split"
    info = write_split(root, out, 0.5, 0)
    assert sorted(r for r, _ in info["left_out"]) == ["real/not_an_image.png", "real/truncated.jpg"]
    write_split(root, out, 0.2, 1)  # another fraction and seed into the same folder
    train, val = (set(scan_test_set(out / s).images["relpath"]) for s in ("train", "val"))
    assert len(val) == 4 and not train & val and len(train | val) == 20
    (out / "val" / "real" / "mine.jpg").write_bytes(b"a file of the user's")
    with pytest.raises(FileExistsError, match="mine.jpg"):
        write_split(root, out, 0.2, 0)
    assert (out / "val" / "real" / "mine.jpg").exists() and len(scan_test_set(out / "train")) == 16  # untouched


def test_an_unwritable_split_folder_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    """A read-only --out ended in an OSError traceback (as root too: /sys refuses even root)."""
    from pathlib import Path

    from core.cli import main

    root = make_test_set(tmp_path / "s", n_real=4, n_fake=4, size=16)
    (tmp_path / "afile").write_text("not a folder")
    assert main(["split", "--data", str(root), "--out", str(tmp_path / "afile" / "split")]) == 2
    assert f"{tmp_path / 'afile'} is a file, not a folder" in capsys.readouterr().err

    def refused(self, target):
        raise PermissionError(1, "Operation not permitted", str(self))

    monkeypatch.setattr(Path, "symlink_to", refused)
    assert main(["split", "--data", str(root), "--out", str(tmp_path / "split")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write the split in {tmp_path / 'split'} (") and "operation not permitted" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
