"""core/pace.py: a robustness sweep's time estimate comes from the speed measured here when
there is one (in this process or kept on disk by an earlier one), and says what it rests on.
Each test starts with nothing measured and a pace file of its own (conftest.pace_kept_apart)."""
import json

from core import pace
from core.checkpoint import load_detector
from core.data import scan_test_set
from core.inference import InferenceSettings
from core.robustness import Perturbation, robustness_sweep

from .conftest import make_test_set


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


def restart(monkeypatch):
    """What a new server process has: nothing measured in memory, only the file."""
    monkeypatch.setattr(pace, "_MEASURED", {})


def test_a_speed_measured_before_a_restart_is_read_back_and_dated(monkeypatch):
    day = 24 * 3600
    pace.record(pace.CLEAN, "m", "cpu", False, images=163, seconds=163 / 2.5, now=1000.0)
    restart(monkeypatch)
    kept = pace.measured(pace.CLEAN, "m", "cpu", False)
    assert kept == pace.Pace(2.5, 163, 1000.0)
    words = pace.sweep_time_words(3600, "m", "cpu", False, now=1000.0 + 3 * day)
    assert "2.5 images/s" in words and "3 days ago" in words and "Not measured" not in words
    assert "5 hours ago" in pace.sweep_time_words(3600, "m", "cpu", False, now=1000.0 + 5 * 3600)
    # this process's own measurement wins over the file's
    pace.record(pace.CLEAN, "m", "cpu", False, images=100, seconds=10.0, now=2000.0)
    monkeypatch.setattr(pace, "_MEASURED", {(pace.CLEAN, "m", "cpu", False): pace.Pace(4.0, 50, 1500.0)})
    assert pace.measured(pace.CLEAN, "m", "cpu", False).images_per_s == 4.0
    restart(monkeypatch)
    assert pace.measured(pace.CLEAN, "m", "cpu", False).images_per_s == 10.0  # the file holds the latest record
    assert pace.measured(pace.CLEAN, "m", "cpu", True) is None  # per precision on disk too


def test_the_file_sits_beside_the_prediction_cache(monkeypatch, cache_dir):
    monkeypatch.setattr(pace, "STORE", None)
    pace.record(pace.SWEEP, "m", "cpu", True, images=50, seconds=5.0)
    rows = json.loads((cache_dir / "pace.json").read_text())["paces"]
    assert [(r["kind"], r["weights_sha"], r["device_type"], r["fast"], r["images"]) for r in rows] == [
        ("sweep", "m", "cpu", True, 50)]


def test_a_speed_kept_beside_another_cache_is_read_back_from_there(monkeypatch, cache_dir, tmp_path):
    """record(cache_dir=X) wrote X/pace.json, but measured read only the default cache's file."""
    monkeypatch.setattr(pace, "STORE", None)
    other = tmp_path / "other_cache"
    pace.record(pace.SWEEP, "m", "cpu", False, images=50, seconds=10.0, now=1000.0, cache_dir=other)
    restart(monkeypatch)
    assert pace.measured(pace.SWEEP, "m", "cpu", False, other) == pace.Pace(5.0, 50, 1000.0)
    assert pace.measured(pace.SWEEP, "m", "cpu", False) is None  # the default cache's file holds none
    assert "5.0 images/s" in pace.sweep_time_words(500, "m", "cpu", False, now=1000.0, cache_dir=other)
    pace.record(pace.FEATURES, "m", "cpu", False, images=50, seconds=25.0, now=1000.0, cache_dir=other)
    restart(monkeypatch)
    assert "2.0 images/s" in pace.feature_time_words(500, "m", "cpu", now=1000.0, cache_dir=other)


def test_a_torn_or_foreign_file_is_ignored_and_rewritten(monkeypatch):
    path = pace.store_path()
    good = {"kind": "clean", "weights_sha": "m", "device_type": "cpu", "fast": False, "images_per_s": 3.0,
            "images": 40, "at": 0.0}
    for text in ('{"paces": [{"kind": "clean", "weights_sha": "m", "devi', "[1, 2]", '{"paces": "all of them"}',
                 "\x00\xff not json", json.dumps({"paces": [{**good, "images_per_s": "fast"}, {**good, "at": None}]})):
        path.write_text(text)
        restart(monkeypatch)
        assert pace.measured(pace.CLEAN, "m", "cpu", False) is None, text
        assert pace.sweep_time_words(3600, "m", "cpu", False).startswith("Not measured on this machine yet")
    path.write_text(json.dumps({"paces": [good, {"kind": "sweep"}]}))  # a readable entry beside a broken one
    assert pace.measured(pace.CLEAN, "m", "cpu", False).images_per_s == 3.0
    pace.record(pace.SWEEP, "m", "cpu", False, images=20, seconds=2.0)  # rewrites the file whole
    restart(monkeypatch)
    assert {r["kind"] for r in json.loads(path.read_text())["paces"]} == {"clean", "sweep"}
    assert pace.measured(pace.SWEEP, "m", "cpu", False).images_per_s == 10.0


def test_a_folder_that_cannot_be_written_keeps_the_speed_in_this_process(monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder should be")
    monkeypatch.setattr(pace, "STORE", blocked / "pace.json")
    assert pace.record(pace.CLEAN, "m", "cpu", False, images=20, seconds=2.0) is not None
    assert pace.measured(pace.CLEAN, "m", "cpu", False).images_per_s == 10.0


def test_the_feature_map_estimates_from_its_own_pass_else_from_a_float32_clean_pass():
    n, rate = 3600, pace.CPU_IMAGES_PER_S[False]
    words = pace.feature_time_words(n, "m", "cpu")
    assert words.startswith("Not measured on this machine yet") and f"about {n / rate / 60:.0f} min" in words
    assert pace.feature_time_words(n, "m", "cuda") == ""  # a GPU takes seconds: no guess
    # a bfloat16 clean pass is not the features' float32 work: still the benchmark
    pace.record(pace.CLEAN, "m", "cpu", True, images=100, seconds=10.0, now=0.0)
    assert pace.feature_time_words(n, "m", "cpu").startswith("Not measured on this machine yet")
    pace.record(pace.CLEAN, "m", "cpu", False, images=100, seconds=100 / 2.0, now=0.0)
    words = pace.feature_time_words(n, "m", "cpu", now=7200.0)
    assert words.startswith(f"About {n / 2.0 / 60:.0f} min at 2.0 images/s") and "2 hours ago" in words
    assert "scored the clean test set" in words and "not measured on this pass itself" in words
    pace.record(pace.FEATURES, "m", "cpu", False, images=163, seconds=163 / 1.5, now=7200.0)
    words = pace.feature_time_words(n, "m", "cpu", now=7200.0)
    assert words.startswith(f"About {n / 1.5 / 60:.0f} min at 1.5 images/s") and "last feature pass" in words
    assert "163 images" in words and "just now" in words
    assert "last feature pass" in pace.feature_time_words(n, "m", "cpu")  # kept on disk as well
    pace.record(pace.FEATURES, "m", "cuda", False, images=163, seconds=2.0)
    assert "last feature pass" in pace.feature_time_words(n, "m", "cuda")  # measured: said on a GPU too


def test_a_feature_pass_records_its_speed_and_a_cached_one_does_not(tiny_ckpt, tmp_path, cache_dir):
    from core.features import embed_test_set

    det = load_detector(tiny_ckpt)
    test_set = scan_test_set(make_test_set(tmp_path / "set", n_real=8, n_fake=8, size=48))
    embed_test_set(det, test_set, workers=0)
    first = pace.measured(pace.FEATURES, det.sha256, det.device.type, False)
    assert first is not None and first.images == 16 and first.images_per_s > 0
    assert pace.measured(pace.CLEAN, det.sha256, det.device.type, False) is None  # its own kind, not a clean pass
    embed_test_set(det, test_set, workers=0)  # from the disk cache: no speed
    assert pace.measured(pace.FEATURES, det.sha256, det.device.type, False) == first


def test_scoring_words_count_and_estimate_from_this_pass_once_a_batch_is_done():
    from core.prediction_cache import Progress

    # 32 scored in 16 s: 2 images/s, 131 left -> about 66 s
    assert pace.scoring_words(Progress(32, 163, 16.0)) == "Scoring 32 of 163 images · about 70 s left"
    # a pass's own speed beats a known one once it has scored enough to measure
    assert pace.scoring_words(Progress(32, 163, 16.0), pace.Pace(100.0, 500, 0.0)).endswith("about 70 s left")
    assert pace.scoring_words(Progress(163, 163, 80.0)) == "Scoring 163 of 163 images"  # done: nothing left to say


def test_scoring_words_before_the_first_batch_use_the_speed_measured_here_or_say_no_time():
    from core.prediction_cache import Progress

    # it sat at "Scoring 0 of 60 images" for 20 s, read as stalled
    assert pace.scoring_words(Progress(0, 163, 0.0)) == "Scoring 0 of 163 images · timing the first batch…"
    known = pace.Pace(1.0, 163, 0.0)  # this model's last clean pass: 1 image/s
    assert pace.scoring_words(Progress(0, 163, 0.0), known) == "Scoring 0 of 163 images · about 3 min left"
    # cache hits are no work: 10 fresh images are too few to time, so the known speed still counts
    assert pace.scoring_words(Progress(40, 163, 1.0, cached=30), known).endswith("about 2 min left")
    assert pace.scoring_words(Progress(0, 163, 0.0, preparing=True), known) == "Loading the model…"
    assert "another session" in pace.scoring_words(Progress(0, 163, 0.0, waiting=True))


def test_time_left_words_are_rounded_for_a_bar():
    assert [pace.time_left_words(s) for s in (3, 42, 86, 95, 600)] == [
        "a few seconds left", "about 40 s left", "about 90 s left", "about 2 min left", "about 10 min left"]
