"""The dashboard's pages under streamlit.testing.v1.AppTest, against a generated tiny set
and a random-weight checkpoint (pointed at with DATA_DIR / WEIGHTS or query parameters)."""
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, make_checkpoint, make_test_set, open_page, point_app_at
from core import ui
from core.checkpoint import load_detector
from core.data import LAYOUT_HELP, scan_test_set
from core.gallery import select_errors
from core.inference import predict_test_set
from core.metrics import ThresholdSweep

WORDS = ("fake caught", "fake missed (predicted real)", "real flagged as fake", "real passed")


@pytest.fixture(scope="module")
def app_set(tmp_path_factory):
    return make_test_set(tmp_path_factory.mktemp("app") / "set", n_real=8, n_fake=8, groups=True, corrupt=True)


@pytest.fixture(scope="module")
def app_ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("app_ckpt") / "random.pth", spread=60.0)


@pytest.fixture()
def env(app_set, app_ckpt, cache_dir, monkeypatch):
    return point_app_at(monkeypatch, app_set, app_ckpt)


@pytest.fixture()
def core_frame(env):
    """What core itself computes for the app's set and weights."""
    data, weights = env
    return predict_test_set(load_detector(weights), scan_test_set(data)).frame


start = open_page


def set_threshold(at: AppTest, t: float) -> AppTest:
    return at.sidebar.number_input(key="w_threshold_box").set_value(t).run()


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def test_every_page_runs_without_exception(env):
    at = start()
    for page in ui.PAGES:
        at.switch_page(page.path)
        at.run()
        assert not at.exception, (page.path, at.exception)
        assert at.title, page.path
    assert Path(APP).parent.joinpath(".streamlit", "config.toml").read_text().count("showSidebarNavigation = false")


def test_moving_the_threshold_sets_the_confusion_numbers_core_computes(env, core_frame):
    sweep = ThresholdSweep(core_frame["label"], core_frame["p_real"])
    at = start()
    assert not at.exception
    for t in (float(np.median(core_frame["p_real"])), 0.25, 0.9):
        t = round(t, 4)
        set_threshold(at, t)
        assert at.sidebar.slider(key="w_threshold_slider").value == pytest.approx(t)
        c = sweep.confusion(t, "real")
        shown = metrics(at)
        assert [shown[w] for w in WORDS] == [str(v) for v in (c.fake_caught, c.fake_missed, c.real_flagged, c.real_passed)]
        assert shown["Accuracy"] == f"{c.accuracy:.1%}"  # a share, as a percentage on every page
        assert shown["ROC-AUC"] == f"{sweep.roc().auc:.3f}"  # not a share: decimals
        assert at.query_params["threshold"] in (f"{t:.6g}", [f"{t:.6g}"])


def test_positive_class_fake_changes_precision_but_not_the_words(env, core_frame):
    t = round(float(np.median(core_frame["p_real"])), 4)
    at = start(threshold=str(t))
    at.sidebar.radio(key="w_positive").set_value("fake").run()
    c = ThresholdSweep(core_frame["label"], core_frame["p_real"]).confusion(t, "fake")
    shown = metrics(at)
    assert shown["Precision (fake)"] == ("n/a" if c.precision is None else f"{c.precision:.1%}")
    assert "Precision (real)" not in shown  # the label names the class the number is about
    assert shown["fake caught"] == str(c.fake_caught)
    assert at.query_params["positive"] in ("fake", ["fake"])  # a copied link reopens with the same numbers
    again = start(threshold=str(t), positive="fake")
    assert again.session_state["positive"] == "fake" and metrics(again)["Precision (fake)"] == shown["Precision (fake)"]
    again.sidebar.radio(key="w_positive").set_value("real").run()
    assert "positive" not in again.query_params  # the default stays out of the link


def test_threshold_survives_page_switches_and_comes_from_the_url(env):
    at = start(threshold="0.321")
    assert at.sidebar.slider(key="w_threshold_slider").value == pytest.approx(0.321)
    set_threshold(at, 0.612)
    for page in ui.PAGES[1:]:
        at.switch_page(page.path).run()
        assert not at.exception
        assert at.sidebar.slider(key="w_threshold_slider").value == pytest.approx(0.612)
        assert at.sidebar.number_input(key="w_threshold_box").value == pytest.approx(0.612)


def test_the_gallery_with_nothing_chosen_asks_rather_than_reports_no_errors(env):
    at = start("pages/2_Error_gallery.py")
    assert at.slider(key="w_gallery_distance").disabled  # borderline is not shown: its distance does nothing
    at.multiselect(key="w_gallery_kinds").set_value(["borderline"]).run()
    assert not at.slider(key="w_gallery_distance").disabled and at.multiselect(key="w_gallery_kinds").value == ["borderline"]
    at.multiselect(key="w_gallery_kinds").set_value([]).run()
    assert not at.exception
    assert any("Choose under *Show*" in i.value for i in at.info) and not at.success


def test_the_gallery_holds_exactly_the_misclassified_images(env, core_frame):
    t = round(float(np.median(core_frame["p_real"])), 4)
    at = start("pages/2_Error_gallery.py", threshold=str(t))
    assert not at.exception
    table = at.dataframe[-1].value
    wrong = core_frame[(core_frame["p_real"] >= t) != (core_frame["label"] == 1)]
    assert len(wrong) > 0
    assert sorted(table["file"]) == sorted(wrong["relpath"])
    assert table["file"].tolist() == select_errors(core_frame, t)["relpath"].tolist()
    assert table["P(real)"].tolist() == [f"{p:.4f}" for p in select_errors(core_frame, t)["p_real"]]
    # each tile's P(real) to the threshold's 4 decimals, as the tester and the details table write it
    tiles = [c.value for c in at.caption if " · P(real) " in c.value]
    first = core_frame.set_index("relpath").loc[table["file"].iloc[0], "p_real"]
    assert tiles and f"P(real) {first:.4f}" in tiles[0]
    assert all(len(c.split(" · P(real) ")[1].split()[0].split(".")[1]) == 4 for c in tiles)
    # one slice only (the Slices page's slices): the JPEG files' errors, in the same order
    box = next(b for b in at.selectbox if b.label == "Only the images of")
    assert box.options[0] == "all images" and "file format: JPEG" in box.options
    box.set_value(box.options.index("file format: JPEG")).run()
    assert not at.exception, at.exception
    sliced = at.dataframe[-1].value
    want = [r for r in table["file"] if r.endswith(".jpg")]
    assert 0 < len(want) < len(table) and sliced["file"].tolist() == want
    # opening one shows its full image and details
    at.button(key=f"open_{table['file'].iloc[0]}").click().run()
    assert not at.exception
    details = next(d.value for d in at.dataframe if "value" in d.value.columns)  # in a dialog over the gallery
    assert table["file"].iloc[0] in details["value"].tolist()
    next(b for b in at.button if b.label == "Close").click().run()  # closes it, and it stays closed
    assert "gallery_open" not in at.session_state and not any("value" in d.value.columns for d in at.dataframe)
    at.button(key=f"open_{table['file'].iloc[0]}").click().run()
    # ... and one click takes it to the single-image tester, with its true class
    next(b for b in at.button if b.label == "Open in the single-image tester").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Single-image tester"
    assert at.multiselect(key="tester_picks").value == [table["file"].iloc[0]]
    assert any(m.value.startswith("From the test set") and "**wrong**" in m.value for m in at.markdown)  # an error


def test_unreadable_files_are_listed_on_the_overview(env):
    """Listed as text with each reason whole: a table column cut the reason off ("(a renamed or damaged")."""
    at = start()
    [listed] = [m.value for m in at.markdown if "`real/truncated.jpg`" in m.value]
    assert "`real/not_an_image.png`: not a readable image: its content is not JPEG" in listed
    assert "BMP or TIFF data (a renamed or damaged file?)" in listed, listed  # the end a table column cut off
    assert not [d for d in at.dataframe if "reason" in d.value.columns]  # two files: the list names both, no table


def test_threshold_explorer_uses_the_eer_button(env, core_frame):
    at = start("pages/1_Threshold_explorer.py")
    eer = ThresholdSweep(core_frame["label"], core_frame["p_real"]).eer()
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["threshold"] == pytest.approx(eer.threshold, abs=1e-6)
    # away from the model's own 0.5, the metrics carry deltas and a caption counts the images that changed
    sw = ThresholdSweep(core_frame["label"], core_frame["p_real"])
    # in percentage points: "+1.2 pp", not "+1.2%", which would read as a relative change
    assert [m.delta for m in at.metric] == [
        f"{100 * (getattr(sw.confusion(eer.threshold), k) - getattr(sw.confusion(0.5), k)):+.1f} pp"
        for k in ("accuracy", "precision", "recall", "f1", "specificity")]
    assert [m.value for m in at.metric] == [f"{getattr(sw.confusion(eer.threshold), k):.1%}"
                                            for k in ("accuracy", "precision", "recall", "f1", "specificity")]
    assert any(m.value.endswith(ui.threshold_change_words(sw, 0.5, at.session_state["threshold"])) for m in at.markdown)


@pytest.mark.parametrize("make,expect", [
    (lambda root: root / "nowhere", "not found"),
    (lambda root: (root / "photos").mkdir() or root, "no real/ or fake/"),
])
def test_test_set_problems_show_guidance_and_keep_the_tester(env, tmp_path, monkeypatch, make, expect):
    monkeypatch.setenv("DATA_DIR", str(make(tmp_path)))
    for page in ui.PAGES[:3]:
        at = start(page.path)
        assert not at.exception
        assert any(expect in w.value for w in at.warning), [w.value for w in at.warning]
        assert any(LAYOUT_HELP.splitlines()[2] in c.value for c in at.code)
    at = start("pages/3_Single_image_tester.py")
    assert not at.exception and not at.warning
    assert "Upload one or more face photos" in at.info[0].value


def test_typing_another_folder_in_the_empty_state_loads_it(env, tmp_path, monkeypatch, app_set):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "nowhere"))
    at = start()
    at.text_input(key="w_data_dir_main").input(str(app_set)).run()
    # no problem with the folder; some of its tiny synthetic 72 px faces fall below the fine-detail level, which says so
    assert not at.exception and [w.value for w in at.warning if "little fine detail" not in w.value] == []
    assert metrics(at)["Real images"] == "8"
    assert metrics(at)["Groups"] == "1"  # fake/gan/; files straight in real/ or fake/ are in no group


@pytest.mark.parametrize("content,expect", [(None, "No weights file"), (b"not a checkpoint", "mismatch.pth")])
def test_missing_or_mismatched_weights_say_so(env, tmp_path, monkeypatch, content, expect):
    path = tmp_path / "mismatch.pth"
    if content is not None:
        torch.save({"conv.weight": torch.zeros(3)}, path)
    monkeypatch.setenv("WEIGHTS", str(path))
    for page in ui.PAGES:
        at = start(page.path)
        assert not at.exception
        if page.needs_model:
            assert any(expect in w.value for w in at.warning), [w.value for w in at.warning]
        else:  # works without weights: it still runs and offers its check
            assert at.button and any("Press **Check**" in i.value for i in at.info)


def test_tester_page_without_uploads_invites_an_upload(env):
    at = start("pages/3_Single_image_tester.py")
    assert not at.exception
    assert at.info and "Upload" in at.info[0].value
    assert at.toggle(key="tester_crop").value is False


def test_initial_sources_order():
    env = {"DATA_DIR": "env_data", "WEIGHTS": "env.pth"}
    assert ui.initial_sources({}, {}) == {"data_dir": ui.DEFAULT_DATA, "weights": ui.DEFAULT_WEIGHTS, "threshold": None,
                                          "unseen_only": False, "positive": "real"}
    assert ui.initial_sources({}, env)["data_dir"] == "env_data"
    q = {"data": "q_data", "weights": "q.pth", "threshold": "0.7"}
    assert ui.initial_sources(q, env) == {"data_dir": "q_data", "weights": "q.pth", "threshold": 0.7, "unseen_only": False,
                                          "positive": "real"}
    assert ui.initial_sources({"positive": "fake"}, env)["positive"] == "fake"
    assert ui.initial_sources({"positive": "bogus"}, env)["positive"] == "real"
    assert ui.initial_sources({"threshold": "1.5"}, env)["threshold"] is None
    assert ui.initial_sources({"threshold": "abc"}, env)["threshold"] is None


def test_fast_toggle_reports_its_precision_and_gpu_without_cuda_says_so(env):
    at = start()
    at.sidebar.toggle(key="w_fast").set_value(True).run()
    assert not at.exception
    assert any("bfloat16" in c.value for c in at.sidebar.caption)
    assert "`, bfloat16: " in at.caption[0].value  # the numbers shown come from the bf16 run
    if not torch.cuda.is_available():
        at.sidebar.radio(key="w_device").set_value("cuda").run()
        assert not at.exception
        assert any("sees no CUDA GPU" in w.value and "choose auto or CPU" in w.value for w in at.warning)


def test_tester_takes_faces_from_the_test_set_and_says_if_the_verdict_is_right(env, core_frame):
    data, _ = env
    truth = dict(zip(scan_test_set(data).images["relpath"], scan_test_set(data).images["label"]))
    at = start("pages/3_Single_image_tester.py")
    next(b for b in at.button if b.label == "Random fake").click().run()
    next(b for b in at.button if b.label == "Random real").click().run()
    assert not at.exception, at.exception
    assert [truth[p] for p in at.multiselect(key="tester_picks").value] == [0, 1]  # one of each, as asked
    readable = [r for r in core_frame["relpath"] if r.startswith("fake/")][:1] + \
        [r for r in core_frame["relpath"] if r.startswith("real/")][:2]
    at.multiselect(key="tester_picks").set_value([*readable, "real/truncated.jpg"]).run()  # the set's broken file too
    assert not at.exception, at.exception
    lines = [m.value for m in at.markdown if m.value.startswith("From the test set")]
    p_real = dict(zip(core_frame["relpath"], core_frame["p_real"]))
    assert len(lines) == 3
    for rel, line in zip(readable, lines):  # right or wrong at the sidebar's threshold, from the same P(real)
        right = (p_real[rel] >= 0.5) == bool(truth[rel])
        assert f"truly **{'real' if truth[rel] else 'fake'}**" in line and f"**{'right' if right else 'wrong'}**" in line
    # with the truth known, the verdict box is green when right and red when wrong, whichever class it names
    boxes = {"right": [b.value for b in at.success if b.value.startswith("Verdict")],
             "wrong": [b.value for b in at.error if b.value.startswith("Verdict")]}
    want = {"right": 0, "wrong": 0}
    for rel in readable:
        want["right" if (p_real[rel] >= 0.5) == bool(truth[rel]) else "wrong"] += 1
    assert {k: len(v) for k, v in boxes.items()} == want
    assert all(v.endswith(f"**{k}**") for k in boxes for v in boxes[k])  # the box says which, not only its colour
    assert any("truncated.jpg" in e.value for e in at.error)  # said, and the others still judged
    table = at.dataframe[0].value
    assert sorted(table["file"]) == sorted([*readable, "real/truncated.jpg"])
    assert table.set_index("file").loc["real/truncated.jpg", "right"] == ""  # not scored: neither right nor wrong
    at.multiselect(key="tester_picks").set_value([]).run()
    assert not at.exception and "Upload one or more face photos" in at.info[0].value


def test_a_threshold_file_that_is_not_used_is_said_in_the_sidebar(app_set, app_ckpt, cache_dir, monkeypatch, tmp_path):
    import json
    import shutil

    from core.checkpoint import threshold_sidecar

    weights = Path(shutil.copy(app_ckpt, tmp_path / "w.pth"))
    threshold_sidecar(weights).write_text(json.dumps({"threshold": "high"}))
    point_app_at(monkeypatch, app_set, weights)
    at = start()
    assert not at.exception
    assert any("ignored w.pth.threshold.json" in w.value and "own threshold" in w.value for w in at.sidebar.warning)


def test_an_uploaded_checkpoint_that_does_not_load_is_deleted_with_the_reason(app_ckpt, tmp_path, monkeypatch):
    """A refused upload stayed in weights/uploads/ and was offered in the weights list ever after."""
    from types import SimpleNamespace

    monkeypatch.setattr(ui.state, "REPO", tmp_path)  # where the sidebar saves uploads
    state = {"device": "cpu", "weights": "weights/default.pth"}
    monkeypatch.setattr(ui.st, "session_state", state)
    state["w_weights_upload"] = SimpleNamespace(name="three_class.pth", getvalue=lambda: b"not a checkpoint")
    ui._save_weights_upload()
    assert state["weights"] == "weights/default.pth"  # the choice is unchanged
    assert "three_class.pth was not kept" in state["weights_upload_error"]
    assert not list((tmp_path / "weights" / "uploads").iterdir())
    state["w_weights_upload"] = None  # the uploader cleared: the refusal goes with it
    ui._save_weights_upload()
    assert "weights_upload_error" not in state
    state["w_weights_upload"] = SimpleNamespace(name="good.pth", getvalue=app_ckpt.read_bytes)
    ui._save_weights_upload()
    [kept] = (tmp_path / "weights" / "uploads").iterdir()
    assert kept.name.startswith("good-") and "weights_upload_error" not in state
    assert Path(state["weights"]).name == kept.name


def test_the_overview_counts_images_scored_now_apart_from_those_read_from_the_cache(app_ckpt, tmp_path, cache_dir,
                                                                                   monkeypatch):
    """The run that had just scored every image said "N from cache"."""
    data = make_test_set(tmp_path / "fresh", n_real=3, n_fake=3, seed=11)
    point_app_at(monkeypatch, data, app_ckpt)
    first = start().caption[0].value
    assert "6 images scored (6 scored now, 0 from the cache)" in first, first
    again = start().caption[0].value  # a new session: the disk cache answers
    assert "(0 scored now, 6 from the cache)" in again, again


def test_the_overview_flags_ranking_metrics_that_rest_on_one_fake(app_ckpt, tmp_path, cache_dir, monkeypatch):
    """A ROC-AUC of 1.000 from a set with one fake read as a perfect detector."""
    data = make_test_set(tmp_path / "onefake", n_real=6, n_fake=1, seed=5)
    point_app_at(monkeypatch, data, app_ckpt)
    at = start()
    assert not at.exception
    cards = {m.label: m for m in at.metric}
    for label in ("ROC-AUC", "AP", "EER"):
        assert cards[label].delta == "from 1 fake: says little", label
        assert "This set holds 6 real and 1 fake images." in cards[label].help
    assert not cards["Accuracy"].delta and not cards["Recall (real)"].delta  # 6 reals: enough
    assert cards["Specificity"].delta == "from 1 fake: says little"  # 0 % or 100 %: one fake


def test_the_threshold_explorer_has_its_own_slider_and_a_preset_says_what_it_did(env):
    """On a phone the sidebar (and its slider) is folded away; after 'Use' the numbers that moved can be off screen."""
    at = start()
    at.switch_page("pages/1_Threshold_explorer.py").run()
    at.slider(key="w_threshold_main").set_value(0.37).run()
    assert at.session_state["threshold"] == pytest.approx(0.37)
    assert at.sidebar.slider(key="w_threshold_slider").value == pytest.approx(0.37)
    next(b for b in at.button if b.label == "Use the EER threshold").click().run()
    assert at.session_state["threshold"] != pytest.approx(0.37)
    assert any("Threshold set to" in t.value and "equal error rate" in t.value for t in at.toast)
    assert at.slider(key="w_threshold_main").value == pytest.approx(at.session_state["threshold"])


def test_the_gallery_pages_from_the_top_too(app_ckpt, tmp_path, cache_dir, monkeypatch):
    """The only page box sat at the bottom, about 5,000 px down at 48 images a page."""
    data = make_test_set(tmp_path / "many", n_real=20, n_fake=20, seed=5)
    point_app_at(monkeypatch, data, app_ckpt)
    frame = predict_test_set(load_detector(app_ckpt), scan_test_set(data)).frame
    t = round(float(np.median(frame["p_real"])), 4)
    at = start("pages/2_Error_gallery.py", threshold=str(t))
    at.selectbox(key="w_gallery_per_page").set_value(12).run()
    n_wrong = len(at.dataframe[-1].value)
    if n_wrong <= 12:
        pytest.fail(f"the test set gives {n_wrong} errors: one page only, nothing to page through")
    assert at.button(key="gallery_prev").disabled and not at.button(key="gallery_next").disabled
    first = [b.key for b in at.button if b.key and b.key.startswith("open_")]
    at.button(key="gallery_next").click().run()
    assert not at.exception and at.session_state["gallery_page"] == 2
    assert at.number_input(key="w_gallery_page").value == 2  # the box at the bottom follows
    assert not set(first) & {b.key for b in at.button if b.key and b.key.startswith("open_")}
    assert any(c.value.startswith("Page 2 of") for c in at.caption)
    # Streamlit drops a widget's state when its page is left: a visit to another page brought page 1 back
    at.switch_page("pages/5_Calibration.py").run()
    at.switch_page("pages/2_Error_gallery.py").run()
    assert not at.exception and at.number_input(key="w_gallery_page").value == 2
    assert at.selectbox(key="w_gallery_per_page").value == 12 and any(c.value.startswith("Page 2 of") for c in at.caption)
    assert at.number_input(key="w_gallery_page").label == f"Go to page (1–{-(-n_wrong // 12)})"


def test_the_tester_offers_no_verdicts_file_when_nothing_was_scored(env):
    at = start("pages/3_Single_image_tester.py")
    at.multiselect(key="tester_picks").set_value(["real/not_an_image.png"]).run()
    assert not at.exception and any("not a readable image" in e.value for e in at.error)
    assert not at.get("download_button")  # a CSV of errors alone helped no one
    good = next(o for o in at.multiselect(key="tester_picks").options if o.startswith("fake/"))
    at.multiselect(key="tester_picks").set_value(["real/not_an_image.png", good]).run()
    assert not at.exception and len(at.get("download_button")) == 1


def test_a_cache_folder_that_cannot_be_written_scores_the_set_once_and_says_so(app_set, app_ckpt, tmp_path, monkeypatch):
    """Scores not kept on disk were made again on every rerun, and other pages called the set unscored."""
    from core import prediction_cache
    from core.ui import cached

    point_app_at(monkeypatch, app_set, app_ckpt)
    (tmp_path / "plain_file").write_text("where the cache folder should be")
    blocked = tmp_path / "plain_file" / "cache"
    monkeypatch.setenv("DEEPFAKE_CACHE_DIR", str(blocked))
    monkeypatch.setattr(prediction_cache, "DEFAULT_CACHE_DIR", blocked)
    monkeypatch.setattr(cached, "_UNKEPT", {})  # this test's own: other tests must not find its predictions
    monkeypatch.setattr(cached, "_WARM", set())  # nor may it find theirs, scored into a writable cache
    calls = []
    monkeypatch.setattr(cached, "predict_test_set", lambda *a, **k: calls.append(1) or predict_test_set(*a, **k))
    at = start()
    assert not at.exception and any("cannot be written" in w.value for w in at.warning)
    at.run()
    start("pages/4_Operating_points.py")
    assert len(calls) == 1  # scored once, for every rerun and page
    tester = start("pages/3_Single_image_tester.py")
    tester.multiselect(key="tester_picks").set_value([tester.multiselect(key="tester_picks").options[-1]]).run()
    assert not tester.exception and not any("No test-set context" in c.value for c in tester.caption)
    assert len(calls) == 1
