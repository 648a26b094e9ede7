"""What the fine-detail measure costs the inference pass.

The inference pass measures each image's ``detail_share`` (``core.quality``) as it decodes
it, for the Slices page's fine-detail rows. This times ``predict_test_set`` on the same
folder of 600x600 CIPLab JPEGs (linked, never copied) with the measure and with it
replaced by a constant, rounds interleaved so the shared machine's load hits both arms
alike, no cache; medians of the rounds. Also the measure alone, per image.

    .venv/bin/python bench/bench_detail.py                 # default weights, 64 images, 3 rounds
    .venv/bin/python bench/bench_detail.py --fast          # the bfloat16 path, where it weighs more
    .venv/bin/python bench/bench_detail.py --quick         # 16 images, 1 round
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, ciplab_subset, header, link_subset, median, table  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=str(REPO / "weights" / "default.pth"))
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fast", action="store_true", help="time the --fast (bfloat16, draft decode) path")
    ap.add_argument("--quick", action="store_true", help="16 images, 1 round")
    args = ap.parse_args()
    if args.quick:
        args.images, args.rounds = 16, 1

    import core.inference as inference
    from core.checkpoint import load_detector
    from core.data import scan_test_set
    from core.inference import InferenceSettings, predict_test_set
    from core.preprocess import open_image
    from core.quality import detail_share

    header("fine-detail measure in the inference pass")
    paths = ciplab_subset(args.images)
    detector = load_detector(args.weights, "cpu")
    settings = InferenceSettings(fast=args.fast)
    with tempfile.TemporaryDirectory() as tmp:
        test_set = scan_test_set(link_subset(paths, Path(tmp) / "set"))
        arms = {"with the measure": detail_share, "measure stubbed out": lambda image: 0.0}
        times: dict[str, list[float]] = {name: [] for name in arms}
        predict_test_set(detector, test_set, settings, use_cache=False, cache_dir=Path(tmp) / "c")  # warm-up
        for _ in range(args.rounds):
            for name, fn in arms.items():
                inference.detail_share = fn
                start = time.perf_counter()
                predict_test_set(detector, test_set, settings, use_cache=False, cache_dir=Path(tmp) / "c")
                times[name].append(time.perf_counter() - start)
        inference.detail_share = detail_share
        images = [open_image(p)[0] for p in paths]
        alone = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for im in images:
                detail_share(im)
            alone.append((time.perf_counter() - start) / len(images))

    base = median(times["measure stubbed out"])
    rows = [[name, f"{len(paths) / median(t):.2f}", f"{median(t) / base:.3f}x"] for name, t in times.items()]
    print(table(["inference pass (" + ("--fast" if args.fast else "float32") + ")", "images/s", "time vs stubbed"], rows))
    print(f"\nthe measure alone: {median(alone) * 1000:.1f} ms per image (median of {args.rounds} rounds over "
          f"{len(paths)} decoded images, one thread)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
