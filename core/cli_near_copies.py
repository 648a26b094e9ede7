"""``near-copies``: find the same picture saved twice in a test set, or in a test set and
another folder (e.g. the training data), by perceptual hash (``core.near_copies``). With
``--weights``, also the test images that are copies of the images that model records it was
trained and chosen on (its perceptual hashes, in the checkpoint or its ``.seen.json``): no
training folder is needed.

    python -m core near-copies --data TEST [--other DIR] [--weights FILE] [--max-distance 12] [--show 10] [--json OUT] [--no-cache]

Hashes are kept in the disk cache (``core.near_copies.cached_hashes``), so a folder is hashed once.

Exit status 0 when nothing is found, 1 when near copies are found, 2 on bad input, so a
script that assembles a test set can refuse one that leaks.
"""
from __future__ import annotations

import argparse
import sys

from . import near_copies
from .cli_types import non_negative_int


def add_parser(sub) -> None:
    p = sub.add_parser("near-copies", help="find re-saved / resized / re-encoded copies of the same picture (pHash)")
    p.add_argument("--data", required=True, help="the test set (real/ and fake/)")
    p.add_argument("--other", default=None, help="another folder in the same layout, e.g. the training data")
    p.add_argument("--weights", default=None,
                   help="a checkpoint: also look for copies of the images it records it was trained and chosen on")
    p.add_argument("--max-distance", type=int, default=near_copies.MAX_DISTANCE,
                   help=f"most differing bits of 256 that still count as a copy (default {near_copies.MAX_DISTANCE})")
    p.add_argument("--no-cache", action="store_true",
                   help="hash every image again instead of reading the hashes kept in .cache/phash")
    p.add_argument("--show", type=non_negative_int, default=10, help="pairs listed per kind (all go to --json)")
    p.add_argument("--json", default=None, help="write every pair here")
    p.set_defaults(func=run_near_copies)


def _progress(what: str):
    from tqdm import tqdm

    bar = tqdm(desc=what, unit="img", file=sys.stderr, leave=False)

    def report(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return bar, report


def run_near_copies(args: argparse.Namespace) -> int:
    from .cli import write_json
    from .data import DatasetError, require_readable, scan_test_set

    if not 0 <= args.max_distance < 256:
        print(f"error: --max-distance must be between 0 and 255 bits, got {args.max_distance}", file=sys.stderr)
        return 2
    try:
        test = scan_test_set(args.data)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        other = scan_test_set(args.other) if args.other else None
    except DatasetError as exc:  # it is not the test set that is missing: say which folder
        print(f"error: --other {args.other}: {exc}", file=sys.stderr)
        return 2
    seen, no_record = _model_record(args.weights) if args.weights else (None, "")
    if no_record.startswith("error"):
        print(no_record, file=sys.stderr)
        return 2
    bar, report = _progress("hashing")
    from .prediction_cache import DEFAULT_CACHE_DIR

    found = near_copies.check(test.images, None if other is None else other.images, args.max_distance, report, seen,
                              None if args.no_cache else DEFAULT_CACHE_DIR)
    bar.close()
    require_readable(found.n_test - found.unreadable_test, test)  # an "ok" would tell a script the set is clean
    print(f"Test set: {test.root} ({len(test.images)} images)" + (f"; other: {other.root} ({len(other.images)} images)" if other else ""))
    if no_record:
        print(no_record)
    for level, text in near_copies.words(found, f"{other.root}" if other else "the other folder"):
        print(f"{level}: {text}")
    for title, frame in (("across the two folders", found.across), ("within the test set", found.within),
                         ("of the model's training images", found.recorded_as("training")),
                         ("of the model's validation images", found.recorded_as("validation"))):
        if len(frame):
            print(f"\nNear copies {title} (distance in bits of 256; {min(args.show, len(frame))} of {len(frame)}):")
            print(frame.head(args.show).drop(columns=[c for c in frame if c.endswith("_path")]).to_string(index=False))
    if found.unreadable:
        print(f"\n{found.unreadable} files could not be read as images and were not compared.")
    write_json({"max_distance": found.max_distance, "n_test": found.n_test, "n_other": found.n_other,
                "unreadable": found.unreadable, "across": found.across.to_dict("records"),
                "within": found.within.to_dict("records"),
                "recorded": None if found.recorded is None else found.recorded.to_dict("records")}, args.json)
    return 1 if len(found.across) or len(found.within) or (found.recorded is not None and len(found.recorded)) else 0


def _model_record(weights: str):
    """(the ``Seen`` record of a checkpoint with perceptual hashes, "") or (None, why not): "note: ..."
    when it records no hashes (the check goes on without it), "error: ..." when it cannot be read."""
    from . import provenance
    from .checkpoint import CheckpointError

    try:
        seen = provenance.file_seen(weights)
    except (CheckpointError, OSError) as exc:
        return None, f"error: {weights}: {str(exc).splitlines()[0]}"
    if seen is None or not seen.has_hashes:
        what = "records no training images" if seen is None else "records its images' digests but no perceptual hashes"
        return None, (f"note: {weights} {what}, so copies of its training images cannot be looked for without "
                      "their folder (--other); `python -m core fingerprint` records them.")
    return seen, ""
