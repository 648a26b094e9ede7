"""core/provenance.py: which test images a model was trained or chosen on, by content digest; the
`fingerprint` command, `evaluate`'s warning, ensembles, the tester and the Overview page."""
import json
import shutil

import pandas as pd
import pytest
from PIL import Image

from core import provenance, provenance_words
from core.checkpoint import load_detector, save_checkpoint
from core.cli import main
from core.data import scan_test_set
from core.identity import file_sha256
from core.provenance import Seen, bytes_digest, file_digest, overlap, seen_from

from .conftest import make_checkpoint, make_test_set


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("prov")
    return make_test_set(root / "train", n_real=6, n_fake=6), make_test_set(root / "val", n_real=3, n_fake=3, seed=5)


def _fingerprint(ckpt, train, val=None):
    return main(["fingerprint", str(ckpt), "--train", str(train), *(["--val", str(val)] if val else [])])


def _mixed(root, train, val, n_train: int, n_val: int | None = None):
    """A test set of renamed copies: the first ``n_train`` training and ``n_val`` (default all)
    validation images of each class, named ``train_...`` / ``val_...``."""
    for cls in ("real", "fake"):
        (root / cls).mkdir(parents=True)
        for src in sorted((train / cls).iterdir())[:n_train] + sorted((val / cls).iterdir())[:n_val]:
            shutil.copy(src, root / cls / f"{src.parent.parent.name}_{src.name}")
    return root


def test_digest_follows_the_bytes_not_the_name(tmp_path, sets):
    train, _ = sets
    src = next((train / "real").iterdir())
    copy = tmp_path / "renamed.bin"
    shutil.copy(src, copy)
    assert file_digest(copy) == file_digest(src) == bytes_digest(src.read_bytes())
    assert file_digest(src).startswith(f"{src.stat().st_size}-")
    Image.open(src).convert("RGB").save(tmp_path / "again.jpg", quality=70)  # re-encoded: another file
    assert file_digest(tmp_path / "again.jpg") != file_digest(src)
    assert file_digest(tmp_path / "missing.jpg") is None


def test_only_files_of_a_seen_size_are_read(sets, monkeypatch):
    train, val = sets
    seen = Seen(frozenset(provenance.record(scan_test_set(train).images["path"])["train"]), frozenset(), "x")
    images = pd.concat([scan_test_set(train).images, scan_test_set(val).images], ignore_index=True)
    sizes = seen.sizes
    reads = []
    real = provenance.file_digest
    monkeypatch.setattr(provenance, "file_digest", lambda p: reads.append(p) or real(p))
    got = seen.test_digests(images)
    assert len(reads) == int(images["size_bytes"].isin(sizes).sum()) < len(images)
    assert sum(d in seen.train for d in got if d) == 12


def test_the_checkpoint_record_comes_first_and_a_sidecar_for_other_weights_is_ignored(tmp_path, sets):
    train, val = sets
    ckpt = make_checkpoint(tmp_path / "m.pth")
    sha = file_sha256(ckpt)
    assert seen_from(None, ckpt, sha) is None
    assert _fingerprint(ckpt, train, val) == 0
    seen = seen_from(None, ckpt, sha)
    assert (len(seen.train), len(seen.val), seen.where) == (12, 6, "m.pth.seen.json")
    assert seen_from({"train": ["1-aa"], "val": []}, ckpt, sha).where == "the checkpoint"
    assert seen_from(None, ckpt, "0" * 64) is None  # sidecar names other weights
    side = provenance.sidecar_path(ckpt)
    good = side.read_text()
    for bad in ("{not json", "[1, 2]", json.dumps({"weights_sha256": sha, "train": 5}),
                json.dumps({"weights_sha256": sha, "train": ["1-a"], "val": [3]})):
        side.write_text(bad)  # hand-edited or truncated: ignored, never a crash
        assert seen_from(None, ckpt, sha) is None
    side.write_text(good)
    assert file_sha256(ckpt) == sha  # the weights file itself is untouched
    assert _fingerprint(ckpt, train) == 0  # written again without a validation folder
    assert json.loads(provenance.sidecar_path(ckpt).read_text())["val"] == []


def test_fingerprint_refuses_folders_the_checkpoint_was_not_trained_on(tmp_path, sets, capsys):
    train, val = sets
    model = load_detector(make_checkpoint(tmp_path / "a.pth"))
    val_files = sorted(scan_test_set(val).images["relpath"])
    ckpt = save_checkpoint(tmp_path / "b.pth", model.model, model.preprocessing, threshold=0.5,
                           training={"data": {"train": {"real": 6, "fake": 6}, "val": {"real": 3, "fake": 3},
                                              "val_files": val_files}})
    assert _fingerprint(ckpt, val, train) == 2
    err = capsys.readouterr().err
    assert "trained on {'real': 6, 'fake': 6}" in err and "is not the checkpoint's validation set" in err
    assert not provenance.sidecar_path(ckpt).exists()
    assert main(["fingerprint", str(ckpt), "--train", str(val), "--force"]) == 0
    assert _fingerprint(ckpt, train, val) == 0 and provenance.sidecar_path(ckpt).exists()


def test_fingerprint_does_not_count_a_broken_link_that_training_left_out(tmp_path, sets):
    """A broken link is a row of the scan (so it is listed as unreadable), but train never saw it: fingerprint
    counted it and refused the very folders the checkpoint was trained on."""
    import shutil

    train, val = sets
    copy = tmp_path / "train"
    shutil.copytree(train, copy)
    (copy / "real" / "gone.jpg").symlink_to(tmp_path / "nothing.jpg")
    model = load_detector(make_checkpoint(tmp_path / "a.pth"))
    ckpt = save_checkpoint(tmp_path / "b.pth", model.model, model.preprocessing, threshold=0.5,
                           training={"data": {"train": {"real": 6, "fake": 6}}})
    assert _fingerprint(ckpt, copy) == 0


def test_fingerprint_of_a_bare_state_dict_says_the_folders_were_not_checked(tmp_path, sets, capsys):
    import torch

    train, val = sets
    model = load_detector(make_checkpoint(tmp_path / "a.pth")).model
    bare = tmp_path / "report.pth"
    torch.save(model.state_dict(), bare)  # the report's own format: no record of its data
    assert _fingerprint(bare, train, val) == 0
    err = capsys.readouterr().err
    assert "holds a bare state dict, so the folders could not be checked" in err
    assert provenance.sidecar_path(bare).exists()
    assert _fingerprint(make_checkpoint(tmp_path / "b.pth"), train) == 0
    assert "no training data record" in capsys.readouterr().err


def test_evaluate_warns_when_the_test_set_is_training_data(tmp_path, sets, cache_dir, capsys):
    train, val = sets
    ckpt = make_checkpoint(tmp_path / "m.pth")
    out = tmp_path / "e.json"
    assert main(["evaluate", "--data", str(train), "--weights", str(ckpt), "--json", str(out)]) == 0
    assert "cannot be checked" in capsys.readouterr().err
    assert json.loads(out.read_text())["seen_images"] == {"checked": False}
    assert _fingerprint(ckpt, train, val) == 0
    for _ in range(2):  # scored, then answered from the cache without loading the model
        assert main(["evaluate", "--data", str(train), "--weights", str(ckpt), "--json", str(out)]) == 0
        assert "warning: 12 of the 12 test images (100%; 6 real, 6 fake) are files this model was trained on" in \
            capsys.readouterr().err
        assert len(json.loads(out.read_text())["seen_images"]["trained_on"]) == 12
    assert main(["evaluate", "--data", str(val), "--weights", str(ckpt)]) == 0
    assert "note: 6 of the 6 test images (3 real, 3 fake) are this model's validation images" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="all 12 test images are pictures this model was trained on"):
        main(["evaluate", "--data", str(train), "--weights", str(ckpt), "--unseen-only"])
    mixed = tmp_path / "mixed"
    shutil.copytree(val, mixed)
    shutil.copy(next((train / "real").iterdir()), mixed / "real" / "from_train.jpg")
    assert main(["evaluate", "--data", str(mixed), "--weights", str(ckpt), "--unseen-only", "--json", str(out)]) == 0
    assert "1 of 7 test images are pictures this model was trained on (the files, or the pictures saved again) and are " \
           "left out" in capsys.readouterr().err
    assert json.loads(out.read_text())["n_images"] == 6
    with pytest.raises(SystemExit, match="does not record the images"):
        main(["evaluate", "--data", str(mixed), "--weights", str(make_checkpoint(tmp_path / "r.pth")), "--unseen-only"])


def test_an_ensemble_carries_the_union_of_its_members_seen_images(tmp_path, sets, capsys):
    train, val = sets
    a, b = make_checkpoint(tmp_path / "a.pth", seed=1), make_checkpoint(tmp_path / "b.pth", seed=2)
    assert main(["ensemble", str(a), str(b), "--out", str(tmp_path / "none.pth")]) == 0
    assert "the ensemble records none" in capsys.readouterr().err
    assert provenance.model_seen(load_detector(tmp_path / "none.pth")) is None
    half = make_test_set(tmp_path / "half", n_real=2, n_fake=2, seed=9)
    assert _fingerprint(a, train) == 0 and _fingerprint(b, half) == 0
    assert main(["ensemble", str(a), str(b), "--out", str(tmp_path / "e.pth"), "--data", str(val)]) == 0
    seen = provenance.model_seen(load_detector(tmp_path / "e.pth"))
    assert seen.where == "the checkpoint" and len(seen.train) == 16 and len(seen.val) == 6
    assert len(seen.train_hashes) == 16 and len(seen.val_hashes) == 6  # the perceptual hashes travel with them
    assert main(["unpack", str(tmp_path / "e.pth"), "--out", str(tmp_path / "back")]) == 0
    for i, member in ((1, a), (2, b)):  # each member gets back what it had seen itself, not the union
        got = provenance.model_seen(load_detector(tmp_path / "back" / f"{i}_{member.name}"))
        assert got.where == "the checkpoint" and got.train == provenance.model_seen(load_detector(member)).train


def test_uploads_say_when_the_model_has_seen_the_file(tmp_path, sets):
    from core.uploads import judge_uploads, verdict_table

    train, val = sets
    ckpt = make_checkpoint(tmp_path / "m.pth")
    assert _fingerprint(ckpt, train, val) == 0
    det = load_detector(ckpt)
    seen = provenance.model_seen(det)
    files = [(p.name, p.read_bytes()) for p in [next((train / "fake").iterdir()), next((val / "real").iterdir())]]
    fresh = tmp_path / "new.png"
    Image.new("RGB", (64, 64), (120, 90, 80)).save(fresh)
    files.append(("new.png", fresh.read_bytes()))
    resaved = tmp_path / "resaved.png"  # a training picture at another size and format: other bytes, same picture
    Image.open(next((train / "real").iterdir())).resize((144, 144)).save(resaved)
    files.append(("resaved.png", resaved.read_bytes()))
    results = judge_uploads(det, files)
    kinds = ["training image", "validation image", "", "near copy of a training image"]
    assert [r.seen_as(seen) for r in results] == kinds
    assert provenance_words.upload_words("training image").startswith("This exact file is one of the model's training images")
    assert provenance_words.upload_words(kinds[3]).startswith("This picture is a re-saved copy")
    assert list(verdict_table(results, 0.5, seen)["seen by the model"]) == kinds
    # without recorded hashes only the exact files are known
    bare = Seen(seen.train, seen.val, seen.where)
    assert [r.seen_as(bare) for r in results] == kinds[:3] + [""]
    assert "seen by the model" not in verdict_table(results, 0.5).columns


def test_overview_page_flags_training_images_and_lists_them(tmp_path, sets, cache_dir, monkeypatch):
    from .conftest import open_page, point_app_at

    train, val = sets
    ckpt = make_checkpoint(tmp_path / "w" / "m.pth", spread=60.0)
    point_app_at(monkeypatch, train, ckpt)
    at = open_page("streamlit_app.py")
    assert not at.exception
    assert any("cannot be checked" in c.value for c in at.caption)
    assert _fingerprint(ckpt, train, val) == 0  # the page re-reads the new sidecar on the next run
    at.run()
    assert not at.exception
    assert [e.value for e in at.error][0].startswith("12 of the 12 test images (100%; 6 real, 6 fake) are files this "
                                                     "model was trained on")
    listed = next(df.value for df in at.dataframe if "file" in df.value.columns)  # named for people
    assert sorted(listed["file"]) == sorted(scan_test_set(train).images["relpath"])
    assert set(listed["true class"]) == {"real", "fake"}
    assert "w_unseen_only" not in [t.key for t in at.sidebar.toggle]  # leaving all out would leave nothing
    at.switch_page("pages/7_Compare.py").run()
    assert not at.exception and list(at.dataframe[0].value["test images seen"]) == ["trained on 12"]
    point_app_at(monkeypatch, val, ckpt)
    at = open_page("streamlit_app.py")
    assert not at.exception and not at.error
    assert at.info[0].value.startswith("6 of the 6 test images (3 real, 3 fake) are this model's validation images")


def test_a_partly_seen_set_gets_a_warning_and_the_numbers_on_the_rest(tmp_path, sets, cache_dir, monkeypatch):
    from core.checkpoint import load_detector as load
    from core.provenance_words import unseen_words
    from core.inference import predict_test_set
    from core.metrics import ThresholdSweep

    from .conftest import open_page, point_app_at

    train, val = sets
    mixed = _mixed(tmp_path / "mixed", train, val, 3)
    ckpt = make_checkpoint(tmp_path / "w" / "m.pth", spread=60.0)
    assert _fingerprint(ckpt, train) == 0
    frame = predict_test_set(load(ckpt), scan_test_set(mixed)).frame
    rest = frame[frame["relpath"].str.contains("/val_")]
    want = ThresholdSweep(rest["label"], rest["p_real"]).summary(0.5)
    point_app_at(monkeypatch, mixed, ckpt)
    at = open_page("streamlit_app.py")
    assert not at.exception and not at.error
    [warning] = [w.value for w in at.warning if "trained on" in w.value]
    assert warning.startswith("6 of the 12 test images (50%; 3 real, 3 fake) are files this model was trained on")
    assert (f"On the 6 test images it was not trained on (3 real, 3 fake): accuracy {want['accuracy']:.1%}, "
            f"ROC-AUC {want['roc_auc']:.3f} (from 3 real and 3 fake: says little) at threshold 0.5000.") in warning
    seen = provenance.model_seen(load(ckpt))
    o = overlap(frame, seen.test_digests(frame), seen)
    assert unseen_words(frame, o, 0.5) in warning
    assert unseen_words(frame.iloc[:0], None, 0.5) is None


def test_the_html_report_says_what_the_model_has_seen(tmp_path, sets, cache_dir):
    train, val = sets
    ckpt = make_checkpoint(tmp_path / "m.pth")
    out = tmp_path / "r.html"
    args = ["report", "--data", str(train), "--weights", str(ckpt), "--bootstrap", "50", "--out", str(out)]
    assert main(args) == 0
    assert "seen by the model" in out.read_text() and "cannot be checked" in out.read_text()
    assert _fingerprint(ckpt, train, val) == 0
    assert main(args) == 0
    text = out.read_text()
    assert '<div class="warn">⚠ 12 of the 12 test images (100%; 6 real, 6 fake) are files this model was trained on' in text
    assert main([*args[:2], str(val), *args[3:]]) == 0
    assert "6 of the 6 test images (3 real, 3 fake) are this model's validation images" in out.read_text()


def test_seen_by_model_is_a_slice_in_the_dashboard_and_the_report(tmp_path, sets, cache_dir, monkeypatch):
    from core.slices import add_slice_columns, slice_masks

    from .conftest import open_page, point_app_at

    train, val = sets
    mixed = _mixed(tmp_path / "mixed", train, val, 2, 1)
    Image.new("RGB", (72, 72), (10, 20, 30)).save(mixed / "real" / "new.png")
    ckpt = make_checkpoint(tmp_path / "w" / "m.pth", spread=60.0)
    assert _fingerprint(ckpt, train, val) == 0
    det = load_detector(ckpt)
    from core.inference import predict_test_set

    frame = predict_test_set(det, scan_test_set(mixed)).frame
    seen = provenance.model_seen(det)
    col = provenance.seen_column(frame, overlap(frame, seen.test_digests(frame), seen))
    assert col.value_counts().to_dict() == {"training image": 4, "validation image": 2, "unseen": 1}
    masks = {(d, v): m.sum() for d, v, m in slice_masks(add_slice_columns(frame.assign(seen_by_model=col),
                                                                          jpeg_quality=False))}
    assert [masks.get(("seen by the model", v), 0) for v in provenance.SEEN_VALUES] == [4, 0, 2, 0, 1]  # no copies here
    assert not any(d == "seen by the model" for d, _, _ in slice_masks(add_slice_columns(frame, jpeg_quality=False)))

    point_app_at(monkeypatch, mixed, ckpt)
    at = open_page("pages/6_Slices.py")
    assert not at.exception
    assert any("seen by the model" in str(df.value.values) for df in at.dataframe)
    out = tmp_path / "r.html"
    assert main(["report", "--data", str(mixed), "--weights", str(ckpt), "--bootstrap", "50", "--out", str(out)]) == 0
    csv = pd.read_csv(out.with_suffix(".csv"))
    assert csv.set_index("relpath").loc["real/train_real_00000.jpg", "seen_by_model"] == "training image"
    assert "seen by the model" in out.read_text()


def test_the_sidebar_can_leave_out_the_training_images_for_every_page(tmp_path, sets, cache_dir, monkeypatch):
    from core.inference import predict_test_set
    from core.metrics import ThresholdSweep

    from .conftest import open_page, point_app_at

    train, val = sets
    mixed = _mixed(tmp_path / "mixed", train, val, 2)
    ckpt = make_checkpoint(tmp_path / "w" / "m.pth", spread=60.0)
    point_app_at(monkeypatch, mixed, ckpt)
    at = open_page("streamlit_app.py")
    assert not at.exception and "w_unseen_only" not in [t.key for t in at.sidebar.toggle]  # nothing recorded: no toggle
    assert _fingerprint(ckpt, train) == 0
    at = open_page("streamlit_app.py")
    toggle = at.sidebar.toggle(key="w_unseen_only")
    assert toggle.label == "Leave out the 4 test images it was trained on" and not toggle.value
    assert {m.label: m.value for m in at.metric}["Real images"] == "5"
    toggle.set_value(True).run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Real images"], shown["Fake images"]) == ("3", "3")
    assert at.info[0].value.startswith("4 images of") and not at.error and not at.warning
    frame = predict_test_set(load_detector(ckpt), scan_test_set(mixed)).frame
    rest = frame[frame["relpath"].str.contains("/val_")]
    assert shown["Accuracy"] == f"{ThresholdSweep(rest['label'], rest['p_real']).summary(0.5)['accuracy']:.1%}"
    assert at.query_params["unseen"] in ("1", ["1"])  # a copied link keeps the choice
    at.switch_page("pages/7_Compare.py").run()  # the Compare page's own contexts too
    assert not at.exception and list(at.dataframe[0].value["n"]) == [6]
    at.switch_page("pages/6_Slices.py").run()  # every page sees the same smaller set
    assert not at.exception
    table = next(df.value for df in at.dataframe if "slice" in df.value.columns)
    assert int(table.loc[table["slice"] == "all images", "images"].iloc[0]) == 6
    at.switch_page("streamlit_app.py").run()
    at.sidebar.toggle(key="w_unseen_only").set_value(False).run()  # back to the whole set
    assert {m.label: m.value for m in at.metric}["Real images"] == "5" and "unseen" not in at.query_params
    from core.dashboard import initial_sources

    assert initial_sources({"unseen": "1"}, {})["unseen_only"] and not initial_sources({}, {})["unseen_only"]


def test_without_a_test_set_the_context_still_knows_what_the_model_has_seen(tmp_path, sets):
    """The single-image tester needs no test set, but still marks uploads the model trained on."""
    from core import ui

    train, _ = sets
    ckpt = make_checkpoint(tmp_path / "m.pth")
    assert _fingerprint(ckpt, train) == 0
    fields = ui._with_seen(load_detector(ckpt), None, "", leave_out=True)
    assert len(fields["seen"].train) == 12 and fields["seen_digests"] == {} and fields["n_trained"] == 0


def test_each_with_progress_reports_every_n_and_at_the_end():
    calls = []
    out = provenance.each_with_progress(lambda x: x * 2, range(7), lambda done, total: calls.append((done, total)), every=3)
    assert out == [0, 2, 4, 6, 8, 10, 12] and calls == [(3, 7), (6, 7), (7, 7)]
    assert provenance.each_with_progress(str, []) == []


def test_malformed_perceptual_hashes_in_a_sidecar_are_ignored_not_trusted(tmp_path, sets):
    train, val = sets
    ckpt = make_checkpoint(tmp_path / "m.pth")
    assert _fingerprint(ckpt, train, val) == 0
    side = provenance.sidecar_path(ckpt)
    saved = json.loads(side.read_text())
    assert len(saved["phash"]["train"]) == 12 and saved["phash"]["hash"] == provenance.PHASH
    for bad in (["zz" * 32], ["ab"], "not a list", None):
        side.write_text(json.dumps({**saved, "phash": {**saved["phash"], "train": bad}}))
        seen = seen_from(None, ckpt, file_sha256(ckpt))
        assert len(seen.train) == 12 and seen.train_hashes == frozenset()  # digests still used


def test_the_shipped_default_knows_a_resaved_copy_of_its_training_images(ciplab_dir):
    import io

    from core.near_copies import image_hash
    from core.cli import WEIGHTS_DIR

    weights = WEIGHTS_DIR / "default.pth"
    seen = seen_from(None, weights, file_sha256(weights))
    assert len(seen.train_hashes) == 1469 and len(seen.val_hashes) == 163
    found = {}
    for path in sorted((ciplab_dir / "real").iterdir())[:40]:
        kind = provenance.seen_as(seen, file_digest(path))
        if kind and kind not in found:
            found[kind] = path
    assert set(found) == {"training image", "validation image"}  # 40 reals hold both at a 10 % split
    for kind, path in found.items():
        buf = io.BytesIO()
        Image.open(path).resize((300, 300)).save(buf, "PNG")
        data = buf.getvalue()
        assert provenance.seen_as(seen, bytes_digest(data)) == ""  # other bytes: the digest alone misses it
        assert provenance.seen_as(seen, bytes_digest(data), image_hash(Image.open(io.BytesIO(data)))) == f"near copy of a {kind}"


def test_record_reads_each_file_once_and_matches_the_separate_digest_and_hash(tmp_path, sets, monkeypatch):
    from core import near_copies

    train = scan_test_set(sets[0]).images["path"].tolist()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")  # a digest but no hash
    missing = tmp_path / "gone.jpg"  # neither
    reads = []
    real_read = provenance.Path.read_bytes
    monkeypatch.setattr(provenance.Path, "read_bytes", lambda self: reads.append(self) or real_read(self))
    rec = provenance.record([*train, broken, missing], train[:2])
    assert len(reads) == len(train) + 2 + 2  # one read per readable-or-not path, none again for the hash
    assert rec["train"] == sorted({file_digest(p) for p in [*train, broken]})
    assert rec["val"] == sorted({file_digest(p) for p in train[:2]})
    assert rec["phash"]["train"] == sorted({near_copies.file_hash(p).hex() for p in train})  # the broken file has none


def _resaved_set(tmp_path):
    """A fingerprinted checkpoint and a test set of 7: one of its training files as it is, two of its
    training pictures saved again (80 px JPEG 70, PNG), four new pictures."""
    from .conftest import photo_like

    train, test = tmp_path / "train", tmp_path / "test"
    pictures = [photo_like(160, seed=s) for s in range(8)]
    for root in (train, test):
        for cls in ("real", "fake"):
            (root / cls).mkdir(parents=True)
    for i, p in enumerate(pictures[:4]):
        p.save(train / ("real" if i % 2 else "fake") / f"t{i}.jpg", quality=95)
    shutil.copy(train / "fake" / "t0.jpg", test / "fake" / "same_file.jpg")  # the exact file: the digest check's
    pictures[1].resize((80, 80)).save(test / "real" / "t1_small.jpg", quality=70)  # re-saved: only a hash finds it
    pictures[2].save(test / "fake" / "t2.png")
    for i, p in enumerate(pictures[4:]):
        p.save(test / ("real" if i % 2 else "fake") / f"new{i}.jpg", quality=95)
    ckpt = make_checkpoint(tmp_path / "w" / "m.pth", spread=60.0)
    assert _fingerprint(ckpt, train) == 0
    return train, test, ckpt


def test_overview_says_which_test_images_are_training_pictures_saved_again(tmp_path, cache_dir, monkeypatch):
    from .conftest import open_page, point_app_at

    train, test, ckpt = _resaved_set(tmp_path)
    point_app_at(monkeypatch, test, ckpt)
    at = open_page("streamlit_app.py")
    assert not at.exception, at.exception
    exact = next(w.value for w in at.warning if w.value.startswith("1 of the 7 test images (14%"))  # the file itself
    assert "On the 4 test images it was not trained on" in exact  # the numbers on the rest leave out the copies too
    resaved = [w.value for w in at.warning if "re-saved copies" in w.value]
    assert resaved and resaved[0].startswith("2 of the 7 test images are re-saved copies") and "training images" in resaved[0]
    listed = next(df.value for df in at.dataframe if "copy of a" in df.value.columns)
    assert sorted(listed["test image"]) == ["fake/t2.png", "real/t1_small.jpg"]  # not the exact file again
    assert (cache_dir / "phash" / "hashes_upright.csv").is_file()  # hashed once, into the disk cache
    at.run()
    assert not at.exception and any("re-saved copies" in w.value for w in at.warning)


def test_evaluate_and_predict_say_which_images_are_training_pictures_saved_again(tmp_path, cache_dir, capsys):
    _, test, ckpt = _resaved_set(tmp_path)
    out = tmp_path / "ev.json"
    assert main(["evaluate", "--data", str(test), "--weights", str(ckpt), "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "1 of the 7 test images" in err and "2 of the 7 test images are re-saved copies" in err
    seen = json.loads(out.read_text())["seen_images"]
    assert seen["trained_on"] == ["fake/same_file.jpg"]
    assert sorted(r["test_relpath"] for r in seen["resaved_copies"]) == ["fake/t2.png", "real/t1_small.jpg"]
    assert {r["seen_as"] for r in seen["resaved_copies"]} == {"training"}
    assert main(["predict", str(test / "real" / "t1_small.jpg"), str(test / "fake" / "same_file.jpg"),
                 str(test / "real" / "new1.jpg"), "--weights", str(ckpt), "--json", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.count("re-saved copy") == 1 and said.count("This exact file is one of the model's training") == 1
    assert [r.get("seen_by_model", "") for r in json.loads(out.read_text())] == [
        "near copy of a training image", "training image", ""]


def test_re_saved_copies_are_a_slice_of_their_own_in_the_dashboard_and_the_report(tmp_path, cache_dir, monkeypatch):
    from .conftest import open_page, point_app_at

    _, test, ckpt = _resaved_set(tmp_path)
    point_app_at(monkeypatch, test, ckpt)
    at = open_page("pages/6_Slices.py")
    assert not at.exception, at.exception
    table = next(df.value for df in at.dataframe if "slice" in df.value.columns)
    seen = table[table["dimension"] == "seen by the model"].set_index("slice")["images"].to_dict()
    assert seen == {"training image": 1, "near copy of a training image": 2, "unseen": 4}
    out = tmp_path / "r.html"
    assert main(["report", "--data", str(test), "--weights", str(ckpt), "--bootstrap", "50", "--out", str(out)]) == 0
    seen = pd.read_csv(out.with_suffix(".csv")).set_index("relpath")["seen_by_model"]
    assert seen["fake/same_file.jpg"] == "training image"
    assert seen["real/t1_small.jpg"] == seen["fake/t2.png"] == "near copy of a training image"
    assert (seen.drop(["fake/same_file.jpg", "real/t1_small.jpg", "fake/t2.png"]) == "unseen").all()
    assert "On the 4 test images it was not trained on" in out.read_text()  # the report's rest leaves out the copies


def test_leaving_out_the_training_images_leaves_out_their_re_saved_copies_too(tmp_path, cache_dir, monkeypatch, capsys):
    from .conftest import open_page, point_app_at

    _, test, ckpt = _resaved_set(tmp_path)
    out = tmp_path / "ev.json"
    assert main(["evaluate", "--data", str(test), "--weights", str(ckpt), "--unseen-only", "--json", str(out)]) == 0
    assert "3 of 7 test images are pictures this model was trained on" in capsys.readouterr().err  # 1 file + 2 copies
    saved = json.loads(out.read_text())
    assert saved["n_images"] == 4 and saved["seen_images"]["trained_on"] == [] and saved["seen_images"]["resaved_copies"] == []
    point_app_at(monkeypatch, test, ckpt)
    at = open_page("streamlit_app.py")
    toggle = at.sidebar.toggle(key="w_unseen_only")
    assert toggle.label == "Leave out the 3 test images it was trained on"
    toggle.set_value(True).run()
    assert not at.exception, at.exception
    assert at.info[0].value.startswith("3 images of") and "the pictures saved again" in at.info[0].value
    assert {m.label: m.value for m in at.metric}["Real images"] == "2" and not any(
        "re-saved copies" in w.value for w in at.warning)  # nothing of its training is left to warn about


def test_the_numbers_on_the_unseen_rest_say_when_they_rest_on_one_fake():
    """"On the 7 test images it was not trained on (6 real, 1 fake): accuracy 85.7%, ROC-AUC 1.000" read as perfect."""
    from types import SimpleNamespace

    rels = [f"real/r{i}.jpg" for i in range(10)] + [f"fake/f{i}.jpg" for i in range(6)]
    frame = pd.DataFrame({"relpath": rels, "label": [1] * 10 + [0] * 6,
                          "p_real": [0.9, 0.8, 0.7, 0.6, 0.55, 0.45, 0.9, 0.8, 0.7, 0.6] + [0.1] * 6})
    trained = SimpleNamespace(train=pd.DataFrame({"relpath": rels[6:10] + rels[11:]}))  # leaves 6 real, 1 fake
    text = provenance_words.unseen_words(frame, trained, 0.5)
    assert text == ("On the 7 test images it was not trained on (6 real, 1 fake): accuracy 85.7%, "
                    "ROC-AUC 1.000 (from 1 fake: says little) at threshold 0.5000.")
    enough = SimpleNamespace(train=pd.DataFrame({"relpath": rels[:1]}))  # 9 real, 6 fake: no flag
    assert "says little" not in provenance_words.unseen_words(frame, enough, 0.5)
