"""Threshold math: build the ThresholdSweep once (the sort), then the cost of moving the
threshold (confusion + the headline summary at a new threshold) for 10^3 .. 10^6 scores.

    .venv/bin/python bench/bench_threshold.py            # 10^3 .. 10^6
    .venv/bin/python bench/bench_threshold.py --quick    # 10^3 .. 10^5
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import header, median, table  # noqa: E402

import numpy as np  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-exp", type=int, default=6, help="largest size is 10^this (default 6)")
    ap.add_argument("--changes", type=int, default=200, help="threshold changes timed per size (default 200)")
    ap.add_argument("--quick", action="store_true", help="up to 10^5, 50 changes")
    args = ap.parse_args()
    if args.quick:
        args.max_exp, args.changes = 5, 50
    from core.metrics import ThresholdSweep

    header("Threshold math: ThresholdSweep build and a threshold change")
    rng = np.random.default_rng(0)
    rows = []
    for e in range(3, args.max_exp + 1):
        n = 10**e
        label = rng.integers(0, 2, n)
        # Rounded scores: ties, as real model outputs have.
        score = np.round(np.clip(rng.normal(0.35 + 0.3 * label, 0.2), 0, 1), 6)
        builds = []
        for _ in range(3):
            start = time.perf_counter()
            sweep = ThresholdSweep(label, score)
            builds.append(time.perf_counter() - start)
        start = time.perf_counter()
        sweep.summary(0.5, "real")  # the first summary also computes ROC-AUC, AP and EER (once)
        first = time.perf_counter() - start
        thresholds = rng.uniform(0, 1, args.changes)
        confusion_s, summary_s = [], []
        for t in thresholds:
            start = time.perf_counter()
            sweep.confusion(float(t), "real").metrics()
            confusion_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            sweep.summary(float(t), "real")
            summary_s.append(time.perf_counter() - start)
        rows.append([f"10^{e}", f"{median(builds) * 1e3:.1f}", f"{first * 1e3:.1f}", f"{median(confusion_s) * 1e6:.0f}",
                     f"{median(summary_s) * 1e6:.0f}", f"{max(summary_s) * 1e3:.2f}"])
    print(table(["scores", "sweep build (ms)", "first summary (ms)", "confusion at new t (us)", "summary at new t (us, median)", "summary at new t, worst (ms)"], rows))
    print("\ntarget: a threshold change (summary) under 5 ms at 10^6 scores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
