"""Score one checkpoint on a test set at several input sizes (a FixRes check).

A model trained on RandomResizedCrop crops sees faces a little larger in training than in the
squashed test image; Touvron et al. (FixRes, 2019) found such models often score better at a
larger test size. This probe says whether that holds for a detector before anyone spends a
fine-tune on it:

    python tools/probe_input_size.py --weights artifacts/members/lite0_384_noatt_synthetic_gpu.pth \
        --data data/ciplab_split/val --sizes 320,384,448,512

Each size resizes the decoded file with the checkpoint's own rule (a squash, as ``evaluate``)
and runs float32 on the CPU. It prints ROC-AUC and accuracy at 0.5 per size; the size the
checkpoint was trained at is marked. Ensembles are refused: probe their members.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.checkpoint import load_detector  # noqa: E402
from core.data import scan_test_set  # noqa: E402
from core.metrics import ThresholdSweep  # noqa: E402
from core.preprocess import ImageError, open_image  # noqa: E402


def probe(weights: str, data: str, sizes: list[int], batch_size: int = 16) -> list[dict]:
    det = load_detector(weights)
    if hasattr(det.model, "members"):
        raise SystemExit(f"{weights} is an ensemble: probe its members (python -m core unpack)")
    test_set = scan_test_set(data, require_both=True)
    images, label = [], []
    for path, y in zip(test_set.images["path"], test_set.images["label"]):
        try:
            images.append(open_image(path)[0])
            label.append(int(y))
        except ImageError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
    label = np.array(label)
    pp, rows = det.preprocessing, []
    for size in sizes:
        tf = dataclasses.replace(pp, input_size=size).eval_transform()  # the checkpoint's own rule at this size
        t0, logits = time.perf_counter(), []
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                logits.append(det.model(torch.stack([tf(im) for im in images[i:i + batch_size]])).float().reshape(-1))
        p_real = torch.sigmoid(torch.cat(logits)).numpy()
        sweep = ThresholdSweep(label, p_real)
        rows.append({"size": size, "trained_size": size == pp.input_size, "roc_auc": sweep.roc().auc,
                     "accuracy": sweep.confusion(0.5).accuracy, "seconds": time.perf_counter() - t0})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", required=True, help="test set folder (real/, fake/)")
    ap.add_argument("--sizes", required=True, help="comma-separated input sizes, e.g. 320,384,448")
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = probe(args.weights, args.data, [int(s) for s in args.sizes.split(",")])
    print(f"{'size':>6}  {'ROC-AUC':>8}  {'acc@0.5':>8}  seconds")
    for r in rows:
        mark = "  (trained size)" if r["trained_size"] else ""
        print(f"{r['size']:>6}  {r['roc_auc']:8.4f}  {r['accuracy']:8.4f}  {r['seconds']:6.1f}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
