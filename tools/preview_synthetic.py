"""See what ``train --synthetic-fakes`` trains on: a contact sheet of real faces, the
synthetic fakes made from them and where they were pasted.

    python tools/preview_synthetic.py --data DIR --out sheet.png [--n 8] [--size 256] [--seed 0]

``DIR`` is a test-set folder (``real/`` and ``fake/``) or a split from ``python -m core split``
(its ``train/`` is used). Columns alternate, starting with a self-blend (the same face,
altered), then a part swap from the next real face: the two kinds training mixes half and half.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.blend import synthetic_fake  # noqa: E402
from core.data import DatasetError, scan_test_set  # noqa: E402
from core.train_data import decode_all  # noqa: E402


def contact_sheet(arrays: np.ndarray, seed: int = 0) -> np.ndarray:
    """(3 * H, N * W, 3) uint8: originals, synthetic fakes, masks (white = pasted)."""
    torch.manual_seed(seed)
    columns = []
    for i, target in enumerate(arrays):
        donor = arrays[(i + 1) % len(arrays)] if i % 2 else None
        fake, mask = synthetic_fake(target, donor)
        columns.append(np.concatenate([target, fake, np.repeat((mask[..., None] * 255).astype(np.uint8), 3, axis=2)]))
    return np.concatenate(columns, axis=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    root = Path(args.data)
    root = root / "train" if (root / "train").is_dir() else root
    try:
        images = scan_test_set(root).images
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reals = images[images["label"] == 1]["path"].tolist()[: args.n]
    if len(reals) < 2:
        print(f"error: {root} has {len(reals)} real face(s); a part swap needs at least 2", file=sys.stderr)
        return 2
    Image.fromarray(contact_sheet(decode_all(reals, args.size, 2), args.seed)).save(args.out)
    print(f"{len(reals)} real faces -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
