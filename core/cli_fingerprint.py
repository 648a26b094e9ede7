"""``fingerprint``: record which images a checkpoint trained before ``core.provenance`` was
trained and chosen on, in a sidecar ``FILE.seen.json`` (the weights file stays untouched).

    python -m core fingerprint WEIGHTS --train DIR [--val DIR] [--force]

``DIR`` are folders in the report's layout (``real/`` and ``fake/``). What the checkpoint
says of its own data is checked first: its training counts per class, its list of
validation files and its validation counts must match the folders, else nothing is written
(``--force`` writes anyway). The dashboard and ``evaluate`` then warn when a test set holds
any of these files.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import provenance
from .data import NO_STAT


def add_parser(sub) -> None:
    p = sub.add_parser("fingerprint", help="record the digests of a checkpoint's training/validation images beside it")
    p.add_argument("weights", help="the checkpoint")
    p.add_argument("--train", required=True, help="the folder it was trained on (real/ and fake/)")
    p.add_argument("--val", default=None, help="the folder it was validated / chosen on")
    p.add_argument("--force", action="store_true", help="write even when the folders disagree with the checkpoint's record")
    p.set_defaults(func=run_fingerprint)


def _counts(images) -> dict:
    return {"real": int((images["label"] == 1).sum()), "fake": int((images["label"] == 0).sum())}


def _present(test_set):
    """``test_set`` without its broken links (``core.data.NO_STAT`` rows), which train left out."""
    return dataclasses.replace(test_set, images=test_set.images[test_set.images["size_bytes"] != NO_STAT])


def mismatches(data: dict, train, val) -> list[str]:
    """Where the folders disagree with the checkpoint's ``training.data`` record."""
    train, val = _present(train), None if val is None else _present(val)
    out = []
    if data.get("train") and data["train"] != _counts(train.images):
        out.append(f"the checkpoint trained on {data['train']}, but {train.root} holds {_counts(train.images)}")
    if val is not None:
        if data.get("val_files") and sorted(data["val_files"]) != sorted(val.images["relpath"]):
            extra = sorted(set(val.images["relpath"]) - set(data["val_files"]))[:3]
            out.append(f"{val.root} is not the checkpoint's validation set (its files differ, e.g. {extra or 'fewer files'})")
        elif data.get("val") and data["val"] != _counts(val.images):
            out.append(f"the checkpoint was validated on {data['val']}, but {val.root} holds {_counts(val.images)}")
    return out


def run_fingerprint(args: argparse.Namespace) -> int:
    from .checkpoint import read_checkpoint
    from .data import scan_test_set
    from .identity import file_sha256

    weights = Path(args.weights)
    ckpt = read_checkpoint(weights)
    if provenance.checkpoint_record(ckpt):
        print(f"{weights} already records its training images ({len(provenance.checkpoint_record(ckpt)['train'])}); "
              "nothing written")
        return 0
    train = scan_test_set(args.train)
    val = scan_test_set(args.val) if args.val else None
    data = (ckpt.get("training") or {}).get("data") or {}
    if not data:  # nothing to check the folders against: say so, since a wrong folder would pass unseen
        what = "a bare state dict" if "bare state dict" in str((ckpt.get("training") or {}).get("source", "")) else \
            "no training data record"
        print(f"note: {weights.name} holds {what}, so the folders could not be checked against it; the sidecar "
              "records them as given (give the folders it was really trained and validated on)", file=sys.stderr)
    problems = mismatches(data, train, val)
    for problem in problems:
        print(f"{'warning' if args.force else 'error'}: {problem}", file=sys.stderr)
    if problems and not args.force:
        print("nothing written: give the folders this checkpoint was trained and validated on (or --force)", file=sys.stderr)
        return 2
    rec = provenance.record(train.images["path"], val.images["path"] if val is not None else ())
    source = {"train": args.train, "train_counts": _counts(train.images), "val": args.val,
              "val_counts": _counts(val.images) if val is not None else None,
              "written": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    path = provenance.write_sidecar(weights, file_sha256(weights), rec, source)
    print(f"wrote {path}: digests and perceptual hashes of {len(rec['train'])} training and {len(rec['val'])} validation files")
    return 0
