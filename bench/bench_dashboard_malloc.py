"""The dashboard's server under two sessions scoring at once, glibc malloc defaults against
``core.malloc_tuning``'s settings (not a test): time until both sets are scored, the server's
peak RSS, and what it still holds once they are.

Each run starts a fresh server (``streamlit run``, an empty cache directory) and opens the
Overview of two test sets in two headless Chromium pages at once; the modes alternate,
``--repeats`` runs each, and the medians are printed. Needs Debian's chromium and playwright.

    .venv/bin/python bench/bench_dashboard_malloc.py [--sets data/ciplab_split/val data/near_demo] [--repeats 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from common import REPO, header, median, table

sys.path.insert(0, str(REPO))
from core.malloc_tuning import MALLOC_ENV  # noqa: E402


def _rss_gb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(f.read().split("VmRSS:")[1].split()[0]) / 1024**2
    except (OSError, IndexError, ValueError):
        return None


def run_once(sets: list[str], tuned: bool, port: int) -> dict:
    from playwright.sync_api import sync_playwright

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(MALLOC_ENV if tuned else {})
    cache = tempfile.mkdtemp(prefix="bench_dash_")
    env["DEEPFAKE_CACHE_DIR"] = cache
    server = subprocess.Popen([str(REPO / ".venv" / "bin" / "streamlit"), "run", "streamlit_app.py", "--server.headless",
                               "true", "--server.port", str(port)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples, stop = [], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss = _rss_gb(server.pid)
            if rss is not None:
                samples.append(rss)
            time.sleep(0.5)

    try:
        time.sleep(8)
        threading.Thread(target=sample, daemon=True).start()
        t0 = time.perf_counter()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--headless"])
            pages = []
            for data in sets:
                page = browser.new_page()
                page.goto(f"http://localhost:{port}/?data={data}")
                pages.append(page)
            time.sleep(5)
            while time.perf_counter() - t0 < 600 and any(pg.locator("[data-testid='stStatusWidget']").count() for pg in pages):
                time.sleep(1)
            took = time.perf_counter() - t0
            time.sleep(5)
            browser.close()
    finally:
        stop.set()
        server.terminate()
        server.wait()
        shutil.rmtree(cache, ignore_errors=True)
    return {"scored_s": took, "peak_gb": max(samples), "after_gb": samples[-1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=["data/ciplab_split/val", "data/near_demo"])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--port", type=int, default=8691)
    args = p.parse_args()
    header(f"dashboard, {len(args.sets)} sessions scoring at once: glibc malloc defaults vs core.malloc_tuning (medians)")
    runs = {False: [], True: []}
    for _ in range(args.repeats):
        for tuned in (False, True):
            runs[tuned].append(run_once(args.sets, tuned, args.port))
    med = {t: {k: median([r[k] for r in runs[t]]) for k in runs[t][0]} for t in runs}
    print(table(["malloc", "both scored (s)", "peak RSS GB", "RSS after GB"],
                [["glibc defaults", *med[False].values()], ["tuned", *med[True].values()]]))
    print(f"\nscoring ratio default/tuned: {med[False]['scored_s'] / med[True]['scored_s']:.2f}x "
          f"({args.repeats} runs each; sets: {', '.join(args.sets)})")


if __name__ == "__main__":
    main()
