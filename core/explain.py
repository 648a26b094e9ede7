"""Why the detector says what it says: its own attention map and Grad-CAM.

Two heat maps per image, both returned at the image's own (height, width):

- ``attention``: the model's spatial-attention weights,
  ``FaceClassifier.attention_map(feature_map(x))``, (h, w) = input/32, upsampled
  bilinearly. A checkpoint trained without the attention block has no such map (it is
  all ones); ``Explanation.has_attention`` is then False and the map is constant.
- ``gradcam``: Grad-CAM (``pytorch-grad-cam``) on the last convolutional block of the
  backbone (ResNet50 ``layer4[-1]``, EfficientNet-Lite ``_blocks[-1]``). The model has
  one logit (sigmoid = P(real)), so explaining "real" targets the logit itself
  (``ClassifierOutputTarget(0)``) and explaining "fake" targets the negated logit:
  the regions that push the verdict towards fake.

Both are min-max scaled to [0, 1]. Results are cached on disk, keyed by the weights'
sha256, the preprocessing, the explained class and the image (path, size, mtime, or
the pixels' hash for uploads), so a second call returns identical arrays.

Grad-CAM hooks its target layers and runs a backward pass, so it never touches the
caller's model: it runs on a private copy of it, one at a time. The dashboard shares one
cached model among every session, and two explanations at once on that model crossed
each other's hooks (wrong maps, or autograd errors); its inference passes go on meanwhile.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checkpoint import Detector
from . import atomic, metrics, prediction_cache
from .metric_words import score_text
from .preprocess import open_image

TARGETS = ("fake", "real")
TARGET_NOTE = {
    "fake": "Grad-CAM explains FAKE: target = -logit (regions that lower P(real))",
    "real": "Grad-CAM explains REAL: target = the logit (regions that raise P(real))",
}
ENSEMBLE_NOTE = ("An ensemble: Grad-CAM is the mean of its members' maps (each scaled to the image), and the attention "
                 "map the mean over the members that have an attention block.")
NO_ATTENTION_NOTE = (
    "This checkpoint was trained without the spatial-attention block: its attention map is "
    "all ones, so only Grad-CAM says where the model looks."
)
_CACHE_VERSION = 1


@dataclass(frozen=True)
class Explanation:
    """Heat maps for one image. ``attention`` and ``gradcam`` are (H, W) float32 in [0, 1]
    at the image's size; ``p_real`` is the model's P(real) for the image."""

    image: Image.Image
    attention: np.ndarray
    gradcam: np.ndarray
    p_real: float
    target: str
    has_attention: bool
    from_cache: bool

    @property
    def target_note(self) -> str:
        return TARGET_NOTE[self.target]

    def overlays(self, alpha: float = 0.45) -> tuple[Image.Image, Image.Image]:
        """(attention overlay, Grad-CAM overlay) as RGB images of the image's size."""
        return overlay(self.image, self.attention, alpha), overlay(self.image, self.gradcam, alpha)


class _NegatedLogit:
    """Grad-CAM target for the "fake" class of a single-logit P(real) model."""

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return -(model_output[0] if model_output.ndim == 1 else model_output[:, 0])


def target_layers(model) -> list[torch.nn.Module]:
    """Grad-CAM's target layers: the backbone's last block, one per ensemble member
    (pytorch-grad-cam averages the members' maps after scaling each to the input size)."""
    if hasattr(model, "members"):
        return [target_layer(m) for m in model.members]
    return [target_layer(model)]


def target_layer(model) -> torch.nn.Module:
    """The last convolutional block of the backbone (Grad-CAM's target layer)."""
    if model.backbone == "resnet50":
        return model.model.layer4[-1]
    return model.model._blocks[-1]


def _scale01(a: np.ndarray) -> np.ndarray:
    a = np.nan_to_num(np.asarray(a, dtype=np.float32))
    lo, hi = float(a.min()), float(a.max())
    # A flat map (no attention block) stays flat: interpolation wobble of 1e-7 is not signal.
    return (a - lo) / (hi - lo) if hi - lo > 1e-5 * max(1.0, abs(hi)) else np.zeros_like(a)


def _resize(a: np.ndarray, height: int, width: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy()


_TWINS: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()
_TWIN_LOCK = threading.Lock()


def _private_twin(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` that only Grad-CAM uses (made once per model; hold ``_TWIN_LOCK``)."""
    twin = _TWINS.get(model)
    if twin is None:
        twin = _TWINS[model] = copy.deepcopy(model).eval()
    return twin


def _compute(detector: Detector, image: Image.Image, target: str) -> dict:
    """Maps at the model's resolution: attention (h, w), Grad-CAM (S, S), P(real)."""
    with _TWIN_LOCK:
        return _compute_on(_private_twin(detector.model), detector, image, target)


def _compute_on(model: torch.nn.Module, detector: Detector, image: Image.Image, target: str) -> dict:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    x = detector.preprocessing.eval_transform()(image)[None].to(detector.device)
    # Grad-CAM needs autograd even when a caller runs under inference_mode.
    with torch.inference_mode(False), torch.enable_grad():
        with torch.no_grad():
            features = model.feature_map(x)
            attention = model.attention_map(features)[0, 0].float().cpu().numpy()
        cam_target = ClassifierOutputTarget(0) if target == "real" else _NegatedLogit()
        try:
            with GradCAM(model=model, target_layers=target_layers(model)) as cam:
                gradcam = cam(input_tensor=x.clone(), targets=[cam_target])[0]
                p_real = float(torch.sigmoid(cam.outputs.detach().float())[0, 0])
        finally:
            model.zero_grad(set_to_none=True)
            model.eval()
    return {"attention": attention, "gradcam": np.asarray(gradcam, dtype=np.float32), "p_real": p_real}


def _cache_path(detector: Detector, source_key: dict, target: str, cache_dir: Path | None) -> Path:
    key = json.dumps(
        {"v": _CACHE_VERSION, "weights": detector.sha256, "pre": detector.preprocessing.to_dict(), "target": target, "image": source_key},
        sort_keys=True,
    )
    root = Path(cache_dir or prediction_cache.DEFAULT_CACHE_DIR)
    return root / "explain" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def _file_key(path: str | os.PathLike) -> dict:
    st = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _pixels_key(image: Image.Image) -> dict:
    return {"pixels": hashlib.sha256(image.tobytes()).hexdigest(), "size": list(image.size)}


def explain_image(
    detector: Detector,
    image: Image.Image,
    *,
    target: str = "fake",
    source: str | os.PathLike | None = None,
    use_cache: bool = True,
    cache_dir: Path | None = None,
) -> Explanation:
    """Attention map and Grad-CAM for a PIL image (RGB), at the image's size.

    ``target``: the class Grad-CAM explains, ``"fake"`` or ``"real"``. ``source``: the
    file the image came from (cache key path/size/mtime); without it the pixels are hashed.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    image = image.convert("RGB")
    key = _file_key(source) if source is not None else _pixels_key(image)
    path = _cache_path(detector, key, target, cache_dir)
    maps, from_cache = None, False
    if use_cache and path.exists():
        try:
            with np.load(path) as z:
                maps = {"attention": z["attention"], "gradcam": z["gradcam"], "p_real": float(z["p_real"])}
            from_cache = True
        except (OSError, ValueError, KeyError):
            maps = None  # a damaged cache entry is recomputed, never trusted
    if maps is None:
        maps = _compute(detector, image, target)
        if use_cache:
            buf = io.BytesIO()
            np.savez_compressed(buf, **maps)
            atomic.write_bytes(path, buf.getvalue())
    width, height = image.size
    return Explanation(
        image=image,
        attention=_scale01(_resize(maps["attention"], height, width)),
        gradcam=_scale01(_resize(maps["gradcam"], height, width)),
        p_real=maps["p_real"],
        target=target,
        has_attention=bool(detector.model.use_attention),
        from_cache=from_cache,
    )


def explain_file(detector: Detector, path: str | os.PathLike, *, target: str = "fake", use_cache: bool = True,
                 cache_dir: Path | None = None) -> Explanation:
    """``explain_image`` for an image file (raises ``ImageError`` for unreadable files)."""
    image, _ = open_image(str(path), name=Path(path).name)
    return explain_image(detector, image, target=target, source=path, use_cache=use_cache, cache_dir=cache_dir)


def overlay(image: Image.Image, heat: np.ndarray, alpha: float = 0.45, cmap: str = "jet") -> Image.Image:
    """Blend a [0, 1] heat map (H, W) over the image with a colour map."""
    from matplotlib import colormaps

    colours = (colormaps[cmap](np.clip(heat, 0, 1))[..., :3] * 255).astype(np.float32)
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    return Image.fromarray(((1 - alpha) * base + alpha * colours).clip(0, 255).astype(np.uint8))


def side_by_side(explanation: Explanation, title: str = "", threshold: float | None = None) -> Image.Image:
    """Image | attention overlay | Grad-CAM overlay, with captions (for the CLI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    att, cam = explanation.overlays()
    verdict = ""
    if threshold is not None:
        verdict = f" -> {metrics.verdict(explanation.p_real, threshold)} at threshold {threshold:.4f}"
    att_title = "attention map" if explanation.has_attention else "attention map (none: model has no attention block)"
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.8))
    for ax, im, name in zip(axes, (explanation.image, att, cam), ("image", att_title, f"Grad-CAM ({explanation.target})")):
        ax.imshow(im)
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    fig.suptitle(f"{title}  P(real)={score_text(explanation.p_real)}{verdict}\n{explanation.target_note}", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
