"""core/cli_export.py: a checkpoint written as the bare state dict the report's own code loads."""
import pytest
import torch

from core.checkpoint import load_detector, read_checkpoint
from core.cli import main

from .conftest import make_checkpoint


@pytest.fixture(scope="module")
def resnet_ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("export") / "r50.pth", backbone="resnet50", input_size=64,
                           threshold=0.6)


def test_a_resnet50_with_attention_exports_to_the_reports_bare_format_and_scores_the_same(resnet_ckpt, tmp_path, capsys):
    out = tmp_path / "model_weights" / "face_detector.pth"
    assert main(["export", str(resnet_ckpt), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out
    assert "trained at 64 px; the report's code resizes to 224 px" in captured.err  # what a bare file cannot carry
    assert "its threshold is 0.6000; the report's code uses 0.5" in captured.err
    raw = torch.load(out, map_location="cpu", weights_only=True)
    assert isinstance(raw, dict) and all(isinstance(v, torch.Tensor) for v in raw.values())  # state dict only
    assert "attention.0.weight" in raw and "model.layer4.2.conv3.weight" in raw
    assert read_checkpoint(out)["model_args"] == {"backbone": "resnet50", "attention": True}
    x = torch.rand(2, 3, 64, 64)
    a, b = load_detector(resnet_ckpt).model, load_detector(out).model
    with torch.inference_mode():
        torch.testing.assert_close(a(x), b(x))


def test_what_the_reports_class_cannot_be_is_refused_and_nothing_written(tiny_ckpt, tmp_path, capsys):
    no_attention = make_checkpoint(tmp_path / "noatt.pth", backbone="resnet50", attention=False)
    for weights, why in ((tiny_ckpt, "is built on efficientnet_lite0; the report's code builds a ResNet50"),
                         (no_attention, "trained without the attention block")):
        out = tmp_path / "x.pth"
        assert main(["export", str(weights), "--out", str(out)]) == 2
        assert why in capsys.readouterr().err and not out.exists()
