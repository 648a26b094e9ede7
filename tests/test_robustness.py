"""core/robustness.py: perturbations on the fly, the sweep's clean row, a destroying perturbation, CLI."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from core.checkpoint import Detector, load_detector
from core.cli import main
from core.data import scan_test_set
from core.evaluation import evaluate
from core.inference import InferenceSettings
from core.preprocess import Preprocessing
from core.robustness import DEFAULT_PERTURBATIONS, Perturbation, images_to_score, predict_perturbed, robustness_sweep

from .conftest import make_test_set

ONE_WORKER = InferenceSettings(workers=0, batch_size=8)


class _DetailDetector(nn.Module):
    """A stand-in model that sees fine detail: logit = high-frequency energy of the image.
    On the set below (noisy reals, smooth fakes) it separates the classes perfectly."""

    def forward(self, x):
        blur = nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        detail = torch.round((x - blur).abs().mean(dim=(1, 2, 3)) * 1e4) / 1e4  # float wobble of a flat image is 0
        return (detail * 20 - 2).unsqueeze(1)


def _detail_set(root, n=6):
    rng = np.random.default_rng(0)
    for label, noise in (("real", 30), ("fake", 0)):
        (root / label).mkdir(parents=True)
        for i in range(n):
            base = np.full((48, 48, 3), rng.integers(60, 200, 3), dtype=np.float32)
            img = base + rng.normal(0, noise + 1e-6, base.shape)
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / label / f"{label}_{i}.png")
    return root


@pytest.fixture()
def detail_detector():
    return Detector(model=_DetailDetector().eval(), preprocessing=Preprocessing(input_size=48), threshold=0.5,
                    meta={}, path=None, sha256="detail-detector-test")


def _digests(root):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_perturbations_leave_files_byte_identical(tiny_ckpt, tmp_path, cache_dir):
    root = make_test_set(tmp_path / "set", n_real=2, n_fake=2, size=48)
    before = _digests(root)
    det = load_detector(tiny_ckpt)
    test_set = scan_test_set(root)
    for pert in DEFAULT_PERTURBATIONS:
        scores = predict_perturbed(det, test_set, pert, ONE_WORKER)
        assert len(scores) == 4 and np.isfinite(scores["p_real"]).all()
    assert _digests(root) == before


def test_perturbations_change_pixels_deterministically():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    for pert in DEFAULT_PERTURBATIONS:
        out = pert.apply(image, input_size=32, seed=7)
        assert out.mode == "RGB"
        assert out.size == ((32, 32) if pert.kind == "downscale" else image.size)
        np.testing.assert_array_equal(np.asarray(out), np.asarray(pert.apply(image, input_size=32, seed=7)))
    assert np.asarray(Perturbation("identity").apply(image, 32)).tobytes() == image.tobytes()
    with pytest.raises(ValueError):
        Perturbation("rotate", 5).apply(image, 32)


def test_clean_row_equals_evaluate(tiny_ckpt, tiny_set, cache_dir):
    det = load_detector(tiny_ckpt)
    test_set = scan_test_set(tiny_set)
    ev = evaluate(det, test_set, ONE_WORKER)
    sweep = robustness_sweep(det, test_set, perturbations=(Perturbation("identity"),), settings=ONE_WORKER)
    clean = sweep.table.iloc[0]
    summary = ev.summary(det.threshold)
    assert clean["condition"] == "clean"
    assert clean["roc_auc"] == pytest.approx(summary["roc_auc"])
    assert clean["accuracy"] == pytest.approx(summary["accuracy"])
    assert clean["real_pass_rate"] == pytest.approx(summary["recall"])  # positive = real
    assert clean["fake_catch_rate"] == pytest.approx(summary["specificity"])
    # the perturbation path itself adds nothing: identity scores equal evaluate's
    merged = ev.predictions.frame.merge(sweep.scores, on="relpath")
    np.testing.assert_allclose(merged["p_real"], merged["clean (perturbation path)"], rtol=0, atol=1e-6)
    assert sweep.table.iloc[-1]["flips"] == 0
    assert "flip TTA" in set(sweep.table["condition"])


def test_in_fast_mode_the_perturbations_start_from_the_picture_the_clean_pass_scored(tmp_path, cache_dir):
    """The fast pass decodes large JPEGs at a draft size; perturbing a full decode instead made the
    identity perturbation flip verdicts."""
    from .conftest import make_checkpoint, photo_like

    for cls, seeds in (("real", (1, 2)), ("fake", (3, 4))):
        (tmp_path / "big" / cls).mkdir(parents=True)
        for s in seeds:
            photo_like(1600, seed=s).crop((0, 0, 1600, 1220)).convert("RGB").save(tmp_path / "big" / cls / f"{s}.jpg")
    det = load_detector(make_checkpoint(tmp_path / "m.pth", spread=5.0))
    test_set = scan_test_set(tmp_path / "big")
    fast = InferenceSettings(fast=True, workers=0, batch_size=8)
    clean = evaluate(det, test_set, fast).predictions.frame.set_index("relpath")["p_real"]
    same = predict_perturbed(det, test_set, Perturbation("identity"), fast).set_index("relpath")
    np.testing.assert_allclose(same.loc[clean.index, "p_real"], clean, rtol=0, atol=1e-5)
    full = predict_perturbed(det, test_set, Perturbation("identity"), InferenceSettings(workers=0, batch_size=8))
    assert np.abs(full.set_index("relpath").loc[clean.index, "p_real"].to_numpy() - clean.to_numpy()).max() > 1e-3


def test_destroying_perturbation_drives_auc_to_half(detail_detector, tmp_path, cache_dir):
    test_set = scan_test_set(_detail_set(tmp_path / "set"))
    progress = []
    sweep = robustness_sweep(detail_detector, test_set, tta=False, settings=ONE_WORKER,
                             perturbations=(Perturbation("downscale", 1e-6), Perturbation("blur", 2)),
                             progress=progress.append)
    table = sweep.table.set_index("condition")
    assert table.loc["clean", "roc_auc"] == pytest.approx(1.0)
    assert table.loc["downscale x1e-06", "roc_auc"] == pytest.approx(0.5, abs=0.05)  # a 1x1 image: no signal left
    assert table.loc["downscale x1e-06", "d_roc_auc"] == pytest.approx(-0.5, abs=0.05)
    assert table.loc["downscale x1e-06", "low_detail"] == 1.0  # the low-detail warning flags every 1x1-and-back copy
    assert progress[-1].done == progress[-1].total == 3 * len(test_set)
    flips = sweep.flips("downscale x1e-06")
    assert len(flips) == table.loc["downscale x1e-06", "flips"] > 0
    assert set(flips["clean_verdict"]) | set(flips["new_verdict"]) <= {"REAL", "FAKE"}
    shown = sweep.flips_shown("downscale x1e-06")  # the page's table: named for people, P(real) to 4 decimals
    assert list(shown.columns) == ["file", "true class", "clean", "P(real) clean", "downscale x1e-06",
                                   "P(real) downscale x1e-06"]
    assert list(shown["file"]) == list(flips["relpath"]) and set(shown["true class"]) <= {"real", "fake"}
    assert shown["P(real) clean"].iloc[0] == f"{flips['p_clean'].iloc[0]:.4f}"


def test_sweep_is_cached_per_perturbation(tiny_ckpt, tmp_path, cache_dir):
    det = load_detector(tiny_ckpt)
    test_set = scan_test_set(make_test_set(tmp_path / "set", n_real=2, n_fake=2, size=48))
    pert = Perturbation("noise", 15)
    first = predict_perturbed(det, test_set, pert, ONE_WORKER)
    assert len(list((cache_dir / "robustness").glob("*.csv"))) == 1
    np.testing.assert_array_equal(first["p_real"], predict_perturbed(det, test_set, pert, ONE_WORKER)["p_real"])
    predict_perturbed(det, test_set, Perturbation("noise", 5), ONE_WORKER)
    assert len(list((cache_dir / "robustness").glob("*.csv"))) == 2


def test_the_sweep_cache_survives_new_modification_times_but_not_new_bytes(tiny_ckpt, tmp_path, cache_dir):
    """The shared data set gets new file times between sessions: the sweep must not be run
    again for that (it keys on content), but an edited image must be scored again."""
    import os

    det = load_detector(tiny_ckpt)
    root = make_test_set(tmp_path / "set", n_real=2, n_fake=2, size=48)
    pert = Perturbation("noise", 15)
    predict_perturbed(det, scan_test_set(root), pert, ONE_WORKER)
    files = [f for f in root.rglob("*") if f.is_file()]
    for f in files:
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    touched = scan_test_set(root)
    calls = []
    predict_perturbed(det, touched, pert, ONE_WORKER, progress=lambda n, from_cache=False: calls.append(from_cache))
    assert calls == [True] and images_to_score(det, touched, perturbations=(pert,), settings=ONE_WORKER, tta=False)[0] == 4
    Image.new("RGB", (48, 48), (9, 9, 9)).save(files[0], format="PNG" if files[0].suffix == ".png" else "JPEG")
    calls.clear()
    predict_perturbed(det, scan_test_set(root), pert, ONE_WORKER, progress=lambda n, from_cache=False: calls.append(from_cache))
    assert True not in calls


def test_images_to_score_counts_down_to_zero_as_the_caches_fill(tiny_ckpt, tmp_path, cache_dir):
    det = load_detector(tiny_ckpt)
    test_set = scan_test_set(make_test_set(tmp_path / "set", n_real=2, n_fake=3, size=48))
    perts = (Perturbation("noise", 5), Perturbation("blur", 1))
    assert images_to_score(det, test_set, perturbations=perts, settings=ONE_WORKER) == (20, 20)  # clean, TTA, 2 perturbations
    evaluate(det, test_set, ONE_WORKER)  # the clean pass (what the Overview page runs) fills one of the four
    assert images_to_score(det, test_set, perturbations=perts, settings=ONE_WORKER) == (15, 20)
    assert images_to_score(det, test_set, perturbations=perts, settings=ONE_WORKER, tta=False) == (10, 15)
    robustness_sweep(det, test_set, perturbations=perts, settings=ONE_WORKER)
    assert images_to_score(det, test_set, perturbations=perts, settings=ONE_WORKER) == (0, 20)
    # another precision has its own caches
    assert images_to_score(det, test_set, perturbations=perts, settings=InferenceSettings(fast=True, workers=0))[0] == 20


def test_cli_robustness_json(tiny_ckpt, tmp_path, cache_dir, capsys):
    tiny_set = make_test_set(tmp_path / "set", n_real=2, n_fake=2, size=48, corrupt=True)
    out = tmp_path / "robust.json"
    rc = main(["robustness", "--data", str(tiny_set), "--weights", str(tiny_ckpt), "--device", "cpu",
               "--workers", "0", "--json", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert [r["condition"] for r in report["table"]][:3] == ["clean", "flip TTA", "jpeg q95"]
    assert len(report["table"]) == 2 + len(DEFAULT_PERTURBATIONS)
    assert report["skipped"] == ["real/not_an_image.png", "real/truncated.jpg"]  # named, in no row
    printed = capsys.readouterr().out
    assert "ROC-AUC" in printed and "skipped 2 unreadable file(s)" in printed
    assert main(["robustness", "--data", str(tmp_path / "missing"), "--weights", str(tiny_ckpt)]) == 2


def test_cli_robustness_on_a_one_class_set_shows_that_class_rate(tiny_ckpt, tmp_path, cache_dir, capsys):
    """The page showed a fakes-only set's catch rate per perturbation; the command refused the set."""
    root = make_test_set(tmp_path / "set", n_real=0, n_fake=3, size=48)
    out = tmp_path / "robust.json"
    assert main(["robustness", "--data", str(root), "--weights", str(tiny_ckpt), "--workers", "0", "--json", str(out)]) == 0
    head = capsys.readouterr().out.splitlines()[2]
    assert "fake caught" in head and "ROC-AUC" not in head and "real passed" not in head and "acc" not in head
    text = out.read_text()
    assert "NaN" not in text  # undefined metrics are null: the file is standard JSON
    clean = json.loads(text)["table"][0]
    assert clean["roc_auc"] is None and clean["real_pass_rate"] is None and 0 <= clean["fake_catch_rate"] <= 1


def test_each_condition_says_how_many_images_the_low_detail_warning_would_flag(detail_detector, tmp_path, cache_dir):
    """Photo-like faces are sharp when clean; blurred with sigma 2 every one falls below the
    warning's level, and the table and the CLI text say so."""
    from core.robustness import format_table

    from .conftest import photo_like

    root = tmp_path / "photos"
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            photo_like(400, seed=i + 2 * (label == "fake")).save(root / label / f"{i}.png")
    sweep = robustness_sweep(detail_detector, scan_test_set(root), tta=True, settings=ONE_WORKER,
                             perturbations=(Perturbation("blur", 2), Perturbation("noise", 5)))
    low = sweep.table.set_index("condition")["low_detail"]
    assert low["clean"] == 0.0 and low["flip TTA"] == 0.0 and low["blur σ2"] == 1.0 and low["noise σ5"] == 0.0
    assert "low detail" in format_table(sweep).splitlines()[1]


def test_progress_counts_cached_images_as_done_but_not_as_speed(tiny_ckpt, tmp_path, cache_dir):
    """The bar of a sweep whose clean pass is cached must not claim thousands of images/s."""
    from core.dashboard import progress_text

    det = load_detector(tiny_ckpt)
    test_set = scan_test_set(make_test_set(tmp_path / "set", n_real=2, n_fake=3, size=48))
    perts = (Perturbation("noise", 5),)
    evaluate(det, test_set, ONE_WORKER)  # the clean pass cached, as after the Overview
    seen = []
    robustness_sweep(det, test_set, perturbations=perts, settings=ONE_WORKER, progress=seen.append)
    assert seen[-1].done == seen[-1].total == 15 and seen[-1].cached == 5  # clean from the cache; TTA, noise scored
    assert all(p.done >= p.cached for p in seen) and [p.done for p in seen] == sorted(p.done for p in seen)
    seen.clear()
    robustness_sweep(det, test_set, perturbations=perts, settings=ONE_WORKER, progress=seen.append)
    assert seen[-1].cached == 15 and seen[-1].images_per_s == 0  # all cached: no speed to show
    assert progress_text(seen[-1], "Perturbing and scoring") == "Perturbing and scoring: 15/15 images · measuring speed…"


def test_a_one_class_set_shows_only_its_own_rate(tiny_ckpt, tmp_path, cache_dir):
    from core.figures_explain import robustness_figure
    from tests.conftest import make_test_set

    det = load_detector(tiny_ckpt)
    both = robustness_sweep(det, scan_test_set(make_test_set(tmp_path / "both", n_real=3, n_fake=3)),
                            perturbations=(Perturbation("jpeg", 50),), settings=ONE_WORKER)
    assert both.defined_metrics == ["roc_auc", "accuracy", "fake_catch_rate", "real_pass_rate"]
    root = make_test_set(tmp_path / "fakes", n_real=0, n_fake=4)
    (root / "real").rmdir()
    fakes = robustness_sweep(det, scan_test_set(root), perturbations=(Perturbation("jpeg", 50),), settings=ONE_WORKER)
    assert fakes.defined_metrics == ["fake_catch_rate"]  # no ROC-AUC, no reals; accuracy would repeat the rate
    assert fakes.table["accuracy"].tolist() == fakes.table["fake_catch_rate"].tolist()
    fig = robustness_figure(fakes.table, fakes.defined_metrics)
    assert {t.name for t in fig.data} == {"fake catch rate"}
    assert len(robustness_figure(both.table).data) == 4


def test_the_robustness_chart_is_in_percentage_points_as_its_table():
    """The table writes the rates' changes in pp; the chart's axis and hover did in fractions (-0.80)."""
    import pandas as pd

    from core.figures_explain import robustness_figure

    table = pd.DataFrame({"kind": ["clean", "jpeg", "jpeg"], "level": [float("nan"), 90, 50],
                          "condition": ["clean", "JPEG 90", "JPEG 50"], "accuracy": [0.9, 0.85, 0.1],
                          "d_accuracy": [0.0, -0.05, -0.8], "roc_auc": [0.95, 0.94, 0.6], "d_roc_auc": [0.0, -0.01, -0.35]})
    fig = robustness_figure(table, ["roc_auc", "accuracy"])
    acc = next(t for t in fig.data if t.name == "accuracy")
    auc = next(t for t in fig.data if t.name == "ROC-AUC")
    assert list(acc.x) == ["90", "50"] and np.allclose(acc.y, [-5.0, -80.0])
    assert [c[1] for c in acc.customdata] == ["85.0% (Δ -5.0 pp)", "10.0% (Δ -80.0 pp)"]
    assert [c[1] for c in auc.customdata] == ["0.940 (Δ -0.010)", "0.600 (Δ -0.350)"]  # the table's decimals
    assert fig.layout.yaxis.ticksuffix == " pp" and "ROC-AUC × 100" in fig.layout.yaxis.title.text
    assert "ROC-AUC" not in robustness_figure(table, ["accuracy"]).layout.yaxis.title.text
