"""Inference throughput: the report's test.py loop against the project's path.

Same folder of 600x600 JPEGs (a subset of the real data, linked, never copied), same
checkpoint, one run, rounds interleaved so that load on the shared machine hits every
path alike; medians of the rounds. Also: the largest |dP(real)| of each path against
the report's loop and how many verdicts flip at 0.5.

    .venv/bin/python bench/bench_inference.py            # 64 images, 3 rounds
    .venv/bin/python bench/bench_inference.py --quick    # 32 images, 1 round
    .venv/bin/python bench/bench_inference.py --models default,weights/other.pth   # any checkpoints
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, ciplab_subset, header, link_subset, median, table  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402
from torchvision import transforms  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=64, help="how many 600x600 JPEGs (default 64)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per path (default 3; median reported)")
    ap.add_argument("--models", default="resnet50,default", help="comma list: resnet50 (random weights), default (weights/default.pth), or checkpoint paths")
    ap.add_argument("--workers", default="auto", help="comma list of DataLoader workers for the project path, e.g. 0,1,2 (default: auto)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="32 images, 1 round")
    return ap.parse_args()


# --- (a) the report's test.py, literally: FaceDataset + val_transform + DataLoader(32) ----
class ReportFaceDataset(Dataset):
    def __init__(self, root_dir, transform=None):
        self.transform, self.samples, self.labels = transform, [], []
        for label, subdir in enumerate(["fake", "real"]):  # 0=fake, 1=real
            folder = os.path.join(root_dir, subdir)
            for name in sorted(os.listdir(folder)):
                self.samples.append(os.path.join(folder, name))
                self.labels.append(label)

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, idx):
        image = Image.open(self.samples[idx]).convert("RGB")
        return self.transform(image), self.labels[idx]


def report_loop(model, root, size, device) -> dict[str, float]:
    val_transform = transforms.Compose([
        transforms.Resize((size, size)),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    ds = ReportFaceDataset(root, val_transform)
    loader = DataLoader(ds, batch_size=32, shuffle=False, num_workers=0)
    out = []
    model.eval()
    with torch.no_grad():
        for images, _ in loader:
            out.append(torch.sigmoid(model(images.to(device))).squeeze(1).cpu())
    p = torch.cat(out).double().numpy()
    return {os.path.relpath(s, root): float(v) for s, v in zip(ds.samples, p)}


# --- (b) the project's path ---------------------------------------------------------
def project_path(detector, test_set, settings, cache_dir) -> dict[str, float]:
    from core.inference import predict_test_set

    preds = predict_test_set(detector, test_set, settings, use_cache=False, cache_dir=cache_dir)
    return dict(zip(preds.frame["relpath"], preds.frame["p_real"]))


@torch.no_grad()
def calibrate_spread(model, images: torch.Tensor) -> None:
    """Rescale the last layer so P(real) of these images spreads over (0, 1) (logit mean 0,
    std 2): random weights otherwise saturate at 0 or 1 and no verdict could ever flip."""
    last = model.classifier[-1]
    z = model(images).squeeze(1)
    a = 2.0 / float(z.std().clamp_min(1e-12))
    last.weight.mul_(a)
    last.bias.mul_(a).sub_(float(z.mean()) * a)


def load(model_name: str, device: str, tmp: Path, sample: torch.Tensor):
    from core.checkpoint import load_detector, save_checkpoint
    from core.model import build_model
    from core.preprocess import Preprocessing

    if model_name == "resnet50":
        torch.manual_seed(0)
        model = build_model("resnet50").eval()  # the report's architecture, random weights
        calibrate_spread(model, sample)
        path = save_checkpoint(tmp / "resnet50_random.pth", model, Preprocessing(224), threshold_source="bench")
        return load_detector(path, device), "ResNet50, random weights, 224 px"
    if model_name != "default":  # a checkpoint file (e.g. an ensemble made by `python -m core ensemble`)
        det = load_detector(model_name, device)
        return det, f"{Path(model_name).name}: {det.backbone}, {det.preprocessing.input_size} px"
    path = REPO / "weights" / "default.pth"
    if not path.exists():
        sys.path.insert(0, str(REPO / "tests"))
        from conftest import make_checkpoint

        path = make_checkpoint(tmp / "lite0_random.pth", input_size=384)
        return load_detector(path, device), "EfficientNet-Lite0, random weights (weights/default.pth absent), 384 px"
    det = load_detector(path, device)
    return det, f"EfficientNet-Lite0 weights/default.pth, {det.preprocessing.input_size} px"


def main() -> int:
    args = parse_args()
    if args.quick:
        args.images, args.rounds = 32, 1
    from core.data import scan_test_set
    from core.inference import InferenceSettings, effective_workers
    from core.preprocess import Preprocessing, open_image

    header("Inference throughput: report's test.py loop vs the project's path", args.device)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = link_subset(ciplab_subset(args.images), tmp / "set")
        test_set = scan_test_set(root)
        warm_root = link_subset(ciplab_subset(8), tmp / "warm")
        print(f"data: {len(test_set)} JPEGs 600x600 from {ciplab_subset(1)[0].parent.parent} "
              f"({test_set.n_real} real, {test_set.n_fake} fake), linked into a temp folder\n")
        sample = torch.stack([Preprocessing(224).eval_transform()(open_image(str(p))[0]) for p in ciplab_subset(16)])
        worker_choices = [None] if args.workers == "auto" else [int(w) for w in args.workers.split(",")]
        for model_name in args.models.split(","):
            detector, desc = load(model_name, args.device, tmp, sample)
            size = detector.preprocessing.input_size
            # The report's code loads its own model: a separate copy in the default layout
            # (the project's path runs its own channels_last, folded copy).
            report_model = copy.deepcopy(detector.model).to(memory_format=torch.contiguous_format)
            paths = {"report loop (float32, no workers)": lambda r=root: report_loop(report_model, r, size, device)}
            for w in worker_choices:
                for fast in (False, True):
                    s = InferenceSettings(fast=fast, workers=w)
                    name = f"project {s.precision}, workers={effective_workers(s, device)}"
                    paths[name] = lambda r=root, s=s: project_path(detector, scan_test_set(r), s, tmp / "cache")
            for fn in paths.values():  # untimed: one-time set-up (model copies, oneDNN kernels)
                fn(warm_root)
            times = {k: [] for k in paths}
            scores = {}
            for _ in range(args.rounds):
                for name, fn in paths.items():
                    start = time.perf_counter()
                    scores[name] = fn()
                    times[name].append(time.perf_counter() - start)
            ref_name = next(iter(paths))
            keys = sorted(scores[ref_name])
            ref = np.array([scores[ref_name][k] for k in keys])
            rows = []
            for name in paths:
                p = np.array([scores[name][k] for k in keys])
                rate = len(keys) / median(times[name])
                base = len(keys) / median(times[ref_name])
                flips = int(((p >= 0.5) != (ref >= 0.5)).sum())
                rows.append([name, f"{rate:.2f}", f"{rate / base:.2f}x", f"{np.abs(p - ref).max():.2e}", flips])
            print(f"## {desc}; {len(keys)} images, median of {args.rounds} round(s)")
            print(table(["path", "images/s", "vs report", "max |dP(real)| vs report", "verdict flips at 0.5"], rows))
            print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
