"""A test set that leaks, to see ``near-copies`` and the Data check page at work.

    python tools/near_demo.py --split data/ciplab_split --out data/near_demo
    python -m core near-copies --data data/near_demo --other data/ciplab_split/train
    python -m core near-copies --data data/near_demo --weights weights/default.pth

The validation split (``--split``/val) linked as it is, plus ``--train-copies`` training pictures
of each class saved again at half size as JPEG quality 70 (``resaved_<name>.jpg``: a leak no byte
digest sees) and ``--png-copies`` validation pictures of each class saved again as PNG
(``png_<name>.png``: one picture counted twice). The pictures are drawn with ``--seed``, so the
README's numbers come back.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import scan_test_set  # noqa: E402


def _save_again(path: Path, out: Path, half: bool = False, **options) -> None:
    """``path``'s picture saved as ``out`` (at half size with ``half``); an unreadable file is said and skipped."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
    except (OSError, ValueError) as exc:
        print(f"skipped {path}: not a readable image ({type(exc).__name__})", file=sys.stderr)
        return
    if half:
        im = im.resize((im.width // 2, im.height // 2), Image.Resampling.BILINEAR)
    im.save(out, **options)


def near_demo(split: str, out: str, train_copies: int = 2, png_copies: int = 1, seed: int = 0) -> dict[str, int]:
    """Write the set; return how many files each class folder of ``out`` holds."""
    train, val = (scan_test_set(Path(split) / part).images.sort_values("relpath") for part in ("train", "val"))
    rng = random.Random(seed)
    counts = {}
    for label, name in ((1, "real"), (0, "fake")):
        folder = Path(out) / name
        folder.mkdir(parents=True, exist_ok=True)
        val_paths = [Path(p) for p in val.loc[val["label"] == label, "path"]]
        for path in val_paths:
            if not (folder / path.name).exists():
                os.symlink(path.resolve(), folder / path.name)
        train_paths = [Path(p) for p in train.loc[train["label"] == label, "path"]]
        for path in rng.sample(train_paths, min(train_copies, len(train_paths))):
            _save_again(path, folder / f"resaved_{path.stem}.jpg", half=True, quality=70)
        for path in rng.sample(val_paths, min(png_copies, len(val_paths))):
            _save_again(path, folder / f"png_{path.stem}.png")
        counts[name] = sum(1 for _ in folder.iterdir())
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", required=True, help="a folder with train/ and val/ (python -m core split)")
    p.add_argument("--out", required=True)
    p.add_argument("--train-copies", type=int, default=2, help="training pictures re-saved, per class")
    p.add_argument("--png-copies", type=int, default=1, help="validation pictures saved again as PNG, per class")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    counts = near_demo(args.split, args.out, args.train_copies, args.png_copies, args.seed)
    print(f"wrote {args.out}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
