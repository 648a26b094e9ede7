"""The Explanations, Robustness and Feature map pages under AppTest."""
import pytest

from tests.conftest import make_checkpoint, make_test_set, open_page, point_app_at


@pytest.fixture()
def env(tmp_path, cache_dir, monkeypatch):
    data = make_test_set(tmp_path / "set", n_real=4, n_fake=4, size=48)
    return point_app_at(monkeypatch, data, make_checkpoint(tmp_path / "w" / "random.pth", spread=60.0))


def start(page):
    return open_page(page, timeout=300)


def _click(at, prefix):
    next(b for b in at.button if b.label.startswith(prefix)).click().run()
    assert not at.exception, at.exception
    return at


def test_explanations_page_shows_maps_and_region_figure(env):
    at = start("pages/8_Explanations.py")
    assert not at.exception, at.exception
    assert len(at.get("image")) == 3  # image | attention | Grad-CAM
    at.radio(key="explain_target").set_value("real").run()
    assert not at.exception
    _click(at, "Explain the")
    assert at.get("plotly_chart") and at.dataframe


def test_robustness_page_runs_the_sweep(env, monkeypatch, tmp_path):
    from core import pace

    monkeypatch.setattr(pace, "_MEASURED", {})
    at = start("pages/9_Robustness.py")
    assert not at.exception, at.exception
    # before the click: what will run and roughly how long (8 images scored: too few to measure a speed)
    assert any("Conditions: JPEG q95, q75, q50, q30" in c.value and "Not measured on this machine yet" in c.value
               and "2-core CPU" in c.value for c in at.caption)
    _click(at, "Run the sweep")
    assert not any("Conditions:" in c.value for c in at.caption)  # gone with the button
    assert at.get("plotly_chart")
    assert not [b for b in at.button if b.label.startswith("Run the sweep")]  # gone once pressed, above the results
    table = at.dataframe[0].value
    assert list(table["condition"][:2]) == ["clean", "flip TTA"]
    # the sweep is on disk now: a fresh visit at another threshold opens it without a click
    again = open_page("pages/9_Robustness.py", timeout=300, threshold="0.3")
    assert not again.exception, again.exception
    assert not [b for b in again.button if b.label.startswith("Run the sweep")]
    assert "0.300" in again.caption[0].value and again.get("plotly_chart")
    # another set for the same model: estimated from the speed that sweep measured here
    point_app_at(monkeypatch, make_test_set(tmp_path / "other", n_real=3, n_fake=3, size=48, seed=5), env[1])
    other = start("pages/9_Robustness.py")
    assert not other.exception, other.exception
    assert any("last robustness sweep on this machine" in c.value and "images/s" in c.value for c in other.caption)


def test_feature_map_page_runs_both_projections(env, monkeypatch):
    import core.features

    made, project = [], core.features.project
    monkeypatch.setattr(core.features, "project", lambda feats, method="pca", **kw: made.append(method) or project(feats, method, **kw))
    at = start("pages/10_Feature_map.py")
    assert not at.exception, at.exception
    # a second model pass over the set: only on a click (it ran on arrival: 8.6 min on 1,632 images)
    assert not at.get("plotly_chart") and "one more pass of the model" in at.info[0].value
    next(b for b in at.button if b.label.startswith("Compute the features")).click().run()
    assert not at.exception, at.exception
    assert at.get("plotly_chart")
    assert not start("pages/10_Feature_map.py").info  # a new session: on disk, drawn at once
    at.radio(key="features_method").set_value("tsne").run()
    assert not at.exception, at.exception
    at.radio(key="features_colour").set_value("truth").run()
    assert not at.exception, at.exception
    # back to PCA, t-SNE again, another threshold: each projection was made once (t-SNE took 10-20 s a rerun)
    at.radio(key="features_method").set_value("pca").run()
    at.radio(key="features_method").set_value("tsne").run()
    at.session_state["threshold"] = 0.3
    at.run()
    assert not at.exception, at.exception
    assert sorted(made) == ["pca", "tsne"]


def test_explanations_warn_on_an_image_with_little_fine_detail(tmp_path, cache_dir, monkeypatch):
    from PIL import ImageFilter

    from tests.conftest import photo_like

    data = tmp_path / "set"
    (data / "real").mkdir(parents=True)
    (data / "fake").mkdir()
    photo_like(seed=1).save(data / "real" / "sharp.jpg", quality=95)
    photo_like(seed=2).filter(ImageFilter.GaussianBlur(2.5)).save(data / "fake" / "blurred.jpg", quality=95)
    point_app_at(monkeypatch, data, make_checkpoint(tmp_path / "w" / "random.pth"))
    at = start("pages/8_Explanations.py")
    seen = {}
    for relpath in ("real/sharp.jpg", "fake/blurred.jpg"):
        at.selectbox(key="explain_relpath").set_value(relpath).run()
        assert not at.exception, at.exception
        seen[relpath] = [w.value for w in at.warning]
    assert not any("Little fine detail" in w for w in seen["real/sharp.jpg"])
    assert any("Little fine detail" in w for w in seen["fake/blurred.jpg"])


def test_explanations_offer_no_file_the_scored_set_could_not_read(tmp_path, cache_dir, monkeypatch):
    from core.checkpoint import load_detector
    from core.data import scan_test_set
    from core.inference import predict_test_set

    data = make_test_set(tmp_path / "set", n_real=3, n_fake=3, corrupt=True)
    ckpt = make_checkpoint(tmp_path / "w" / "random.pth")
    point_app_at(monkeypatch, data, ckpt)
    offered = start("pages/8_Explanations.py").selectbox(key="explain_relpath").options
    assert "real/truncated.jpg" in offered  # not scored yet: every listed file, the first readable one chosen
    predict_test_set(load_detector(ckpt), scan_test_set(data))  # as the Overview does
    at = start("pages/8_Explanations.py")
    box = at.selectbox(key="explain_relpath")
    assert not at.exception and len(box.options) == 6 and box.value == box.options[0]
    assert not {"real/truncated.jpg", "real/not_an_image.png"} & set(box.options)
