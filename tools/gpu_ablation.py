"""Train the ablation grid with `python -m core train`, one run after another, within a
time budget; keep every model card and the best checkpoints (by validation ROC-AUC).

Used on a lent GPU to pick the shipped model (see weights/default.md):

    python tools/gpu_ablation.py --data DIR --runs RUNDIR --out OUTDIR --budget-s 450
    python tools/gpu_ablation.py ... --grid grid.json   # [[name, what, [args...]], ...] instead of GRID

Runs go in priority order; a run is only started while the budget allows it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

# (name, what changed, extra arguments) — the first row is the report's recipe.
GRID = [
    ("lite0_384", "EfficientNet-Lite0, 384 px, full fine-tuning", ["--image-size", "384"]),
    ("lite0_512", "Lite0, 512 px", ["--image-size", "512"]),
    ("lite2_512", "Lite2, 512 px", ["--backbone", "efficientnet_lite2", "--image-size", "512"]),
    ("lite0_224", "Lite0, 224 px (the report's resolution)", ["--image-size", "224"]),
    ("lite0_384_noatt", "Lite0 384, no attention block", ["--image-size", "384", "--no-attention"]),
    ("lite0_384_partial", "Lite0 384, first half of backbone frozen", ["--image-size", "384", "--freeze", "partial"]),
    ("lite0_384_head", "Lite0 384, backbone frozen (head only)", ["--image-size", "384", "--freeze", "backbone"]),
    ("lite0_384_light", "Lite0 384, light augmentation", ["--image-size", "384", "--augment", "light"]),
    ("lite0_600", "Lite0, 600 px (native)", ["--image-size", "600"]),
    ("lite2_384", "Lite2, 384 px", ["--backbone", "efficientnet_lite2", "--image-size", "384"]),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=450)
    ap.add_argument("--keep", type=int, default=4, help="checkpoints to copy to --out")
    ap.add_argument("--workers", type=int, default=12)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--grid", default=None, help="JSON file of [name, what, [extra args]] rows, run instead of GRID")
    ap.add_argument("extra", nargs="*", help="arguments for every run, after --")
    args = ap.parse_args()
    runs, out = Path(args.runs), Path(args.out)
    runs.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    start, results, last_cost = time.time(), [], 0.0
    grid = json.loads(Path(args.grid).read_text()) if args.grid else GRID
    for name, what, extra in grid:
        if args.only and name not in args.only:
            continue
        elapsed = time.time() - start
        if elapsed + max(last_cost, 20) > args.budget_s:
            print(f"[budget] skipping {name}: {elapsed:.0f}s used of {args.budget_s:.0f}s", flush=True)
            continue
        ckpt = runs / f"{name}.pth"
        card_path = ckpt.with_suffix(".json")
        if ckpt.exists() and card_path.exists():  # a retry on the same machine: keep the run already made
            print(f"[kept] {name}: {ckpt} exists; its card is read, nothing is trained", flush=True)
            kept = json.loads(card_path.read_text())
            results.append({**kept, "name": name, "what": what, "wall_s": kept.get("training_time_s")})
            continue
        cmd = [sys.executable, "-m", "core", "train", "--data", args.data, "--out", str(ckpt), "--tta", "--half",
               "--workers", str(args.workers), "--note", what, *extra, *args.extra]
        print(f"[run] {name}: {' '.join(cmd)}", flush=True)
        t0 = time.time()
        with open(runs / f"{name}.log", "w") as log:  # the progress bars, and the reason when a run fails
            proc = subprocess.run(cmd, stderr=log)
        last_cost = time.time() - t0
        if proc.returncode != 0 or not card_path.exists():
            reason = (runs / f"{name}.log").read_text(errors="replace").strip().splitlines()[-1:] or [""]
            print(f"[fail] {name} exit {proc.returncode}: {reason[0][:300]}", flush=True)
            continue
        card = json.loads(card_path.read_text())
        card["name"], card["what"], card["wall_s"] = name, what, round(last_cost, 1)
        results.append(card)
        v = card["validation"]
        print(f"[done] {name}: val ROC-AUC {v['roc_auc']:.4f} acc {v['accuracy']:.4f} "
              f"tta {card['validation_tta']} in {last_cost:.0f}s", flush=True)
        (out / "ablation.json").write_text(json.dumps(results, indent=1))
        best = sorted(results, key=lambda c: -c["validation"]["roc_auc"])[: args.keep]
        keep = {c["name"] for c in best}
        for c in results:
            target = out / f"{c['name']}.pth"
            if c["name"] in keep and not target.exists():
                shutil.copy2(runs / f"{c['name']}.pth", target)
            elif c["name"] not in keep and target.exists():
                target.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
