"""Speed of the Robustness page's perturbed scoring (not a test): images per second for the
shipped model with decode workers off and at their default, float32 and bfloat16.

Scores the validation split (or ``--data``) under two perturbations (blur sigma 2, JPEG
q50), uncached, ``--repeats`` times each, and prints the median images/s per setting.
The page's time estimate (``core.pace.CPU_IMAGES_PER_S``) and the choice to keep
decode workers on the CPU come from this table.

    .venv/bin/python bench/bench_robustness.py [--data data/ciplab_split/val] [--weights weights/default.pth]
"""
from __future__ import annotations

import argparse
import os
import time

from common import REPO, header, median, table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO / "data" / "ciplab_split" / "val"))
    p.add_argument("--weights", default=str(REPO / "weights" / "default.pth"))
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()

    from core.checkpoint import load_detector
    from core.data import scan_test_set
    from core.inference import InferenceSettings
    from core.robustness import Perturbation, predict_perturbed

    header("Robustness: perturbed scoring speed")
    det, test_set = load_detector(args.weights), scan_test_set(args.data)
    default_workers = min(4, os.cpu_count() or 1)
    rows = []
    for fast in (False, True):
        for workers in (0, default_workers):
            rates = []
            for _ in range(args.repeats):
                for pert in (Perturbation("blur", 2), Perturbation("jpeg", 50)):
                    start = time.perf_counter()
                    predict_perturbed(det, test_set, pert, InferenceSettings(fast=fast, workers=workers), use_cache=False)
                    rates.append(len(test_set) / (time.perf_counter() - start))
            rows.append(["bfloat16" if fast else "float32", workers, median(rates)])
    print(f"{det.name} on {test_set.root} ({len(test_set)} images); median of {len(rates)} passes each")
    print(table(["precision", "decode workers", "images/s"], rows))


if __name__ == "__main__":
    main()
