"""A test set of one class (e.g. a folder of a new generator's fakes): what the sweep,
the words and the pages show of it, and what they refuse with a reason."""
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_checkpoint, make_test_set, open_page, point_app_at
from core import ui
from core.checkpoint import load_detector
from core.dashboard import PAGES, one_class_summary, set_problems
from core.data import MISSING_CLASS, scan_test_set
from core.inference import predict_test_set
from core.metrics import MetricUnavailable, ThresholdSweep

REPO = Path(__file__).resolve().parent.parent


# --- the sweep -------------------------------------------------------------------
def test_class_shares_count_each_class_against_the_threshold():
    label = np.array([0, 0, 0, 0, 1, 1])
    score = np.array([0.1, 0.3, 0.3, 0.8, 0.4, 0.9])
    sw = ThresholdSweep(label, score)
    shares = sw.class_shares()
    for t, caught, passed in zip(shares["threshold"], shares["fake_caught"], shares["real_passed"]):
        assert caught == pytest.approx(np.mean(score[label == 0] < t))
        assert passed == pytest.approx(np.mean(score[label == 1] >= t))
    only_fakes = ThresholdSweep(label[:4], score[:4])
    assert only_fakes.only_class == "fake" and sw.only_class is None
    assert np.isnan(only_fakes.class_shares()["real_passed"]).all()
    assert ThresholdSweep([], []).only_class is None


@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 0.75, 0.8, 1.0])
def test_threshold_for_share_is_the_lowest_that_catches_that_share_of_fakes(share):
    rng = np.random.default_rng(1)
    fakes = rng.uniform(0, 0.9, 20)
    sw = ThresholdSweep(np.zeros(20, int), fakes)
    t = sw.threshold_for_share("fake", share)
    assert np.mean(fakes < t) >= share - 1e-12
    lower = np.unique(fakes)[np.unique(fakes) < t]
    if len(lower):  # the next score down catches fewer: t is the lowest that reaches the share
        assert np.mean(fakes < lower[-1]) < share
    if share == 1.0:  # every fake caught needs a threshold above the top score, and the lowest is just above it
        assert fakes.max() < t <= fakes.max() + 1e-4
    if 0 < share:  # shown with 4 decimals, the number shown is the threshold applied
        assert t == round(t, 4)


def test_threshold_for_share_is_just_above_the_last_fake_it_must_catch_not_at_the_next_score():
    """Fakes at 0.2, 0.59035 and 0.6024: catching two of three needs a threshold above 0.59035;
    0.6024 (the next score) gives the same counts but is not the lowest; 0.5904 is."""
    sw = ThresholdSweep([0, 0, 0], [0.2, 0.59035, 0.6024])
    assert sw.threshold_for_share("fake", 2 / 3) == 0.5904
    assert sw.threshold_for_share("fake", 1.0) == 0.6025
    close = ThresholdSweep([0, 0, 0], [0.2, 0.500001, 0.500002])  # no 4-decimal number between: the next score
    assert close.threshold_for_share("fake", 2 / 3) == 0.500002


@pytest.mark.parametrize("share", [0.5, 0.9, 1.0])
def test_threshold_for_share_is_the_highest_that_passes_that_share_of_reals(share):
    reals = np.linspace(0.2, 0.95, 11)
    sw = ThresholdSweep(np.ones(11, int), reals)
    t = sw.threshold_for_share("real", share)
    assert np.mean(reals >= t) >= share
    assert t == reals.max() or np.mean(reals >= reals[reals > t].min()) < share


def test_threshold_for_share_says_why_it_has_none():
    with pytest.raises(MetricUnavailable, match="no real images"):
        ThresholdSweep([0, 0], [0.2, 0.4]).threshold_for_share("real", 0.9)
    with pytest.raises(MetricUnavailable, match="P\\(real\\) = 1"):
        ThresholdSweep([0, 0], [0.2, 1.0]).threshold_for_share("fake", 1.0)
    with pytest.raises(ValueError):
        ThresholdSweep([0, 0], [0.2, 0.4]).threshold_for_share("fake", 1.5)


def test_one_class_summary_counts_and_its_wilson_interval():
    sw = ThresholdSweep(np.zeros(10, int), np.r_[np.full(7, 0.2), np.full(3, 0.7)])
    one = one_class_summary(sw, 0.5)
    assert (one["class"], one["n"], one["right"], one["wrong"]) == ("fake", 10, 7, 3)
    assert one["share"] == 0.7 and one["low"] < 0.7 < one["high"]
    assert (round(one["low"], 3), round(one["high"], 3)) == (0.397, 0.892)  # Wilson 95 % for 7 of 10
    assert one_class_summary(ThresholdSweep(np.ones(4, int), [0.1, 0.6, 0.7, 0.8]), 0.5)["right"] == 3
    with pytest.raises(ValueError):
        one_class_summary(ThresholdSweep([0, 1], [0.1, 0.9]), 0.5)


def test_the_missing_folder_is_not_listed_again_under_the_one_class_banner(tmp_path):
    root = make_test_set(tmp_path / "fakes", n_real=0, n_fake=3)
    (root / "real").rmdir()
    ts = scan_test_set(root)
    missing = MISSING_CLASS.format(name="real", root=ts.root)
    assert missing in ts.problems
    assert missing not in set_problems(ts, "fake") and missing in set_problems(ts, None)


# --- the pages -------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("one_ckpt") / "random.pth", spread=60.0)


@pytest.fixture(params=["fake", "real"])
def one_class_env(request, tmp_path, one_ckpt, cache_dir, monkeypatch):
    cls = request.param
    root = make_test_set(tmp_path / f"only_{cls}", n_real=7 if cls == "real" else 0, n_fake=9 if cls == "fake" else 0)
    (root / ("fake" if cls == "real" else "real")).rmdir()
    point_app_at(monkeypatch, root, one_ckpt)
    frame = predict_test_set(load_detector(one_ckpt), scan_test_set(root)).frame
    return cls, ThresholdSweep(frame["label"], frame["p_real"])


def test_pages_that_show_one_class_are_the_ones_the_guard_lets_through():
    for page in PAGES:
        source = (REPO / page.path).read_text()
        if "guard_evaluation(" in source:
            assert ("one_class=True" in source) == page.one_class, page.path


def test_overview_shows_the_share_of_one_class_with_its_interval(one_class_env):
    cls, sw = one_class_env
    at = open_page()
    assert not at.exception
    assert any(f"holds only {cls} images" in i.value for i in at.info)
    one = one_class_summary(sw, 0.5)
    cards = {m.label: m.value for m in at.metric}
    assert cards[ui.ONE_CLASS_WORDS[cls][2].capitalize()] == f"{one['share']:.1%}"
    assert cards["95% Wilson CI"] == f"{one['low']:.1%}–{one['high']:.1%}"
    assert "Accuracy" not in cards and "ROC-AUC" not in cards  # nothing that needs the other class
    assert not any("No real/ folder" in w.value or "No fake/ folder" in w.value for w in at.warning)


def test_threshold_explorer_applies_the_threshold_for_a_target_share(one_class_env):
    cls, sw = one_class_env
    at = open_page("pages/1_Threshold_explorer.py")
    assert not at.exception
    at.slider(key="one_class_target").set_value(0.8).run()
    button = next(b for b in at.button if "reaches 80%" in b.label)
    expect = sw.threshold_for_share(cls, 0.8)
    assert f"{expect:.4f}" in button.label
    button.click().run()
    assert at.session_state["threshold"] == pytest.approx(expect)
    one = one_class_summary(sw, at.session_state["threshold"])
    assert one["share"] >= 0.8
    assert {m.label: m.value for m in at.metric}[ui.ONE_CLASS_WORDS[cls][2].capitalize()] == f"{one['share']:.1%}"


def test_error_gallery_offers_only_the_errors_the_class_can_make(one_class_env):
    cls, _ = one_class_env
    at = open_page("pages/2_Error_gallery.py")
    assert not at.exception
    show = at.multiselect(key="w_gallery_kinds")
    own = {"fake": "fake missed (predicted real)", "real": "real flagged as fake"}[cls]
    assert show.options == [own, "borderline"] and show.value == [own]
    assert not any("0" == c.value.rsplit(": ", 1)[-1] for c in at.caption if "flagged" in c.value or "missed" in c.value)


def test_pages_that_need_both_classes_say_so_and_link_the_others(one_class_env):
    cls, _ = one_class_env
    for path in ("pages/4_Operating_points.py", "pages/5_Calibration.py"):
        at = open_page(path)
        assert not at.exception
        assert any(f"holds only {cls} images: this page needs both" in w.value for w in at.warning)
        assert "These pages work with a test set of one class:" in [m.value for m in at.markdown]
        links = {link.label for link in at.main.get("page_link")}  # the page's list, not the sidebar's
        assert {"Overview", "Single-image tester", "Compare", "Explanations", "Model card", "Data check"} <= links
        assert not {"Operating points & CIs", "Calibration"} & links


def test_slices_offer_only_the_rate_one_class_defines(one_class_env):
    cls, _ = one_class_env
    at = open_page("pages/6_Slices.py")
    assert not at.exception
    metric = next(r for r in at.radio if r.label == "Metric")
    assert metric.options == [{"fake": "Fake catch rate", "real": "Real pass rate"}[cls]]
    assert any("Shortcut check: not run" in i.value for i in at.info)
    assert not at.success
    rate = {"fake": "Fake catch rate", "real": "Real pass rate"}[cls]
    table = at.dataframe[-1].value  # no empty columns of the other class, no count of 0
    assert list(table.columns) == ["dimension", "slice", "images", f"{rate} (%)", f"{rate}: 95% CI"]
    assert table[f"{rate} (%)"].notna().all() and table[f"{rate}: 95% CI"].str.contains("–").all()


def test_evaluate_reports_the_share_of_a_one_class_set(tmp_path, one_ckpt, cache_dir):
    from core.evaluation import evaluate, format_report, summary_json

    root = make_test_set(tmp_path / "fakes", n_real=0, n_fake=9)
    (root / "real").rmdir()
    det, ts = load_detector(one_ckpt), scan_test_set(root)
    ev = evaluate(det, ts)
    out = summary_json(ev, det, ts, 0.5, "real")
    one = out["one_class"]
    assert one == one_class_summary(ev.sweep, 0.5) and one["n"] == 9
    assert one["right"] == int((ev.predictions.frame["p_real"] < 0.5).sum())
    assert f"Only fake images: {one['right']} of 9 caught ({one['share']:.1%}" in format_report(out)
    two = make_test_set(tmp_path / "both", n_real=2, n_fake=2)
    assert "one_class" not in summary_json(evaluate(det, scan_test_set(two)), det, scan_test_set(two), 0.5, "real")


def test_evaluate_json_of_a_one_class_set_is_standard_json(tmp_path, one_ckpt, cache_dir):
    """ROC-AUC and the other class's rates are undefined: null in the file, not NaN (not JSON)."""
    import json

    from core.cli import main

    root = make_test_set(tmp_path / "fakes", n_real=0, n_fake=5)
    out = tmp_path / "m.json"
    assert main(["evaluate", "--data", str(root), "--weights", str(one_ckpt), "--workers", "0", "--json", str(out)]) == 0
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert data["roc_auc"] is None and data["one_class"]["n"] == 5
