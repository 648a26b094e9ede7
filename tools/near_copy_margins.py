"""Where ``core.near_copies.MAX_DISTANCE`` comes from: how far a re-saved copy moves a face's
perceptual hash, against how close two different faces of a data set come.

    python tools/near_copy_margins.py --data ../shared/datasets/ciplab_train [--copies 100] [--seed 0]

It hashes every image of ``--data`` (real/ and fake/), prints the closest pair of different
files and the percentiles of each file's nearest-neighbour distance, then re-saves ``--copies``
randomly drawn files four ways (PNG, JPEG quality 60, half size, 300 px at JPEG quality 70)
and prints the largest and median distance of each kind of copy from its original.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import hash_search  # noqa: E402
from core import near_copies as nc  # noqa: E402
from core.data import scan_test_set  # noqa: E402


def resaved(image: Image.Image, kind: str) -> Image.Image:
    """``image`` saved again one of four ways and read back."""
    buf = io.BytesIO()
    if kind == "png":
        image.save(buf, "PNG")
    elif kind == "jpeg60":
        image.save(buf, "JPEG", quality=60)
    elif kind == "half":
        return image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
    elif kind == "300px_jpeg70":
        image.resize((300, 300)).save(buf, "JPEG", quality=70)
    else:
        raise ValueError(kind)
    return Image.open(buf)


KINDS = ("png", "jpeg60", "half", "300px_jpeg70")


def margins(paths: list, copies: int, seed: int) -> dict:
    """nearest pair of different files, nearest-neighbour percentiles, and per kind of copy its distances."""
    hashes = nc.hash_files(paths)
    rows, words = hash_search._as_words(hashes)
    d = hash_search.distances(words, words)
    np.fill_diagonal(d, 10_000)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    out = {"closest": (int(d[i, j]), str(paths[rows[i]]), str(paths[rows[j]])),
           "nearest_percentiles": dict(zip((0, 1, 50), np.percentile(d.min(1), [0, 1, 50]).tolist())), "copies": {}}
    pick = np.random.default_rng(seed).choice(rows, min(copies, len(rows)), replace=False)
    for kind in KINDS:
        dist = []
        for k in pick:
            with Image.open(paths[k]) as im:
                copy = resaved(im.convert("RGB"), kind)
            buf = io.BytesIO()
            copy.convert("RGB").save(buf, "PNG")  # hashed from a file, as the check does
            h = nc.file_hash(io.BytesIO(buf.getvalue()))
            dist.append(int(np.bitwise_count(np.frombuffer(h, np.uint8) ^ np.frombuffer(hashes[k], np.uint8)).sum()))
        out["copies"][kind] = {"max": max(dist), "median": float(np.median(dist))}
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--copies", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    paths = scan_test_set(args.data).images["path"].tolist()
    m = margins(paths, args.copies, args.seed)
    dist, a, b = m["closest"]
    print(f"{len(paths)} images; closest two different files: {dist} bits ({a} and {b})")
    print("nearest-neighbour distance percentiles (0 / 1 / 50): " + " / ".join(f"{v:.0f}" for v in m["nearest_percentiles"].values()))
    for kind, c in m["copies"].items():
        print(f"{kind:14s} copies of {args.copies}: at most {c['max']} bits from the original (median {c['median']:.0f})")
    print(f"threshold in core.near_copies: {nc.MAX_DISTANCE} bits")


if __name__ == "__main__":
    main()
