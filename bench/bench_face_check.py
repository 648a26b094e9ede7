"""What the no-face check costs: ``core.face.has_face`` on face photos and on pictures with no face.

The tester, ``predict`` and the API's ``/predict`` run the check on every picture. On a face it
stops at the first search that finds one; on a picture with no face every search runs (three
cascades, upright and turned 20 degrees each way), so those cost more. Medians of the rounds,
per picture; the face photos are CIPLab's (600 px JPEGs, read in place).

    .venv/bin/python bench/bench_face_check.py             # 16 faces, 5 rounds
    .venv/bin/python bench/bench_face_check.py --quick     # 4 faces, 2 rounds
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ciplab_subset, header, median, table  # noqa: E402

from core.face import has_face  # noqa: E402


def _pictures(n_faces: int) -> dict[str, list[Image.Image]]:
    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(0, 255, 1024, dtype=np.uint8)[None, :, None], (1024, 1, 3))
    return {
        "CIPLab face photo (600 px)": [Image.open(p).convert("RGB") for p in ciplab_subset(n_faces)],
        "flat colour, 256 px": [Image.new("RGB", (256, 256), (90, 130, 200))],
        "noise, 1024 px": [Image.fromarray(rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8))],
        "ramp, 1024 px": [Image.fromarray(ramp)],
        "noise, 4000 x 3000 px": [Image.fromarray(rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8))],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="4 faces, 2 rounds")
    args = ap.parse_args()
    faces, rounds = (4, 2) if args.quick else (args.faces, args.rounds)
    header("has_face: milliseconds a picture")
    rows = []
    for kind, pictures in _pictures(faces).items():
        found = [has_face(p) for p in pictures]  # also warms the cascades
        per_round = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            for p in pictures:
                has_face(p)
            per_round.append((time.perf_counter() - t0) / len(pictures))
        rows.append([kind, len(pictures), f"{sum(found)}/{len(found)}", round(median(per_round) * 1000, 1)])
    print(table(["picture", "pictures", "face found", "median ms a picture"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
