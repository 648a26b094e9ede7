"""``compare``: two checkpoints on one test set, with the paired bootstrap of their difference.

    python -m core compare A.pth B.pth [--data DIR] [--json OUT]

Prints each model's ROC-AUC, AP, EER and accuracy with 95 % intervals (the Compare page's
table), then B − A per metric with the paired interval (``core.compare.paired_difference``)
and how many images exactly one of them gets right. Predictions come from the cache when
``evaluate`` (or the dashboard) already scored them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .bootstrap import DEFAULT_RESAMPLES
from .cli import DEFAULT_DATA, write_json
from .cli_types import device_name, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="two checkpoints on one test set: each with CIs, and B − A with a paired bootstrap CI")
    p.add_argument("a", help="checkpoint A (the reference)")
    p.add_argument("b", help="checkpoint B (the candidate)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="test set folder (default: data/test_images)")
    p.add_argument("--device", type=device_name, default="auto", help="auto|cpu|cuda")
    p.add_argument("--bootstrap", type=positive_int, default=DEFAULT_RESAMPLES, metavar="N",
                   help=f"resamples (default {DEFAULT_RESAMPLES}, as the Compare page)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--positive", choices=["real", "fake"], default="real",
                   help="the class average precision ranks for (default real, as the report)")
    p.add_argument("--json", dest="json_out", default=None, help="write both tables as JSON here")
    p.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm import tqdm

    from .checkpoint import load_detector, resolve_device
    from .compare import Run, compare_table, disagreements, paired_difference
    from .data import require_readable, scan_test_set, unreadable_words
    from .evaluation import evaluate

    test_set = scan_test_set(args.data)
    device = resolve_device(args.device)
    runs, skipped = [], []
    # both loaded before either scores: a bad B must not wait for A's whole pass to be reported
    detectors = [load_detector(path, device) for path in (args.a, args.b)]
    for label, path, det in zip("AB", (args.a, args.b), detectors):
        with tqdm(total=len(test_set.images), desc=f"{label}: {Path(path).name}", unit="img") as bar:
            ev = evaluate(det, test_set, progress=lambda p: bar.update(p.done - bar.n))
        skipped = skipped or list(ev.predictions.skipped)
        if ev.predictions.note and label == "A":  # the same cache folder for both: say it once
            print(f"warning: {ev.predictions.note}", file=sys.stderr)
        require_readable(len(ev.predictions.frame), test_set, skipped)
        runs.append(Run(model=f"{label}: {Path(path).name} ({det.sha256[:12]})", test_set=str(test_set.root),
                        frame=ev.predictions.frame, threshold=det.threshold))
    table = compare_table(runs, args.positive, n_resamples=args.bootstrap, seed=args.seed)
    paired = paired_difference(runs[0], runs[1], positive=args.positive, n_resamples=args.bootstrap, seed=args.seed)
    d = disagreements(runs[0], runs[1])
    labels = runs[0].frame["label"]  # the images scored: unreadable files are listed below, not counted
    print(f"Test set: {test_set.root} ({int((labels == 1).sum())} real, {int((labels == 0).sum())} fake); "
          "each model at its own threshold")
    if skipped:
        print(f"  skipped {unreadable_words(skipped, 5)}")
    if not runs[0].sweep.has_both_classes:
        print("  one class only: ROC-AUC, average precision and EER need real and fake images; accuracy is compared alone")

    def cell(r, m):
        return "n/a" if pd.isna(r[m]) else f"{r[m]:.4f} [{r[m + '_low']:.4f}, {r[m + '_high']:.4f}]"

    for _, r in table.iterrows():
        print(f"  {r['model']} @ {r['threshold']:.3f}: " + "  ".join(f"{m} {cell(r, m)}" for m in ("roc_auc", "accuracy")))
    print(f"B − A, paired stratified bootstrap ({args.bootstrap} resamples, seed {args.seed}; the same images for both):")
    for _, r in paired.iterrows():
        print(f"  {r['metric']:<18} {r['a']:.4f} → {r['b']:.4f}  difference {r['difference']:+.4f}  "
              f"95% CI [{r['low']:+.4f}, {r['high']:+.4f}]  B better in {r['b_better']:.1%} of resamples")
    wins = d["right"].value_counts()
    print(f"Exactly one right on {len(d)} images: A on {wins.get('A', 0)}, B on {wins.get('B', 0)}")
    write_json({"models": table.to_dict(orient="records"), "paired_difference": paired.to_dict(orient="records"),
                "positive": args.positive, "n_resamples": args.bootstrap, "seed": args.seed}, args.json_out)
    return 0
