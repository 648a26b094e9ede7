"""``evaluate``, ``predict`` and ``split`` subcommands."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .bootstrap import DEFAULT_RESAMPLES
from . import metrics, near_copies, provenance, provenance_words
from .cli import DEFAULT_DATA, default_weights, write_json
from .cli_types import DefaultsHelp, device_name, non_negative_int, open_fraction, positive_int, probability


def add_parser(sub) -> None:
    ev = sub.add_parser("evaluate", help="score a test set (real/ and fake/ folders) and print the report's metrics")
    ev.add_argument("--data", default=str(DEFAULT_DATA), help="test set folder (default: data/test_images)")
    ev.add_argument("--weights", default=None, help="checkpoint (default: weights/default.pth)")
    ev.add_argument("--threshold", type=probability, default=None, help="REAL when P(real) >= T (default: the checkpoint's, else 0.5)")
    ev.add_argument("--positive", choices=["real", "fake"], default="real", help="positive class (default real, as the report)")
    ev.add_argument("--device", type=device_name, default="auto", help="auto|cpu|cuda")
    ev.add_argument("--json", dest="json_out", default=None, help="write the metrics as JSON here")
    ev.add_argument("--no-cache", action="store_true", help="run the model even when predictions are cached")
    ev.add_argument("--fast", action="store_true", help="JPEG draft decoding + bfloat16: faster, slightly different numbers")
    ev.add_argument("--tta", action="store_true", help="average P(real) over the image and its mirror")
    ev.add_argument("--batch-size", type=positive_int, default=32, help="images per forward pass (default 32)")
    ev.add_argument("--workers", type=non_negative_int, default=None,
                    help="decoding processes (default: none on the CPU, where threads decode; up to 4 on a GPU)")
    ev.add_argument("--unseen-only", action="store_true",
                    help="leave out the test images the model was trained on (when it records them)")
    ev.add_argument("--bootstrap", type=positive_int, default=DEFAULT_RESAMPLES, metavar="N",
                    help=f"bootstrap resamples for the confidence intervals in --json (default {DEFAULT_RESAMPLES})")
    ev.set_defaults(func=run_evaluate)

    pr = sub.add_parser("predict", help="P(real), P(fake) and the verdict for single images")
    pr.add_argument("images", nargs="+", help="image files (.jpg .png .webp .bmp .tif ...)")
    pr.add_argument("--weights", default=None, help="checkpoint (default: weights/default.pth)")
    pr.add_argument("--threshold", type=probability, default=None,
                    help="REAL when P(real) >= T (default: the checkpoint's, else 0.5)")
    pr.add_argument("--device", type=device_name, default="auto", help="auto|cpu|cuda")
    pr.add_argument("--json", dest="json_out", default=None, help="write one entry per image as JSON here ('-': stdout)")
    pr.set_defaults(func=run_predict)

    sp = sub.add_parser("split", help="write a stratified train/val split as folders of symlinks",
                        formatter_class=DefaultsHelp)
    sp.add_argument("--data", required=True, help="labelled folder with real/ and fake/")
    sp.add_argument("--out", required=True, help="folder to write train/ and val/ into (symlinks to --data's files)")
    sp.add_argument("--val-fraction", type=open_fraction, default=0.1, help="validation share of each class")
    sp.add_argument("--seed", type=int, default=0, help="the split's seed")
    sp.set_defaults(func=run_split)


def _load(args):
    from .checkpoint import load_detector, resolve_device

    return load_detector(args.weights or default_weights(), resolve_device(args.device))


def run_evaluate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .data import require_readable, scan_test_set
    from .evaluation import evaluate, evaluate_cached, format_report, summary_json
    from .prediction_cache import DEFAULT_CACHE_DIR, InferenceSettings, count_words
    from .quality import low_detail_set_note

    test_set = scan_test_set(args.data)
    cache_dir = None if args.no_cache else DEFAULT_CACHE_DIR  # also for the perceptual hashes
    digest_map = set_copies = None  # the test files' digests and copies, once found for --unseen-only, not again below
    if args.unseen_only:
        test_set, digest_map, set_copies = _without_trained(test_set, args.weights or default_weights(), cache_dir)
    settings = InferenceSettings(fast=args.fast, tta=args.tta, batch_size=args.batch_size, workers=args.workers)
    if args.device.startswith("cuda"):  # asked for a GPU: said to be missing even when the cache would answer
        from .checkpoint import resolve_device

        resolve_device(args.device)
    # Everything cached: answer from the cache alone, without loading PyTorch or the model.
    hit = None if args.no_cache else evaluate_cached(args.weights or default_weights(), test_set, settings)
    if hit:
        ev, detector = hit
    else:
        detector = _load(args)
        bar = tqdm(total=len(test_set), unit="img", desc="scoring", file=sys.stderr, leave=False)

        def progress(p):
            if p.waiting:
                bar.set_description("waiting: another session or command is scoring these images")
                return
            bar.set_description("scoring")
            bar.total = p.total
            bar.n = p.done
            bar.refresh()

        ev = evaluate(detector, test_set, settings, use_cache=not args.no_cache, progress=progress)
        bar.close()
    threshold = detector.threshold if args.threshold is None else args.threshold
    p = ev.predictions
    ran = "not run, every prediction came from the cache" if hit else f"on {detector.device}"
    print(f"Model: {detector.name} ({detector.backbone}, sha256 {detector.sha256[:12]}) {ran}, "
          f"{p.precision}; {count_words(p)}", file=sys.stderr)
    if p.note:
        print(f"warning: {p.note}", file=sys.stderr)
    if args.threshold is None and detector.threshold_warning:
        print(f"warning: {detector.threshold_warning}", file=sys.stderr)
    note = low_detail_set_note(p.frame["detail_share"], p.frame["label"])
    if note:
        print(f"warning: {note}", file=sys.stderr)
    seen = provenance.model_seen(detector)
    shared = provenance.check(p.frame, seen, digest_map) if len(p.frame) else None
    copies = near_copies.resaved_for(p.frame, seen, shared, cache_dir) if set_copies is None else \
        near_copies.copies_in(set_copies, p.frame, shared)
    for level, text in (provenance_words.overlap_words(shared) if len(p.frame) else []) + \
            (near_copies.resaved_words(copies, len(p.frame), seen.where) if copies is not None else []):
        print(f"{'warning' if level in ('error', 'warning') else 'note'}: {text}", file=sys.stderr)
    out = summary_json(ev, detector, test_set, threshold, args.positive)
    out["seen_images"] = provenance_words.overlap_json(shared)
    if copies is not None:
        out["seen_images"]["resaved_copies"] = copies.drop(columns=["test_path"]).to_dict("records")
    if args.json_out and len(p.frame):
        from .analysis import extra_json

        out.update(extra_json(p.frame, threshold, args.positive, n_resamples=args.bootstrap))
    print(format_report(out))
    write_json(out, args.json_out)
    require_readable(len(p.frame), test_set)  # every file skipped (listed above): nothing measured, exit 2
    return 0


def _without_trained(test_set, weights, cache_dir=None):
    """``test_set`` without the images the model was trained on (``--unseen-only``): its training
    files and, when it records perceptual hashes, those pictures saved again (hashes through
    ``cache_dir``); the digests read to find them (``Seen.digest_map``) and the copies found
    (``near_copies.resaved_for`` of the whole set, None without hashes), so neither is made again."""
    weights = Path(weights)
    seen = provenance.file_seen(weights)
    if seen is None:
        raise SystemExit(f"error: --unseen-only: {weights.name} does not record the images it was trained on "
                         "(`python -m core fingerprint` adds them)")
    digest_map = seen.digest_map(test_set.images)
    trained = seen.trained_in(digest_map)
    copies = near_copies.resaved_for(test_set.images, seen, None, cache_dir)
    if copies is not None:
        trained = trained | frozenset(copies.loc[copies["seen_as"] == "training", "test_relpath"])
    if len(trained) == len(test_set.images):
        raise SystemExit(f"error: --unseen-only: all {len(trained)} test images are pictures this model was trained "
                         "on; nothing is left to evaluate")
    print(f"note: --unseen-only: {len(trained)} of {len(test_set.images)} test images are pictures this model was "
          "trained on (the files, or the pictures saved again) and are left out", file=sys.stderr)
    return provenance.without(test_set, trained), digest_map, copies


def run_predict(args: argparse.Namespace) -> int:
    from .face import has_face
    from .inference import score_images_and_members
    from .preprocess import ImageError, open_photo
    from .quality import detail_report

    detector = _load(args)
    threshold = detector.threshold if args.threshold is None else args.threshold
    if args.threshold is None and detector.threshold_warning:
        print(f"warning: {detector.threshold_warning}", file=sys.stderr)
    seen = provenance.model_seen(detector)  # to say when an image is one the model was trained or chosen on
    results, failed = [], 0
    for path in args.images:
        try:
            image, info = open_photo(path, name=path)
        except ImageError as exc:
            failed += 1
            results.append({"path": path, "error": str(exc)})
            reason = str(exc).removeprefix(f"{path}: ")  # the message names the file already
            print(f"{path}: ERROR {reason}")
            continue
        scores, members = score_images_and_members(detector, [image])
        p_real = float(scores[0])
        verdict = metrics.verdict(p_real, threshold)
        quality = detail_report(image, info["transparent"], has_face(image))  # 30-250 ms (bench/bench_face_check.py): no face is worth a warning
        # what a saved verdict needs to be read later: the threshold and the model it came from, the image's size
        results.append({"path": path, "p_real": p_real, "p_fake": 1 - p_real, "verdict": verdict, "threshold": threshold,
                        "weights_sha256": detector.sha256, "width": image.width, "height": image.height, **quality})
        print(f"{path}: {verdict}  P(real)={p_real:.4f}  P(fake)={1 - p_real:.4f}  (threshold {threshold:.4f})")
        seen_as = provenance.seen_as(seen, provenance.file_digest(path),
                                     near_copies.file_hash(path) if seen is not None and seen.has_hashes else None)
        if seen_as:
            results[-1]["seen_by_model"] = seen_as
            quality["warnings"].append(provenance_words.upload_words(seen_as))
        for warning in quality["warnings"]:
            print(f"    warning: {warning}")
        if members:  # an ensemble: each member's own P(real)
            results[-1]["members"] = members[0]
            print("    members: " + "  ".join(f"{n} {p:.4f}" for n, p in members[0].items()))
    write_json(results, args.json_out)
    return 1 if failed else 0


def run_split(args: argparse.Namespace) -> int:
    from .data import unreadable_words
    from .split import write_split

    info = write_split(args.data, args.out, args.val_fraction, args.seed)
    write_json(info, str(Path(args.out) / "split.json"))
    for name, counts in info["counts"].items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"  -> {Path(args.out) / name}")
    if info["left_out"]:
        print(f"left out {unreadable_words(info['left_out'], 10)}")
    return 0
