"""The speed work in core/inference.py must not change what the default path computes,
must actually engage bfloat16 when asked, and an interrupted run must resume."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torchvision import transforms

from tests.conftest import make_test_set
from core.checkpoint import load_detector
from core.data import scan_test_set
from core.inference import InferenceSettings, _ImageFolder, effective_workers, predict_test_set, prepare_model, score_batch
from core.preprocess import Preprocessing

# The report's val_transform, copied literally (input size is the checkpoint's).
def report_val_transform(size: int = 224):
    return transforms.Compose([
        transforms.Resize((size, size)),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])


def report_scores(weights, root) -> dict[str, float]:
    """The report's test.py loop: PIL open + convert, val_transform, one NCHW float32
    batch (the report's batch of 32 holds this whole set), no_grad."""
    det = load_detector(weights, "cpu")  # a fresh model: untouched by the project's path
    tf = report_val_transform(det.preprocessing.input_size)
    paths = [p for p in sorted(root.rglob("*")) if p.is_file()]
    x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        p_real = torch.sigmoid(det.model(x)).squeeze(1)
    return {str(p.relative_to(root)): float(v) for p, v in zip(paths, p_real)}


@pytest.fixture()
def photo_set(tmp_path):
    """Non-square and large-ish JPEGs/PNGs, where a draft decode would differ."""
    return make_test_set(tmp_path / "photos", n_real=3, n_fake=3, size=600, seed=3)


def test_default_preprocessing_is_the_reports(photo_set):
    paths = sorted(str(p) for p in photo_set.rglob("*.*"))
    wide = photo_set / "real" / "wide.jpg"
    Image.open(paths[0]).resize((640, 360)).save(wide)
    paths.append(str(wide))
    folder = _ImageFolder(paths, Preprocessing(224), draft=False)
    for i, path in enumerate(paths):
        ours, idx, *_, error, _digest = folder[i]
        assert error == "" and idx == i
        ref = report_val_transform(224)(Image.open(path).convert("RGB"))
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-5, rtol=0)


def test_default_preprocessing_on_the_real_data(ciplab_dir):
    paths = [str(p) for p in sorted((ciplab_dir / "real").glob("*.jpg"))[:2] + sorted((ciplab_dir / "fake").glob("*.jpg"))[:2]]
    folder = _ImageFolder(paths, Preprocessing(224), draft=False)
    for i, path in enumerate(paths):
        ref = report_val_transform(224)(Image.open(path).convert("RGB"))
        np.testing.assert_allclose(folder[i][0].numpy(), ref.numpy(), atol=1e-5, rtol=0)


def test_fast_preprocessing_differs_so_it_is_opt_in(photo_set):
    # Drafts never go below the detail measure's 384 px, so only a JPEG of 768 px or more is
    # decoded at a smaller DCT scale.
    big = photo_set / "real" / "big.jpg"
    Image.open(sorted((photo_set / "real").glob("*.jpg"))[0]).resize((1000, 1000)).save(big)
    paths = [str(big)]
    exact = _ImageFolder(paths, Preprocessing(64), draft=False)[0][0]
    draft = _ImageFolder(paths, Preprocessing(64), draft=True)[0][0]
    assert exact.shape == draft.shape
    assert not torch.allclose(exact, draft, atol=1e-5)  # if this ever passes, draft mode stopped working


def test_default_scores_match_the_report_loop(tiny_set, tiny_ckpt, cache_dir):
    det = load_detector(tiny_ckpt, "cpu")
    preds = predict_test_set(det, scan_test_set(tiny_set), InferenceSettings(workers=0), use_cache=False)
    ref = report_scores(tiny_ckpt, tiny_set)
    ours = dict(zip(preds.frame["relpath"], preds.frame["p_real"]))
    assert sorted(ours) == sorted(ref)
    a, b = np.array([ours[k] for k in sorted(ref)]), np.array([ref[k] for k in sorted(ref)])
    # Same inputs (1e-5, above), same function: only float32 rounding differs
    # (channels_last, BatchNorm folded). This random-weight fixture is the worst case:
    # its BatchNorm statistics come from 16 images (some variances near zero, so folded
    # weights are large) and its last layer is scaled to spread P(real) over (0, 1);
    # trained weights move by ~1e-6 (next test).
    np.testing.assert_allclose(a, b, atol=3e-5, rtol=0)
    assert ((a >= 0.5) == (b >= 0.5)).all()
    assert preds.precision == "float32"


def test_shipped_model_matches_the_report_loop_to_1e_5(ciplab_dir, tmp_path, cache_dir):
    from tests.conftest import REPO

    root = tmp_path / "set"
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for p in sorted((ciplab_dir / label).glob("*.jpg"))[:4]:
            (root / label / p.name).symlink_to(p)
    weights = REPO / "weights" / "default.pth"
    det = load_detector(weights, "cpu")
    preds = predict_test_set(det, scan_test_set(root), InferenceSettings(), use_cache=False)
    ref = report_scores(weights, root)
    ours = dict(zip(preds.frame["relpath"], preds.frame["p_real"]))
    a, b = np.array([ours[k] for k in sorted(ref)]), np.array([ref[k] for k in sorted(ref)])
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def _conv_output_dtypes(det, settings) -> set:
    seen = set()
    model = prepare_model(det, settings)  # the copy that inference runs
    hooks = [m.register_forward_hook(lambda m, i, o: seen.add(o.dtype)) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        score_batch(det, torch.randn(2, 3, 64, 64), settings)
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_fast_runs_convolutions_in_bfloat16(tiny_ckpt):
    det = load_detector(tiny_ckpt, "cpu")
    assert _conv_output_dtypes(det, InferenceSettings(fast=True)) == {torch.bfloat16}
    assert _conv_output_dtypes(det, InferenceSettings()) == {torch.float32}
    assert InferenceSettings(fast=True).precision == "bfloat16"


def test_fast_results_are_never_served_as_float32(tiny_set, tiny_ckpt, cache_dir):
    det = load_detector(tiny_ckpt, "cpu")
    ts = scan_test_set(tiny_set)
    fast = predict_test_set(det, ts, InferenceSettings(fast=True, workers=0))
    exact = predict_test_set(det, ts, InferenceSettings(workers=0))
    assert (fast.precision, exact.precision) == ("bfloat16", "float32")
    assert exact.scored == len(ts) and exact.from_cache == 0  # its own cache, not the fast one
    assert np.isfinite(fast.frame["p_real"]).all() and fast.frame["p_real"].between(0, 1).all()


def test_inference_copy_leaves_the_model_alone_and_follows_its_weights(tiny_ckpt):
    det = load_detector(tiny_ckpt, "cpu")
    before = {k: v.clone() for k, v in det.model.state_dict().items()}
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        ref = det.model(x)
    p1 = score_batch(det, x)
    folded = prepare_model(det, InferenceSettings(fast=True))
    assert prepare_model(det) is folded  # one folded float32 copy; fast only adds autocast
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())  # all folded
    assert all(torch.equal(before[k], v) for k, v in det.model.state_dict().items())
    assert det.model.model._conv_stem.weight.is_contiguous()  # layout untouched too
    np.testing.assert_allclose(p1, torch.sigmoid(ref).squeeze(1).numpy(), atol=1e-4)
    with torch.no_grad():
        det.model.classifier[-1].bias.add_(5.0)  # an in-place change must not be served stale
    assert prepare_model(det, InferenceSettings(fast=True)) is not folded
    p2 = score_batch(det, x)
    assert (p2 >= p1).all() and (p2 > p1).any()


def test_interrupted_run_resumes_where_it_stopped(tmp_path, tiny_ckpt, cache_dir):
    root = make_test_set(tmp_path / "set", n_real=7, n_fake=7, seed=5)
    ts = scan_test_set(root)
    det = load_detector(tiny_ckpt, "cpu")
    settings = InferenceSettings(batch_size=4, workers=0)
    seen = []

    def stop_after_two_batches(p):
        seen.append(p.done)
        if p.done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_test_set(det, ts, settings, progress=stop_after_two_batches)
    assert seen[0] == 0 and [d for d in seen if d] == [4, 8]  # a report before the first batch (the bar's "Loading…")
    resumed = predict_test_set(det, ts, settings)
    assert (resumed.from_cache, resumed.scored) == (8, len(ts) - 8)
    full = predict_test_set(det, ts, settings, use_cache=False)
    pd.testing.assert_frame_equal(resumed.frame, full.frame)


def test_worker_choice():
    assert effective_workers(InferenceSettings(workers=3), torch.device("cpu")) == 3
    assert effective_workers(InferenceSettings(workers=-1), torch.device("cpu")) == 0
    assert effective_workers(InferenceSettings(), torch.device("cpu")) == 0  # threads decode instead
    assert 0 <= effective_workers(InferenceSettings(), torch.device("cuda")) <= 4


def test_batches_decode_on_threads_in_the_same_order(photo_set):
    paths = sorted(str(p) for p in photo_set.rglob("*.*"))
    paths.insert(2, str(photo_set / "missing.jpg"))  # a failure keeps its place in the batch
    folder = _ImageFolder(paths, Preprocessing(64), draft=False)
    batch = folder.__getitems__(list(range(len(paths))))
    assert [row[1] for row in batch] == list(range(len(paths)))
    for i, row in enumerate(batch):
        one = folder[i]
        assert torch.equal(row[0], one[0]) and row[-2:] == one[-2:]  # the error ("" for a readable image) and the digest
        assert row[5] == one[5] or (np.isnan(row[5]) and np.isnan(one[5]))  # its detail share (NaN on failure)
    assert "file not found" in batch[2][-2]


def test_summary_memo_gives_the_same_numbers_at_every_threshold():
    from core.metrics import ThresholdSweep

    rng = np.random.default_rng(1)
    label, score = rng.integers(0, 2, 500), np.round(rng.uniform(0, 1, 500), 2)
    sweep = ThresholdSweep(label, score)
    for positive in ("real", "fake"):
        for t in (0.2, 0.5, 0.9):
            fresh = ThresholdSweep(label, score).summary(t, positive)
            again = sweep.summary(t, positive)
            assert again == fresh
            again["roc_auc"] = -1.0  # a caller editing its dict must not touch the memo
    assert sweep.summary(0.5)["roc_auc"] == ThresholdSweep(label, score).roc("real").auc
