"""Do native-resolution crops of the face parts carry signal the whole face does not?

The CIPLab fakes are composites: eyes, nose or mouth pasted in, named by the file name
(``core.regions``). A model that looks at each part at full resolution (a 600 px face's
eye box is ~156 px; a 384 px model sees it at ~100 px) might see the pasted edges better.
Before anyone builds and trains such a model, this probe asks the cheap question with a
frozen backbone:

    python tools/probe_part_crops.py --train data/ciplab_split/train --val data/ciplab_split/val \
        [--weights CHECKPOINT] [--crop 160] [--blend WEIGHTS [--blend-share 0.25]]

For each image it crops the four canonical part boxes (squared around their centres, at the
file's own resolution), resizes each to ``--crop`` px, and embeds it with the frozen backbone
(ImageNet Lite0 without ``--weights``; a trained checkpoint's backbone with it). One logistic
regression per part learns "this part was replaced" on the training split's known part labels
(reals: no part); a fake scores by noisy-or over its parts. The control is the same backbone's
whole face at 224 px with one logistic regression on the image label. It prints validation
ROC-AUC for each part (part labels), for the parts combined and for the whole face.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import scan_test_set  # noqa: E402
from core.preprocess import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from core.regions import CANONICAL_BOXES, REGION_NAMES, replaced_regions  # noqa: E402


def part_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The canonical boxes as squares (side = the box's longer side) around their centres, in pixels."""
    out = []
    for name in REGION_NAMES:
        x0, y0, x1, y1 = CANONICAL_BOXES[name]
        cx, cy = (x0 + x1) / 2 * width, (y0 + y1) / 2 * height
        side = max((x1 - x0) * width, (y1 - y0) * height)
        out.append((int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
    return out


def part_labels(path: str, label: int) -> list[int]:
    """Per part: 1 replaced, 0 not, -1 unknown (a fake whose name does not say)."""
    parts = () if label == 1 else replaced_regions(path)
    return [-1 if parts is None else int(name in parts) for name in REGION_NAMES]


def _resize(t: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(t[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]


@torch.inference_mode()
def embed_split(net, folder: str, crop: int, batch: int = 32) -> dict[str, np.ndarray]:
    """parts (N, 4, C), whole (N, C), label (N,) with 1 = real, part (N, 4) as ``part_labels``."""
    frame = scan_test_set(folder, require_both=True).images
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    parts, whole, pending = [], [], []

    def flush():
        crops = torch.stack([c for item in pending for c in item[0]])
        faces = torch.stack([item[1] for item in pending])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            parts.append(net.embed(crops).float().view(len(pending), len(REGION_NAMES), -1).numpy())
            whole.append(net.embed(faces).float().numpy())
        pending.clear()

    for path in frame["path"]:
        with Image.open(path) as im:
            rgb = np.array(im.convert("RGB"))
        t = (torch.from_numpy(rgb).permute(2, 0, 1).float() / 255 - mean) / std
        crops = [_resize(t[:, y0:y1, x0:x1], crop) for x0, y0, x1, y1 in part_boxes(rgb.shape[1], rgb.shape[0])]
        pending.append((crops, _resize(t, 224)))
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    return {"parts": np.concatenate(parts), "whole": np.concatenate(whole), "label": frame["label"].to_numpy(),
            "part": np.array([part_labels(p, y) for p, y in zip(frame["path"], frame["label"])])}


def probe(train: dict, val: dict) -> tuple[dict[str, float], np.ndarray]:
    """Validation ROC-AUCs: per part (on part labels), parts combined and whole face (on image
    labels); and the parts' combined score of each validation image (higher = more likely real).
    A part never replaced in the training split (or never in the validation split) gets NaN and
    adds nothing to the combination."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    out = {}
    p_fake = np.zeros((len(val["label"]), len(REGION_NAMES)))
    for i, name in enumerate(REGION_NAMES):
        known = train["part"][:, i] >= 0
        if len(np.unique(train["part"][known, i])) < 2:  # never (or always) replaced in training: nothing to learn
            out[f"part {name}"] = float("nan")
            continue
        clf = LogisticRegression(C=0.1, max_iter=3000).fit(train["parts"][known, i], train["part"][known, i])
        p_fake[:, i] = clf.predict_proba(val["parts"][:, i])[:, 1]
        known_v = val["part"][:, i] >= 0
        both = len(np.unique(val["part"][known_v, i])) == 2
        out[f"part {name}"] = roc_auc_score(val["part"][known_v, i], p_fake[known_v, i]) if both else float("nan")
    parts_score = np.log1p(-p_fake).sum(1)  # log P(no part replaced)
    out["parts combined (noisy-or)"] = roc_auc_score(val["label"], parts_score)
    whole = LogisticRegression(C=0.1, max_iter=3000).fit(train["whole"], train["label"])
    out["whole face 224 px"] = roc_auc_score(val["label"], whole.predict_proba(val["whole"])[:, 1])
    return out, parts_score


def blend(val_dir: str, weights: str, parts_score: np.ndarray, share: float) -> tuple[float, float]:
    """ROC-AUC of ``weights`` on ``val_dir`` alone and with the parts' score rank-averaged in at
    ``share`` (float32 predictions, from the prediction cache when present)."""
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    from core.checkpoint import load_detector
    from core.inference import predict_test_set

    frame = predict_test_set(load_detector(weights), scan_test_set(val_dir, require_both=True)).frame
    order = scan_test_set(val_dir, require_both=True).images["relpath"]  # the order embed_split used
    p_real = frame.set_index("relpath").loc[order, "p_real"].to_numpy()
    label = frame.set_index("relpath").loc[order, "label"].to_numpy()
    mixed = (1 - share) * rankdata(p_real) + share * rankdata(parts_score)
    return roc_auc_score(label, p_real), roc_auc_score(label, mixed)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--weights", help="a trained checkpoint whose backbone to use (default: ImageNet Lite0)")
    p.add_argument("--crop", type=int, default=160, help="side of each resized part crop, px")
    p.add_argument("--blend", metavar="WEIGHTS", help="also: does the parts' score add to this model's? (rank average)")
    p.add_argument("--blend-share", type=float, default=0.25, help="the parts' share in that rank average")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.weights:
        from core.checkpoint import load_detector

        net = load_detector(args.weights).model.eval()
        if hasattr(net, "members"):
            raise SystemExit(f"{args.weights} is an ensemble: probe its members (python -m core unpack)")
    else:
        from core.model import build_model

        net = build_model("efficientnet_lite0", pretrained="auto", attention=False).eval()
    t0 = time.perf_counter()
    train, val = embed_split(net, args.train, args.crop), embed_split(net, args.val, args.crop)
    print(f"embedded {len(train['label'])} + {len(val['label'])} images in {time.perf_counter() - t0:.0f} s")
    aucs, parts_score = probe(train, val)
    for name, auc in aucs.items():
        print(f"{name:28s} val ROC-AUC {auc:.4f}")
    if args.blend:
        alone, mixed = blend(args.val, args.blend, parts_score, args.blend_share)
        print(f"{Path(args.blend).name}: val ROC-AUC {alone:.4f} alone, {mixed:.4f} with the parts' score at rank share "
              f"{args.blend_share}")


if __name__ == "__main__":
    main()
