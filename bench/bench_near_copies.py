"""The near-copy check (core.near_copies): hashing speed on CIPLab's 600x600 JPEGs (JPEG
draft decode against a full decode), the disk cache of hashes (first check against a second),
and the pair search (multi-index blocks against brute force) of a 100,000-image test set
against 1,632 training hashes, with its peak memory.

    .venv/bin/python bench/bench_near_copies.py            # 256 images hashed, 3 runs; 100,000 x 1,632 search
    .venv/bin/python bench/bench_near_copies.py --quick    # 64 images, 1 run; 10,000 x 1,632
"""
from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, ciplab_subset, header, median, table  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=256, help="CIPLab files to hash")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--test", type=int, default=100_000, help="hashes in the searched test set")
    ap.add_argument("--quick", action="store_true", help="64 images, 1 run, 10,000 test hashes")
    args = ap.parse_args()
    if args.quick:
        args.images, args.runs, args.test = 64, 1, 10_000
    sys.path.insert(0, str(REPO))
    from PIL import Image

    from core import near_copies as nc

    header("Near-copy check: perceptual hashing and pair search")
    paths = ciplab_subset(args.images)

    def full_decode(p):
        with Image.open(p) as im:
            return nc.image_hash(im)

    cases = {"draft decode (shipped)": lambda: [nc.file_hash(p) for p in paths],
             "full decode": lambda: [full_decode(p) for p in paths]}
    times = {k: [] for k in cases}
    for _ in range(args.runs):  # interleaved: drift on a shared machine hits both alike
        for name, fn in cases.items():
            start = time.perf_counter()
            hashes = fn()
            times[name].append(time.perf_counter() - start)
    bits = [int(np.bitwise_count(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())
            for a, b in zip(cases["draft decode (shipped)"](), hashes)]
    print(f"hashing {len(paths)} CIPLab JPEGs (600x600), median of {args.runs} runs; draft against full decode: the same "
          f"hash for {bits.count(0)} of {len(paths)}, at most {max(bits)} of 256 bits apart\n")
    print(table(["decode", "images/s", "x full decode"],
                [[k, f"{len(paths) / median(t):.0f}", f"{median(times['full decode']) / median(t):.2f}x"] for k, t in times.items()]))

    import tempfile

    with tempfile.TemporaryDirectory() as cache:  # the disk cache: a set hashed once, read back after
        cold, warm = [], []
        for _ in range(args.runs):
            store = Path(cache) / "phash" / "hashes.csv"
            store.unlink(missing_ok=True)
            for out in (cold, warm):
                start = time.perf_counter()
                nc.cached_hashes(paths, cache)
                out.append(time.perf_counter() - start)
    print(f"\nhash cache ({len(paths)} files, median of {args.runs}): first check {median(cold):.2f} s (hashing), "
          f"again {median(warm) * 1000:.0f} ms (stat + read the cache): {median(cold) / median(warm):.0f}x")

    rng = np.random.default_rng(0)
    train = [rng.bytes(32) for _ in range(1632)]
    test = [rng.bytes(32) for _ in range(args.test)]
    # a few planted copies, so that both methods have pairs to agree on
    test[::997] = [bytes(b ^ (1 if k == 0 else 0) for k, b in enumerate(h)) for h in train[: len(test[::997])]]
    rows, found = [], {}
    for method in ("blocks", "brute"):
        times, peaks = [], []
        for _ in range(args.runs):
            tracemalloc.start()
            start = time.perf_counter()
            found[method] = nc.near_pairs(test, train, method=method)
            times.append(time.perf_counter() - start)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        rows.append([method, f"{median(times):.3f}", f"{max(peaks) / 2**20:.0f}", len(found[method])])
    same = found["blocks"].equals(found["brute"])
    print(f"\npair search: {args.test:,} test hashes against 1,632 training hashes (the shipped default's training "
          f"+ validation count), {len(test[::997])} of them planted copies; median of {args.runs}; "
          f"the same pairs from both: {same}\n")
    print(table(["method", "seconds", "peak MiB", f"pairs within {nc.MAX_DISTANCE} bits"], rows))
    print(f"blocks (multi-index hashing, the default at this size) / brute: "
          f"{float(rows[1][1]) / float(rows[0][1]):.0f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
