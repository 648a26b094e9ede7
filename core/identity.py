"""What identifies a weights file without loading it (no torch import): its hash, the
threshold saved beside it, and a small record of the model made the first time it was
loaded. This lets a fully cached ``evaluate`` skip PyTorch altogether."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import atomic


class CheckpointError(ValueError):
    """A weights file that cannot be used; the message names the file and what was expected."""


# The devices the tools run on (--device): whether a GPU is there is checked when a model loads.
DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"


class DeviceUnavailable(RuntimeError):
    """A device that is not a device name, or one this machine does not have."""


class PretrainedWeightsUnavailable(RuntimeError):
    """ImageNet weights were asked for but cannot be had on this machine."""


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def threshold_sidecar(weights: str | os.PathLike) -> Path:
    weights = Path(weights)
    return weights.with_name(weights.name + ".threshold.json")


@dataclass(frozen=True)
class SavedThreshold:
    """A threshold file beside the weights: ``value`` is None when the file is there but
    cannot be used, and ``source`` then says why (so the checkpoint's own threshold holds
    and the user learns the saved one was ignored, rather than losing the model)."""

    value: float | None
    source: str

    def ignored_words(self, used: float) -> str | None:
        """The warning for a file that was not used, naming the threshold ``used`` instead;
        None when the file's threshold is the one in use."""
        return None if self.value is not None else f"{self.source}; the checkpoint's own threshold {used:.4f} is used"


def saved_threshold(weights: str | os.PathLike, sha256: str | None = None) -> SavedThreshold | None:
    """The threshold saved beside ``weights`` by the dashboard, or None if none was saved.
    With ``sha256`` (of the weights), a threshold saved for other weights at the same path
    (a retrained model) is ignored: it was chosen on another model's scores."""
    sidecar = threshold_sidecar(weights)
    if not sidecar.exists():
        return None
    try:
        saved = json.loads(sidecar.read_text())
        value = float(saved["threshold"])
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{value} is outside [0, 1]")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return SavedThreshold(None, f"ignored {sidecar.name}: unreadable ({str(exc).splitlines()[0] or type(exc).__name__})")
    for_sha = saved.get("weights_sha256")
    if sha256 and for_sha and for_sha != sha256:
        return SavedThreshold(None, f"ignored {sidecar.name}: saved for other weights (sha256 {for_sha[:12]}, "
                                    f"these are {sha256[:12]})")
    return SavedThreshold(value, str(saved.get("source", f"saved in {sidecar.name}")))


@dataclass(frozen=True)
class ModelIdentity:
    """The parts of a ``Detector`` that reports print: enough to describe cached results."""

    path: Path | None
    sha256: str
    backbone: str
    threshold: float
    device: str = "not run (all predictions cached)"
    digests: dict | None = None  # the checkpoint's training.data.digests (core.provenance)
    threshold_warning: str | None = None  # why a threshold file beside the weights was not used

    @property
    def name(self) -> str:
        return self.path.name if self.path else "in-memory model"


def _record_path(sha256: str, cache_dir: Path) -> Path:
    return Path(cache_dir) / "models" / f"{sha256}.json"


def _read_record(path: Path) -> dict | None:
    try:
        info = json.loads(path.read_text())
        float(info["threshold"]), str(info["backbone"])
        return info
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(sha256: str, backbone: str, checkpoint_threshold: float, cache_dir: Path,
                 digests: dict | None = None) -> None:
    """Remember what loading the weights with this hash told us (content-addressed, so
    it never goes stale), the digests of the images it has seen included."""
    path = _record_path(sha256, cache_dir)
    if _read_record(path) is not None:
        return
    try:  # whole or not at all: a torn record used to break every later cached `evaluate`
        atomic.write_bytes(path, json.dumps({"backbone": backbone, "threshold": checkpoint_threshold, "digests": digests}).encode())
    except OSError:
        pass  # a read-only cache only costs speed


def identify(weights: str | os.PathLike, cache_dir: Path) -> ModelIdentity | None:
    """The identity of ``weights`` without loading them, or None if they were never loaded
    with this cache folder."""
    weights = Path(weights)
    if not weights.is_file():
        return None
    sha = file_sha256(weights)
    info = _read_record(_record_path(sha, cache_dir))
    if info is None:  # never loaded with this cache, or a damaged record: the caller loads the model
        return None
    saved = saved_threshold(weights, sha)
    threshold = saved.value if saved and saved.value is not None else float(info["threshold"])
    warning = saved.ignored_words(threshold) if saved else None
    return ModelIdentity(path=weights, sha256=sha, backbone=info["backbone"], threshold=threshold,
                         digests=info.get("digests"), threshold_warning=warning)
