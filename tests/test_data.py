"""core.data: the report's folder layout, groups, bad layouts."""
import os

import pytest
from PIL import Image

from core.data import DatasetError, scan_test_set
from core.split import write_split

from .conftest import make_test_set


def test_scan_finds_images_recursively_with_groups(tmp_path):
    root = make_test_set(tmp_path / "s", n_real=4, n_fake=6, groups=True)
    (root / "fake" / "gan" / "UPPER.JPEG").write_bytes((root / "real" / "real_00000.jpg").read_bytes())
    (root / "fake" / "notes.txt").write_text("ignored")
    ts = scan_test_set(root)
    assert (ts.n_real, ts.n_fake) == (4, 7)
    assert set(ts.images["group"]) == {"", "gan"}
    assert "fake/gan/UPPER.JPEG" in set(ts.images["relpath"])
    assert ts.images.loc[ts.images["relpath"].str.startswith("real/"), "label"].eq(1).all()
    assert not ts.problems


def test_missing_folder_and_wrong_layout_explain_the_layout(tmp_path):
    with pytest.raises(DatasetError, match="(?s)not found.*real/"):
        scan_test_set(tmp_path / "nope")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match="no real/ or fake/ subfolder"):
        scan_test_set(tmp_path / "flat")
    (tmp_path / "empty" / "real").mkdir(parents=True)
    (tmp_path / "empty" / "fake").mkdir()
    with pytest.raises(DatasetError, match="No images found"):
        scan_test_set(tmp_path / "empty")


def test_one_class_set_loads_with_a_problem_noted(tmp_path):
    root = make_test_set(tmp_path / "s", n_real=3, n_fake=0)
    ts = scan_test_set(root)
    assert ts.n_real == 3 and not ts.has_both_classes
    assert any("holds no images" in p for p in ts.problems)
    with pytest.raises(DatasetError, match="only real images"):
        scan_test_set(root, require_both=True)


def test_tiff_is_read_and_other_files_are_counted_not_dropped_silently(tmp_path):
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    Image.new("RGB", (32, 32), (90, 40, 20)).save(root / "fake" / "scan.TIF")
    (root / "fake" / "old").mkdir()
    (root / "fake" / "old" / "anim.gif").write_bytes(b"GIF89a")
    (root / "fake" / "phone.HEIC").write_bytes(b"x")
    (root / "fake" / "notes.txt").write_text("x")  # not an image: no warning
    (root / "fake" / "Thumbs.db").write_bytes(b"x")
    (root / "real" / ".hidden.gif").write_bytes(b"x")
    ts = scan_test_set(root)
    assert ts.n_fake == 3 and "fake/scan.TIF" in set(ts.images["relpath"])
    left = [p for p in ts.problems if p.startswith("Left out")]
    assert len(left) == 1, ts.problems
    assert "Left out 2 image(s) in fake/" in left[0]
    assert "fake/phone.HEIC" in left[0] and "fake/old/anim.gif" in left[0] and "notes" not in left[0]


def test_class_folders_any_case(tmp_path):
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    os.rename(root / "real", root / "Real")
    assert scan_test_set(root).n_real == 2


@pytest.mark.parametrize("real, fake", [("training_real", "training_fake"), ("0_real", "1_fake"), ("Real-Faces", "fake")])
def test_class_folders_named_as_data_sets_ship_them(tmp_path, real, fake):
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=3)
    os.rename(root / "real", root / real)
    if fake != "fake":
        os.rename(root / "fake", root / fake)
    ts = scan_test_set(root, require_both=True)
    assert (ts.n_real, ts.n_fake) == (2, 3)
    assert f"Read {real}/ as the real/ folder." in ts.problems
    assert all(r.startswith(f"{real}/") for r in ts.images.loc[ts.images["label"] == 1, "relpath"])
    write_split(root, tmp_path / "split", val_fraction=0.4, seed=0)  # the split is in the report's layout
    assert sorted(p.name for p in (tmp_path / "split" / "train").iterdir()) == ["fake", "real"]


def test_ambiguous_or_mixed_class_folder_names_are_not_guessed(tmp_path):
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    os.rename(root / "real", root / "real_a")
    os.rename(root / "fake", root / "real_and_fake")  # both words: neither class
    (root / "real_b").mkdir()
    with pytest.raises(DatasetError, match="no real/ or fake/ subfolder"):
        scan_test_set(root)


def test_a_folder_one_level_too_high_gets_pointed_down(tmp_path):
    """The report's layout is train_images/ + test_images/, each with real/ and fake/."""
    make_test_set(tmp_path / "data" / "test_images", n_real=1, n_fake=1, size=16)
    (tmp_path / "data" / "notes").mkdir()
    with pytest.raises(DatasetError, match="Did you mean .*test_images"):
        scan_test_set(tmp_path / "data")
    make_test_set(tmp_path / "data" / "train_images", n_real=1, n_fake=1, size=16)
    with pytest.raises(DatasetError, match=r"Did you mean \S*/test_images\? It has them. \(So does train_images/.\)"):
        scan_test_set(tmp_path / "data")  # a test set points at the test folder, training at the training one
    with pytest.raises(DatasetError, match=r"Did you mean \S*/train_images\? It has them. \(So does test_images/.\)"):
        scan_test_set(tmp_path / "data", prefer="train")


def test_linked_folders_are_read_once_and_never_one_above_the_class(tmp_path):
    """A link `real/up -> ..` made a 6 + 6 set read as 486 real, the fakes among them."""
    root = make_test_set(tmp_path / "s", n_real=6, n_fake=6)
    os.symlink("..", root / "real" / "up")  # the test set itself, fake/ included
    os.symlink(".", root / "real" / "self")  # the class folder again
    extra = tmp_path / "more_reals"
    extra.mkdir()
    (extra / "r.png").write_bytes((root / "real" / sorted(os.listdir(root / "real"))[0]).read_bytes())
    os.symlink(extra, root / "real" / "a")
    os.symlink(extra, root / "real" / "b")  # the same folder by a second link
    ts = scan_test_set(root)
    assert (ts.n_real, ts.n_fake) == (7, 6)
    assert sorted(ts.images.loc[ts.images["label"] == 1, "group"].unique()) == ["", "a"]


def test_a_named_pipe_among_the_images_is_skipped_not_waited_on(tmp_path):
    """Opening a FIFO called x.jpg blocks until something writes to it: evaluate hung."""
    import os

    from core.preprocess import ImageError, open_image

    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    os.mkfifo(root / "real" / "pipe.jpg")
    (root / "fake" / "folder.jpg").mkdir()
    ts = scan_test_set(root)
    assert "real/pipe.jpg" not in set(ts.images["relpath"]) and any("pipe.jpg: not a regular file" in p for p in ts.problems)
    for path, why in ((root / "real" / "pipe.jpg", "not a regular file"), (root / "fake" / "folder.jpg", "is a folder"),
                      (tmp_path / "nothing.jpg", "file not found")):
        with pytest.raises(ImageError, match=why):
            open_image(str(path))
    (tmp_path / "empty.jpg").write_bytes(b"")
    os.symlink(tmp_path / "gone.jpg", tmp_path / "dangling.jpg")
    with pytest.raises(ImageError, match="empty file"):
        open_image(str(tmp_path / "empty.jpg"))
    with pytest.raises(ImageError, match="a link to a missing file"):
        open_image(str(tmp_path / "dangling.jpg"))


def test_fake_linked_to_real_is_refused_not_scored_as_both_classes(tmp_path):
    """`fake -> real` scored the same 3 files as 3 real and 3 fake (ROC-AUC 0.39), with no word."""
    root = make_test_set(tmp_path / "s", n_real=3, n_fake=0)
    os.rmdir(root / "fake")
    os.symlink("real", root / "fake")
    with pytest.raises(DatasetError, match=r"real/ and fake/ are the same folder"):
        scan_test_set(root)
    both = make_test_set(tmp_path / "t", n_real=3, n_fake=0)
    for name in ("real", "fake"):  # both links to one folder elsewhere
        (both / name).rename(tmp_path / f"old_{name}")
        os.symlink(tmp_path / "old_real", both / name)
    with pytest.raises(DatasetError, match=r"same folder"):
        scan_test_set(both)


def test_files_under_both_classes_are_named(tmp_path):
    root = make_test_set(tmp_path / "s", n_real=4, n_fake=2)
    reals = sorted(os.listdir(root / "real"))
    os.symlink(root / "real" / reals[0], root / "fake" / "again.jpg")
    os.link(root / "real" / reals[1], root / "fake" / "hard.jpg")  # a hard link is the same file too
    ts = scan_test_set(root)
    assert (ts.n_real, ts.n_fake) == (4, 4)  # still loads: most of the set is sound
    both = [p for p in ts.problems if "under both" in p]
    assert len(both) == 1, ts.problems
    assert both[0].startswith("2 file(s)") and f"real/{reals[0]} = fake/again.jpg" in both[0]
    assert not any("under both" in p for p in scan_test_set(make_test_set(tmp_path / "ok")).problems)


def _deny(monkeypatch, *names):
    """os.scandir raising PermissionError for folders named ``names``, as a folder without read
    permission does (tests run as root, which reads every folder)."""
    scandir = os.scandir

    def fake(path="."):
        if os.path.basename(os.fspath(path)) in names:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", fake)


def test_a_subfolder_that_cannot_be_listed_is_reported_not_dropped(tmp_path, monkeypatch):
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    (root / "real" / "nopermdir").mkdir()
    (root / "real" / "nopermdir" / "x.jpg").write_bytes((root / "real" / "real_00000.jpg").read_bytes())
    _deny(monkeypatch, "nopermdir")
    ts = scan_test_set(root)
    assert ts.n_real == 2
    assert "Cannot list real/nopermdir: permission denied (its images are left out)." in ts.problems


def test_a_class_folder_that_cannot_be_listed_is_unreadable_not_empty(tmp_path, monkeypatch):
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    _deny(monkeypatch, "fake")
    ts = scan_test_set(root)
    assert ts.n_fake == 0 and not any("holds no images" in p for p in ts.problems), ts.problems
    assert any(p.startswith(f"Cannot list {root / 'fake'}: permission denied") and "unreadable" in p for p in ts.problems)
    _deny(monkeypatch, "fake", "real")
    with pytest.raises(DatasetError, match=r"No images found below .*: cannot list \S*fake: permission denied; \S*real: permission denied"):
        scan_test_set(root)
    _deny(monkeypatch, "s")
    with pytest.raises(DatasetError, match=r"Cannot list \S*s: permission denied"):
        scan_test_set(root)


def test_images_at_the_top_level_are_counted(tmp_path):
    flat = tmp_path / "flat"
    make_test_set(flat, n_real=3, n_fake=5)
    for cls in ("real", "fake"):
        for f in os.listdir(flat / cls):
            os.rename(flat / cls / f, flat / f)
        os.rmdir(flat / cls)
    with pytest.raises(DatasetError, match=r"found: no subfolders\)\. Its 8 image\(s\) at the top level must go into real/ or fake/"):
        scan_test_set(flat)
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    for name in ("a.jpg", "b.png", "notes.txt"):
        (root / name).write_bytes((root / "real" / "real_00000.jpg").read_bytes())
    ts = scan_test_set(root)
    assert len(ts) == 4
    assert f"2 image(s) at the top level of {root} are not in real/ or fake/ and are left out." in ts.problems


@pytest.mark.parametrize("names", [("0", "1"), ("True", "False"), ("Reals", "Fakes"), ("authentic", "manipulated")])
def test_two_folders_named_like_classes_are_told_the_expected_names(tmp_path, names):
    root = make_test_set(tmp_path / "s", n_real=1, n_fake=1)
    os.rename(root / "real", root / names[0])
    os.rename(root / "fake", root / names[1])
    first, second = sorted(names, key=str.lower)
    with pytest.raises(DatasetError, match=rf"{first}/ and {second}/ look like class folders, but only real/ and "
                                           rf"fake/ are read as classes"):
        scan_test_set(root)
    (root / "extra").mkdir()  # three folders: no guess about which two are meant
    with pytest.raises(DatasetError) as info:
        scan_test_set(root)
    assert "look like class folders" not in str(info.value)
