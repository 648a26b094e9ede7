"""The "has the model seen these images?" check (core.provenance) on a large test set of
other images: with the size filter (what evaluate and the dashboard run) against digesting
every file, and against the prediction-cache lookup it rides on.

The test set is hard links to a few tiny JPEGs (no images of the data set); the seen digests
are the shipped default's (weights/default.pth.seen.json: 1,632 CIPLab files).

    .venv/bin/python bench/bench_provenance.py               # 100,000 images, 3 runs
    .venv/bin/python bench/bench_provenance.py --quick       # 10,000 images, 1 run
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, header, median, table, tiny_jpeg_farm  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="10,000 images, 1 run")
    args = ap.parse_args()
    if args.quick:
        args.images, args.runs = 10_000, 1
    sys.path.insert(0, str(REPO))
    from core import provenance
    from core.data import scan_test_set
    from core.identity import file_sha256

    header("Seen-image check on a test set of other images")
    weights = REPO / "weights" / "default.pth"
    seen = provenance.seen_from(None, weights, file_sha256(weights))
    if seen is None:
        raise SystemExit("weights/default.pth.seen.json is missing or names other weights")
    with tempfile.TemporaryDirectory() as tmp:
        images = scan_test_set(tiny_jpeg_farm(Path(tmp) / "set", args.images)).images
        print(f"data: {len(images):,} images (hard links to 16 tiny JPEGs); seen: {len(seen.train)} training + "
              f"{len(seen.val)} validation digests ({seen.where})\n")
        cases = {"check with the size filter (shipped)": lambda: seen.test_digests(images),
                 "digest every file (no filter)": lambda: provenance.digests(images["path"])}
        times = {k: [] for k in cases}
        for _ in range(args.runs):  # interleaved, so drift on a shared machine hits both alike
            for name, fn in cases.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    base = median(times["digest every file (no filter)"])
    print(table(["case", "wall s (median)", "x faster than digesting all"],
          [[name, f"{median(t):.3f}", f"{base / median(t):.0f}x"] for name, t in times.items()]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
