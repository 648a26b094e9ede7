"""core/explain.py and core/regions.py: attention map, Grad-CAM, cache, region measure, CLI."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoint import load_detector, save_checkpoint
from core.cli import main
from core.data import scan_test_set
from core.explain import explain_file, explain_image, target_layer
from core.model import build_model
from core.preprocess import Preprocessing
from core.regions import (CANONICAL_BOXES, map_region_hit, region_mask, region_study, replaced_regions,
                          shuffled_hit_rate)

from .conftest import make_test_set


def _checkpoint(path, attention=True):
    """Random lite0 whose attention varies over the image: random lite0 features are ~1e-8,
    so the attention block's first conv is scaled up to give a non-trivial map."""
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", pretrained=None, attention=attention).eval()
    with torch.no_grad():
        model.attention[0].weight.mul_(1e9)
        model.classifier[-1].weight.mul_(30)
    return save_checkpoint(path, model, Preprocessing(input_size=64), threshold=0.5)


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return load_detector(_checkpoint(tmp_path_factory.mktemp("explain") / "att.pth"))


def test_maps_have_image_shape_are_finite_and_vary(detector, tmp_path, cache_dir):
    path = tmp_path / "face.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (50, 90, 3), dtype=np.uint8)).save(path)  # not square
    ex = explain_file(detector, path)
    for heat in (ex.attention, ex.gradcam):
        assert heat.shape == (50, 90)
        assert np.isfinite(heat).all()
        assert heat.std() > 0.01
        assert 0.0 <= heat.min() and heat.max() <= 1.0
    assert ex.has_attention and not ex.from_cache
    assert 0.0 < ex.p_real < 1.0


def test_second_call_is_identical_and_cached(detector, tmp_path, cache_dir):
    path = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    first = explain_file(detector, path, target="real")
    second = explain_file(detector, path, target="real")
    assert second.from_cache
    np.testing.assert_array_equal(first.attention, second.attention)
    np.testing.assert_array_equal(first.gradcam, second.gradcam)
    assert first.p_real == second.p_real
    # an upload (no file) is keyed by its pixels and caches the same way
    upload = Image.open(path).convert("RGB")
    assert not explain_image(detector, upload).from_cache
    assert explain_image(detector, upload).from_cache


def test_fake_and_real_targets_differ(detector, tmp_path, cache_dir):
    image = Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    fake, real = explain_image(detector, image, target="fake"), explain_image(detector, image, target="real")
    assert not np.array_equal(fake.gradcam, real.gradcam)
    np.testing.assert_array_equal(fake.attention, real.attention)  # attention does not depend on the target
    with pytest.raises(ValueError):
        explain_image(detector, image, target="both")


def test_model_without_attention_says_so(tmp_path, cache_dir):
    det = load_detector(_checkpoint(tmp_path / "noatt.pth", attention=False))
    ex = explain_image(det, Image.new("RGB", (40, 40), (120, 90, 60)))
    assert not ex.has_attention
    assert np.ptp(ex.attention) == 0
    assert map_region_hit(ex.attention, ("nose",)) is None  # a flat map has no peak to score


def test_resnet_target_layer():
    model = build_model("resnet50", pretrained=None)
    assert target_layer(model) is model.model.layer4[-1]


def test_replaced_regions_from_file_names():
    assert replaced_regions("fake/easy_12_1000.jpg") == ("left eye",)
    assert replaced_regions("mid_3_0011.jpg") == ("nose", "mouth")
    assert replaced_regions("hard_1_0000.jpg") == ()
    assert replaced_regions("real_00001.jpg") is None


def test_region_hit_against_chance():
    heat = np.zeros((100, 100))
    x0, y0, x1, y1 = CANONICAL_BOXES["mouth"]
    heat[int((y0 + y1) * 50), int((x0 + x1) * 50)] = 1.0  # peak in the middle of the mouth box
    hit = map_region_hit(heat, ("mouth",))
    assert hit.peak_inside and hit.mass_inside == pytest.approx(1.0)
    assert hit.chance == pytest.approx(region_mask(("mouth",), 100, 100).mean())
    assert not map_region_hit(heat, ("left eye",)).peak_inside


def test_region_study_on_named_fakes(detector, tmp_path, cache_dir):
    test_set = scan_test_set(make_test_set(tmp_path / "set", n_real=1, n_fake=4, size=64))
    study = region_study(detector, test_set)
    assert len(study.frame) == 3  # easy_0_0000 has no replaced region
    summary = study.summary().set_index("map")
    assert summary.loc["gradcam", "fakes"] == 3
    assert 0 < summary.loc["gradcam", "chance"] < 1


def test_cli_explain_writes_png(tmp_path, cache_dir, capsys):
    ckpt = _checkpoint(tmp_path / "w.pth")
    img = tmp_path / "face.jpg"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(img)
    out = tmp_path / "out" / "explained.png"
    assert main(["explain", str(img), "--weights", str(ckpt), "--out", str(out), "--device", "cpu"]) == 0
    assert Image.open(out).size[0] > Image.open(out).size[1]  # three panels side by side
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    assert main(["explain", str(bad), "--weights", str(ckpt), "--out", str(out), "--device", "cpu"]) == 2
    assert "not a readable image" in capsys.readouterr().err


def test_shuffled_masks_baseline_catches_centre_bias():
    mouth = ((0.77, 0.5),)  # fractions (y, x): the middle of the mouth box
    assert shuffled_hit_rate(mouth * 4, [("mouth",)] * 4) == 1.0  # peaks always mid-mouth: baseline is high too
    assert shuffled_hit_rate(mouth * 2, [("mouth",), ("left eye",)]) == 0.5
    assert shuffled_hit_rate(mouth, [("mouth",)]) is None


def test_regions_cli_measures_named_fakes_and_refuses_a_set_without_them(tmp_path, capsys):
    import json
    import shutil

    from .conftest import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "m.pth")
    data = make_test_set(tmp_path / "set", n_real=2, n_fake=6, size=64)  # fakes named {level}_{i}_{mask}
    out = tmp_path / "regions.json"
    assert main(["regions", "--data", str(data), "--weights", str(ckpt), "--device", "cpu", "--json", str(out)]) == 0
    saved = json.loads(out.read_text())
    named = sum(bool(replaced_regions(p)) for p in (data / "fake").iterdir())
    assert len(saved["images"]) == named > 0 and {r["map"] for r in saved["summary"]} == {"attention", "gradcam"}
    shutil.rmtree(data / "fake")
    capsys.readouterr()
    assert main(["regions", "--data", str(data), "--weights", str(ckpt), "--device", "cpu"]) == 2
    assert "none is named as CIPLab's fakes are" in capsys.readouterr().err  # said, not 'no fakes scored (flat map)'


def test_regions_with_one_named_fake_says_the_baseline_needs_two(tmp_path, capsys):
    from core.regions import region_summary_words, region_study

    from .conftest import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "m.pth")
    data = make_test_set(tmp_path / "set", n_real=2, n_fake=6, size=64)
    named = sorted(p for p in (data / "fake").iterdir() if replaced_regions(p))
    for p in (data / "fake").iterdir():
        if p != named[0]:
            p.unlink()
    assert main(["regions", "--data", str(data), "--weights", str(ckpt), "--device", "cpu"]) == 0  # a TypeError before
    assert "and n/a (another fake's regions" in capsys.readouterr().out
    study = region_study(load_detector(ckpt), scan_test_set(data))
    assert all("needs at least two fakes" in w for w in region_summary_words(study.summary()))


def test_region_words_separate_centre_bias_from_what_was_replaced():
    import pandas as pd

    from core.regions import region_summary_words

    summary = pd.DataFrame([
        {"map": "attention", "fakes": 77, "peak_in_region": 0.62, "chance": 0.16, "mass_in_region": 0.3, "shuffled_masks": 0.58},
        {"map": "gradcam", "fakes": 77, "peak_in_region": 0.70, "chance": 0.16, "mass_in_region": 0.3, "shuffled_masks": 0.30},
        {"map": "gradcam", "fakes": 0, "peak_in_region": None, "chance": None, "mass_in_region": None, "shuffled_masks": None},
    ])
    att, cam = region_summary_words(summary)  # the empty row says nothing
    assert "62% of 77 fakes" in att and "+4 percentage points are specific" in att and "face centre" in att
    assert "+40 percentage points are specific" in cam and "follows what was replaced" in cam


def test_concurrent_explanations_match_sequential_ones(detector):
    """The dashboard shares one cached model among sessions: Grad-CAMs at once, with inference
    passes beside them, each get the map they get alone (they crossed hooks before: wrong maps,
    autograd errors), and the shared model is left without hooks or gradients."""
    import threading

    rng = np.random.default_rng(5)
    images = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(6)]
    alone = [explain_image(detector, im, use_cache=False).gradcam for im in images]
    together, errors, stop = [None] * len(images), [], threading.Event()
    start = threading.Barrier(len(images) + 1)

    def explain(i):
        start.wait()
        try:
            together[i] = explain_image(detector, images[i], use_cache=False).gradcam
        except Exception as e:  # noqa: BLE001 - the test reports any failure below
            errors.append(e)

    def infer():
        start.wait()
        x = torch.randn(4, 3, 64, 64)
        with torch.inference_mode():
            while not stop.is_set():
                detector.model(x)

    threads = [threading.Thread(target=explain, args=(i,)) for i in range(len(images))] + [threading.Thread(target=infer)]
    for t in threads:
        t.start()
    for t in threads[:-1]:
        t.join()
    stop.set()
    threads[-1].join()
    assert not errors
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert all(p.grad is None for p in detector.model.parameters())
    assert not any(m._forward_hooks for m in detector.model.modules())
