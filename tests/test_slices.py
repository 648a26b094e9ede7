"""core.slices: derived columns, the per-slice table, the shortcut check."""
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.slices import (
    add_slice_columns, estimate_jpeg_quality, shortcut_check, slice_table, table_records, undefined_slices_words,
)


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 95])
def test_jpeg_quality_estimate(tmp_path, quality):
    rng = np.random.default_rng(0)
    path = tmp_path / "x.jpg"
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path, quality=quality)
    assert estimate_jpeg_quality(path) == quality


def test_jpeg_quality_none_for_png_and_garbage(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_text("not an image")
    assert estimate_jpeg_quality(tmp_path / "a.png") is None
    assert estimate_jpeg_quality(tmp_path / "b.jpg") is None


def _frame(root, n_real, n_fake, real_q, fake_q, seed=0):
    """A predictions frame over real JPEG files whose quality we choose per class."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, n, qs, name in ((1, n_real, real_q, "real_{i:03d}"), (0, n_fake, fake_q, "{d}_{i}_{m}")):
        for i in range(n):
            q = int(qs[i % len(qs)])
            stem = name.format(i=i, d=["easy", "mid", "hard"][i % 3], m=f"{i % 16:04b}")
            path = root / f"{label}_{stem}.jpg"
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(path, quality=q)
            rows.append({"path": str(path), "relpath": f"{'real' if label else 'fake'}/{stem}.jpg", "label": label,
                         "group": "", "p_real": float(np.clip(rng.normal(0.35 + 0.3 * label, 0.2), 0, 1)),
                         "width": 16, "height": 16, "format": "JPEG", "size_bytes": 1000 + int(rng.integers(0, 50))})
    return add_slice_columns(pd.DataFrame(rows))


def test_shortcut_fires_when_quality_gives_the_label_away(tmp_path):
    f = _frame(tmp_path, 20, 20, real_q=[95, 92], fake_q=[75, 70])
    by = {s.property: s for s in shortcut_check(f)}
    assert by["JPEG quality"].fires and by["JPEG quality"].auc == 1.0
    assert "higher means real" in by["JPEG quality"].direction
    assert not by["file format"].fires  # all JPEG


def test_shortcut_quiet_when_quality_is_shared(tmp_path):
    f = _frame(tmp_path, 20, 20, real_q=[95, 75, 85, 90], fake_q=[75, 95, 90, 85])
    assert not any(s.fires for s in shortcut_check(f))


def test_slice_table_handles_one_class_slices(tmp_path):
    f = _frame(tmp_path, 12, 12, real_q=[90], fake_q=[90])
    assert set(f["difficulty"].dropna()) == {"easy", "mid", "hard"}
    assert f.loc[f["label"] == 1, "difficulty"].isna().all()
    t = slice_table(f, 0.5, n_resamples=200)
    easy = t[(t["dimension"] == "difficulty") & (t["slice"] == "easy")].iloc[0]
    assert easy["n_fake"] == 4 and easy["n_real"] == 0
    assert not np.isnan(easy["fake_catch_rate"]) and np.isnan(easy["real_pass_rate"]) and np.isnan(easy["roc_auc"])
    overall = t[t["dimension"] == "all"].iloc[0]
    assert overall["roc_auc_low"] <= overall["roc_auc"] <= overall["roc_auc_high"]
    assert set(t.loc[t["dimension"] == "replaced region", "slice"]) == {"left eye", "right eye", "nose", "mouth"}
    recs = table_records(t)
    assert recs[0]["dimension"] == "all" and any(r["roc_auc"] is None for r in recs)


def test_slices_without_the_charted_metric_are_named_with_the_reason(tmp_path):
    """A fakes-only slice has no ROC-AUC and leaves the chart: the page says which and why."""
    t = slice_table(_frame(tmp_path, 12, 12, real_q=[90], fake_q=[90]), 0.5, n_resamples=50)
    words = undefined_slices_words(t, "roc_auc")
    assert words.startswith("Not in the chart (no ROC-AUC): difficulty easy, mid, hard; replaced region ")
    assert "needs real and fake images" in words and "all images" not in words
    assert "needs real images" in undefined_slices_words(t, "real_pass_rate", "difficulty")
    assert undefined_slices_words(t, "accuracy") is None
    assert undefined_slices_words(t, "roc_auc", "all") is None


def test_shortcut_notes_values_only_one_class_has(tmp_path):
    # reals all at 95; a third of the fakes at 80, the rest shared with reals: AUC ~0.67, not firing
    f = _frame(tmp_path, 18, 18, real_q=[95], fake_q=[95, 95, 80])
    q = next(s for s in shortcut_check(f) if s.property == "JPEG quality")
    assert not q.fires and q.pure_share == pytest.approx(6 / 36)
    assert "have a JPEG quality only one class has: 80 only among fakes (6 images)" in q.message


def test_fine_detail_slices_in_order_and_absent_without_the_measure(tmp_path):
    f = _frame(tmp_path, 12, 12, real_q=[90], fake_q=[90])
    assert "fine detail" not in set(slice_table(f, 0.5, n_resamples=50)["dimension"])  # no measure: no rows
    raw = f.drop(columns=["detail_bucket"]).assign(detail_share=np.tile([0.10, 0.20, 0.40], 8))
    t = slice_table(add_slice_columns(raw, jpeg_quality=False), 0.5, n_resamples=50)
    rows = t[t["dimension"] == "fine detail"]
    assert list(rows["slice"]) == ["low (< 0.16)", "0.16–0.28", "≥ 0.28"]
    assert list(rows["n"]) == [8, 8, 8]
    one_nan = raw.assign(detail_share=[np.nan] + [0.3] * 23)  # an unmeasured image is its own band, not "low"
    assert add_slice_columns(one_nan, jpeg_quality=False)["detail_bucket"].iloc[0] == "unknown"


def test_slice_with_every_fake_caught_has_a_wilson_interval_not_a_zero_width_one(tmp_path):
    from core.figures_analysis import slice_figure
    from core.report import _slices_display

    f = _frame(tmp_path, 12, 12, real_q=[90], fake_q=[90])
    f.loc[f["difficulty"] == "easy", "p_real"] = 0.01  # every easy fake caught
    t = slice_table(f, 0.5, n_resamples=200)
    easy = t[(t["dimension"] == "difficulty") & (t["slice"] == "easy")].iloc[0]
    assert easy["fake_catch_rate"] == 1.0 and easy["fake_catch_rate_ci"] == "wilson"
    assert 0.3 < easy["fake_catch_rate_low"] < 0.6 and easy["fake_catch_rate_high"] == 1.0  # 4 of 4
    assert t[t["dimension"] == "all"].iloc[0]["accuracy_ci"] == "bootstrap"
    fig = slice_figure(t, "fake_catch_rate", "difficulty")
    bar = fig.data[0]
    i = [y.replace("<br>", " ") for y in bar.y].index("difficulty: easy (n=4 fakes)")  # n counts what the rate is over
    assert fig.layout.title.text == "Fake catch rate by slice (95% CI)"
    whole = slice_figure(t, "fake_catch_rate", "all").data[0].y[0].replace("<br>", " ")
    assert whole == "all: all images (n=12 fakes)"  # not the 24 images of both classes
    assert bar.error_x.arrayminus[i] > 0.4 and "Wilson" in bar.customdata[i]
    assert re.match(r"95% CI \d+\.\d%–100\.0% ", bar.customdata[i]) and ":.1%" in bar.hovertemplate  # as the table
    shown = _slices_display(t)
    assert "Wilson" in shown.loc[easy.name, "Fake catch rate"]
    # by accuracy, a slice of fakes alone says so: its bar is a catch rate, not comparable to "all images"
    assert slice_figure(t, "accuracy", None).layout.xaxis.tickformat == ".0%"  # a share: 80%, as the table writes it
    assert slice_figure(t, "roc_auc", None).layout.xaxis.tickformat is None
    labels = [y.replace("<br>", " ") for y in slice_figure(t, "accuracy", None).data[0].y]
    assert "difficulty: easy (n=4, fakes only)" in labels and "all: all images (n=24)" in labels


def test_shortcut_on_a_tiny_set_needs_more_than_chance(tmp_path):
    """On 6 + 6 images a property with no meaning reaches AUC 0.7 often; the same split of
    values on 20 + 20 images is a shortcut."""
    from core.slices import chance_auc

    assert chance_auc(6, 6) == pytest.approx(0.9476, abs=1e-4) and chance_auc(86, 77) == pytest.approx(0.6172, abs=1e-4)
    small = _frame(tmp_path, 6, 6, real_q=[95, 95, 95, 95, 95, 80], fake_q=[80, 80, 80, 80, 80, 95])  # AUC 0.83
    q = next(s for s in shortcut_check(small) if s.property == "JPEG quality")
    assert 0.7 <= q.auc < chance_auc(6, 6) and not q.fires and "within chance for 12 images" in q.message
    (tmp_path / "big").mkdir()
    big = _frame(tmp_path / "big", 30, 30, real_q=[95, 95, 95, 95, 95, 80], fake_q=[80, 80, 80, 80, 80, 95])
    assert next(s for s in shortcut_check(big) if s.property == "JPEG quality").fires


def test_slice_labels_are_wrapped_so_the_bars_keep_the_width_of_a_phone(tmp_path):
    """One line each, "replaced region: right eye (n=51, fakes only)" took 70% of a 390 px wide plot."""
    from core.figures_analysis import SLICE_LABEL_CHARS, slice_figure, wrap_label

    t = slice_table(_frame(tmp_path, 12, 12, real_q=[90], fake_q=[90]), 0.5, n_resamples=50)
    fig = slice_figure(t, "accuracy", None)
    lines = [line for y in fig.data[0].y for line in y.split("<br>")]
    assert max(map(len, lines)) <= SLICE_LABEL_CHARS and any("<br>" in y for y in fig.data[0].y)
    assert fig.layout.height >= 16 * max(y.count("<br>") + 1 for y in fig.data[0].y) * len(fig.data[0].y)  # room per row
    # a bound stays with its number, and a short label is left alone
    assert wrap_label("fine detail: low (< 0.16) (n=8)", 20) == "fine detail: low<br>(<\u00a00.16) (n=8)"
    assert wrap_label("all: all (n=4)", 20) == "all: all (n=4)"
