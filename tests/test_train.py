"""core.train: a tiny run writes a loadable checkpoint and model card; resume equals an
uninterrupted run on the CPU; focal loss is the report's."""
import json

import pytest
import torch

from core.checkpoint import load_detector
from core.cli import main
from core.train import focal_loss

from .conftest import make_test_set

ARGS = ["--epochs", "2", "--batch-size", "4", "--image-size", "64", "--val-fraction", "0.25", "--workers", "0",
        "--pretrained", "none", "--device", "cpu"]


@pytest.fixture(scope="module")
def train_set(tmp_path_factory):
    return make_test_set(tmp_path_factory.mktemp("train") / "s", n_real=8, n_fake=8, size=64)


def test_train_writes_checkpoint_and_card(tmp_path, train_set):
    out = tmp_path / "m.pth"
    assert main(["train", "--data", str(train_set), "--out", str(out), "--half", "--tta", *ARGS]) == 0
    det = load_detector(out)
    assert det.preprocessing.input_size == 64 and det.backbone == "efficientnet_lite0"
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["data"]["val"] == {"real": 2, "fake": 2} and card["data"]["train"] == {"real": 6, "fake": 6}
    assert len(card["history"]) == 2 and {"train_loss", "val_loss", "val_accuracy", "val_roc_auc"} <= set(card["history"][0])
    assert card["recipe"]["loss"] == "focal" and card["validation_tta"] is not None
    assert det.meta["training"]["best_epoch"] == card["best_epoch"]
    assert "## Validation" in out.with_suffix(".md").read_text()


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
