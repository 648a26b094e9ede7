"""core.inference: predictions frame, corrupt files skipped, the disk cache notices changes."""
import os
import time

import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoint import load_detector
from core.dashboard import progress_text
from core.data import scan_test_set
from core.inference import InferenceSettings, predict_test_set, score_images
from core.prediction_cache import CACHE_COLUMNS, count_words
from core.preprocess import open_image
from core.quality import detail_share

from .conftest import make_test_set, photo_like

SETTINGS = InferenceSettings(batch_size=4, workers=0)


def test_predictions_frame_and_skipped_corrupt_files(tmp_path, tiny_ckpt, cache_dir):
    root = make_test_set(tmp_path / "s", n_real=4, n_fake=4, corrupt=True)
    det = load_detector(tiny_ckpt)
    preds = predict_test_set(det, scan_test_set(root), SETTINGS)
    f = preds.frame
    assert list(f.columns) == ["path", "relpath", "label", "group", "p_real", "width", "height", "format", "size_bytes",
                               "detail_share"]
    assert len(f) == 8 and f["p_real"].between(0, 1).all()
    # the detail measure of each decoded image, the same as measuring the file alone
    np.testing.assert_allclose(f["detail_share"], [detail_share(open_image(p)[0]) for p in f["path"]], rtol=1e-6)
    assert set(f["format"]) == {"JPEG", "PNG"} and (f["width"] == 72).all()
    skipped = dict(preds.skipped)
    assert set(skipped) == {"real/truncated.jpg", "real/not_an_image.png"}
    assert "truncated" in skipped["real/truncated.jpg"] and "not a readable image" in skipped["real/not_an_image.png"]
    # the reason alone: the relpath beside it names the file ("real/x.jpg: x.jpg: ..." said it twice)
    assert not [why for why in skipped.values() if why.startswith(("truncated.jpg", "not_an_image.png"))]
    # scores match scoring the same files one by one
    one = score_images(det, [open_image(p)[0] for p in f["path"]])
    # float32 kernels differ slightly with batch size (measured up to ~1.4e-5 here)
    np.testing.assert_allclose(f["p_real"], one, atol=1e-4)


def test_count_words_say_unreadable_files_apart_from_the_images_scored(tmp_path, tiny_ckpt, cache_dir):
    """The Overview said "10 images ... (11 scored now)": the broken file was counted as scored."""
    root = make_test_set(tmp_path / "s", n_real=4, n_fake=4, corrupt=True)
    det = load_detector(tiny_ckpt)
    first = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert first.scored == 10 and first.unreadable_now == 2  # both files were read now
    assert count_words(first) == "8 images scored and 2 unreadable files left out (8 scored now, 0 from the cache)"
    # the unreadable files' reasons come from the cache too: still not counted as scores
    again = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert count_words(again) == "8 images scored and 2 unreadable files left out (0 scored now, 8 from the cache)"
    # one new broken file read now beside two cached ones, and one new image
    (root / "fake" / "broken.jpg").write_bytes(os.urandom(500))
    (root / "fake" / "new.jpg").write_bytes((root / "real" / "real_00003.jpg").read_bytes())
    third = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert third.unreadable_now == 1
    assert count_words(third) == "9 images scored and 3 unreadable files left out (1 scored now, 8 from the cache)"
    clean = predict_test_set(det, scan_test_set(make_test_set(tmp_path / "c", n_real=1, n_fake=0)), SETTINGS)
    assert count_words(clean) == "1 image scored (1 scored now, 0 from the cache)"


def test_cache_reuses_and_notices_changes(tmp_path, tiny_ckpt, cache_dir):
    root = make_test_set(tmp_path / "s", n_real=4, n_fake=4)
    det = load_detector(tiny_ckpt)
    first = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert first.scored == 8 and first.from_cache == 0
    again = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert again.scored == 0 and again.from_cache == 8
    np.testing.assert_array_equal(first.frame["p_real"], again.frame["p_real"])
    # change one image, add one, remove one
    changed = root / "real" / "real_00001.jpg"
    changed.write_bytes((root / "real" / "real_00002.jpg").read_bytes())
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
    (root / "fake" / "new.jpg").write_bytes((root / "real" / "real_00003.jpg").read_bytes())
    (root / "real" / "real_00000.jpg").unlink()
    third = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert third.scored == 2 and third.from_cache == 6 and len(third.frame) == 8
    row = third.frame.set_index("relpath")
    assert row.loc["real/real_00001.jpg", "p_real"] == pytest.approx(row.loc["real/real_00002.jpg", "p_real"])
    assert "real/real_00000.jpg" not in row.index
    # --no-cache runs the model again
    assert predict_test_set(det, scan_test_set(root), SETTINGS, use_cache=False).scored == 8


def test_detail_share_is_cached_and_tells_blur_apart(tmp_path, tiny_ckpt, cache_dir):
    """The inference pass records each image's fine detail beside its score (the Slices
    page's "fine detail" rows), and the cache gives it back without decoding again."""
    from PIL import ImageFilter

    root = tmp_path / "s"
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            image = photo_like(400, seed=i + (label == "fake") * 2)
            image.save(root / label / f"sharp_{i}.png")
            image.filter(ImageFilter.GaussianBlur(2)).save(root / label / f"blurred_{i}.png")
    det = load_detector(tiny_ckpt)
    first = predict_test_set(det, scan_test_set(root), SETTINGS).frame.set_index("relpath")
    share = first["detail_share"]
    for label in ("real", "fake"):
        for i in range(2):
            assert share[f"{label}/blurred_{i}.png"] < 0.16 <= share[f"{label}/sharp_{i}.png"]
    again = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert again.from_cache == 8
    np.testing.assert_allclose(again.frame.set_index("relpath")["detail_share"].loc[share.index], share)


def test_fast_draft_keeps_the_detail_measure_size(tiny_ckpt):
    """A 224 px model's fast path must not decode a JPEG below the detail measure's 384 px:
    a 600 px face drafted to 300 px would read as blurred."""
    from core.inference import _ImageFolder
    from core.quality import ANALYSIS_SIZE

    det = load_detector(tiny_ckpt)
    assert det.preprocessing.input_size < ANALYSIS_SIZE
    assert _ImageFolder([], det.preprocessing, draft=True).draft_size == ANALYSIS_SIZE
    assert _ImageFolder([], det.preprocessing, draft=False).draft_size is None


def test_interrupted_run_resumes(tmp_path, tiny_ckpt, cache_dir):
    root = make_test_set(tmp_path / "s", n_real=6, n_fake=6)
    det = load_detector(tiny_ckpt)

    def stop_after_first_batch(p):
        if p.done >= 4 and p.done < p.total:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_test_set(det, scan_test_set(root), SETTINGS, progress=stop_after_first_batch)
    resumed = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert resumed.from_cache == 4 and resumed.scored == 8 and len(resumed.frame) == 12


def test_progress_reports_counts(tmp_path, tiny_ckpt, cache_dir):
    root = make_test_set(tmp_path / "s", n_real=3, n_fake=2)
    seen = []
    predict_test_set(load_detector(tiny_ckpt), scan_test_set(root), SETTINGS, progress=seen.append)
    assert seen[-1].done == seen[-1].total == 5 and seen[-1].images_per_s > 0
    # before any batch: first the model is made ready, then the count starts at 0 (a CPU's first batch takes seconds)
    assert seen[0].preparing and not seen[1].preparing and (seen[1].done, seen[1].total) == (0, 5)


def test_huge_image_refused_before_decode(tmp_path):
    from PIL import Image

    from core.preprocess import ImageError

    path = tmp_path / "huge.png"
    Image.new("L", (8000, 7000)).save(path)  # 56 megapixels, tiny file
    with pytest.raises(ImageError, match="56 megapixels, over the 50 megapixel limit"):
        open_image(path)


def test_float32_on_cuda_turns_tf32_off_and_fast_turns_it_on():
    """PyTorch lets cuDNN convolutions run in TF32 by default; the float32 setting must not."""
    from core.inference import _backend_flags

    cuda = torch.device("cuda")  # only the flags are set: no GPU is needed to check them
    before = torch.backends.cudnn.allow_tf32
    with _backend_flags(cuda, fast=False):
        assert torch.backends.cudnn.allow_tf32 is False
        assert torch.backends.cudnn.benchmark is False
    with _backend_flags(cuda, fast=True):
        assert torch.backends.cudnn.allow_tf32 is True
        assert torch.backends.cudnn.benchmark is True
    with _backend_flags(torch.device("cpu"), fast=False):
        assert torch.backends.cudnn.allow_tf32 == before
    assert torch.backends.cudnn.allow_tf32 == before


def test_sessions_scoring_one_set_at_once_take_turns(tmp_path, tiny_ckpt, cache_dir):
    """Dashboard sessions are threads: three opening one unscored set at once used to append the
    same rows and a header each to one cache file, and all three (and every later read) failed."""
    import threading

    root = make_test_set(tmp_path / "s", n_real=10, n_fake=10)
    det, test_set = load_detector(tiny_ckpt), scan_test_set(root)
    results, errors, start, seen = [None] * 3, [], threading.Barrier(3), [[] for _ in range(3)]

    def score(i):
        start.wait()
        try:
            results[i] = predict_test_set(det, test_set, SETTINGS, progress=seen[i].append)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=score, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.scored for r in results) == [0, 0, 20]  # one scored, the others found it done
    for r in results[1:]:
        np.testing.assert_array_equal(r.frame["p_real"], results[0].frame["p_real"])
    lines = next(cache_dir.rglob("*.csv")).read_text().splitlines()
    assert len(lines) == 21 and sum(line.startswith("relpath,") for line in lines) == 1
    # the sessions that waited were told so (the dashboard's bar says another is scoring)
    waited = [any(p.waiting for p in s) for s in seen]
    assert 1 <= sum(waited) and not any(w and r.scored for w, r in zip(waited, results))
    assert "another session" in progress_text(next(p for s in seen for p in s if p.waiting))


@pytest.mark.parametrize("garbage", [b"garbage text here\n", bytes(range(256)) * 2])
def test_a_cache_overwritten_with_garbage_is_rebuilt_not_a_crash_on_every_run(tmp_path, tiny_ckpt, cache_dir, garbage):
    """Rows appended under a garbage first line could never be read back: every run scored
    again and then crashed ('cannot convert float NaN to integer') until the file was deleted."""
    from core.prediction_cache import cache_path

    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    det, test_set = load_detector(tiny_ckpt), scan_test_set(root)
    first = predict_test_set(det, test_set, SETTINGS)
    cache_path(det.sha256, test_set, SETTINGS).write_bytes(garbage)
    again = predict_test_set(det, test_set, SETTINGS)
    assert (again.scored, again.from_cache) == (4, 0)
    np.testing.assert_allclose(again.frame["p_real"], first.frame["p_real"], atol=1e-6)
    third = predict_test_set(det, test_set, SETTINGS)
    assert (third.scored, third.from_cache) == (0, 4)  # rebuilt, and read back


def test_a_cache_with_a_stray_header_and_a_torn_line_rescores_only_those_rows(tmp_path, tiny_ckpt, cache_dir):
    root = make_test_set(tmp_path / "s", n_real=4, n_fake=4)
    det, test_set = load_detector(tiny_ckpt), scan_test_set(root)
    first = predict_test_set(det, test_set, SETTINGS)
    path = next(cache_dir.rglob("*.csv"))
    lines = path.read_text().splitlines()
    # what versions before the lock could leave: a second header mid-file, a line cut short
    path.write_text("\n".join(lines[:3] + [lines[0]] + lines[4:-1] + [lines[-1][:12]]) + "\n")
    again = predict_test_set(det, test_set, SETTINGS)
    assert again.scored == 2 and again.from_cache == 6  # the row the header replaced and the torn one
    np.testing.assert_allclose(again.frame["p_real"], first.frame["p_real"], atol=1e-6)


def test_a_run_killed_mid_line_costs_that_row_not_every_later_run(tmp_path, tiny_ckpt, cache_dir):
    """A kill mid-write leaves the last line without its end; the next run's rows used to be
    appended onto it, and a line with too many fields made every later run fail."""
    root = make_test_set(tmp_path / "s", n_real=4, n_fake=4)
    det, test_set = load_detector(tiny_ckpt), scan_test_set(root)
    first = predict_test_set(det, test_set, SETTINGS)
    path = next(cache_dir.rglob("*.csv"))
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:6]) + b"\n" + lines[6][: len(lines[6]) // 2])  # 5 rows whole, the 6th torn
    for run, want in ((2, (3, 5)), (3, (0, 8)), (4, (0, 8))):
        got = predict_test_set(det, test_set, SETTINGS)
        assert (got.scored, got.from_cache) == want, run
        np.testing.assert_allclose(got.frame["p_real"], first.frame["p_real"], atol=1e-6)
    # torn after its sizes: every whole-number field there, so closed as it was it would parse and be trusted
    whole = path.read_bytes()
    last = whole.rstrip(b"\n").rsplit(b"\n", 1)[1]
    fields = last.split(b",")  # relpath, size_bytes, mtime_ns, p_real, width, height, format, ...
    path.write_bytes(whole[: len(whole) - len(last) - 1] + b",".join(fields[:5] + [fields[5][:1]]))  # height cut short
    got = predict_test_set(det, test_set, SETTINGS)
    assert (got.scored, got.from_cache) == (1, 7)
    np.testing.assert_array_equal(got.frame["height"], first.frame["height"])
    # a torn line with too many fields (what the old append made of it) is dropped, not the whole cache
    path.write_bytes(path.read_bytes() + lines[1][:20] + lines[2] + b"\n")
    assert predict_test_set(det, test_set, SETTINGS).from_cache == 8


def test_rows_recorded_by_content_do_not_run_into_a_torn_last_line(tmp_path, tiny_ckpt, cache_dir):
    """Touched files are recorded under their new time before anything is scored: that append
    used to glue its first row onto a line a killed run left open, losing both for good."""
    root = make_test_set(tmp_path / "s", n_real=4, n_fake=4)
    det = load_detector(tiny_ckpt)
    first = predict_test_set(det, scan_test_set(root), SETTINGS)
    path = next(cache_dir.rglob("*.csv"))
    whole = path.read_bytes()
    path.write_bytes(whole[:-20])  # the last row torn
    for i, image in enumerate(sorted((root / "real").iterdir())[:2]):
        os.utime(image, ns=(time.time_ns(), time.time_ns() + 10**9 * (i + 1)))
    again = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert (again.scored, again.from_cache) == (1, 7)
    third = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert (third.scored, third.from_cache) == (0, 8)
    assert all(len(line.split(b",")) == len(CACHE_COLUMNS) for line in path.read_bytes().splitlines())
    np.testing.assert_allclose(third.frame["p_real"], first.frame["p_real"], atol=1e-5)  # one image re-scored alone


def test_a_closed_row_without_its_format_and_digest_is_scored_again(tmp_path, tiny_ckpt, cache_dir):
    """A writer of session 20 closed a torn line with a line end; cut after its sizes it parsed,
    and was trusted with a wrong height and no format or digest."""
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    det = load_detector(tiny_ckpt)
    first = predict_test_set(det, scan_test_set(root), SETTINGS)
    path = next(cache_dir.rglob("*.csv"))
    lines = path.read_bytes().splitlines()
    fields = lines[-1].split(b",")
    lines[-1] = b",".join(fields[:5] + [fields[5][:1]])  # closed after a cut height
    path.write_bytes(b"\n".join(lines) + b"\n")
    again = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert (again.scored, again.from_cache) == (1, 3)
    np.testing.assert_array_equal(again.frame["height"], first.frame["height"])


def test_a_file_touched_but_unchanged_keeps_its_score_and_a_changed_one_is_scored_again(tmp_path, tiny_ckpt, cache_dir):
    """The shared data set gets new modification times between sessions: all 163 val images were
    scored again each time (28 s). Same bytes now keep their score; new bytes are scored."""
    root = make_test_set(tmp_path / "s", n_real=4, n_fake=4)
    det = load_detector(tiny_ckpt)
    first = predict_test_set(det, scan_test_set(root), SETTINGS)
    touched = sorted((root / "real").iterdir())[:3]
    for i, path in enumerate(touched):
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9 * (i + 1)))  # as a copy or a sync would
    changed = sorted((root / "fake").iterdir())[0]
    changed.write_bytes(sorted((root / "fake").iterdir())[1].read_bytes())  # new bytes (same as another fake's)
    again = predict_test_set(det, scan_test_set(root), SETTINGS)
    assert (again.scored, again.from_cache) == (1, 7)
    before = first.frame.set_index("relpath")["p_real"]
    after = again.frame.set_index("relpath")["p_real"]
    for path in touched:  # the very score, not a new one
        assert after[f"real/{path.name}"] == before[f"real/{path.name}"]
    third = predict_test_set(det, scan_test_set(root), SETTINGS)  # the new times were recorded: a direct hit, no hashing
    assert (third.scored, third.from_cache) == (0, 8)
    from core.prediction_cache import merge_with_cache, cache_path

    merged, todo = merge_with_cache(scan_test_set(root), cache_path(det.sha256, scan_test_set(root), SETTINGS))
    assert not todo and not merged["relinked"].any()


def test_a_cache_only_lookup_records_touched_files_too(tmp_path, tiny_ckpt, cache_dir):
    """`evaluate` answered from the cache must not hash the touched files on every run."""
    from core.prediction_cache import cache_path, cached_predictions, merge_with_cache

    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    det = load_detector(tiny_ckpt)
    predict_test_set(det, scan_test_set(root), SETTINGS)
    for path in (root / "real").iterdir():
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    touched = scan_test_set(root)
    assert cached_predictions(det.sha256, touched, SETTINGS) is not None
    merged, todo = merge_with_cache(touched, cache_path(det.sha256, touched, SETTINGS))
    assert not todo and not merged["relinked"].any()  # matched by path, size and the new time directly


def test_a_file_the_system_will_not_open_is_not_called_a_bad_image(tmp_path, monkeypatch):
    """A permission error read "not a readable image (PermissionError)", blaming the content."""
    from core import preprocess
    from core.preprocess import ImageError, unreadable_reason

    assert unreadable_reason(PermissionError(13, "Permission denied")) == "cannot be read (permission denied)"
    assert unreadable_reason(OSError(5, "Input/output error")) == "cannot be read (input/output error)"
    assert unreadable_reason(OSError("image file is truncated")) == "not a readable image (corrupt or truncated image data)"
    assert "SyntaxError" not in unreadable_reason(SyntaxError("broken PNG file"))  # PIL's class names meant nothing
    path = tmp_path / "locked.jpg"
    Image.new("RGB", (8, 8)).save(path)

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(preprocess.Image, "open", refused)
    with pytest.raises(ImageError, match=r"^locked\.jpg: cannot be read \(permission denied\)$"):
        preprocess.open_image(str(path), name="locked.jpg")


def test_a_cache_folder_that_cannot_be_written_costs_speed_not_the_evaluation(tmp_path, tiny_ckpt, monkeypatch, capsys):
    """An unwritable DEEPFAKE_CACHE_DIR crashed `evaluate` (even with --no-cache) with a PermissionError."""
    from core import near_copies, prediction_cache
    from core.cli import main
    from core.gallery import thumbnail

    root = make_test_set(tmp_path / "s", n_real=3, n_fake=3, corrupt=True)  # + 2 unreadable: no scores to lose
    (tmp_path / "plain_file").write_text("a file where the cache folder should be")
    blocked = tmp_path / "plain_file" / "cache"  # mkdir fails here for root too (NotADirectoryError)
    det, test_set = load_detector(tiny_ckpt), scan_test_set(root)
    preds = predict_test_set(det, test_set, SETTINGS, cache_dir=blocked)
    ok = predict_test_set(det, test_set, SETTINGS, cache_dir=tmp_path / "good")
    np.testing.assert_allclose(preds.frame["p_real"], ok.frame["p_real"])
    assert preds.scored == 8 and "cannot be written" in preds.note and str(blocked) in preds.note and not ok.note
    assert "the 6 scores made now were not kept" in preds.note  # it said 8, the unreadable files counted
    # a cache that is read-only but full: its scores are read, nothing is scored again, nothing to say
    from core import inference

    monkeypatch.setattr(inference, "_unwritable", lambda path: "read-only file system")
    again = predict_test_set(det, test_set, SETTINGS, cache_dir=tmp_path / "good")
    assert (again.scored, again.from_cache, again.note) == (0, 8, "")
    np.testing.assert_allclose(again.frame["p_real"], ok.frame["p_real"])
    monkeypatch.undo()
    paths = list(test_set.images["path"])
    assert near_copies.cached_hashes(paths, blocked) == near_copies.hash_files(paths)
    from core import gallery

    monkeypatch.setattr(gallery, "spare_thumbs", lambda: tmp_path / "spare")
    thumb = thumbnail(paths[0], cache_dir=blocked)
    assert thumb.parent == tmp_path / "spare" and (thumb.parent.stat().st_mode & 0o777) == 0o700  # this user's only
    monkeypatch.setattr(prediction_cache, "DEFAULT_CACHE_DIR", blocked)
    capsys.readouterr()
    assert main(["evaluate", "--data", str(root), "--weights", str(tiny_ckpt), "--device", "cpu"]) == 0
    assert "warning: the prediction cache" in capsys.readouterr().err
