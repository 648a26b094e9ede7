"""The analysis pages (operating points, calibration, slices, compare) under AppTest."""
import json

import pytest

from core import operating_points as op
from core.checkpoint import load_detector, threshold_sidecar
from core.data import scan_test_set
from core.inference import predict_test_set
from core.metrics import ThresholdSweep
from tests.conftest import make_checkpoint, make_test_set, open_page, point_app_at

PAGES = ["pages/4_Operating_points.py", "pages/5_Calibration.py", "pages/6_Slices.py", "pages/7_Compare.py"]


@pytest.fixture(scope="module")
def page_set(tmp_path_factory):
    return make_test_set(tmp_path_factory.mktemp("pages") / "set", n_real=8, n_fake=8, groups=True)


@pytest.fixture()
def env(page_set, tmp_path, cache_dir, monkeypatch):
    return point_app_at(monkeypatch, page_set, make_checkpoint(tmp_path / "w" / "random.pth", spread=60.0))


def start(page):
    return open_page(page, timeout=180)


def test_every_analysis_page_runs(env):
    for page in PAGES:
        at = start(page)
        assert not at.exception, (page, at.exception)
        assert at.title, page


def test_compare_ranks_average_precision_for_the_sidebars_positive_class(env):
    at = start(PAGES[3])
    at.sidebar.radio(key="w_positive").set_value("fake").run()
    assert not at.exception
    frame = at.dataframe[0].value
    data, ckpt = env
    preds = predict_test_set(load_detector(ckpt), scan_test_set(data)).frame
    want = ThresholdSweep(preds["label"], preds["p_real"]).summary(float(frame["threshold"][0]), "fake")
    assert frame["Average precision"][0] == pytest.approx(want["average_precision"])


def test_preset_button_sets_the_shared_threshold_and_save_writes_the_sidecar(env):
    data, ckpt = env
    frame = predict_test_set(load_detector(ckpt), scan_test_set(data)).frame
    sweep = ThresholdSweep(frame["label"], frame["p_real"])
    want = op.youden(sweep).threshold
    at = start(PAGES[0])
    for p in op.all_presets(sweep, "real"):  # each preset, once used, gives the counts its row shows
        at.button(key=f"use_{p.key}").click().run()
        assert not at.exception
        called_fake = frame["p_real"] < at.session_state["threshold"]
        got = (called_fake[frame["label"] == 1].mean(), called_fake[frame["label"] == 0].mean())
        assert got == pytest.approx((p.false_alarm_rate, p.catch_rate)), p.key
        assert float(at.query_params["threshold"]) == at.session_state["threshold"]  # a copied link too
    at.button(key="use_youden").click().run()
    assert at.session_state["threshold"] == want
    save = next(b for b in at.button if b.label.startswith("Save threshold"))
    save.click().run()
    sidecar = threshold_sidecar(ckpt)
    assert json.loads(sidecar.read_text())["threshold"] == pytest.approx(want, abs=1e-6)
    assert load_detector(ckpt).threshold == pytest.approx(want, abs=1e-6)


def test_preset_values_are_written_as_the_rates_beside_them(env):
    """A preset's objective in %, as its flagged · caught column (it was a 4-decimal fraction)."""
    data, ckpt = env
    frame = predict_test_set(load_detector(ckpt), scan_test_set(data)).frame
    presets = op.all_presets(ThresholdSweep(frame["label"], frame["p_real"]), "real", cost_miss=10.0,
                             fake_share=0.05)  # the page's defaults
    at = start(PAGES[0])
    captions = [c.value for c in at.caption]
    for p in presets:
        line = next(c for c in captions if c.startswith(p.optimises))
        assert line == f"{p.optimises}: {p.value_text()}"
        assert line.endswith("%") == p.share
    assert {p.key for p in presets if p.share} == {"max_f1", "eer", "false_alarm", "catch"}


def _report_html(at) -> str | None:
    got = at.session_state["report"] if "report" in at.session_state else None
    return got[1] if got else None


def test_report_button_offers_the_download_with_the_pages_presets(env):
    at = start(PAGES[0])
    next(n for n in at.number_input if n.label == "Min fakes caught (%)").set_value(80.0).run()
    next(b for b in at.button if b.label == "Build the HTML report").click().run()
    assert not at.exception
    assert any("Download report" in str(getattr(el, "label", "")) for el in at.get("download_button"))
    assert "Catch at least 80.0% of fakes" in _report_html(at)  # the page's preset, not the default 95 %
    # a changed input makes the built report stale: it is no longer offered until rebuilt
    next(n for n in at.number_input if n.label == "Min fakes caught (%)").set_value(70.0).run()
    assert not any("Download report" in str(getattr(el, "label", "")) for el in at.get("download_button"))


def test_compare_two_checkpoints(env, tmp_path):
    data, ckpt = env
    other = make_checkpoint(tmp_path / "w" / "other.pth", seed=1, spread=60.0)
    at = start(PAGES[3])
    at.text_area[0].set_value(str(other)).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 2 and {"ROC-AUC", "ROC-AUC: 95% CI", "Accuracy (%)"} <= set(table.columns)
    assert list(table["test images seen"]) == ["not recorded", "not recorded"]  # random weights record nothing
    assert any("exactly one is right" in m.value for m in at.markdown)
    # the paired B − A table: one row per metric the set defines, its interval around the difference
    paired = at.dataframe[1].value
    assert list(paired["metric"]) == ["ROC-AUC", "Average precision", "Accuracy", "EER"]  # named for people
    # written as the cards write them: a share's change in percentage points, a score's in decimals
    rows = paired.set_index("metric")
    assert rows.loc["Accuracy", "difference"].endswith(" pp") and rows.loc["Accuracy", "a"].endswith("%")
    assert not rows.loc["ROC-AUC", "difference"].endswith(" pp") and rows.loc["ROC-AUC", "a"].startswith(("0.", "1."))
    assert any("Paired bootstrap" in c.value for c in at.caption)
    # the per-image scatter: every image of the set once, split by outcome; the disagreements as pictures
    charts = at.get("plotly_chart")
    scatter = next(json.loads(c.proto.spec) for c in charts if "B against A" in c.proto.spec)
    counts = {t["name"].split(" (")[0]: int(t["name"].split("(")[1].rstrip(")")) for t in scatter["data"] if t.get("name")}
    assert sum(counts.values()) == 16 and set(counts) <= {"both right", "both wrong", "only A right", "only B right"}
    shown = at.dataframe[2].value
    n_disagree = len(shown)
    # named for people, and every P(real) to 4 decimals (0.707 sat next to 0.3971)
    assert list(shown.columns) == ["file", "true class", "P(real) A", "P(real) B", "right", "score gap"]
    assert set(shown["true class"]) <= {"real", "fake"}
    assert all(len(v.split(".")[1]) == 4 for c in ("P(real) A", "P(real) B", "score gap") for v in shown[c])
    assert n_disagree == counts.get("only A right", 0) + counts.get("only B right", 0)
    assert len(at.get("image")) == min(n_disagree, 12)


def test_paired_scores_outcomes_by_hand():
    import numpy as np
    import pandas as pd

    from core import compare

    frame = lambda p: pd.DataFrame({"relpath": list("abcd"), "label": [1, 1, 0, 0], "p_real": p})
    a = compare.Run("A", "s", frame([0.9, 0.2, 0.1, 0.8]), 0.5)  # right, wrong, right, wrong
    b = compare.Run("B", "s", frame([0.6, 0.7, 0.7, 0.9]), 0.65)  # wrong (0.6 < .65), right, wrong, wrong
    m = compare.paired_scores(a, b)
    assert list(m["outcome"]) == ["only A right", "only B right", "only A right", "both wrong"]
    d = compare.disagreements(a.__class__(a.model, a.test_set, a.frame.assign(path="x"), a.threshold), b)
    assert sorted(d["relpath"]) == ["a", "b", "c"] and np.all(d["gap"].diff().dropna() <= 0)


def test_slices_table_leads_with_the_charted_metric(env):
    at = start(PAGES[2])
    assert not at.exception, at.exception
    def slice_table():
        return next(d.value for d in at.dataframe if "dimension" in d.value.columns)

    # each interval one text column beside its metric: half the columns to scroll at 1280 px
    assert list(slice_table().columns[:7]) == ["dimension", "slice", "images", "real images", "fake images",
                                               "Accuracy (%)", "Accuracy: 95% CI"]  # named for people, not n_real
    at.radio[0].set_value("roc_auc").run()
    assert not at.exception, at.exception
    table = slice_table()
    assert list(table.columns[5:7]) == ["ROC-AUC", "ROC-AUC: 95% CI"]
    assert {"Accuracy (%)", "Fake catch rate (%)", "Real pass rate (%)"} <= set(table.columns)  # nothing dropped
    assert not [c for c in table.columns if c.endswith(("_low", "_high", "_ci"))]


def test_slices_say_which_have_no_roc_auc_and_write_it_n_a(env):
    """Fakes-only slices (difficulty) have no ROC-AUC: "n/a" in the table, named under the chart."""
    at = start(PAGES[2])
    at.radio[0].set_value("roc_auc").run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "dimension" in d.value.columns)
    hard = table[(table["dimension"] == "difficulty") & (table["slice"] == "hard")].iloc[0]
    assert hard["ROC-AUC"] == "n/a"
    assert not table["ROC-AUC"].isna().any()
    said = next(c.value for c in at.caption if c.value.startswith("Not in the chart (no ROC-AUC):"))
    assert "difficulty easy, mid, hard" in said and "one class only" in said


def test_moving_the_threshold_does_not_read_the_jpeg_tables_again(env, monkeypatch):
    """The slice columns (JPEG quality from each file's tables) are built once per model and set."""
    from core import slices

    reads = []
    real = slices.estimate_jpeg_quality
    monkeypatch.setattr(slices, "estimate_jpeg_quality", lambda p: reads.append(p) or real(p))
    at = start(PAGES[2])
    assert not at.exception
    first = len(reads)
    assert first <= 16  # at most once per image (none when an earlier test already built this frame)
    for t in (0.3, 0.7):
        at.sidebar.slider(key="w_threshold_slider").set_value(t).run()
        assert not at.exception
    assert len(reads) == first


def test_calibration_scores_another_set_only_when_asked(env, tmp_path, monkeypatch):
    from core import ui
    from core.prediction_cache import cache_path

    data, ckpt = env
    other = make_test_set(tmp_path / "other", n_real=5, n_fake=5, seed=3)
    link = tmp_path / "test_images"
    link.symlink_to(data)  # the sidebar's set under another name: not "another" set to fit on
    monkeypatch.setattr(ui, "known_test_sets", lambda: [str(data), str(link), str(other)])
    at = start(PAGES[1])
    assert at.selectbox[0].options[1:] == [str(other)]
    at.selectbox[0].select(str(other)).run()
    assert not at.exception
    assert any("is not scored by this model yet" in i.value for i in at.info)
    det = load_detector(ckpt)
    assert not cache_path(det.sha256, scan_test_set(other), ui.InferenceSettings()).exists()  # nothing ran
    assert not any("Fitted temperature" in m.value for m in at.markdown)
    next(b for b in at.button if b.label.startswith("Score")).click().run()
    assert not at.exception
    assert cache_path(det.sha256, scan_test_set(other), ui.InferenceSettings()).exists()
    assert any("Fitted temperature" in m.value and "on 10 images" in m.value for m in at.markdown)
    assert not [b for b in at.button if b.label.startswith("Score")]  # gone once pressed
    at.slider[0].set_value(6).run()  # a later rerun fits on the now-cached set without asking again
    assert not at.exception and any("Fitted temperature" in m.value for m in at.markdown)


def test_slices_leads_with_the_chart_and_still_raises_a_shortcut_at_the_top(tmp_path, cache_dir, monkeypatch):
    """The chart sat below two alert boxes and a paragraph, out of a 1280x720 screen; a firing
    shortcut keeps one line above it."""
    from PIL import Image

    data = make_test_set(tmp_path / "s", n_real=12, n_fake=12, seed=3)
    for jpg in (data / "fake").glob("*.jpg"):  # every fake a PNG, every real a JPEG: the format gives it away
        Image.open(jpg).save(jpg.with_suffix(".png"))
        jpg.unlink()
    point_app_at(monkeypatch, data, make_checkpoint(tmp_path / "w.pth", spread=60.0))
    at = start("pages/6_Slices.py")
    assert not at.exception
    assert "separates real from fake in this set" in at.warning[0].value
    assert [h.value for h in at.subheader] == ["Shortcut check"]
    assert any("file format" in w.value for w in at.warning[1:])


def test_compare_keeps_its_choices_across_a_visit_to_another_page(env, tmp_path):
    """Its widgets had no keys: leaving the page dropped the checkpoints and sets chosen."""
    other = make_checkpoint(tmp_path / "other.pth", seed=4)
    at = start(PAGES[3])
    at.text_area(key="w_compare_extra").input(str(other)).run()
    assert not at.exception and len(at.dataframe[0].value) == 2
    at.switch_page("streamlit_app.py").run()
    at.switch_page(PAGES[3]).run()
    assert not at.exception
    assert at.text_area(key="w_compare_extra").value == str(other) and len(at.dataframe[0].value) == 2
