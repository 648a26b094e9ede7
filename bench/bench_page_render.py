"""Dashboard render times with cached predictions for a 10,000-image set (not a test).

Builds a synthetic set (hard links to a few tiny JPEGs), writes its predictions straight
into the disk cache (scores drawn per class, so no model runs), then with
``streamlit.testing.v1.AppTest``: the app's cold open (model load, set listing, cache
read), a warm open (a new session, process caches filled), and for each page the median
time of a threshold change re-render. The budget the issue sets: < 300 ms per
threshold change, < 3 s to open.

    .venv/bin/python bench/bench_page_render.py [--n 10000] [--repeats 7] [--pages all|dashboard]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import REPO, header, median, table, tiny_jpeg_farm


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000, help="images in the synthetic set")
    p.add_argument("--repeats", type=int, default=7, help="threshold changes timed per page")
    p.add_argument("--pages", choices=["dashboard", "all"], default="dashboard",
                   help="dashboard: the four pages of issue 4; all: every entry of core.dashboard.PAGES")
    return p.parse_args(argv)


def fake_predictions(root: Path, weights: Path, cache: Path, seed: int = 0) -> int:
    """Write scores for every image of ``root`` into the prediction cache."""
    from core.checkpoint import load_detector
    from core.data import scan_test_set
    from core.inference import CACHE_COLUMNS, InferenceSettings, cache_file

    test_set = scan_test_set(root)
    rng = np.random.default_rng(seed)
    images = test_set.images
    real = images["label"].to_numpy() == 1
    p = np.where(real, rng.beta(5, 2, len(images)), rng.beta(2, 5, len(images)))
    rows = images[["relpath", "size_bytes", "mtime_ns"]].assign(p_real=p, width=48, height=48, format="JPEG",
                                                                detail_share=rng.uniform(0.1, 0.4, len(images)), error="")
    path = cache_file(load_detector(weights), test_set, InferenceSettings(), cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows[CACHE_COLUMNS].to_csv(path, index=False, float_format="%.17g")
    return len(rows)


def main(argv=None) -> None:
    args = parse_args(argv)
    header(f"Dashboard render with cached predictions for {args.n:,} images (AppTest, server side)")
    tmp = Path(tempfile.mkdtemp(prefix="bench_page_"))
    from tests.conftest import make_checkpoint

    data = tiny_jpeg_farm(tmp / "set", args.n)
    weights = make_checkpoint(tmp / "random.pth", spread=30.0)
    cache = tmp / "cache"
    os.environ.update(DATA_DIR=str(data), WEIGHTS=str(weights), DEEPFAKE_CACHE_DIR=str(cache))
    import core.prediction_cache

    core.prediction_cache.DEFAULT_CACHE_DIR = cache  # gallery thumbnails go there too
    fake_predictions(data, weights, cache)

    from streamlit.testing.v1 import AppTest

    from core import ui

    app = str(REPO / "streamlit_app.py")
    start = time.perf_counter()
    at = AppTest.from_file(app, default_timeout=600).run()
    cold = time.perf_counter() - start
    assert not at.exception, at.exception
    start = time.perf_counter()
    at = AppTest.from_file(app, default_timeout=600).run()
    warm = time.perf_counter() - start

    pages = ui.PAGES[:4] if args.pages == "dashboard" else ui.PAGES
    rows = [["open the app (cold: model, listing, disk cache)", cold, 1], ["open the app (new session, warm)", warm, 1]]
    thresholds = [0.3, 0.7]
    for page in pages:
        at.switch_page(page.path).run()  # first visit: thumbnails etc. made once
        assert not at.exception, (page.path, at.exception)
        times = []
        for k in range(args.repeats):
            box = at.sidebar.number_input(key="w_threshold_box").set_value(thresholds[k % 2] + 0.001 * k)
            start = time.perf_counter()
            box.run()
            times.append(time.perf_counter() - start)
            assert not at.exception, (page.path, at.exception)
        rows.append([f"threshold change: {page.label}", median(times), args.repeats])
    print(table(["what", "median seconds", "runs"], rows))
    print(f"\nbudget: threshold change < 0.3 s, open < 3 s; set: {args.n:,} synthetic images (removed)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
