"""core/pace.py: a robustness sweep's time estimate comes from the speed measured here when
there is one, and says what it rests on."""
import pytest

from core import pace
from core.checkpoint import load_detector
from core.data import scan_test_set
from core.inference import InferenceSettings
from core.robustness import Perturbation, robustness_sweep

from .conftest import make_test_set


@pytest.fixture(autouse=True)
def nothing_measured(monkeypatch):
    monkeypatch.setattr(pace, "_MEASURED", {})


def test_with_nothing_measured_the_benchmark_is_named_as_such():
    words = pace.sweep_time_words(3600, "m", "cpu", False)
    rate = pace.CPU_IMAGES_PER_S[False]
    assert words.startswith("Not measured on this machine yet") and f"{rate:.0f} images/s" in words
    assert f"about {3600 / rate / 60:.0f} min" in words
    assert pace.sweep_time_words(3600, "m", "cuda", False) == ""  # a GPU takes seconds: no guess


def test_a_measured_speed_replaces_the_benchmark_and_a_sweeps_own_beats_a_clean_pass():
    slow = pace.CPU_IMAGES_PER_S[False] / 4  # a loaded machine
    pace.record(pace.CLEAN, "m", "cpu", False, images=100, seconds=100 / slow, now=0.0)
    n = 3600
    words = pace.sweep_time_words(n, "m", "cpu", False, now=300.0)
    assert f"about {n / slow / 60:.0f} min, likely more" in words.lower() and "clean test set" in words
    assert f"{slow:.1f} images/s" in words and "5 min ago" in words
    fast = slow * 3
    pace.record(pace.SWEEP, "m", "cpu", False, images=500, seconds=500 / fast, now=300.0)
    words = pace.sweep_time_words(n, "m", "cpu", False, now=300.0)
    assert f"about {n / fast / 60:.0f} min" in words.lower() and "last robustness sweep" in words and "500 images" in words
    # kept per model, device and precision: another model, the GPU or bfloat16 have not been measured
    for other in (("x", "cpu", False), ("m", "cuda", False), ("m", "cpu", True)):
        assert "last robustness sweep" not in pace.sweep_time_words(n, *other)


def test_a_few_images_are_no_measurement():
    assert pace.record(pace.SWEEP, "m", "cpu", False, images=pace.MIN_IMAGES - 1, seconds=0.1) is None
    assert pace.record(pace.SWEEP, "m", "cpu", False, images=pace.MIN_IMAGES, seconds=0.0) is None
    assert pace.measured(pace.SWEEP, "m", "cpu", False) is None


def test_a_sweep_records_the_speed_of_the_images_it_scored_not_those_a_cache_gave(tiny_ckpt, tmp_path, cache_dir):
    det = load_detector(tiny_ckpt)
    test_set = scan_test_set(make_test_set(tmp_path / "set", n_real=3, n_fake=3, size=48))
    settings, perts = InferenceSettings(workers=0, batch_size=8), (Perturbation("noise", 5),)
    robustness_sweep(det, test_set, perturbations=perts, settings=settings)
    first = pace.measured(pace.SWEEP, det.sha256, det.device.type, False)
    assert first is not None and first.images == 18 and first.images_per_s > 0  # clean, flip TTA, noise: 6 each
    assert "last robustness sweep" in pace.sweep_time_words(100, det.sha256, det.device.type, False)
    robustness_sweep(det, test_set, perturbations=perts, settings=settings)  # all from the caches: no speed
    assert pace.measured(pace.SWEEP, det.sha256, det.device.type, False) == first
