"""Self-describing checkpoints, and loading of the report's bare state dicts.

A checkpoint is a dict (nanoGPT style) holding the state dict and everything needed
to use it without guessing: model arguments, class convention, preprocessing, the
chosen threshold and training metadata. A bare ``state_dict`` saved by the report's
``train.py`` is recognised by its keys and loaded with the report's settings.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import atomic
from .identity import DEVICE_PATTERN, CheckpointError, DeviceUnavailable, file_sha256, saved_threshold, threshold_sidecar  # noqa: F401
from .model import BACKBONES, FaceClassifier, build_model
from .preprocess import Preprocessing, file_error_words

FORMAT = "deepfake-detector-checkpoint"
VERSION = 1
CLASSES = {"0": "fake", "1": "real"}
OUTPUT = "one logit; sigmoid(logit) = P(real)"


@dataclass
class Detector:
    """A loaded model with its description. ``model`` is in eval mode on ``device``."""

    model: FaceClassifier  # or core.ensemble.EnsembleClassifier (same duck-typed surface)
    preprocessing: Preprocessing
    threshold: float
    meta: dict
    path: Path | None
    sha256: str
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def backbone(self) -> str:
        return self.model.backbone

    @property
    def name(self) -> str:
        return self.path.name if self.path else "in-memory model"

    @property
    def threshold_warning(self) -> str | None:
        """Why a threshold file beside the weights was not used (broken, or saved for other
        weights), or None: the threshold in use is then the checkpoint's own, which a user
        who saved another one must be told."""
        return self.meta.get("threshold_warning")

    @property
    def input_size_words(self) -> str:
        """"384 px", or an ensemble's members' sizes, "384 + 224 px" (each member sees the
        image at its own size; the preprocessing's one size is only the largest)."""
        sizes = getattr(self.model, "input_sizes", None) or [self.preprocessing.input_size]
        return " + ".join(str(s) for s in sizes) + " px"


_RESNETS = {((3, 4, 6, 3), True): "ResNet50", ((3, 4, 23, 3), True): "ResNet101", ((3, 8, 36, 3), True): "ResNet152",
            ((2, 2, 2, 2), False): "ResNet18", ((3, 4, 6, 3), False): "ResNet34"}


def _resnet_name(keys) -> str | None:
    """Which torchvision ResNet a state dict's ``model.layerN.i`` keys are: blocks per stage
    and bottleneck (``conv3``) or not; None when it is no ResNet, "a ResNet" when unusual."""
    blocks = [{k.split(".")[2] for k in keys if k.startswith(f"model.layer{n}.")} for n in (1, 2, 3, 4)]
    if "model.conv1.weight" not in keys or not all(blocks):
        return None
    shape = (tuple(len(b) for b in blocks), any(k.endswith(".conv3.weight") for k in keys))
    return _RESNETS.get(shape, f"a ResNet with {'-'.join(map(str, shape[0]))} blocks")


def _detect_backbone(state: dict) -> str | None:
    keys = set(state)
    if _resnet_name(keys) == "ResNet50":
        return "resnet50"
    if "model._conv_stem.weight" in keys:
        blocks = {k.split(".")[2] for k in keys if k.startswith("model._blocks.")}
        return {16: "efficientnet_lite0", 21: "efficientnet_lite2"}.get(len(blocks))
    return None


def _mismatch_words(expected: dict, state: dict, shown: int = 3) -> str:
    """What keeps ``state`` from loading into a model whose state dict is ``expected``, in
    one short line (missing, unexpected and reshaped tensors, a few named of each); "" when
    it fits. PyTorch's own message lists every key: 13 KB for a ResNet101 file."""

    def some(names) -> str:
        names = sorted(names)
        return ", ".join(names[:shown]) + (f" (+{len(names) - shown} more)" if len(names) > shown else "")

    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    reshaped = [k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensor(s) missing: {some(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected: {some(unexpected)}")
    if reshaped:
        k = sorted(reshaped)[0]
        parts.append(f"{len(reshaped)} of another shape, e.g. {k} is {list(state[k].shape)} in the file, "
                     f"{list(expected[k].shape)} in the model")
    return "; ".join(parts)


def _model_args(model) -> dict:
    if hasattr(model, "member_args"):  # core.ensemble.EnsembleClassifier
        from .ensemble import COMBINE

        return {"backbone": "ensemble", "attention": model.use_attention, "members": model.member_args(), "combine": COMBINE}
    return {"backbone": model.backbone, "attention": model.use_attention}


def save_checkpoint(
    path: str | os.PathLike,
    model: FaceClassifier,
    preprocessing: Preprocessing,
    *,
    threshold: float = 0.5,
    threshold_source: str = "default 0.5",
    training: dict | None = None,
    half: bool = False,
    extra: dict | None = None,
) -> Path:
    """Write a self-describing checkpoint. ``half`` stores floating tensors as float16
    (about half the size; outputs change by well under 1e-3)."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "state_dict": state,
        "storage_dtype": "float16" if half else "float32",
        "model_args": _model_args(model),
        "classes": CLASSES,
        "output": OUTPUT,
        "preprocessing": preprocessing.to_dict(),
        "threshold": float(threshold),
        "threshold_source": threshold_source,
        # JSON round trip: only plain types, so the file loads with weights_only=True
        "training": json.loads(json.dumps(training or {}, default=float)),
        **(extra or {}),
    }
    path = Path(path)
    with atomic.atomic_path(path) as tmp:  # never leave a half-written checkpoint behind (makes the folder too)
        torch.save(payload, tmp)
    return path


def _unwrap_state_dict(raw):
    """The report's state dict inside the two wrappings training loops commonly add: a dict
    holding it under ``state_dict`` / ``model_state_dict`` / ``model`` (beside epoch and
    optimizer), and ``nn.DataParallel``'s ``module.`` key prefix. (state dict, what was undone)."""
    undone = []
    if isinstance(raw, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = raw.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                raw = inner
                undone.append(f"weights taken from its '{key}' entry")
                break
    if isinstance(raw, dict) and raw and all(isinstance(k, str) and k.startswith("module.") for k in raw):
        raw = {k[len("module."):]: v for k, v in raw.items()}
        undone.append("DataParallel's 'module.' prefix removed")
    return raw, "; ".join(undone)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load the file and normalise it to the checkpoint dict (bare report state dicts included)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Weights file not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a weights file")
    if not path.is_file():  # opening a named pipe would wait for a writer forever
        raise CheckpointError(f"{path.name} is not a regular file (a pipe, socket or device), not a weights file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes): not a checkpoint; was it copied or downloaded whole?")
    try:  # the one read that can fail for the file system rather than the content: say so, not "damaged"
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise CheckpointError(f"{path.name} {file_error_words(exc)}: check its permissions "
                              f"(ls -l {path})") from None
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # the start of a torch.save file (a zip, or the old pickle format) that then fails to load: cut short
        refused = "Weights only load failed" in str(exc)  # whole, but a pickled model: the message below says why
        if not refused and (head.startswith((b"PK\x03\x04", b"\x80")) or isinstance(exc, EOFError)):
            raise CheckpointError(f"{path.name} is cut short or damaged ({type(exc).__name__}): a torch.save file "
                                  "that did not arrive whole; copy or download it again") from None
        raise CheckpointError(
            f"{path.name} is not a PyTorch checkpoint this tool can read ({type(exc).__name__}). "
            "Expected a file written by torch.save: a state dict of the report's FaceClassifier "
            "(torch.save(model.state_dict(), path); a whole pickled model is not read, since unpickling "
            "runs code) or a checkpoint written by `python -m core train`."
        ) from None
    if isinstance(raw, dict) and raw.get("format") == FORMAT:
        return raw
    raw, unwrapped = _unwrap_state_dict(raw)
    if isinstance(raw, dict) and raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
        backbone = _detect_backbone(raw)
        if backbone is None:
            sample = ", ".join(list(raw)[:4])
            resnet = _resnet_name(set(raw))
            if resnet:  # the report's head on another ResNet: say which, not "unknown"
                raise CheckpointError(
                    f"{path.name} is the report's FaceClassifier on {resnet}, not ResNet50: this tool builds "
                    f"{', '.join(BACKBONES)}. Train one of those (python -m core train --backbone ...)."
                )
            raise CheckpointError(
                f"{path.name} is a state dict of an unknown architecture (first keys: {sample}). "
                f"Expected the report's FaceClassifier keys: model.conv1.weight ... model.layer4.*, "
                f"attention.0.weight, classifier.1.weight (backbones: {', '.join(BACKBONES)})."
            )
        return {
            "format": FORMAT,
            "version": VERSION,
            "state_dict": raw,
            "model_args": {"backbone": backbone, "attention": True},
            "classes": CLASSES,
            "output": OUTPUT,
            "preprocessing": Preprocessing().to_dict(),
            "threshold": 0.5,
            "threshold_source": "report default 0.5 (bare state dict)",
            "training": {"source": "bare state dict in the report's format" + (f" ({unwrapped})" if unwrapped else "")},
        }
    raise CheckpointError(
        f"{path.name} holds a {type(raw).__name__}, not a model. Expected a state dict of the report's "
        "FaceClassifier or a checkpoint written by `python -m core train`."
    )


def _checked_settings(path: Path, ckpt: dict) -> tuple[float, Preprocessing]:
    """The checkpoint's threshold and preprocessing, refused with a message when they cannot work
    (a hand-edited or foreign file): a threshold of 1.5 or NaN used to load, call every image FAKE
    and fail every API answer; an input size of 0 failed at the first image."""
    version = ckpt.get("version", VERSION)
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path.name} is checkpoint format version {version!r}; this tool reads versions up to "
                              f"{VERSION}. Update the tool, or re-save the weights with it.")
    try:
        threshold = float(ckpt.get("threshold", 0.5))
    except (TypeError, ValueError):
        threshold = math.nan
    if not 0.0 <= threshold <= 1.0:  # NaN fails too
        raise CheckpointError(f"{path.name}: its threshold {ckpt.get('threshold')!r} is not a probability in [0, 1]. "
                              "Re-save it with a threshold (save_checkpoint(..., threshold=…)).")
    try:
        pre = Preprocessing.from_dict(ckpt.get("preprocessing", {}))
        pre.check()
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: its preprocessing cannot be used ({exc}).") from None
    return threshold, pre


def load_detector(path: str | os.PathLike, device: str | torch.device = "cpu") -> Detector:
    """Load a checkpoint (or a report state dict) into an eval-mode model on ``device``.

    A sidecar ``<file>.threshold.json`` beside the weights, written by the dashboard,
    overrides the checkpoint's own threshold.
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    own_threshold, preprocessing = _checked_settings(path, ckpt)
    args = ckpt.get("model_args", {})
    try:
        model = build_model(backbone=args.get("backbone", "resnet50"), pretrained=None, attention=args.get("attention", True),
                            members=args.get("members"))
    except (ValueError, ImportError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path.name}: cannot build its model ({exc})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    broken = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:  # it would answer NaN for every image, which no metric or verdict can use
        raise CheckpointError(f"{path.name}: {len(broken)} of its weight tensors hold NaN or infinite values (first: "
                              f"{broken[0]}), so the model cannot score an image: the file is damaged or its training "
                              "diverged")
    try:  # PyTorch first: it fills in what it may (BatchNorm's num_batches_tracked from older exports)
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        mismatch = _mismatch_words(model.state_dict(), state) or "its tensors do not load into this model"
        raise CheckpointError(f"{path.name} does not fit the {args.get('backbone')} FaceClassifier: {mismatch}") from None
    device = torch.device(device)
    model.to(device).eval()
    file_sha = file_sha256(path)
    threshold, meta = own_threshold, {k: v for k, v in ckpt.items() if k != "state_dict"}
    meta["checkpoint_threshold"] = threshold
    saved = saved_threshold(path, file_sha)
    if saved and saved.value is not None:
        threshold, meta["threshold_source"] = saved.value, saved.source
    elif saved:  # the file beside it is broken or stale: the checkpoint's own threshold, and why
        meta["threshold_source"] = f"{meta.get('threshold_source', 'the checkpoint')} ({saved.source})"
        meta["threshold_warning"] = saved.ignored_words(threshold)
    meta["threshold"] = threshold
    return Detector(
        model=model,
        preprocessing=preprocessing,
        threshold=threshold,
        meta=meta,
        path=path,
        sha256=file_sha,
        device=device,
    )


def save_threshold(weights: str | os.PathLike, threshold: float, source: str) -> Path:
    """Remember a chosen threshold next to the weights (the weights file itself stays untouched,
    so its hash, and every cache keyed by it, stays valid)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be within [0, 1], got {threshold}")
    sidecar = threshold_sidecar(weights)
    text = json.dumps({"threshold": float(threshold), "source": source, "weights_sha256": file_sha256(weights)}, indent=2)
    atomic.write_bytes(sidecar, text.encode())  # never a half-written file: every page reads it
    return sidecar


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → cuda when available, else cpu. Asking for cuda without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not re.fullmatch(DEVICE_PATTERN, device):  # auto is taken above
        raise DeviceUnavailable(f"--device {device}: not a device this tool runs on; use auto, cpu or cuda (cuda:N)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailable(f"--device {device} was asked for, but PyTorch sees no CUDA GPU on this machine: "
                                "use --device cpu (or auto)")
    return torch.device(device)

