"""core.train_resume: --resume continues a run exactly and refuses what would describe a run that
never happened; Ctrl-C and failed saves say what is kept."""
import json

import pytest
import torch

from core.checkpoint import load_detector
from core.cli import main

from .conftest import TRAIN_ARGS as ARGS


def test_resume_equals_uninterrupted_run(tmp_path, train_set):
    full, part = tmp_path / "full.pth", tmp_path / "part.pth"
    assert main(["train", "--data", str(train_set), "--out", str(full), *ARGS]) == 0
    # interrupted after epoch 1 (the same command, stopped), then resumed
    assert main(["train", "--data", str(train_set), "--out", str(part), "--stop-after", "1", *ARGS]) == 0
    assert not part.exists() and part.with_name("part.pth.last.pt").exists()
    assert main(["train", "--data", str(train_set), "--out", str(part), "--resume", *ARGS]) == 0
    h_full = json.loads(full.with_suffix(".json").read_text())["history"]
    h_part = json.loads(part.with_suffix(".json").read_text())["history"]
    assert [round(h["train_loss"], 6) for h in h_full] == [round(h["train_loss"], 6) for h in h_part]
    a, b = load_detector(full).model.state_dict(), load_detector(part).model.state_dict()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_resume_refuses_other_options_and_fewer_epochs_than_done(tmp_path, train_set, capsys):
    """--resume used to load the saved state under any new options (another backbone: a Missing-keys traceback),
    so the card described a run that never happened."""
    out = tmp_path / "m.pth"
    last = tmp_path / "m.pth.last.pt"
    assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS]) == 0
    saved = last.read_bytes()
    capsys.readouterr()
    other = ["--data", str(tmp_path), "--lr", "0.001", "--image-size", "32", "--batch-size", "6", "--seed", "3",
             "--val-fraction", "0.5", "--no-attention", "--backbone", "resnet50"]
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS, *other]) == 2
    err = capsys.readouterr().err
    for said in (f"--data: saved {train_set}, given {tmp_path}", "--lr: saved 0.0002, given 0.001",
                 "--image-size: saved 64, given 32", "--batch-size: saved 4, given 6", "--seed: saved 0, given 3",
                 "--val-fraction: saved 0.25, given 0.5", "--no-attention: saved off, given on",
                 "--backbone: saved efficientnet_lite0, given resnet50", "delete " + str(last)):
        assert said in err, (said, err)
    assert "Traceback" not in err and "--workers" in err  # the options that may change are named
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS, "--epochs", "1"]) == 2
    assert "has already trained 2 epochs; give --epochs 2 or more" in capsys.readouterr().err
    assert last.read_bytes() == saved  # nothing was trained or written
    # more epochs, as the finished run suggests: the cosine goes on down from epoch 2's rate, where the restored
    # schedule (annealed to 0 over the old 2 epochs) trained epoch 3 at lr 0
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS, "--epochs", "3"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert [h["lr"] for h in card["history"]] == pytest.approx([2e-4, 1e-4, 5e-5])
    assert card["recipe"]["schedule_changes"] == [{"after_epoch": 2, "epochs_before": 2, "epochs": 3, "from_lr": 1e-4}]
    assert "cosine schedule (re-planned after epoch 2 from 2 to 3 epochs" in out.with_suffix(".md").read_text()


def test_a_fresh_start_does_not_overwrite_an_unfinished_run(tmp_path, train_set, capsys):
    """Without --resume, FILE.last.pt of an unfinished run was overwritten by epoch 1 of a new one."""
    out, last = tmp_path / "m.pth", tmp_path / "m.pth.last.pt"
    assert main(["train", "--data", str(train_set), "--out", str(out), "--stop-after", "1", *ARGS]) == 0
    saved = last.read_bytes()
    capsys.readouterr()
    assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS]) == 2
    err = capsys.readouterr().err
    assert f"{last} holds an unfinished run (epoch 1 of 2 done): add --resume" in err and f"delete {last}" in err
    assert last.read_bytes() == saved
    # what may change on --resume does not stop it: workers, patience, the card's note
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS, "--workers", "1",
                 "--patience", "3", "--note", "resumed"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["note"] == "resumed"


def test_ctrl_c_says_which_epoch_is_saved_and_that_resume_continues(tmp_path, train_set, capsys, monkeypatch):
    import core.train

    real_epoch, calls = core.train._train_epoch, []

    def interrupted_in_epoch_2(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*a, **k)

    monkeypatch.setattr(core.train, "_train_epoch", interrupted_in_epoch_2)
    assert main(["train", "--data", str(train_set), "--out", str(tmp_path / "m.pth"), *ARGS]) == 130
    err = capsys.readouterr().err
    assert f"interrupted: {tmp_path / 'm.pth.last.pt'} holds epoch 1 of 2; the same command with --resume" in err


def test_resume_reads_old_states_rate_and_compares_paths_and_devices_as_what_they_name(tmp_path, monkeypatch):
    """A state saved before the lr fix recorded the next epoch's rate (0 at a cosine run's end), so
    extending it trained at 0; a relative --data was compared from the new working directory, and
    --device auto differed from --device cpu on a machine where auto is the CPU."""
    import argparse

    from core.train_resume import _resolved, changed_options, trained_lr

    old = {"history": [{"lr": 1e-4}, {"lr": 0.0}], "args": {"lr": 2e-4}}
    assert trained_lr(old) == 1e-4 and trained_lr({**old, "history": old["history"][:1]}) == 2e-4
    assert trained_lr({**old, "schedule_changes": []}) == 0.0  # a new state records the rate itself
    (tmp_path / "set").mkdir()
    monkeypatch.chdir(tmp_path)
    saved = {"data": _resolved("data", "set"), "device": "auto", "lr": 2e-4}  # as save_state writes them now
    monkeypatch.chdir("/")
    same = argparse.Namespace(data=str(tmp_path / "set"), device="cpu" if not torch.cuda.is_available() else "cuda",
                              lr=2e-4)
    assert changed_options(saved, same) == []
    assert changed_options(saved, argparse.Namespace(data="set", device="auto", lr=2e-4)) == [
        f"--data: saved {tmp_path / 'set'}, given set"]


def test_a_failed_save_is_one_line_that_says_what_is_kept_and_resume_finishes_the_run(tmp_path, train_set, capsys,
                                                                                      monkeypatch):
    """A full disk or a vanished folder made torch.save raise after the epochs had trained: a traceback, exit 1."""
    import core.train
    import core.train_resume

    out, real_save, calls = tmp_path / "m.pth", torch.save, []

    def full_on_second_epoch(obj, path, *a, **k):
        calls.append(path)
        if len(calls) == 2:
            raise RuntimeError("[enforce fail at inline_container.cc:747] . open file failed with strerror: "
                               "No space left on device")
        return real_save(obj, path, *a, **k)

    monkeypatch.setattr(core.train_resume.torch, "save", full_on_second_epoch)
    assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS]) == 2
    err = capsys.readouterr().err
    last = tmp_path / "m.pth.last.pt"
    assert (f"error: could not save epoch 2 to {last} (no space left on device); {last} still holds epoch 1: "
            "free space and continue with --resume") in err and "Traceback" not in err
    assert not last.with_suffix(".tmp").exists()
    monkeypatch.undo()

    def no_room(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(core.train, "save_checkpoint", no_room)  # every epoch saved, the model itself cannot be
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS]) == 2
    assert (f"error: could not save {out} (no space left on device); the run is kept in {last}: free space and run "
            "the same command with --resume to write it") in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS]) == 0  # as the words say
    assert len(json.loads(out.with_suffix(".json").read_text())["history"]) == 2 and load_detector(out)


def test_resume_refuses_what_would_train_nothing_or_elsewhere(tmp_path, train_set, capsys, monkeypatch):
    """--resume with no saved state trained from epoch 1; --resume --epochs N after the patience ran
    out re-planned the schedule, recorded that in the card and trained nothing; --device auto on
    another machine carried a GPU run on in float32 on the CPU without a word."""
    import argparse

    import core.train
    from core.train_resume import load_state, resume_problem

    out = tmp_path / "m.pth"
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS]) == 2
    assert f"--resume: there is no {out}.last.pt to resume from" in capsys.readouterr().err and not out.exists()
    real_evaluate = core.train._evaluate
    monkeypatch.setattr(core.train, "_evaluate", lambda *a, **k: real_evaluate(*a, **k) | {"roc_auc": 0.5})  # never better
    assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS, "--epochs", "3", "--patience", "1"]) == 0
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS, "--epochs", "4",
                 "--patience", "1"]) == 2
    assert ("the saved run has had no better validation ROC-AUC since epoch 1 (1 epoch to epoch 2, --patience 1), so "
            "it would stop before training another; give --patience 2 or more") in capsys.readouterr().err
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS, "--epochs", "4",
                 "--patience", "2"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert len(card["history"]) == 3 and card["recipe"]["schedule_changes"][0]["after_epoch"] == 2  # trained under the new plan
    state = load_state(out.with_name("m.pth.last.pt"))
    here = "cuda" if torch.cuda.is_available() else "cpu"
    assert state["device_used"] == here
    args = argparse.Namespace(**{**state["args"], "resume": True, "device": "auto", "epochs": state["epoch"]})
    assert resume_problem(args, out, state) is None
    elsewhere = "cpu" if here == "cuda" else "cuda"
    problem = resume_problem(args, out, {**state, "device_used": elsewhere})
    assert f"--device: the saved run trained on {elsewhere}, --device auto picks {here} here" in problem


def test_resume_to_the_epochs_done_records_no_new_schedule(tmp_path, train_set):
    """--resume --epochs <done> on an unfinished run ends it there; it recorded a re-plan to a cosine
    of one step (next rate 0) under which nothing trained."""
    out = tmp_path / "m.pth"
    assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS, "--epochs", "3", "--stop-after", "1"]) == 0
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS, "--epochs", "1"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert len(card["history"]) == 1 and card["recipe"]["schedule_changes"] == [] and "re-planned" not in out.with_suffix(".md").read_text()


def test_an_early_stopped_run_whose_model_could_not_be_saved_is_written_by_the_same_command(tmp_path, train_set,
                                                                                            capsys, monkeypatch):
    """The refusal of more epochs after the patience ran out also refused the command the save
    failure told the user to run: its --epochs is the run's own, not an extension."""
    import core.train

    real_evaluate = core.train._evaluate
    monkeypatch.setattr(core.train, "_evaluate", lambda *a, **k: real_evaluate(*a, **k) | {"roc_auc": 0.5})  # never better
    out, argv = tmp_path / "m.pth", ["--epochs", "4", "--patience", "1"]

    def no_room(*a, **k):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(core.train, "save_checkpoint", no_room)
        assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS, *argv]) == 2
    assert "run the same command with --resume to write it" in capsys.readouterr().err
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS, *argv]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert len(card["history"]) == 2 and card["recipe"]["schedule_changes"] == [] and load_detector(out)


def test_a_shorter_resume_of_a_run_its_patience_stopped_records_no_new_schedule(tmp_path, train_set, monkeypatch):
    """Stopped by its patience after epoch 2 of 4, --resume --epochs 3 trained nothing and recorded
    "re-planned from 4 to 3" in the card."""
    import core.train

    real_evaluate = core.train._evaluate
    monkeypatch.setattr(core.train, "_evaluate", lambda *a, **k: real_evaluate(*a, **k) | {"roc_auc": 0.5})  # never better
    out = tmp_path / "m.pth"
    assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS, "--epochs", "4", "--patience", "1"]) == 0
    assert main(["train", "--data", str(train_set), "--out", str(out), "--resume", *ARGS, "--epochs", "3",
                 "--patience", "1"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert len(card["history"]) == 2 and card["recipe"]["schedule_changes"] == [] and "re-planned" not in out.with_suffix(".md").read_text()
