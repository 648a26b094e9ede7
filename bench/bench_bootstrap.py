"""Benchmark: 1,000 stratified bootstrap resamples of all headline metrics at 10,000 images.

    .venv/bin/python bench/bench_bootstrap.py [--n 10000] [--resamples 1000] [--repeats 3]

Prints the machine, the command and the best wall time of ``core.bootstrap.bootstrap``
(confusion metrics at the threshold, ROC-AUC, AP, EER, and the ROC/PR bands).
Target: under 1 s on the project's CPU.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from core.bootstrap import bootstrap  # noqa: E402
from core.metrics import ThresholdSweep  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="images (half real, half fake)")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-bands", action="store_true", help="skip the ROC/PR bands")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(args.n // 2, int), np.zeros(args.n - args.n // 2, int)]
    score = 1 / (1 + np.exp(-rng.normal(1.5 * (2 * y - 1), 1.5)))  # continuous: ~n distinct thresholds
    sweep = ThresholdSweep(y, score)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        r = bootstrap(sweep, 0.5, n_resamples=args.resamples, bands=not args.no_bands)
        times.append(time.perf_counter() - t0)
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs visible, "
          f"Python {platform.python_version()}, numpy {np.__version__}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{args.n} images ({len(sweep.thresholds) - 1} distinct scores), {args.resamples} resamples, "
          f"bands={'no' if args.no_bands else 'yes'}")
    print(f"best {min(times):.3f} s, all runs: {', '.join(f'{t:.3f}' for t in times)} s  (target < 1 s)")
    print("e.g. " + ", ".join(f"{k} {r.intervals[k].format()}" for k in ("accuracy", "roc_auc", "eer")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
