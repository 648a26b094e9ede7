"""How often the tester's no-face check (``core.face.has_face``) and the face crop's own cascade
(``core.face.crop_face``) find a face in a folder of face photos: the rates README and
``core/face.py`` quote come from here.

    python tools/face_check_rate.py --data ../shared/datasets/ciplab_train
    python tools/face_check_rate.py --data data/ciplab_split/val

Prints, per class folder (real/, fake/), how many images each finds a face in, the names of
the first images the check misses, and each detector's time per image.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import scan_test_set  # noqa: E402
from core.face import crop_face, has_face  # noqa: E402
from core.preprocess import ImageError, open_image  # noqa: E402


def rates(data: str | Path, show: int = 10) -> dict:
    """{class: {"images", "has_face", "crop_face", "missed"}} and each detector's mean seconds an image."""
    images = scan_test_set(data).images
    out, spent, n = {}, {"has_face": 0.0, "crop_face": 0.0}, 0
    for label, cls in ((1, "real"), (0, "fake")):
        row = {"images": 0, "has_face": 0, "crop_face": 0, "missed": []}
        for path, rel in zip(images.loc[images["label"] == label, "path"], images.loc[images["label"] == label, "relpath"]):
            try:
                image = open_image(path)[0]
            except ImageError as exc:
                print(f"skipped: {exc}", file=sys.stderr)
                continue
            t0 = time.perf_counter()
            found = has_face(image)
            t1 = time.perf_counter()
            row["crop_face"] += crop_face(image).found
            spent["has_face"] += t1 - t0
            spent["crop_face"] += time.perf_counter() - t1
            row["images"] += 1
            row["has_face"] += found
            if not found and len(row["missed"]) < show:
                row["missed"].append(rel)
            n += 1
        out[cls] = row
    return {"classes": out, "seconds_per_image": {k: v / max(n, 1) for k, v in spent.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a folder holding real/ and fake/")
    args = p.parse_args(argv)
    r = rates(args.data)
    for cls, row in r["classes"].items():
        print(f"{cls}: has_face {row['has_face']}/{row['images']}, crop_face {row['crop_face']}/{row['images']}"
              + (f"; has_face missed {', '.join(row['missed'])}" if row["missed"] else ""))
    print(" · ".join(f"{k} {v * 1000:.0f} ms an image" for k, v in r["seconds_per_image"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
