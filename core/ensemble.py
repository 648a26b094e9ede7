"""Ensembles: several trained ``FaceClassifier`` members behind one model, one checkpoint.

The ensemble's logit is the mean of its members' logits (a geometric mean of their odds).
Members may differ in backbone, attention block and input size; they must share the
normalisation. The ensemble takes images at its largest member's input size and
resizes them (bilinear, antialiased) for smaller members inside ``forward``, so one
preprocessing travels with the checkpoint and every tool that runs a ``FaceClassifier``
(inference, Grad-CAM, feature maps, the API) runs an ensemble unchanged.

The duck-typed surface the tools use is kept: ``feature_map`` returns one map per member,
``attention_map`` the mean of the attention members' maps on the finest grid, ``embed``
the members' pooled features side by side and ``classifier`` maps those back to the
mean logit.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

COMBINE = "mean of member logits"


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class EnsembleClassifier(nn.Module):
    """Mean logit of ``members``; member i sees the input resized to ``input_sizes[i]``."""

    def __init__(self, members: list[nn.Module], input_sizes: list[int]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        if len(members) != len(input_sizes):
            raise ValueError("one input size per member")
        if any(isinstance(m, EnsembleClassifier) for m in members):
            raise ValueError("an ensemble member cannot itself be an ensemble: list its members instead")
        self.members = nn.ModuleList(members)
        self.input_sizes = [int(s) for s in input_sizes]
        self.input_size = max(self.input_sizes)
        self.use_attention = any(m.use_attention for m in members)
        self.backbone = "ensemble(" + " + ".join(f"{m.backbone} {s}px" for m, s in zip(members, self.input_sizes)) + ")"
        self._widths = [m.classifier[1].in_features for m in members]

    def member_args(self) -> list[dict]:
        return [{"backbone": m.backbone, "attention": m.use_attention, "input_size": s} for m, s in zip(self.members, self.input_sizes)]

    def feature_map(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(m.feature_map(_resize(x, s)) for m, s in zip(self.members, self.input_sizes))

    def attention_map(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """(N, 1, h, w) on the finest member grid: the mean over members with an attention
        block (all ones when none has one)."""
        h = max(f.shape[-2] for f in features)
        w = max(f.shape[-1] for f in features)
        maps = [F.interpolate(m.attention_map(f), size=(h, w), mode="bilinear", align_corners=False)
                for m, f in zip(self.members, features) if m.use_attention]
        if not maps:
            return features[0].new_ones(features[0].shape[0], 1, h, w)
        return torch.stack(maps).mean(0)

    def pooled(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return torch.cat([m.pooled(f) for m, f in zip(self.members, features)], dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Members' pooled features side by side, (N, sum of widths)."""
        return self.pooled(self.feature_map(x))

    def classifier(self, embedded: torch.Tensor) -> torch.Tensor:
        """``embed`` output → (N, 1) mean logit (the members' heads on their own slices)."""
        parts = torch.split(embedded, self._widths, dim=1)
        return torch.stack([m.classifier(p) for m, p in zip(self.members, parts)]).mean(0)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, members) logits, each member on its own input size."""
        return torch.cat([m(_resize(x, s)) for m, s in zip(self.members, self.input_sizes)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.member_logits(x).mean(1, keepdim=True)
