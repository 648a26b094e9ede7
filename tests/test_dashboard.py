"""core/dashboard.py: the pure side of the app (cache keys, the page list)."""
import os
import time
from pathlib import Path

from core.dashboard import (PAGES, REPO, file_stamp, files_signature, other_test_sets, skipped_markdown,
                            weights_stamp)
from core.data import scan_test_set

from .conftest import make_test_set


def test_every_listed_page_exists_and_every_page_file_is_listed():
    listed = {p.path for p in PAGES}
    assert all((REPO / p).is_file() for p in listed)
    assert {f"pages/{f.name}" for f in (REPO / "pages").glob("*.py")} | {"streamlit_app.py"} == listed


def test_file_stamp_changes_when_the_file_does(tmp_path):
    f = tmp_path / "w.pth"
    assert file_stamp(f) == ()  # missing: no crash, an empty key
    f.write_bytes(b"a")
    first = file_stamp(f)
    os.utime(f, ns=(1, 1))
    assert file_stamp(f) != first
    # other bytes of the same size, the old modification time put back (cp -p, rsync -t): still noticed
    kept = f.stat()
    before = file_stamp(f)
    time.sleep(0.05)  # the kernel's ctime clock is coarse (a few ms): let it tick
    f.write_bytes(b"b")
    os.utime(f, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    assert f.stat().st_mtime_ns == kept.st_mtime_ns and file_stamp(f) != before


def test_files_signature_follows_the_file_list(tmp_path):
    root = make_test_set(tmp_path / "set")
    before = files_signature(scan_test_set(root))
    assert files_signature(scan_test_set(root)) == before  # stable
    victim = next((root / "real").iterdir())
    victim.rename(victim.with_name("renamed" + victim.suffix))
    assert files_signature(scan_test_set(root)) != before


def test_two_folders_of_the_same_files_have_their_own_signature(tmp_path):
    """A second folder of links to the same files had the first's signature: the dashboard took it for
    a set already scored, scored it with no progress bar and showed the first folder's paths."""
    a = make_test_set(tmp_path / "a", n_real=2, n_fake=2)
    b = tmp_path / "b"
    for path in sorted(a.rglob("*.jpg")):
        (b / path.relative_to(a)).parent.mkdir(parents=True, exist_ok=True)
        (b / path.relative_to(a)).symlink_to(path)
    sa, sb = scan_test_set(a), scan_test_set(b)
    assert list(sa.images["relpath"]) == list(sb.images["relpath"]) and list(sa.images["size_bytes"]) == list(sb.images["size_bytes"])
    assert files_signature(sa) != files_signature(sb)


def test_seen_fields_leave_out_only_a_part_that_trained_the_model(tmp_path):
    from core.dashboard import seen_fields
    from core.provenance import Seen

    test_set = scan_test_set(make_test_set(tmp_path / "set", n_real=4, n_fake=4))
    digests = {r: f"digest{i}" for i, r in enumerate(test_set.images["relpath"])}  # relpath -> content digest
    some = Seen(frozenset(list(digests.values())[:3]), frozenset(), "x")
    kept = seen_fields(some, digests, test_set, "sig", leave_out=False)
    assert kept["n_trained"] == 3 and kept["left_out"] == 0 and "test_set" not in kept  # counted, not removed
    left = seen_fields(some, digests, test_set, "sig", leave_out=True)
    assert left["left_out"] == 3 and len(left["test_set"].images) == len(test_set.images) - 3
    assert left["set_signature"] == "sig-unseen"  # its own cache key
    everything = seen_fields(Seen(frozenset(digests.values()), frozenset(), "x"), digests, test_set, "sig", True)
    assert everything["n_trained"] == 0 and "test_set" not in everything  # nothing would be left: not removed
    assert seen_fields(None, {}, test_set, "sig", True) == {"seen": None, "seen_digests": {}, "n_trained": 0, "left_out": 0}
    assert seen_fields(some, digests, None, "", True)["n_trained"] == 0  # the tester has no test set


def test_an_uploaded_weights_file_is_saved_under_a_safe_name(tmp_path):
    from core.upload_files import save_weights

    out = save_weights("../../my model (v2).PTH", b"abc", tmp_path / "uploads")
    assert out.parent == tmp_path / "uploads" and out.name.startswith("my_model_v2-") and out.suffix == ".pth"
    assert out.read_bytes() == b"abc"
    other = save_weights("../../my model (v2).PTH", b"new", tmp_path / "uploads")  # someone else's model.pth
    assert other != out and other.read_bytes() == b"new" and out.read_bytes() == b"abc"
    assert save_weights("my model (v2).pth", b"abc", tmp_path / "uploads") == out  # the same file: the same path
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == sorted([out.name, other.name])  # no temp files


def test_weights_stamp_changes_when_a_threshold_is_saved(tmp_path, tiny_ckpt):
    """The model cache is keyed by it: a threshold saved on one page must reach the others."""
    import shutil

    from core.checkpoint import save_threshold

    path = Path(shutil.copy(tiny_ckpt, tmp_path / "w.pth"))
    before = weights_stamp(path)
    save_threshold(path, 0.42, "test")
    assert weights_stamp(path) != before and weights_stamp(path)[:4] == file_stamp(path)


def test_first_readable_skips_broken_files(tmp_path):
    from core.dashboard import first_readable

    root = make_test_set(tmp_path / "s", n_real=2, n_fake=1, corrupt=True)
    test_set = scan_test_set(root)
    i = first_readable(test_set)
    assert test_set.images["relpath"].iloc[i] not in ("real/not_an_image.png", "real/truncated.jpg")
    assert i == 0 or set(test_set.images["relpath"].iloc[:i]) <= {"real/not_an_image.png", "real/truncated.jpg"}


def test_a_set_the_model_has_seen_whole_is_named_so_in_headings():
    import pandas as pd

    from core.dashboard import set_role_words
    from core.provenance import Overlap

    rows = pd.DataFrame({"relpath": ["real/a.jpg", "fake/b.jpg"], "label": [1, 0]})
    none = rows.iloc[:0]
    assert set_role_words(Overlap(2, none, rows, "w.pth")) == ": the model's validation images"
    assert set_role_words(Overlap(2, rows.iloc[:1], rows.iloc[1:], "w.pth")) == ": images the model was trained or chosen on"
    assert set_role_words(Overlap(3, none, rows, "w.pth")) == ""  # one image it has not seen: a test set
    assert set_role_words(None) == "" and set_role_words(Overlap(0, none, none, "w.pth")) == ""


def test_the_one_class_banner_does_not_only_say_add_a_folder():
    """With fake/ present but unreadable (or not listable), "add a fake/ folder" pointed the wrong way."""
    from core.dashboard import one_class_words

    words = one_class_words("real", 12)
    assert "add a `fake/` folder beside `real/`" in words and "why none of its images could be read" in words


def test_other_test_sets_name_each_folder_once_and_never_the_current_one(tmp_path):
    for name in ("val", "train"):
        (tmp_path / name / "real").mkdir(parents=True)
    (tmp_path / "test_images").symlink_to(tmp_path / "val")
    sets = [str(tmp_path / n) for n in ("test_images", "val", "train", "train")]
    assert other_test_sets(str(tmp_path / "val"), sets) == [str(tmp_path / "train")]
    assert other_test_sets(str(tmp_path / "train"), sets) == [str(tmp_path / "test_images")]  # the first name kept


def test_the_unreadable_files_are_listed_by_reason_with_each_reason_whole():
    """A table's reason column cut the reason off at its width; 25 files of one reason named it 25 times."""
    why = "not a readable image: its content is not JPEG, PNG, WebP, BMP or TIFF data (a renamed or damaged file?)"
    text, unnamed = skipped_markdown([("real/broken.jpg", why)])
    assert text == f"- `real/broken.jpg`: {why}" and not unnamed
    many = [(f"fake/f{i:02d}.jpg", why) for i in range(25)] + [("real/locked.jpg", "cannot be read (permission denied)")]
    text, unnamed = skipped_markdown(many)
    first, second = text.split("\n")
    assert first.startswith("- `fake/f00.jpg`, `fake/f01.jpg`") and "`fake/f09.jpg` and 15 more: " + why in first
    assert "f10.jpg" not in first and text.count(why) == 1
    assert second == "- `real/locked.jpg`: cannot be read (permission denied)" and unnamed  # the page adds the full table
