"""``export``: a checkpoint as the report's own code reads it, a bare ``state_dict``.

    python -m core export WEIGHTS --out face_detector.pth

The report's ``main.py`` and ``test.py`` build its ResNet50 ``FaceClassifier`` and call
``load_state_dict(torch.load(path))``, which cannot read this tool's self-describing
checkpoints. Only a model that is that class can be exported: a ResNet50 with the
attention block. An EfficientNet or an ensemble is refused, and so is a model trained
``--no-attention``: its file has the attention block's keys (untrained), so the report's
code would load it without a word and answer through the untrained block. What a bare
file cannot carry (an input size other than 224 px, a threshold other than 0.5) is said,
since the report's code assumes both.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .preprocess import Preprocessing


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a checkpoint as a bare state dict, for the report's own main.py / test.py")
    p.add_argument("weights", help="the checkpoint (a ResNet50 with attention, as the report's FaceClassifier)")
    p.add_argument("--out", required=True, help="the bare state dict to write (e.g. model_weights/face_detector.pth)")
    p.set_defaults(func=run_export)


def export_problem(detector) -> str | None:
    """Why ``detector`` cannot be the report's ``FaceClassifier``, or None when it can."""
    model = detector.model
    if hasattr(model, "members"):
        return (f"{detector.name} is an ensemble ({detector.backbone}); the report's code loads one ResNet50 "
                "FaceClassifier")
    if model.backbone != "resnet50":
        return (f"{detector.name} is built on {model.backbone}; the report's code builds a ResNet50 FaceClassifier "
                "(train one with --backbone resnet50)")
    if not model.use_attention:
        return (f"{detector.name} was trained without the attention block; the report's FaceClassifier always "
                "applies it, so its code would load this file and answer through an untrained block")
    return None


def lost_words(detector) -> list[str]:
    """What the bare file cannot say that the report's code would get wrong."""
    notes = []
    pre, report = detector.preprocessing, Preprocessing()
    if pre.input_size != report.input_size:
        notes.append(f"the model was trained at {pre.input_size} px; the report's code resizes to 224 px: change "
                     "its Resize to match")
    if (tuple(pre.mean), tuple(pre.std)) != (tuple(report.mean), tuple(report.std)):
        notes.append(f"the model normalises with mean {list(pre.mean)} / std {list(pre.std)}, not ImageNet's")
    if abs(detector.threshold - 0.5) > 1e-9:
        notes.append(f"its threshold is {detector.threshold:.4f}; the report's code uses 0.5")
    return notes


def run_export(args: argparse.Namespace) -> int:
    import torch

    from .atomic import atomic_path
    from .checkpoint import load_detector

    detector = load_detector(args.weights, "cpu")
    problem = export_problem(detector)
    if problem:
        print(f"error: {problem}; nothing written", file=sys.stderr)
        return 2
    state = {k: v.detach().float() if v.is_floating_point() else v.detach() for k, v in detector.model.state_dict().items()}
    out = Path(args.out)
    with atomic_path(out) as tmp:
        torch.save(state, tmp)
    for note in lost_words(detector):
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): a bare state dict of {detector.name} for the report's "
          "FaceClassifier (load_state_dict(torch.load(path)))")
    return 0
