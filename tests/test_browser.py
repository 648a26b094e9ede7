"""End-to-end: `streamlit run` on a free port, driven by headless Debian chromium via playwright.

Opens every page, moves the threshold, uploads images in the tester (one good, one
broken), takes a fake from the test set there, and saves a screenshot of each page under
artifacts/screenshots/ (git-ignored).
In CI (CI=true) a missing chromium is a failure; elsewhere the test skips with the reason.

The same run can show real data: E2E_DATA / E2E_WEIGHTS point the app elsewhere and
E2E_SHOTS names the screenshot folder (e.g. data/test_images, weights/default.pth).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tests.conftest import make_checkpoint, make_test_set, photo_like

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 180_000  # first page scores the set; the shared machine is slow


def need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = f"chromium not found at {CHROMIUM} (make browser installs Debian's chromium)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    need_chromium()
    tmp = tmp_path_factory.mktemp("e2e")
    data = os.environ.get("E2E_DATA") or str(make_test_set(tmp / "set", n_real=8, n_fake=8, size=96, groups=True,
                                                            corrupt=True))
    weights = os.environ.get("E2E_WEIGHTS") or str(make_checkpoint(tmp / "random.pth", spread=60.0))
    port = free_port()
    env = {**os.environ, "DATA_DIR": data, "WEIGHTS": weights,
           "DEEPFAKE_CACHE_DIR": os.environ.get("E2E_CACHE", str(tmp / "cache"))}
    log = open(tmp / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start: {(tmp / 'streamlit.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield url, tmp
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def face_jpeg(path: Path) -> Path:
    rng = np.random.default_rng(1)
    img = (np.linspace(60, 200, 160)[None, :, None] + rng.normal(0, 10, (160, 160, 3))).clip(0, 255)
    Image.fromarray(img.astype(np.uint8)).save(path, quality=90)
    return path


def test_every_page_in_a_real_browser(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    url, tmp = server
    shots = REPO / os.environ.get("E2E_SHOTS", "artifacts/screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    good, bad = face_jpeg(tmp / "face.jpg"), tmp / "broken.jpg"
    blurred = tmp / "blurred.jpg"  # little fine detail: its verdict comes with a warning
    photo_like(seed=2).filter(ImageFilter.GaussianBlur(2.5)).save(blurred, quality=95)
    bad.write_bytes(b"this is not a jpeg")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.set_default_timeout(WAIT_MS)
        page.goto(url)

        def settle(heading: str, ready: str | None = None) -> None:
            """Wait for the page's heading and its last element, then for the script to finish."""
            expect(page.get_by_role("heading", name=heading)).to_be_visible()
            if ready:  # visible text only: data grids also hold hidden copies of their headers
                expect(page.locator(f"text={ready} >> visible=true").first).to_be_visible()
            for _ in range(3):  # the running indicator can flicker between reruns
                page.wait_for_timeout(700)
                page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached")
            assert page.locator('[data-testid="stException"]').count() == 0, heading

        settle("Deepfake detector: overview", "Score distribution per class")
        expect(page.get_by_text("fake missed (predicted real)").first).to_be_visible()
        page.screenshot(path=str(shots / "1_overview.png"), full_page=True)

        box = page.locator('[data-testid="stSidebar"] input[type="number"]')
        box.fill("0.6")
        box.press("Enter")
        page.wait_for_url("**threshold=0.6**")
        settle("Deepfake detector: overview", "Score distribution per class")
        expect(page.get_by_text("Metrics at threshold 0.6000")).to_be_visible()
        page.screenshot(path=str(shots / "1_overview_threshold_0.6.png"), full_page=True)

        for label, ready, name in [("Threshold explorer", "Precision-recall (positive", "2_threshold_explorer"),
                                   ("Error gallery", "The list as a table", "3_error_gallery")]:
            page.locator('[data-testid="stSidebar"]').get_by_role("link", name=label).click()
            settle(label, ready)
            assert "threshold=0.6" in page.url  # the threshold travels with the user
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

        page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Single-image tester").click()
        settle("Single-image tester")
        page.locator('[data-testid="stMainBlockContainer"] [data-testid="stFileUploader"] input[type="file"]').set_input_files([str(good), str(blurred), str(bad)])
        expect(page.get_by_text("Verdict:").first).to_be_visible()
        expect(page.get_by_role("alert").filter(has_text="Little fine detail (detail share")).to_be_visible()  # not the table cell
        expect(page.get_by_text("broken.jpg: not a readable image").first).to_be_visible()
        # the Overview scored the set above, so each verdict is placed among the set's scores
        expect(page.get_by_text("scoring closest to this one").first).to_be_visible()
        settle("Single-image tester", "P(fake)")
        page.screenshot(path=str(shots / "4_single_image_tester.png"), full_page=True)
        # a face taken from the test set says its true class (the synthetic set's fakes are all readable)
        page.get_by_text("…or take faces from the test set").click()
        page.get_by_role("button", name="Random fake").click()
        expect(page.get_by_text(re.compile(r"From the test set: truly fake, so this verdict is (right|wrong)"))).to_be_visible()
        settle("Single-image tester", "P(fake)")
        page.screenshot(path=str(shots / "4_single_image_tester_picked.png"), full_page=True)

        page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Data check").click()
        settle("Data check", "Press Check")
        page.get_by_role("button", name="Check").click()
        settle("Data check")
        # the synthetic set's faces share one gradient, so it finds copies; either way it says what it found
        expect(page.get_by_text(re.compile(r"No near copies within|are near copies|is a near copy")).first).to_be_visible()
        page.screenshot(path=str(shots / "5_data_check.png"), full_page=True)
        browser.close()
    assert {"1_overview.png", "2_threshold_explorer.png", "3_error_gallery.png",
            "4_single_image_tester.png", "4_single_image_tester_picked.png", "5_data_check.png"} <= {p.name for p in shots.glob("*.png")}
