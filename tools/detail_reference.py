"""Measure ``core.quality.detail_share`` over a folder of faces: the reference ``LOW_DETAIL`` comes from here.

    python tools/detail_reference.py --data ../shared/datasets/ciplab_train
    python tools/detail_reference.py --data data/ciplab_split/val --perturbed   # how often it fires on degraded copies

Prints percentiles of the detail share over every image below ``--data`` (real and fake alike) and,
with ``--perturbed``, the share of images below ``LOW_DETAIL`` for each of the Robustness page's
blur and downscale perturbations.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import scan_test_set  # noqa: E402
from core.preprocess import ImageError, open_image  # noqa: E402
from core.quality import ANALYSIS_SIZE, LOW_DETAIL, detail_share  # noqa: E402
from core.robustness import Perturbation  # noqa: E402

PERTURBATIONS = [Perturbation("identity", 0), Perturbation("blur", 1), Perturbation("blur", 2),
                 Perturbation("downscale", 0.75), Perturbation("downscale", 0.5), Perturbation("downscale", 0.25),
                 Perturbation("jpeg", 30)]


def shares(paths, perturbation: Perturbation | None = None, every: int = 1) -> np.ndarray:
    out = []
    for path in list(paths)[::every]:
        try:
            image = open_image(path)[0]
        except ImageError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        out.append(detail_share(perturbation.apply(image, ANALYSIS_SIZE) if perturbation else image))
    return np.array(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a folder in the report's layout (real/, fake/)")
    ap.add_argument("--perturbed", action="store_true", help="also: how often each perturbation falls below LOW_DETAIL")
    ap.add_argument("--every", type=int, default=1, help="use every k-th image (default 1: all)")
    args = ap.parse_args()
    paths = scan_test_set(args.data).images["path"]
    s = shares(paths, every=args.every)
    q = np.percentile(s, [1, 2.5, 50, 95])
    print(f"{len(s)} images from {args.data}: detail share p1 {q[0]:.4f}  p2.5 {q[1]:.4f}  median {q[2]:.4f}  p95 {q[3]:.4f}; "
          f"{np.mean(s < LOW_DETAIL):.1%} below LOW_DETAIL")
    print(f"LOW_DETAIL in core/quality.py: {LOW_DETAIL:.4f}")
    if args.perturbed:
        for p in PERTURBATIONS:
            v = shares(paths, p, args.every)
            print(f"  {p.name:18s} below LOW_DETAIL: {np.mean(v < LOW_DETAIL):6.1%}   median {np.median(v):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
