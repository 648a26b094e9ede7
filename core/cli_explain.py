"""``explain``, ``regions`` and ``robustness`` subcommands."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import metrics
from .cli import DEFAULT_DATA, default_weights, write_json
from .cli_types import device_name, non_negative_int, positive_int, probability


def add_parser(sub) -> None:
    ex = sub.add_parser("explain", help="write image | attention map | Grad-CAM side by side as a PNG")
    ex.add_argument("image")
    ex.add_argument("--weights", default=None, help="checkpoint (default: weights/default.pth)")
    ex.add_argument("--out", required=True, help="PNG file to write")
    ex.add_argument("--target", choices=["fake", "real"], default="fake",
                    help="class Grad-CAM explains: fake = -logit, real = the logit (default fake)")
    ex.add_argument("--device", type=device_name, default="auto", help="auto|cpu|cuda")
    ex.add_argument("--no-cache", action="store_true")
    ex.set_defaults(func=run_explain)

    rg = sub.add_parser("regions", help="how often the maps' peaks fall in the replaced regions of CIPLab fakes")
    rg.add_argument("--data", default=str(DEFAULT_DATA), help="test set folder (default: data/test_images)")
    rg.add_argument("--weights", default=None)
    rg.add_argument("--target", choices=["fake", "real"], default="fake")
    rg.add_argument("--device", type=device_name, default="auto")
    rg.add_argument("--json", dest="json_out", default=None, help="write the summary and per-image rows here")
    rg.set_defaults(func=run_regions)

    rb = sub.add_parser("robustness", help="metrics under JPEG, downscaling, blur, noise and flip TTA")
    rb.add_argument("--data", default=str(DEFAULT_DATA), help="test set folder (default: data/test_images)")
    rb.add_argument("--weights", default=None)
    rb.add_argument("--threshold", type=probability, default=None, help="default: the checkpoint's")
    rb.add_argument("--device", type=device_name, default="auto")
    rb.add_argument("--json", dest="json_out", default=None, help="write the table (and verdict flips) here")
    rb.add_argument("--no-cache", action="store_true")
    rb.add_argument("--batch-size", type=positive_int, default=32)
    rb.add_argument("--workers", type=non_negative_int, default=None)
    rb.set_defaults(func=run_robustness)


def _load(args):
    from .checkpoint import load_detector, resolve_device

    return load_detector(args.weights or default_weights(), resolve_device(args.device))


def run_explain(args: argparse.Namespace) -> int:
    from .explain import NO_ATTENTION_NOTE, explain_file, side_by_side
    from .preprocess import ImageError

    detector = _load(args)
    try:
        ex = explain_file(detector, args.image, target=args.target, use_cache=not args.no_cache)
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    side_by_side(ex, title=Path(args.image).name, threshold=detector.threshold).save(out)
    verdict = metrics.verdict(ex.p_real, detector.threshold)
    print(f"{args.image}: {verdict} P(real)={ex.p_real:.4f}; {ex.target_note}; wrote {out}")
    if not ex.has_attention:
        print(f"note: {NO_ATTENTION_NOTE}")
    return 0


def run_regions(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .data import scan_test_set
    from .explain import NO_ATTENTION_NOTE
    from .regions import LAYOUT_NOTE, region_study, replaced_regions

    test_set = scan_test_set(args.data)
    fakes = test_set.images.loc[test_set.images["label"] == 0, "path"]
    if not any(replaced_regions(p) for p in fakes):  # before loading the model: nothing to study
        print(f"error: {args.data} has {len(fakes)} fake images and none is named as CIPLab's fakes are "
              "(fake/easy_12_1010.jpg: the four digits mark the replaced left eye, right eye, nose, mouth), "
              "so no replaced region is known to measure the maps against.", file=sys.stderr)
        return 2
    detector = _load(args)
    bar = tqdm(unit="img", desc="explaining fakes", file=sys.stderr, leave=False)

    def progress(done, total):
        bar.total, bar.n = total, done
        bar.refresh()

    study = region_study(detector, test_set, target=args.target, progress=progress)
    bar.close()
    summary = study.summary()
    print(f"Model: {detector.name} ({detector.backbone}); Grad-CAM target: {args.target}; {LAYOUT_NOTE}")
    if not study.has_attention:
        print(f"note: {NO_ATTENTION_NOTE}")
    for r in summary.to_dict("records"):
        if not r["fakes"]:
            print(f"{r['map']:>9}: no fakes scored (flat map)")
            continue
        shuffled = "n/a" if r["shuffled_masks"] is None else f"{r['shuffled_masks']:.3f}"  # needs two fakes
        print(f"{r['map']:>9}: peak in replaced regions {r['peak_in_region']:.3f} of {r['fakes']} fakes "
              f"vs chance {r['chance']:.3f} (area share) and {shuffled} (another fake's regions: "
              f"centre bias); map mass inside {r['mass_in_region']:.3f}")
    # a flat map's NaN becomes null in write_json, which keeps every --json file standard JSON
    write_json({"weights": str(detector.path), "weights_sha256": detector.sha256, "target": args.target, "layout": LAYOUT_NOTE,
                "summary": summary.to_dict("records"), "images": study.frame.to_dict("records"),
                "skipped": [list(s) for s in study.skipped]}, args.json_out)
    return 0


def run_robustness(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .data import scan_test_set
    from .inference import InferenceSettings
    from .robustness import format_table, robustness_sweep

    test_set = scan_test_set(args.data)  # one class: its own rate under each perturbation
    detector = _load(args)
    bar = tqdm(unit="img", desc="perturbing + scoring", file=sys.stderr, leave=False)

    def progress(p):
        bar.total, bar.n = p.total, p.done
        bar.refresh()

    settings = InferenceSettings(batch_size=args.batch_size, workers=args.workers)
    sweep = robustness_sweep(detector, test_set, threshold=args.threshold, settings=settings,
                             use_cache=not args.no_cache, progress=progress)
    bar.close()
    print(f"Model: {detector.name} ({detector.backbone}, sha256 {detector.sha256[:12]}); data: {test_set.root}")
    # the clean pass scores every readable file; the rest are left out of every condition
    skipped = sorted(set(test_set.images["relpath"]) - set(sweep.scores["relpath"]))
    if skipped:
        print(f"skipped {len(skipped)} unreadable file(s), in no row below: " + "; ".join(skipped[:10]))
    print(format_table(sweep))
    flips = {c: sweep.flips(c).drop(columns=["path"]).to_dict("records") for c in sweep.table["condition"][1:]}
    write_json({"data": str(test_set.root), "weights": str(detector.path), "weights_sha256": detector.sha256,
                "threshold": sweep.threshold, "table": sweep.table.to_dict("records"), "flips": flips,
                "skipped": skipped}, args.json_out)
    return 0
