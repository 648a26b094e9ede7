"""Shared fixtures: tiny generated test sets and small random-weight checkpoints.

Nothing here reads ../shared/datasets; tests that need the real data use
``ciplab_dir`` which skips with a reason where that folder is absent (it is present in CI).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parent.parent
CIPLAB = REPO.parent / "shared" / "datasets" / "ciplab_train"
APP = str(REPO / "streamlit_app.py")


def make_face_like(rng: np.random.Generator, size: int, fake: bool) -> Image.Image:
    """A synthetic 'face': a smooth gradient with noise; fakes get a pasted patch.
    Enough structure for models and metrics to have something to work on."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([0.6 + 0.3 * x, 0.5 + 0.2 * y, 0.4 + 0.1 * x * y], axis=-1)
    img = base + rng.normal(0, 0.05, base.shape)
    if fake:
        s = size // 4
        r0, c0 = rng.integers(0, size - s, 2)
        img[r0 : r0 + s, c0 : c0 + s] = rng.uniform(0, 1, 3)
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))


def photo_like(size: int = 600, seed: int = 0) -> Image.Image:
    """An image with a photograph's spectrum (amplitude falling as 1/f), so fine detail is
    a small share of it, as in a face; white noise would not lose its share to blur."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(size)
    radius = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    radius[0, 0] = 1.0
    channels = [np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(size, size))) / radius)) for _ in range(3)]
    a = np.stack([(c - c.mean()) / c.std() for c in channels], axis=-1)
    return Image.fromarray((128 + 40 * a).clip(0, 255).astype(np.uint8))


def make_test_set(root: Path, n_real: int = 6, n_fake: int = 6, *, size: int = 72, seed: int = 0,
                  corrupt: bool = False, groups: bool = False) -> Path:
    """Write a tiny test set in the report's layout; returns its root.

    ``groups`` puts half the fakes under ``fake/gan/`` (group 'gan'); ``corrupt`` adds a
    truncated JPEG and a text file named .png to real/ (both must be skipped)."""
    rng = np.random.default_rng(seed)
    (root / "real").mkdir(parents=True, exist_ok=True)
    (root / "fake").mkdir(parents=True, exist_ok=True)
    for i in range(n_real):
        make_face_like(rng, size, False).save(root / "real" / f"real_{i:05d}.jpg", quality=90)
    for i in range(n_fake):
        sub = root / "fake" / ("gan" if groups and i % 2 else "")
        sub.mkdir(parents=True, exist_ok=True)
        ext = "png" if i % 3 == 2 else "jpg"
        make_face_like(rng, size, True).save(sub / f"{['easy', 'mid', 'hard'][i % 3]}_{i}_{i % 16:04b}.{ext}")
    if corrupt:
        good = (root / "real" / "real_00000.jpg").read_bytes()
        (root / "real" / "truncated.jpg").write_bytes(good[: len(good) // 3])
        (root / "real" / "not_an_image.png").write_text("hello")
    return root


def make_checkpoint(path: Path, *, backbone: str = "efficientnet_lite0", input_size: int = 64, seed: int = 0,
                    attention: bool = True, spread: float = 30.0, threshold: float = 0.5) -> Path:
    """A random-weight checkpoint whose P(real) spreads over (0, 1) (final layer scaled
    by ``spread``), so thresholds and metrics are non-trivial."""
    from core.checkpoint import save_checkpoint
    from core.model import build_model
    from core.preprocess import Preprocessing

    torch.manual_seed(seed)
    model = build_model(backbone, pretrained=None, attention=attention)
    pre = Preprocessing(input_size=input_size)
    rng = np.random.default_rng(seed)
    batch = torch.stack([pre.eval_transform()(make_face_like(rng, input_size, bool(i % 2))) for i in range(16)])
    with torch.no_grad():
        # Batch-norm statistics from real-looking input (as a trained model has them);
        # with the untouched defaults every image gets almost the same score.
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.momentum = None  # cumulative average
        model.train()(batch)
        model.eval()
        logits = model(batch).squeeze(1)
        # centre and scale the logit so P(real) spreads over (0, 1)
        scale = spread / 10 / (logits.std() + 1e-12)
        model.classifier[-1].weight.mul_(scale)
        model.classifier[-1].bias.copy_(model.classifier[-1].bias * scale - logits.mean() * scale)
    return save_checkpoint(path, model, pre, threshold=threshold,
                           threshold_source="test fixture", training={"note": "random weights for tests"})


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory) -> Path:
    """6 real + 6 fake synthetic images, fakes partly in group 'gan'."""
    return make_test_set(tmp_path_factory.mktemp("tiny_set") / "set", groups=True)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "random_lite0.pth")


@pytest.fixture(autouse=True)
def pace_kept_apart(tmp_path_factory, monkeypatch):
    """Each test starts with no measured speed and keeps what it measures in a file of its own:
    core.pace keeps speeds on disk, so a sweep in one run would make the next one's "Not measured
    on this machine yet" false, and fill the real cache's pace.json with random models."""
    from core import pace

    monkeypatch.setattr(pace, "_MEASURED", {})
    monkeypatch.setattr(pace, "STORE", tmp_path_factory.mktemp("pace") / "pace.json")


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch) -> Path:
    """Isolated prediction cache for one test."""
    d = tmp_path / "cache"
    monkeypatch.setenv("DEEPFAKE_CACHE_DIR", str(d))
    import core.prediction_cache

    monkeypatch.setattr(core.prediction_cache, "DEFAULT_CACHE_DIR", d)
    return d


@pytest.fixture(scope="session")
def ciplab_dir() -> Path:
    if not CIPLAB.is_dir():
        pytest.skip(f"labelled data not present at {CIPLAB} (it is in CI)")
    return CIPLAB


def point_app_at(monkeypatch, data, weights) -> tuple:
    """Open the dashboard on this test set and these weights (its environment defaults)."""
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv("WEIGHTS", str(weights))
    return data, weights


def open_page(page: str = "streamlit_app.py", timeout: float = 120, **query):
    """Run the app in AppTest on ``page``, with ``query`` as URL parameters. The timeout is
    generous: the shared CI machine is slow, and AppTest's default is 3 s."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in query.items():
        at.query_params[key] = value
    if page != "streamlit_app.py":
        at.switch_page(page)
    return at.run()


# A training run small enough for a test: 2 epochs of 64 px images on the CPU from scratch.
TRAIN_ARGS = ["--epochs", "2", "--batch-size", "4", "--image-size", "64", "--val-fraction", "0.25", "--workers", "0",
              "--pretrained", "none", "--device", "cpu"]


@pytest.fixture(scope="module")
def train_set(tmp_path_factory):
    """16 synthetic 64 px faces (8 real, 8 fake) to train on, made once per test module."""
    return make_test_set(tmp_path_factory.mktemp("train") / "s", n_real=8, n_fake=8, size=64)
