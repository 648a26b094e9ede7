"""core/features.py: penultimate features, PCA / t-SNE maps, thumbnails."""
from __future__ import annotations

import os

import numpy as np
import pytest

from core.checkpoint import load_detector
from core.data import scan_test_set
from core.evaluation import evaluate
from core.features import embed_test_set, embeddings_cached, feature_map_frame, project
from core.inference import InferenceSettings

from .conftest import make_test_set


def test_embeddings_match_predictions_and_are_cached(tiny_ckpt, tmp_path, cache_dir, monkeypatch):
    det = load_detector(tiny_ckpt)
    test_set = scan_test_set(make_test_set(tmp_path / "set", n_real=3, n_fake=3, size=48, corrupt=True))
    assert not embeddings_cached(det, test_set)
    emb = embed_test_set(det, test_set, workers=0)
    assert embeddings_cached(det, test_set)
    assert emb.features.shape == (6, 1280)  # the two corrupt files are left out
    assert np.isfinite(emb.features).all()
    preds = evaluate(det, test_set, InferenceSettings(workers=0)).predictions.frame
    merged = emb.frame.merge(preds, on="relpath", suffixes=("", "_eval"))
    # batches differ (corrupt files are dropped before the model here): float noise only
    np.testing.assert_allclose(merged["p_real"], merged["p_real_eval"], atol=1e-4)
    again = embed_test_set(det, test_set, workers=0)
    np.testing.assert_array_equal(again.features, emb.features)
    assert list(again.frame["relpath"]) == list(emb.frame["relpath"])
    for f in test_set.images["path"]:  # new modification times, same bytes: still the cache
        os.utime(f, ns=(0, os.stat(f).st_mtime_ns + 10**9))
    monkeypatch.setattr("core.features.DataLoader", None)  # any scoring would fail
    touched = embed_test_set(det, scan_test_set(test_set.root), workers=0)
    np.testing.assert_array_equal(touched.features, emb.features)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projection_is_2d_and_seeded(method):
    rng = np.random.default_rng(0)
    feats = np.r_[rng.normal(0, 1, (10, 20)), rng.normal(5, 1, (10, 20))]
    xy = project(feats, method)
    assert xy.shape == (20, 2) and np.isfinite(xy).all()
    np.testing.assert_array_equal(xy, project(feats, method))
    # two well-separated clusters stay separated along some axis
    assert np.abs(xy[:10].mean(0) - xy[10:].mean(0)).max() > np.abs(xy[:10].std(0)).max()


def test_projection_refuses_tiny_sets_and_unknown_methods():
    with pytest.raises(ValueError, match="at least 3"):
        project(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="method"):
        project(np.random.default_rng(0).normal(size=(5, 4)), "umap")


def test_feature_map_frame_marks_right_and_wrong(tiny_ckpt, tiny_set, cache_dir):
    det = load_detector(tiny_ckpt)
    emb = embed_test_set(det, scan_test_set(tiny_set), workers=0)
    f = feature_map_frame(emb, threshold=0.5, method="pca")
    assert set(f["outcome"]) <= {"right", "wrong"}
    assert ((f["outcome"] == "right") == ((f["p_real"] >= 0.5) == (f["label"] == 1))).all()
    assert f["thumbnail"].str.startswith("data:image/jpeg;base64,").all()


def test_feature_scatter_legend_says_what_the_symbols_mean():
    import pandas as pd

    from core import figures
    from core.figures_explain import OUTCOME_COLOURS, feature_scatter

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 0.5], "relpath": ["real/a.jpg", "fake/b.jpg", "fake/c.jpg"],
                          "p_real": [0.9, 0.2, 0.7], "truth": ["real", "fake", "fake"], "verdict": ["real", "fake", "real"],
                          "outcome": ["right", "right", "wrong"]})
    fig = feature_scatter(frame, colour_by="outcome")
    points = [t for t in fig.data if t.legendgroup not in ("symbols", "colours")]
    keys = [t for t in fig.data if t.legendgroup == "symbols"]
    colours = [t for t in fig.data if t.legendgroup == "colours"]
    assert [t.name for t in points] == ["right (2)", "wrong (1)"] and not any(t.showlegend for t in points)
    # the colours' legend keys are squares: a point trace's own key took its first point's symbol (a diamond for both)
    assert [(t.name, t.marker.symbol) for t in colours] == [("right (2)", "square"), ("wrong (1)", "square")]
    assert {t.name: t.marker.symbol for t in keys} == {"real": "circle", "fake": "diamond"}
    assert all(t.x == (None,) for t in keys + colours)  # legend only: nothing to select
    dark = figures.for_dark_theme(fig).to_json().lower()
    assert OUTCOME_COLOURS["wrong"].lower() not in dark  # the wrong points stay visible on the dark theme
    by_truth = feature_scatter(frame, colour_by="truth")
    assert {t.name: t.marker.symbol for t in by_truth.data if t.legendgroup == "symbols"} == {"right": "circle", "wrong": "x"}
