"""A test set that mixes sharp and blurred faces, to see the Slices page's fine-detail rows at work.

    python tools/blur_mix.py --data data/ciplab_split/val --out data/val_plus_blur
    python -m core evaluate --data data/val_plus_blur      # then the dashboard's Slices page on it

Every image under ``--data`` is linked (never copied), and every ``--every``-th image of each
class (in name order) also gets a copy blurred with Gaussian ``--sigma`` px, saved as JPEG
quality 95 under the name ``blur{sigma}_<name>.jpg`` in the same class folder. The README's
fine-detail slice numbers come from the validation split with the defaults (205 images).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PIL import ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import scan_test_set  # noqa: E402
from core.preprocess import ImageError, open_image  # noqa: E402


def blur_mix(data: str, out: str, every: int = 4, sigma: float = 2.0) -> dict[str, int]:
    """Write the mix; return how many files each class folder of ``out`` holds."""
    if every < 1 or sigma <= 0:
        raise SystemExit(f"error: --every must be at least 1 and --sigma above 0, got {every} and {sigma}")
    images = scan_test_set(data).images.sort_values("relpath")
    tag = f"blur{sigma:g}_"
    for label, name in ((1, "real"), (0, "fake")):
        folder = Path(out) / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(images.loc[images["label"] == label, "path"]):
            path = Path(path)
            link = folder / path.name
            if not link.exists():
                os.symlink(path.resolve(), link)
            if i % every:
                continue
            try:
                image, _ = open_image(path)
            except ImageError as exc:  # named and skipped, as evaluate does
                print(f"skipped {path}: {exc}", file=sys.stderr)
                continue
            image.filter(ImageFilter.GaussianBlur(sigma)).save(folder / f"{tag}{path.stem}.jpg", quality=95)
    return {name: len(list((Path(out) / name).iterdir())) for name in ("real", "fake")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="test set folder (real/, fake/)")
    ap.add_argument("--out", required=True, help="folder to write the mix to")
    ap.add_argument("--every", type=int, default=4, help="blur a copy of every N-th image of each class (default 4)")
    ap.add_argument("--sigma", type=float, default=2.0, help="Gaussian blur sigma in pixels (default 2)")
    args = ap.parse_args()
    counts = blur_mix(args.data, args.out, args.every, args.sigma)
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
