"""``report`` subcommand: the self-contained HTML report and its predictions CSV."""
from __future__ import annotations

import argparse
import sys

from . import provenance
from .bootstrap import DEFAULT_RESAMPLES
from .cli import DEFAULT_DATA, default_weights
from .cli_types import device_name, positive_int, probability


def add_parser(sub) -> None:
    rp = sub.add_parser("report", help="write a self-contained HTML report (and a CSV of all predictions beside it)")
    rp.add_argument("--data", default=str(DEFAULT_DATA), help="test set folder (default: data/test_images)")
    rp.add_argument("--weights", default=None, help="checkpoint (default: weights/default.pth)")
    rp.add_argument("--threshold", type=probability, default=None, help="REAL when P(real) >= T (default: the checkpoint's)")
    rp.add_argument("--positive", choices=["real", "fake"], default="real")
    rp.add_argument("--bootstrap", type=positive_int, default=DEFAULT_RESAMPLES, metavar="N", help=f"bootstrap resamples (default {DEFAULT_RESAMPLES})")
    rp.add_argument("--device", type=device_name, default="auto", help="auto|cpu|cuda")
    rp.add_argument("--no-cache", action="store_true", help="run the model even when predictions are cached")
    rp.add_argument("--out", required=True, help="the HTML file to write; the CSV goes next to it")
    rp.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    import torch

    from .analysis import analyse
    from .checkpoint import load_detector, resolve_device
    from .data import require_readable, scan_test_set, unreadable_words
    from .evaluation import evaluate
    from .report import identity, write_report

    test_set = scan_test_set(args.data)
    detector = load_detector(args.weights or default_weights(), resolve_device(args.device))
    with torch.inference_mode():
        ev = evaluate(detector, test_set, use_cache=not args.no_cache)
    frame = ev.predictions.frame
    if ev.predictions.note:
        print(f"warning: {ev.predictions.note}", file=sys.stderr)
    require_readable(len(frame), test_set, ev.predictions.skipped)
    if args.threshold is None:
        threshold, why = detector.threshold, detector.meta.get("threshold_source", "the checkpoint's threshold")
    else:
        threshold, why = args.threshold, "set on the command line (--threshold)"
    ident = identity(detector, test_set, frame, why, ev.predictions.skipped)
    if ident.skipped:
        print(f"skipped {unreadable_words(ident.skipped, 5)} (listed in the report)", file=sys.stderr)
    if ident.overlap is not None:  # a slice of its own, and a CSV column
        from .near_copies import resaved_for
        from .prediction_cache import DEFAULT_CACHE_DIR

        copies = resaved_for(frame, provenance.model_seen(detector), ident.overlap, None if args.no_cache else DEFAULT_CACHE_DIR)
        frame = frame.assign(seen_by_model=provenance.seen_column(frame, ident.overlap, copies))
    a = analyse(frame, threshold, args.positive, n_resamples=args.bootstrap)
    html_path, csv_path = write_report(a, ident, args.out)
    size_kb = html_path.stat().st_size / 1024
    print(f"wrote {html_path} ({size_kb:.0f} KiB) and {csv_path}", file=sys.stderr)
    for s in a.shortcuts:
        if s.fires:
            print(f"warning: {s.message}", file=sys.stderr)
    return 0
