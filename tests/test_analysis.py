"""core/analysis.py: where one image's score falls in a scored test set (score_context), its words,
the marked histogram and ui.scored_sweep (never runs the model); what moving the threshold changes, in images."""
import numpy as np
import pytest

from core import figures, ui
from core.analysis import score_context
from core.checkpoint import load_detector
from core.data import scan_test_set
from core.evaluation import evaluate
from core.inference import InferenceSettings
from core.metrics import MetricUnavailable, ThresholdSweep

# 4 fakes, 4 reals; sorted scores: .10f .20f .30f .40r .55f .60r .70r .90r
LABEL = np.array([0, 0, 0, 1, 0, 1, 1, 1])
SCORE = np.array([0.10, 0.20, 0.30, 0.40, 0.55, 0.60, 0.70, 0.90])


def test_tail_shares_and_nearest_images_by_hand():
    c = score_context(ThresholdSweep(LABEL, SCORE), 0.58, k=3)
    assert (c.n_real, c.n_fake) == (4, 4)
    assert c.fakes_at_or_above == 0.0  # no fake scores >= 0.58
    assert c.reals_at_or_above == 0.75  # .60 .70 .90
    # nearest three to 0.58: .60 (0.02), .55 (0.03), .70 (0.12)
    assert (c.near, c.near_real, c.near_low, c.near_high) == (3, 2, 0.55, 0.70)
    low = score_context(ThresholdSweep(LABEL, SCORE), 0.25, k=2)
    assert low.fakes_at_or_above == 0.5 and low.reals_at_or_above == 1.0 and low.near_real == 0


def test_a_score_a_hair_below_its_own_set_copy_still_counts_as_at_it():
    """The tester scores an upload alone; the set scored it in a batch: the last digits differ."""
    sweep = ThresholdSweep(LABEL, SCORE)
    assert score_context(sweep, 0.55 - 1e-9).fakes_at_or_above == score_context(sweep, 0.55).fakes_at_or_above == 0.25
    assert score_context(sweep, 0.55 - 1e-3).fakes_at_or_above == 0.25  # a real difference is not swallowed...
    assert score_context(sweep, 0.55 + 1e-3).fakes_at_or_above == 0.0  # ...either way


def test_k_is_capped_by_the_set_and_one_class_sets_say_why():
    assert score_context(ThresholdSweep(LABEL, SCORE), 0.5, k=100).near == 8
    with pytest.raises(MetricUnavailable, match="only real"):
        score_context(ThresholdSweep([1, 1], [0.2, 0.8]), 0.5)


def test_words_and_the_marked_histogram():
    c = score_context(ThresholdSweep(LABEL, SCORE), 0.58, k=3)
    words = ui.score_context_words(c, "data/x")
    assert words.startswith("The 3 images of `data/x` scoring closest to this one (P(real) 0.5500–0.7000) are a mix of "
                            "both: 1 fake, 2 real.")
    assert words.endswith("Of the set's 4 real faces 25% score lower than 0.5800, and of its 4 fakes 100%.")
    assert ui.score_context_words(c, "data/x", face_crop=True).startswith(words + " This score is of the face crop")
    assert "are mostly fakes: 3 fake, 0 real" in ui.score_context_words(score_context(ThresholdSweep(LABEL, SCORE), 0.1, k=3), "d")
    fig = figures.score_histogram(LABEL, SCORE, 0.5, marks={"this image": 0.58})
    assert [s.x0 for s in fig.layout.shapes] == [0.5, 0.58]
    [mark] = [a for a in fig.layout.annotations if a.text == "this image 0.5800"]  # as the score card writes it
    counts = max(max(t.y) for t in fig.data)
    assert mark.yref in (None, "y") and counts < mark.y < fig.layout.yaxis.range[1]  # above every bar, on the chart
    # the label runs toward the wider side of the chart: rightward from 0.58 it was cut off on a phone
    assert mark.xanchor == "right"
    assert figures.score_histogram(LABEL, SCORE, 0.5, marks={"this image": 0.42}).layout.annotations[-1].xanchor == "left"


def test_scored_sweep_reads_the_cache_and_never_scores(tiny_ckpt, tiny_set, cache_dir):
    det, test_set = load_detector(tiny_ckpt), scan_test_set(tiny_set)
    ctx = ui.Context(data_dir=str(tiny_set), weights=str(tiny_ckpt), device="cpu", positive="real", threshold=0.5,
                     fast=False, detector=det, test_set=test_set, set_signature="tiny")
    sw, why = ui.scored_sweep(ctx)
    assert sw is None and "open the Overview once" in why
    assert ui.scored_sweep(ui.Context("x", "w", "cpu", "real", 0.5, False, detector=det))[1].startswith("no test set is loaded")
    assert not (cache_dir / "predictions").exists()  # asking did not score anything
    frame = evaluate(det, test_set, InferenceSettings(workers=0)).predictions.frame
    sw, why = ui.scored_sweep(ctx)
    assert why == "" and len(sw) == len(frame)
    np.testing.assert_allclose(np.sort(sw.score), np.sort(frame["p_real"]))


def test_threshold_change_in_images():
    sw = ThresholdSweep(LABEL, SCORE)  # fakes .10 .20 .30 .55, reals .40 .60 .70 .90
    assert ui.threshold_change_words(sw, 0.5, 0.5) is None
    # 0.5 -> 0.58: the fake at .55 is now caught; no real changes
    assert ui.threshold_change_words(sw, 0.5, 0.58) == (
        "Against the model's own threshold 0.5000: 1 more fake caught; 1 more image right in all.")
    # 0.5 -> 0.35: the real at .40 passes again (1 fewer flagged); the fake at .55 stays missed
    assert ui.threshold_change_words(sw, 0.5, 0.35) == (
        "Against the model's own threshold 0.5000: 1 fewer real flagged as fake; 1 more image right in all.")
    # 0.5 -> 0.95: 1 more fake caught, the 3 reals that passed are flagged: 2 fewer right
    assert ui.threshold_change_words(sw, 0.5, 0.95) == (
        "Against the model's own threshold 0.5000: 1 more fake caught, 3 more reals flagged as fake; 2 fewer images right in all.")
    assert "no image changes" in ui.threshold_change_words(sw, 0.5, 0.52)
    # 0.35 -> 0.58: the real at .40 is flagged and the fake at .55 caught
    assert ui.threshold_change_words(sw, 0.35, 0.58).endswith("1 more real flagged as fake; the same number right in all.")


def test_analyse_keeps_slice_columns_it_is_given_without_reading_the_files_again(monkeypatch):
    """ui.analysis hands ``analyse`` the once-built slice frame: the JPEG tables are not read per threshold."""
    import pandas as pd

    from core import slices
    from core.analysis import analyse

    frame = pd.DataFrame({"relpath": [f"real/r{i}.jpg" if y else f"fake/easy_{i}_1100.jpg" for i, y in enumerate(LABEL)],
                          "path": [f"/nowhere/{i}.jpg" for i in range(8)], "label": LABEL, "p_real": SCORE,
                          "group": "", "width": 600, "height": 600, "format": "JPEG", "size_bytes": 1000,
                          "detail_share": 0.3})
    framed = slices.add_slice_columns(frame, jpeg_quality=False).assign(jpeg_quality=[90, 75] * 4)

    def no_reads(path):
        raise AssertionError(f"read {path} again")

    monkeypatch.setattr(slices, "estimate_jpeg_quality", no_reads)
    a = analyse(framed, 0.5, n_resamples=20, jpeg_quality=False)
    assert a.frame["jpeg_quality"].tolist() == [90, 75] * 4
    assert set(a.frame["jpeg_quality_bucket"]) == {"81–90", "71–80"}
    assert a.frame["replaced_left eye"].sum() == 4 and a.frame["replaced_mouth"].sum() == 0
