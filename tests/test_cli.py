"""The command line: evaluate (text + JSON), predict, clear errors and exit codes."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from core.checkpoint import load_detector, threshold_sidecar
from core.cli import main

from .conftest import make_test_set

REQUIRED = {"n_real", "n_fake", "threshold", "positive", "accuracy", "precision", "recall", "f1", "specificity",
            "balanced_accuracy", "mcc", "roc_auc", "average_precision", "eer", "eer_threshold", "confusion",
            "skipped", "weights_sha256"}


@pytest.mark.parametrize("positive", ["real", "fake"])
def test_evaluate_json_and_text(tmp_path, tiny_ckpt, cache_dir, capsys, positive):
    root = make_test_set(tmp_path / "s", n_real=5, n_fake=5, corrupt=True)
    out = tmp_path / "m.json"
    rc = main(["evaluate", "--data", str(root), "--weights", str(tiny_ckpt), "--threshold", "0.4",
               "--positive", positive, "--device", "cpu", "--workers", "0", "--json", str(out)])
    assert rc == 0
    text, err = capsys.readouterr()
    # the 2 unreadable files said apart from the images scored, not among those scored now
    assert "; 10 images scored and 2 unreadable files left out (10 scored now, 0 from the cache)" in err
    for needle in ("Accuracy:", "Confusion Matrix:", "Actual Fake", "Predicted Real", "True Negatives (TN):",
                   "Specificity:", "ROC-AUC:", "EER:", "Skipped files: 2"):
        assert needle in text
    # the skips are said in the first line too: under a full report the list at the end was missed
    assert f"Test set: {root}  (5 real, 5 fake; 2 unreadable files left out, listed at the end)" in text
    d = json.loads(out.read_text())
    assert d["unreadable_classes"] == []
    assert REQUIRED <= set(d)
    assert (d["n_real"], d["n_fake"], d["threshold"], d["positive"]) == (5, 5, 0.4, positive)
    assert len(d["skipped"]) == 2 and {"path", "reason"} <= set(d["skipped"][0])
    # the numbers agree with scikit-learn on the same predictions, read back through predict --json
    preds = json.loads(_predict_json(tmp_path, tiny_ckpt, root))
    p = np.array([r["p_real"] for r in preds if "p_real" in r])
    label = np.array([int(Path(r["path"]).relative_to(root).parts[0] == "real") for r in preds if "p_real" in r])
    y = label if positive == "real" else 1 - label
    y_pred = (p >= 0.4).astype(int) if positive == "real" else (p < 0.4).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, y_pred, labels=[0, 1]).ravel()
    assert d["confusion"] == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    assert d["roc_auc"] == pytest.approx(skm.roc_auc_score(label, p), abs=1e-6)


def _predict_json(tmp_path, ckpt, root):
    out = tmp_path / "p.json"
    files = sorted(str(p) for p in root.rglob("*") if p.is_file())
    main(["predict", *files, "--weights", str(ckpt), "--device", "cpu", "--json", str(out)])
    return out.read_text()


def test_predict_lists_errors_and_exits_nonzero(tmp_path, tiny_ckpt, capsys):
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=0, corrupt=True)
    out = tmp_path / "p.json"
    good, bad = root / "real" / "real_00000.jpg", root / "real" / "not_an_image.png"
    rc = main(["predict", str(good), str(bad), "--weights", str(tiny_ckpt), "--threshold", "0.5", "--json", str(out)])
    assert rc == 1
    res = json.loads(out.read_text())
    assert set(res[0]) == {"path", "p_real", "p_fake", "verdict", "threshold", "weights_sha256", "width", "height",
                           "detail_share", "face_found", "warnings"} and res[0]["verdict"] in ("REAL", "FAKE")
    assert res[0]["threshold"] == 0.5 and res[0]["weights_sha256"] == load_detector(tiny_ckpt).sha256
    assert f"{bad}: ERROR {bad}" not in capsys.readouterr().out  # the file named once
    assert res[0]["p_real"] + res[0]["p_fake"] == pytest.approx(1)
    assert set(res[1]) == {"path", "error"} and "not a readable image" in res[1]["error"]


def test_clear_messages_and_exit_code_2(tmp_path, tiny_ckpt, capsys):
    assert main(["evaluate", "--data", str(tmp_path / "missing"), "--weights", str(tiny_ckpt)]) == 2
    assert "Test set folder not found" in capsys.readouterr().err
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    assert main(["evaluate", "--data", str(root), "--weights", str(tmp_path / "none.pth")]) == 2
    assert "Weights file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "--data", str(root), "--weights", str(tiny_ckpt), "--threshold", "1.5"])


def test_a_json_path_that_cannot_be_written_is_refused_before_the_run(tmp_path, tiny_ckpt, capsys, monkeypatch):
    """It used to end the whole run in an IsADirectoryError traceback, the results unsaved."""
    import core.checkpoint

    monkeypatch.setattr(core.checkpoint, "load_detector", lambda *a, **k: pytest.fail("the run started"))
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    (tmp_path / "afile").write_text("x")
    for out, why in ((tmp_path, "is a folder; give a file name"), (tmp_path / "afile" / "m.json", "afile is not a folder")):
        assert main(["evaluate", "--data", str(root), "--weights", str(tiny_ckpt), "--json", str(out)]) == 2
        assert why in capsys.readouterr().err
    assert main(["near-copies", "--data", str(root), "--json", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_one_class_set_evaluates_with_reasons(tmp_path, tiny_ckpt, cache_dir, capsys):
    root = make_test_set(tmp_path / "s", n_real=3, n_fake=0)
    out = tmp_path / "m.json"
    assert main(["evaluate", "--data", str(root), "--weights", str(tiny_ckpt), "--workers", "0", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["roc_auc"] is None and "only real" in d["unavailable"]["roc_auc"]
    assert "unavailable" in capsys.readouterr().out


def test_fully_cached_evaluate_needs_no_torch(tmp_path, tiny_ckpt):
    """A second evaluate of the same set answers from the cache without importing PyTorch,
    with the same numbers; a changed image sends it back through the model."""
    import os
    import subprocess
    import sys

    root = make_test_set(tmp_path / "s", n_real=3, n_fake=3)
    env = {**os.environ, "DEEPFAKE_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-X", "importtime", "-m", "core", "evaluate", "--data", str(root),
           "--weights", str(tiny_ckpt), "--workers", "0"]
    repo = Path(__file__).resolve().parent.parent

    def run(json_name):
        proc = subprocess.run([*cmd, "--json", str(tmp_path / json_name)], cwd=repo, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        imported_torch = any(line.split("|")[-1].strip() == "torch" for line in proc.stderr.splitlines())
        return json.loads((tmp_path / json_name).read_text()), imported_torch, proc.stderr

    first, torch_first, _ = run("a.json")
    second, torch_second, err = run("b.json")
    assert torch_first and not torch_second
    assert "6 images scored (0 scored now, 6 from the cache)" in err
    for key in ("accuracy", "roc_auc", "confusion", "weights_sha256", "threshold", "ci"):
        assert first[key] == second[key]
    (root / "real" / "real_00000.jpg").write_bytes((root / "real" / "real_00001.jpg").read_bytes())
    third, torch_third, err = run("c.json")
    assert torch_third and "6 images scored (1 scored now, 5 from the cache)" in err
    # a torn model record (a write cut short) costs one model load, and is then written whole again
    record = next((tmp_path / "cache" / "models").iterdir())
    record.write_text("")
    fourth, torch_fourth, _ = run("d.json")
    fifth, torch_fifth, _ = run("e.json")
    assert torch_fourth and not torch_fifth and fourth["accuracy"] == fifth["accuracy"] == third["accuracy"]


def test_device_mistakes_get_one_line_not_a_traceback(tmp_path, tiny_ckpt, cache_dir, capsys, monkeypatch):
    import torch

    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    args = ["evaluate", "--data", str(root), "--weights", str(tiny_ckpt), "--no-cache"]
    with pytest.raises(SystemExit) as exit_:  # refused when the command line is read
        main([*args, "--device", "gpu"])
    assert exit_.value.code == 2 and "use auto, cpu or cuda" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*args, "--device", "cuda"]) == 2
    assert "sees no CUDA GPU" in capsys.readouterr().err
    # every prediction cached: it answered (exit 0) as if the GPU asked for were there
    cached = ["evaluate", "--data", str(root), "--weights", str(tiny_ckpt)]
    assert main([*cached, "--workers", "0"]) == 0 and main([*cached, "--workers", "0"]) == 0
    capsys.readouterr()
    assert main([*cached, "--device", "cuda"]) == 2
    assert "sees no CUDA GPU" in capsys.readouterr().err


def test_a_set_with_no_readable_image_says_so_and_exits_2(tmp_path, tiny_ckpt, cache_dir, capsys):
    root = tmp_path / "s"
    for name, data in (("real/a.jpg", b"text"), ("fake/b.jpg", b"\xff\xd8\xff garbage")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    assert main(["evaluate", "--data", str(root), "--weights", str(tiny_ckpt), "--workers", "0"]) == 2
    out, err = capsys.readouterr()
    assert "Skipped files: 2" in out and "nothing to measure" in out
    assert "not one" not in out  # "only fake images are measured" then "only real": a contradiction
    assert "Accuracy" not in out and "Confusion Matrix" not in out  # no table of zeros and n/a
    assert "none of the 2 files" in err


def test_weights_holding_nan_are_refused_when_loaded(tmp_path, tiny_ckpt, capsys):
    """All-NaN weights answered 'FAKE P(real)=nan' (exit 0) in predict and crashed evaluate."""
    import torch

    ckpt = torch.load(tiny_ckpt, weights_only=False)
    name = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point())
    ckpt["state_dict"][name] = torch.full_like(ckpt["state_dict"][name], float("nan"))
    broken = tmp_path / "nan.pth"
    torch.save(ckpt, broken)
    image = next((make_test_set(tmp_path / "s", n_real=1, n_fake=0) / "real").iterdir())
    assert main(["predict", str(image), "--weights", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "hold NaN or infinite values" in err and name in err and "Traceback" not in err


def test_a_threshold_file_that_is_not_used_is_said(tmp_path, tiny_ckpt, capsys):
    import shutil

    weights = tmp_path / "w.pth"
    shutil.copy(tiny_ckpt, weights)
    threshold_sidecar(weights).write_text(json.dumps({"threshold": 7}))
    image = next((make_test_set(tmp_path / "s", n_real=1, n_fake=0) / "real").iterdir())
    assert main(["predict", str(image), "--weights", str(weights)]) == 0
    err = capsys.readouterr().err
    assert "ignored w.pth.threshold.json: unreadable (7.0 is outside [0, 1])" in err and "own threshold" in err
    assert main(["predict", str(image), "--weights", str(weights), "--threshold", "0.4"]) == 0
    assert "ignored" not in capsys.readouterr().err  # a threshold given on the command line: nothing to warn of


def test_outputs_are_checked_before_any_work(tmp_path, tiny_ckpt, capsys):
    """A folder, a device or a pipe at --out used to surface as a traceback after the work (a trained
    model lost), or to be replaced (as root, ensemble --out /dev/full overwrote the device)."""
    import os

    data = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    folder = tmp_path / "taken"
    folder.mkdir()
    html = tmp_path / "old.html"
    html.mkdir()
    pipe = tmp_path / "pipe.pth"
    os.mkfifo(pipe)
    cases = [
        (["train", "--data", str(data), "--out", str(folder), "--epochs", "1", "--pretrained", "none"], "is a folder"),
        (["ensemble", str(tiny_ckpt), str(tiny_ckpt), "--out", str(pipe)], "is not a regular file"),
        (["report", "--data", str(data), "--weights", str(tiny_ckpt), "--out", str(html)], "is a folder"),
        (["explain", str(next((data / "real").iterdir())), "--weights", str(tiny_ckpt), "--out", str(tmp_path / "cam")],
         "must name an image file"),
        (["split", "--data", str(data), "--out", str(data / "real")], "is inside the data set"),
        (["split", "--data", str(data), "--out", str(pipe)], "is a file; give a folder"),
        (["evaluate", "--data", str(data), "--weights", str(tiny_ckpt), "--json", str(pipe)], "is not a regular file"),
        (["export", str(tiny_ckpt), "--out", "-"], "standard output is for --json only"),
        (["export", str(tiny_ckpt), "--out", str(tiny_ckpt)], "is the checkpoint this command reads"),
        (["ensemble", str(tiny_ckpt), str(tiny_ckpt), "--out", str(tiny_ckpt)], "is the checkpoint this command reads"),
        (["ensemble", str(tiny_ckpt), str(tiny_ckpt), "--out", str(tmp_path / "e.json")], "must end in .pth or .pt"),
        (["train", "--data", str(data), "--out", str(tiny_ckpt), "--init", str(tiny_ckpt)], "is the checkpoint this command reads"),
    ]
    for argv, why in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert why in err and "Traceback" not in err, (argv, err)
    assert sorted(p.name for p in (data / "real").iterdir()) == sorted(p.name for p in (data / "real").iterdir()
                                                                      if p.is_file())  # no split links planted
    assert pipe.exists() and not pipe.is_file()  # the pipe is still a pipe


def test_json_write_failures_are_one_line_and_json_can_go_to_stdout(tmp_path, tiny_ckpt, capsys, monkeypatch):
    data = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    argv = ["evaluate", "--data", str(data), "--weights", str(tiny_ckpt), "--bootstrap", "10"]
    assert main([*argv, "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["n_real"] == 2  # standard output is the JSON alone: `| jq` reads it
    assert "Accuracy:" in err and "Confusion Matrix" in err  # the report still shows, on stderr
    assert main(["predict", "--weights", str(tiny_ckpt), str(next((data / "fake").iterdir())), "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["path"].endswith(".jpg") and "P(real)=" in err
    import core.atomic

    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(core.atomic, "write_bytes", full)
    assert main([*argv, "--json", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert f"error: --json {tmp_path / 'm.json'}: No space left on device" in err and "Traceback" not in err


@pytest.mark.parametrize("argv,why", [
    (["evaluate", "--threshold", "nan"], "--threshold: expected a finite number"),
    (["predict", "x.jpg", "--threshold", "-1"], "--threshold: must be within [0, 1]"),
    (["report", "--out", "r.html", "--threshold", "2"], "--threshold: must be within [0, 1]"),
    (["compare", "a.pth", "b.pth", "--bootstrap", "0"], "--bootstrap: must be at least 1"),
    (["robustness", "--workers", "-1"], "--workers: must be 0 or more"),
    (["train", "--data", "d", "--out", "m.pth", "--lr", "-1"], "--lr: must be 0 or more"),
    (["train", "--data", "d", "--out", "m.pth", "--lr", "nan"], "--lr: expected a finite number"),
    (["near-copies", "--show", "-1"], "--show: must be 0 or more"),
    (["train", "--data", "d", "--out", "m.pth", "--epochs", "0"], "--epochs"),
    (["train", "--data", "d", "--out", "m.pth", "--image-size", "64000"], "--image-size: must be from 16 to 1024 px"),
    (["train", "--data", "d", "--out", "m.pth", "--image-size", "8"], "--image-size: must be from 16 to 1024 px"),
    (["train", "--data", "d", "--out", "m.pth", "--batch-size", "-4"], "--batch-size"),
    (["train", "--data", "d", "--out", "m.pth", "--val-fraction", "0"], "--val-fraction"),
    (["split", "--data", "d", "--out", "o", "--val-fraction", "1.5"], "--val-fraction"),
    (["evaluate", "--batch-size", "0"], "--batch-size"),
    (["train", "--data", "d", "--out", "m.pth", "--focal-alpha", "nan"], "--focal-alpha: expected a finite number"),
    (["train", "--data", "d", "--out", "m.pth", "--focal-alpha", "5"], "--focal-alpha: must be within [0, 1]"),
    (["train", "--data", "d", "--out", "m.pth", "--focal-gamma", "-3"], "--focal-gamma: must be 0 or more"),
    (["train", "--data", "d", "--out", "m.pth", "--region-loss", "-1"], "--region-loss: must be 0 or more"),
    (["evaluate", "--device", "tpu"], "--device: 'tpu' is not a device this tool runs on"),
    (["train", "--data", "d", "--out", "m.pth", "--device", "gpu"], "--device: 'gpu' is not a device"),
    (["robustness", "--device", "cuda0"], "--device: 'cuda0' is not a device"),
])
def test_bad_numbers_are_refused_when_the_command_line_is_read(argv, why, capsys):
    """Each used to run (decoding a data set, scoring with a model) before a traceback or an exit 1."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and why in capsys.readouterr().err


@pytest.mark.parametrize("argv,flag", [
    (["evaluate", "--data", "nowhere", "--json", "/proc/m.json"], "--json /proc/m.json: cannot be written in /proc"),
    (["train", "--data", "nowhere", "--out", "/proc/m.pth"], "--out /proc/m.pth: cannot be written in /proc"),
    (["split", "--data", "nowhere", "--out", "/proc/split"], "--out /proc/split: cannot be written in /proc"),
    (["evaluate", "--data", "nowhere", "--json", "{long}.json"], "file name too long"),
    (["train", "--data", "nowhere", "--out", "{long}.pth"], "file name too long"),
    (["split", "--data", "nowhere", "--out", "{long}"], "file name too long"),
    # short enough to make, too long for the temp file and card written beside it: it trained, then failed
    (["train", "--data", "nowhere", "--out", "{245}.pth"], "has a name of 249 bytes, and the temp file and model card written beside it"),
    (["evaluate", "--data", "nowhere", "--json", "{245}.json"], "give a name of at most 239 bytes"),
])
def test_an_output_no_file_can_be_made_in_is_refused_before_any_work(argv, flag, tmp_path, capsys):
    """os.access says yes to root in /proc, so train ran its epochs and then lost them to a
    traceback from torch.save; a name too long for the file system was a traceback at once."""
    argv = [a.replace("{long}", str(tmp_path / ("a" * 300))).replace("{245}", str(tmp_path / ("a" * 245))) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert flag.lower() in err.lower() and "Traceback" not in err and "nowhere" not in err  # before the data is read
    assert not list(tmp_path.iterdir())  # the write check leaves nothing behind


def test_the_api_refuses_a_port_out_of_range(capsys):
    from core.api import build_parser

    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--port", "99999"])
    assert exit_.value.code == 2 and "port number from 1 to 65535" in capsys.readouterr().err


def test_a_set_with_no_readable_image_stops_every_command_with_the_reason(tmp_path, tiny_ckpt, cache_dir, capsys):
    """near-copies said 'ok: no near copies' (exit 0) on a set it could not read, which a script
    takes as clean; card, robustness and compare printed tables of NaN and zeros."""
    root = tmp_path / "allbad"
    for cls in ("real", "fake"):
        (root / cls).mkdir(parents=True)
        (root / cls / "a.jpg").write_bytes(b"not an image")
    for argv in (["near-copies", "--data", str(root)],
                 ["card", str(tiny_ckpt), "--data", str(root)],
                 ["robustness", "--data", str(root), "--weights", str(tiny_ckpt), "--workers", "0"],
                 ["compare", str(tiny_ckpt), str(tiny_ckpt), "--data", str(root)],
                 ["report", "--data", str(root), "--weights", str(tiny_ckpt), "--out", str(tmp_path / "r.html")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "none of the 2 files" in err and "could be read as images" in err and "Traceback" not in err, (argv, err)


def test_compare_checks_both_checkpoints_before_scoring(tmp_path, tiny_ckpt, cache_dir, capsys):
    data = make_test_set(tmp_path / "s", n_real=2, n_fake=2)
    assert main(["compare", str(tiny_ckpt), str(tmp_path / "missing.pth"), "--data", str(data)]) == 2
    captured = capsys.readouterr()
    assert "Weights file not found" in captured.err and "A: " not in captured.err + captured.out  # A never ran


def test_train_and_split_help_show_the_defaults_and_predict_explains_its_options(capsys):
    for argv in (["train", "--help"], ["split", "--help"], ["predict", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "(default: 0.0002)" in text and "(default: 24)" in text and "focal loss alpha, in [0, 1] (default: 0.25)" in text
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "the split's seed (default: 0)" in text and "REAL when P(real) >= T" in text


def test_the_top_level_help_points_at_the_api_and_the_dashboard(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "python -m core.api --help" in text and "streamlit run streamlit_app.py" in text


def test_a_class_whose_every_file_is_unreadable_is_said_at_the_top(tmp_path, tiny_ckpt, cache_dir, capsys):
    root = make_test_set(tmp_path / "s", n_real=3, n_fake=0)
    (root / "fake" / "a.jpg").write_text("not a picture")
    (root / "fake" / "b.jpg").write_bytes(b"")
    assert main(["evaluate", "--data", str(root), "--weights", str(tiny_ckpt), "--device", "cpu"]) == 0
    head = capsys.readouterr().out.splitlines()[:2]
    assert head[1] == "warning: not one fake file could be read, so only real images are measured", head
    assert "2 unreadable files left out" in head[0]


def test_a_broken_link_is_counted_and_listed_with_the_other_unreadable_files(tmp_path, tiny_ckpt, cache_dir, capsys):
    """A dangling link was a warning line apart: 'N unreadable files' and --json's skipped left it out."""
    root = make_test_set(tmp_path / "s", n_real=2, n_fake=2, corrupt=True)
    os.symlink(tmp_path / "gone.jpg", root / "real" / "dangling.jpg")
    out = tmp_path / "e.json"
    assert main(["evaluate", "--data", str(root), "--weights", str(tiny_ckpt), "--json", str(out)]) == 0
    err = capsys.readouterr().err
    skipped = {s["path"]: s["reason"] for s in json.loads(out.read_text())["skipped"]}
    assert skipped["real/dangling.jpg"] == "a link to a missing file" and len(skipped) == 3
    assert "4 images scored and 3 unreadable files left out" in err and "Cannot read" not in err
