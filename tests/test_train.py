"""core.train: a tiny run writes a loadable checkpoint and model card; focal loss is the report's;
bad options are refused before any work (resuming: tests/test_train_resume.py)."""
import json
import re

import pytest
import torch

from core.checkpoint import load_detector
from core.cli import main
from core.train import focal_loss

from .conftest import TRAIN_ARGS as ARGS, make_test_set



def test_train_writes_checkpoint_and_card(tmp_path, train_set):
    out = tmp_path / "m.pth"
    assert main(["train", "--data", str(train_set), "--out", str(out), "--half", "--tta", *ARGS]) == 0
    det = load_detector(out)
    assert det.preprocessing.input_size == 64 and det.backbone == "efficientnet_lite0"
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["data"]["val"] == {"real": 2, "fake": 2} and card["data"]["train"] == {"real": 6, "fake": 6}
    assert len(card["history"]) == 2 and {"train_loss", "val_loss", "val_accuracy", "val_roc_auc"} <= set(card["history"][0])
    assert card["recipe"]["loss"] == "focal" and card["validation_tta"] is not None
    # the rate each epoch trained at (cosine over 2 epochs), not the next epoch's (it was [1e-4, 0])
    assert [h["lr"] for h in card["history"]] == pytest.approx([2e-4, 1e-4])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", card["finished_utc"]) and card["stopped_early"] is None
    assert f"finished {card['finished_utc']}" in out.with_suffix(".md").read_text()
    assert card["device"].startswith("cpu: ") and card["device"].endswith(f"({torch.get_num_threads()} threads)")
    assert det.meta["training"]["best_epoch"] == card["best_epoch"]
    assert "## Validation" in out.with_suffix(".md").read_text()
    # the checkpoint knows its training and validation files by content, so a test set holding them is flagged
    from core.provenance import file_digest, model_seen

    seen = model_seen(det)
    assert seen.where == "the checkpoint" and (len(seen.train), len(seen.val)) == (12, 4)
    val = {file_digest(train_set / f) for f in card["data"]["val_files"]}
    assert seen.val == val and not seen.train & val
    assert "Seen images: content digests of the 12 training and 4 validation files" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize("name, suggested", [("m.json", "m.pth"), ("m.md", "m.pth"), ("model.v2", "model.v2.pth")])
def test_an_out_that_is_not_a_pth_or_pt_is_refused_before_training(tmp_path, train_set, capsys, name, suggested):
    """The card goes to out.with_suffix('.json'/'.md'): m.json was overwritten by its own card, and model.v1 and
    model.v2 shared model.json."""
    assert main(["train", "--data", str(train_set), "--out", str(tmp_path / name), *ARGS]) == 2
    err = capsys.readouterr().err
    assert "must end in .pth or .pt" in err and f"e.g. {suggested}" in err
    assert list(tmp_path.iterdir()) == []  # refused before any training


def test_the_same_seed_gives_the_same_weights_whatever_the_number_of_workers(tmp_path, train_set):
    """Augmentation drew from each worker's random stream, so --workers 0 and 2 trained different models."""
    def weights(workers):
        out = tmp_path / f"w{workers}.pth"
        assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS, "--epochs", "1",
                     "--synthetic-fakes", "0.3", "--workers", workers]) == 0
        return load_detector(out).model.state_dict()

    a, b = weights("0"), weights("2")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_batch_of_one_is_refused_when_the_command_line_is_read(tmp_path, train_set, capsys):
    """--batch-size 1 ended in a BatchNorm1d traceback after decoding."""
    with pytest.raises(SystemExit):
        main(["train", "--data", str(train_set), "--out", str(tmp_path / "m.pth"), *ARGS, "--batch-size", "1"])
    assert "--batch-size: must be at least 2" in capsys.readouterr().err


def test_pretrained_that_is_a_trained_checkpoint_or_missing_is_said_in_its_words(tmp_path, train_set, capsys):
    """A checkpoint of this project as --pretrained gave a raw 'Unexpected key(s)' RuntimeError; a missing file
    for an EfficientNet backbone said only '[Errno 2] No such file'."""
    from .conftest import make_checkpoint

    trained = make_checkpoint(tmp_path / "trained.pth", input_size=64)
    argv = ["train", "--data", str(train_set), "--out", str(tmp_path / "m.pth"), *ARGS]
    assert main([*argv, "--pretrained", str(trained)]) == 2
    err = capsys.readouterr().err
    assert "is a trained detector checkpoint" in err and f"--init {trained}" in err and "Traceback" not in err
    assert main([*argv, "--pretrained", str(tmp_path / "nowhere.pth")]) == 2
    assert f"--pretrained {tmp_path / 'nowhere.pth'}: no such file" in capsys.readouterr().err
    # random bytes and an empty file were a 30-line traceback (UnpicklingError, EOFError), exit 1
    (tmp_path / "random.pth").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "empty.pth").write_bytes(b"")
    for name, words in (("random.pth", "is not a PyTorch checkpoint"), ("empty.pth", "is empty (0 bytes)")):
        assert main([*argv, "--pretrained", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert f"--pretrained {name} {words}" in err and "ImageNet efficientnet_lite0 weights" in err and "Traceback" not in err


def test_a_failure_that_is_not_the_pretrained_files_is_not_blamed_on_it(tmp_path, monkeypatch):
    """Any error in building the model was sent to read_checkpoint, which refuses plain ImageNet weights:
    a good file was called 'a state dict of an unknown architecture' and the real error hidden."""
    import argparse

    import core.train_start
    from core.model import build_model

    good = tmp_path / "imagenet.pth"
    torch.save(build_model("efficientnet_lite0", pretrained=None).model.state_dict(), good)

    def boom(*a, **k):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(core.train_start, "build_model", boom)
    args = argparse.Namespace(pretrained=str(good), backbone="efficientnet_lite0", no_attention=False)
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        core.train_start.pretrained_model(args)


def test_a_run_stopped_by_its_patience_says_so_in_its_card(tmp_path, train_set, monkeypatch):
    import core.train

    real_evaluate = core.train._evaluate
    monkeypatch.setattr(core.train, "_evaluate", lambda *a, **k: real_evaluate(*a, **k) | {"roc_auc": 0.5})  # never better
    out = tmp_path / "m.pth"
    assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS, "--epochs", "3", "--patience", "1"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert len(card["history"]) == 2 and card["stopped_early"] == {"after_epoch": 2, "patience": 1}
    assert "stopped early after epoch 2 (no better validation ROC-AUC for 1 epoch)" in out.with_suffix(".md").read_text()


def test_val_files_identical_to_train_files_are_warned_of_and_recorded(tmp_path, capsys):
    import shutil

    split = tmp_path / "split"
    make_test_set(split / "train", n_real=6, n_fake=6, size=64, seed=0)
    make_test_set(split / "val", n_real=2, n_fake=2, size=64, seed=1)
    shutil.copy(split / "train" / "real" / "real_00000.jpg", split / "val" / "real" / "same.jpg")
    out = tmp_path / "m.pth"
    assert main(["train", "--data", str(split), "--out", str(out), *ARGS, "--epochs", "1"]) == 0
    assert "warning: 1 of the 5 validation files are byte-identical to training files" in capsys.readouterr().err
    assert json.loads(out.with_suffix(".json").read_text())["data"]["val_identical_to_train"] == 1
    assert "Warning: 1 validation files are byte-identical" in out.with_suffix(".md").read_text()


def test_focal_loss_matches_the_report():
    logits, targets = torch.tensor([[2.0], [-1.0], [0.3]]), torch.tensor([[1.0], [1.0], [0.0]])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    expected = (0.25 * (1 - torch.exp(-bce)) ** 2 * bce).mean()
    assert torch.allclose(focal_loss(logits, targets), expected)


def test_resnet50_without_local_weights_stops_with_message(tmp_path, train_set, capsys, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    rc = main(["train", "--data", str(train_set), "--out", str(tmp_path / "r.pth"), "--backbone", "resnet50",
               "--pretrained", "auto", "--epochs", "1"])
    assert rc == 2
    assert "ImageNet ResNet50 weights are not on this machine" in capsys.readouterr().err


def test_region_loss_targets_the_pasted_fraction_of_each_cell():
    from core.train import region_loss

    masks = torch.zeros(2, 1, 8, 8)
    masks[0, :, :4, :4] = 1.0  # image 0: top-left quarter pasted in
    good = torch.full((2, 1, 2, 2), -20.0)
    good[0, :, 0, 0] = 20.0  # the head says: top-left cell pasted, nothing else
    known = torch.tensor([True, True])
    assert region_loss(good, masks, known) < 1e-6
    assert region_loss(-good, masks, known) > 10
    # image 1's parts unknown: whatever the head says there costs nothing
    wild = good.clone()
    wild[1] = 20.0
    assert torch.isclose(region_loss(wild, masks, torch.tensor([True, False])), region_loss(good, masks, known) * 2)


def test_region_loss_run_ships_a_plain_classifier_and_resumes(tmp_path, train_set):
    full, part = tmp_path / "full.pth", tmp_path / "part.pth"
    args = [*ARGS, "--region-loss", "1.0"]
    assert main(["train", "--data", str(train_set), "--out", str(full), *args]) == 0
    det = load_detector(full)  # strict load: no region head in the checkpoint
    card = json.loads(full.with_suffix(".json").read_text())
    assert card["recipe"]["region_loss"] == 1.0 and all(h["train_region_loss"] > 0 for h in card["history"])
    assert "region loss weight 1.0" in full.with_suffix(".md").read_text()
    assert main(["train", "--data", str(train_set), "--out", str(part), "--stop-after", "1", *args]) == 0
    assert main(["train", "--data", str(train_set), "--out", str(part), "--resume", *args]) == 0
    h_part = json.loads(part.with_suffix(".json").read_text())["history"]
    assert [round(h["train_region_loss"], 6) for h in card["history"]] == [round(h["train_region_loss"], 6) for h in h_part]
    b = load_detector(part).model.state_dict()
    assert all(torch.allclose(v.float(), b[k].float(), atol=1e-6) for k, v in det.model.state_dict().items())


def test_init_starts_from_a_checkpoint_and_refuses_a_different_model(tmp_path, train_set, capsys):
    from .conftest import make_checkpoint

    start = make_checkpoint(tmp_path / "start.pth", input_size=64)
    out = tmp_path / "cont.pth"
    assert main(["train", "--data", str(train_set), "--out", str(out), "--init", str(start), *ARGS,
                 "--lr", "0", "--epochs", "1"]) == 0
    a, b = load_detector(start).model, load_detector(out).model
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["init_from"]["sha256"] == load_detector(start).sha256 and card["init_from"]["file"] == str(start)
    assert f"Started from start.pth (sha256 {card['init_from']['sha256'][:12]})" in out.with_suffix(".md").read_text()
    # lr 0: the weights are the start's (BatchNorm running statistics do move in training)
    assert torch.allclose(a.classifier[-1].weight, b.classifier[-1].weight, atol=1e-3)
    rc = main(["train", "--data", str(train_set), "--out", str(tmp_path / "other.pth"), "--init", str(start),
               "--no-attention", *ARGS])
    assert rc != 0
    assert "pass the same --backbone / --no-attention" in capsys.readouterr().err


def test_synthetic_fakes_run_is_recorded_and_resumes_exactly(tmp_path, train_set):
    full, part = tmp_path / "full.pth", tmp_path / "part.pth"
    args = [*ARGS, "--synthetic-fakes", "0.4", "--region-loss", "0.5"]
    assert main(["train", "--data", str(train_set), "--out", str(full), *args]) == 0
    card = json.loads(full.with_suffix(".json").read_text())
    assert card["recipe"]["synthetic_fakes"] == 0.4
    assert "synthetic part-swap fakes" in full.with_suffix(".md").read_text()
    assert main(["train", "--data", str(train_set), "--out", str(part), "--stop-after", "1", *args]) == 0
    assert main(["train", "--data", str(train_set), "--out", str(part), "--resume", *args]) == 0
    h_part = json.loads(part.with_suffix(".json").read_text())["history"]
    assert [round(h["train_loss"], 6) for h in card["history"]] == [round(h["train_loss"], 6) for h in h_part]


@pytest.mark.parametrize("bad", ["0.5", "-0.1", "lots"])
def test_synthetic_share_out_of_range_is_refused(tmp_path, train_set, capsys, bad):
    with pytest.raises(SystemExit):
        main(["train", "--data", str(train_set), "--out", str(tmp_path / "m.pth"), "--synthetic-fakes", bad])
    assert "--synthetic-fakes" in capsys.readouterr().err


@pytest.mark.parametrize("flag, key, card_text", [
    ("--jpeg-augment", "jpeg_augment", "re-encoded as JPEG (quality 60-95)"),
    ("--degrade-augment", "degrade_augment", "blurred (sigma 0.5-2.0) or downscaled (x0.25-0.75)"),
])
def test_augment_option_is_recorded_changes_training_and_repeats_exactly(tmp_path, train_set, flag, key, card_text):
    def history(name, *extra):
        out = tmp_path / f"{name}.pth"
        assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS, *extra]) == 0
        return json.loads(out.with_suffix(".json").read_text())

    a, b, plain = history("a", flag, "1"), history("b", flag, "1"), history("plain")
    assert a["recipe"][key] == 1.0 and plain["recipe"][key] == 0.0
    assert card_text in (tmp_path / "a.md").read_text()
    losses = [[round(h["train_loss"], 6) for h in c["history"]] for c in (a, b, plain)]
    assert losses[0] == losses[1]  # same seed, same random augmentation (torch's RNG): deterministic on the CPU
    assert losses[0] != losses[2]  # the augmentation reaches the model


@pytest.mark.parametrize("flag", ["--jpeg-augment", "--degrade-augment"])
@pytest.mark.parametrize("bad", ["1.5", "-0.1", "some"])
def test_augment_share_out_of_range_is_refused(tmp_path, train_set, capsys, flag, bad):
    with pytest.raises(SystemExit):
        main(["train", "--data", str(train_set), "--out", str(tmp_path / "m.pth"), flag, bad])
    assert flag in capsys.readouterr().err


def test_ema_ships_the_average_without_changing_the_training_path(tmp_path, train_set):
    plain, ema, part = tmp_path / "plain.pth", tmp_path / "ema.pth", tmp_path / "part.pth"
    args = [*ARGS, "--ema", "0.9"]
    assert main(["train", "--data", str(train_set), "--out", str(plain), *ARGS]) == 0
    assert main(["train", "--data", str(train_set), "--out", str(ema), *args]) == 0
    card = json.loads(ema.with_suffix(".json").read_text())
    assert card["recipe"]["ema"] == 0.9 and "weights averaged (EMA, decay 0.9" in ema.with_suffix(".md").read_text()
    # the average rides along: the trained weights (and so the training losses) are the plain run's
    raw = lambda p: torch.load(p.with_name(p.name + ".last.pt"), weights_only=False)["model"]  # noqa: E731
    r_plain, r_ema = raw(plain), raw(ema)
    assert all(torch.equal(r_plain[k], r_ema[k]) for k in r_plain)
    h_plain = json.loads(plain.with_suffix(".json").read_text())["history"]
    assert [h["train_loss"] for h in h_plain] == [h["train_loss"] for h in card["history"]]
    # ...while what is validated and shipped is the average, not the last step's weights
    a, b = load_detector(plain).model.state_dict(), load_detector(ema).model.state_dict()
    assert any(not torch.allclose(a[k].float(), b[k].float()) for k in a if a[k].is_floating_point())
    # and an interrupted EMA run resumes to the same average
    assert main(["train", "--data", str(train_set), "--out", str(part), "--stop-after", "1", *args]) == 0
    assert main(["train", "--data", str(train_set), "--out", str(part), "--resume", *args]) == 0
    c = load_detector(part).model.state_dict()
    assert all(torch.allclose(b[k].float(), c[k].float(), atol=1e-6) for k in b)


@pytest.mark.parametrize("bad", ["1", "1.5", "-0.1"])
def test_ema_decay_out_of_range_is_refused(tmp_path, train_set, capsys, bad):
    with pytest.raises(SystemExit):
        main(["train", "--data", str(train_set), "--out", str(tmp_path / "m.pth"), *ARGS, "--ema", bad])
    assert "--ema" in capsys.readouterr().err


def test_unreadable_training_files_are_left_out_and_named(tmp_path, capsys):
    """One text file named .png among the faces must not stop a run (the report's dataset
    skipped bad files too); it is named on stderr and absent from the card's counts."""
    data = make_test_set(tmp_path / "s", n_real=12, n_fake=12, size=64, corrupt=True)
    out = tmp_path / "m.pth"
    assert main(["train", "--data", str(data), "--out", str(out), "--epochs", "1", *ARGS[2:]]) == 0
    err = capsys.readouterr().err
    assert "left out 2 unreadable file(s)" in err and "not_an_image.png" in err and "truncated.jpg" in err
    card = json.loads(out.with_suffix(".json").read_text())
    assert sum(card["data"]["train"].values()) + sum(card["data"]["val"].values()) == 24


def test_a_diverging_run_stops_with_the_reason_and_keeps_the_last_good_epoch(tmp_path, train_set, capsys, monkeypatch):
    """A NaN loss used to reach the metrics as 'p_real holds NaN' (a traceback) after a wasted epoch."""
    import core.train

    out = tmp_path / "m.pth"
    real_loss, calls = core.train.focal_loss, []

    def goes_nan_in_epoch_2(logits, targets, alpha=0.25, gamma=2.0):
        calls.append(1)
        loss = real_loss(logits, targets, alpha, gamma)
        return loss * float("nan") if len(calls) > 3 else loss  # 3 steps per epoch here

    monkeypatch.setattr(core.train, "focal_loss", goes_nan_in_epoch_2)
    assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS]) == 2
    err = capsys.readouterr().err
    assert "training diverged in epoch 2: the training loss is nan" in err and "lower --lr" in err
    assert "m.pth.last.pt holds epoch 1 for --resume" in err and "Traceback" not in err
    assert not out.exists()


def test_an_out_whose_pth_or_pt_twin_has_a_card_is_refused(tmp_path, capsys):
    """m.pt and m.pth both write m.json and m.md: a second run replaced the first one's card."""
    (tmp_path / "m.pth").write_bytes(b"x")
    (tmp_path / "m.json").write_text("{}")
    assert main(["train", "--data", "nowhere", "--out", str(tmp_path / "m.pt")]) == 2
    assert "m.pth beside it is another checkpoint, and m.json / m.md may be its model card" in capsys.readouterr().err  # no .md to tell
    assert main(["ensemble", str(tmp_path / "a.pth"), str(tmp_path / "b.pth"), "--out", str(tmp_path / "m.pt")]) == 2
    assert "m.pth beside it is another checkpoint" in capsys.readouterr().err
    (tmp_path / "m.md").write_text("# Model card: m.pt\n")  # the card is m.pt's own (m.pth: an export, a copy)
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.pt")]) == 2
    assert "beside it" not in capsys.readouterr().err  # refused for its data only
    (tmp_path / "m.md").write_text("# Model card: m.pth\n")
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.pt")]) == 2
    assert "m.json / m.md its model card" in capsys.readouterr().err
    (tmp_path / "m.json").unlink()  # a checkpoint without a card (a copied file): nothing to lose
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.pt")]) == 2
    assert "beside it" not in capsys.readouterr().err


def test_the_twin_check_reads_names_with_brackets_and_upper_case_endings(tmp_path):
    """The card's owner was cut at the first " (": a browser's "model (1).pth" was no owner, so
    --out "model (1).pt" replaced its card; an m.PTH twin was not looked for."""
    from core.cli import checkpoint_name_problem

    for stem, title in (("model (1)", "model (1).pth"), ("ens (v2)", "ens (v2).pth (ensemble)"), ("X", "X.PTH")):
        twin = tmp_path / title.split(" (ensemble)")[0]
        twin.write_bytes(b"x")
        (tmp_path / f"{stem}.json").write_text("{}")
        (tmp_path / f"{stem}.md").write_text(f"# Model card: {title}\n")
        assert f"{twin.name} beside it is another checkpoint, and {stem}.json / {stem}.md its model card" in (
            checkpoint_name_problem(str(tmp_path / f"{stem}.pt")) or "")
        (tmp_path / f"{stem}.md").write_text(f"# Model card: {stem}.pt\n")  # the card is the --out's own
        assert checkpoint_name_problem(str(tmp_path / f"{stem}.pt")) is None


def test_the_twin_check_is_not_fooled_by_a_resume_state(tmp_path):
    """m.pt.last.pt matched the glob m.*: taken as the twin, its name was not the card's owner, and the
    real twin m.pt was never looked at, so --out m.pth replaced m.pt's card (as the folder listed them)."""
    from core.cli import checkpoint_name_problem

    for name in ("m.pt", "m.pt.last.pt", "m.json"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "m.md").write_text("# Model card: m.pt\n")
    assert "m.pt beside it is another checkpoint, and m.json / m.md its model card" in (
        checkpoint_name_problem(str(tmp_path / "m.pth")) or "")
    (tmp_path / "m.pt").unlink()  # only m.pth's own resume state beside it: nothing to refuse
    (tmp_path / "m.md").unlink()
    (tmp_path / "m.pth.last.pt").write_bytes(b"x")
    assert checkpoint_name_problem(str(tmp_path / "m.pth")) is None


def test_a_finished_model_at_out_is_replaced_only_with_force(tmp_path, train_set, capsys):
    """A second train with the same --out replaced a finished model (maybe hours of GPU time) and its card unasked."""
    out = tmp_path / "m.pth"
    assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS, "--epochs", "1"]) == 0
    first = out.read_bytes()
    capsys.readouterr()
    assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS, "--epochs", "1", "--seed", "1"]) == 2
    assert "m.pth exists (a checkpoint, its card m.md): choose another --out, or add --force" in capsys.readouterr().err
    assert out.read_bytes() == first
    (tmp_path / "e.pth").write_bytes(b"an earlier ensemble")
    assert main(["ensemble", str(out), str(out), "--out", str(tmp_path / "e.pth")]) == 2  # ensemble asks the same
    assert "e.pth exists (a checkpoint): choose another --out, or add --force" in capsys.readouterr().err
    assert main(["train", "--data", str(train_set), "--out", str(out), *ARGS, "--epochs", "1", "--seed", "1",
                 "--force"]) == 0
    assert out.read_bytes() != first
