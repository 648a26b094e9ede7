"""``ensemble``: combine trained checkpoints into one self-describing ensemble checkpoint.

    python -m core ensemble A.pth B.pth [C.pth ...] --out FILE [--data VAL] [--half]
    python -m core unpack FILE --out DIR     # the members back as single checkpoints

Writes ``FILE`` (loads like any checkpoint: ``evaluate``, the dashboard, the API) and a
model card ``FILE.md``/``.json`` beside it: each member's file, sha256, recipe, device and
its own validation ROC-AUC; with ``--data``, the ensemble's metrics there at 0.5.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from . import atomic, provenance
from .model_card import RECORDED_THRESHOLD
from .identity import CheckpointError


def add_parser(sub) -> None:
    p = sub.add_parser("ensemble", help="combine trained checkpoints into one ensemble checkpoint (mean of member logits)")
    p.add_argument("members", nargs="+", help="two or more checkpoints (written by `train`, or report state dicts)")
    p.add_argument("--out", required=True, help="ensemble checkpoint to write (a model card .md/.json goes beside it)")
    p.add_argument("--data", default=None, help="validation folder (real/, fake/) to measure the ensemble on for its card")
    p.add_argument("--half", action="store_true", help="store weights as float16 (about half the size)")
    p.add_argument("--note", default="", help="free text recorded in the model card")
    p.add_argument("--force", action="store_true", help="replace a checkpoint already at --out (and its card)")
    p.set_defaults(func=run_ensemble)

    u = sub.add_parser("unpack", help="write each member of an ensemble checkpoint as its own checkpoint (to compare them)")
    u.add_argument("ensemble", help="an ensemble checkpoint written by `ensemble`")
    u.add_argument("--out", required=True, help="folder for the member checkpoints")
    u.set_defaults(func=run_unpack)


def combine(detectors: list) -> tuple:
    """(EnsembleClassifier, Preprocessing) of loaded ``Detector`` members. Members must
    share mean, std and resize rule; the ensemble's input size is the largest member's."""
    from .ensemble import EnsembleClassifier

    if len(detectors) < 2:
        raise CheckpointError(f"an ensemble needs at least 2 checkpoints, got {len(detectors)}")
    for d in detectors:
        if hasattr(d.model, "members"):
            raise CheckpointError(f"{d.name} is already an ensemble: list its member checkpoints instead")
    first = detectors[0].preprocessing
    for d in detectors[1:]:
        pre = d.preprocessing
        if (pre.mean, pre.std, pre.resize) != (first.mean, first.std, first.resize):
            raise CheckpointError(
                f"{d.name} normalises differently from {detectors[0].name} (mean/std/resize "
                f"{pre.mean}/{pre.std}/{pre.resize} against {first.mean}/{first.std}/{first.resize}); "
                "ensemble members must share their normalisation"
            )
    model = EnsembleClassifier([d.model for d in detectors], [d.preprocessing.input_size for d in detectors]).eval()
    return model, dataclasses.replace(first, input_size=model.input_size)


def member_record(d) -> dict:
    """What the card keeps of a member, so it stays described after the file is gone."""
    t = d.meta.get("training") or {}
    seen = provenance.model_seen(d)  # its own, so that `unpack` gives each member back what it has seen
    return {
        "file": str(d.path), "sha256": d.sha256, "backbone": d.backbone, "input_size": d.preprocessing.input_size,
        "attention": bool(d.model.use_attention), "recipe": t.get("recipe"), "device": t.get("device"),
        "best_epoch": t.get("best_epoch"), "training_time_s": t.get("training_time_s"),
        "validation_roc_auc": (t.get("validation") or {}).get("roc_auc"), "init_from": t.get("init_from"), "note": t.get("note"),
        "history": t.get("history"),  # per-epoch curves, for the Model card page
        "data": {"digests": provenance.as_record(seen.train, seen.val, _hashes(seen))} if seen else None,
    }


def seen_record(detectors: list, data: str | None) -> dict | None:
    """The images the ensemble has seen: every member's training files, and as validation
    files the members' and those of ``data`` (the set the ensemble is judged on). None when a
    member does not record its own."""
    from .data import scan_test_set

    seen = [provenance.model_seen(d) for d in detectors]
    if not all(seen):
        return None
    train = set().union(*(s.train for s in seen))
    val = set().union(*(s.val for s in seen))
    train_h, val_h = set().union(*(s.train_hashes for s in seen)), set().union(*(s.val_hashes for s in seen))
    if data:
        paths = scan_test_set(data).images["path"]
        val.update(d for d in provenance.digests(paths) if d)
        if train_h:  # the members record hashes: the judging set's go with them
            from .near_copies import hash_files

            val_h.update(h for h in hash_files(paths) if h)
    hashes = (train_h, val_h - train_h) if train_h else None
    return provenance.as_record(train, val - train, hashes)


def _hashes(seen) -> tuple | None:
    """A ``Seen``'s perceptual hashes for ``as_record``; None when it records none."""
    return (seen.train_hashes, seen.val_hashes) if seen.train_hashes else None


def run_ensemble(args: argparse.Namespace) -> int:
    import torch

    from .checkpoint import load_detector, save_checkpoint
    from .ensemble import COMBINE

    start = time.perf_counter()
    detectors = [load_detector(p) for p in args.members]
    model, pre = combine(detectors)
    card = {
        "kind": "ensemble", "combine": COMBINE, "members": [member_record(d) for d in detectors],
        "input_size": pre.input_size, "torch": str(torch.__version__), "note": args.note,
    }
    out = Path(args.out)
    if args.data:
        card.update(_validate(model, pre, args.half, args.data))
    seen = seen_record(detectors, args.data)
    if seen:
        card.setdefault("data", {})["digests"] = seen
    else:
        print("note: not every member records its training images, so the ensemble records none "
              "(`python -m core fingerprint MEMBER --train DIR` adds them to a member)", file=sys.stderr)
    save_checkpoint(out, model, pre, threshold=0.5, threshold_source="default 0.5", training=card, half=args.half)
    card["build_time_s"] = round(time.perf_counter() - start, 1)
    write_ensemble_card(out, card)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): {model.backbone}"
          + (f"; validation ROC-AUC {card['validation']['roc_auc']:.4f}, accuracy {card['validation']['accuracy']:.4f}" if args.data else ""))
    return 0


def _validate(model, pre, half: bool, data: str) -> dict:
    """The ensemble as it will be stored (float16 included) on ``data`` at threshold 0.5.

    It is saved to a scratch folder and scored with a scratch prediction cache: the
    validation goes into the card, so the final file's hash differs and cached scores of
    the scratch file would only be litter in the user's cache."""
    import tempfile

    from tqdm import tqdm

    from .bootstrap import bootstrap
    from .checkpoint import load_detector, save_checkpoint
    from .data import scan_test_set
    from .evaluation import evaluate
    from .prediction_cache import InferenceSettings

    test_set = scan_test_set(data)
    with tempfile.TemporaryDirectory(prefix="ensemble-validation-") as scratch:
        path = Path(scratch) / "ensemble.pth"
        save_checkpoint(path, model, pre, threshold=0.5, threshold_source="default 0.5", training={}, half=half)
        det = load_detector(path)
        with tqdm(total=len(test_set.images), desc="validation", unit="img") as bar:
            ev = evaluate(det, test_set, cache_dir=Path(scratch), progress=lambda p: bar.update(p.done - bar.n))
        with tqdm(total=len(test_set.images), desc="validation, flip TTA", unit="img") as bar:
            tta = evaluate(det, test_set, InferenceSettings(tta=True), cache_dir=Path(scratch),
                           progress=lambda p: bar.update(p.done - bar.n))
    summary = {k: v for k, v in ev.summary(RECORDED_THRESHOLD).items() if k != "unavailable"}
    tta_summary = tta.summary(RECORDED_THRESHOLD)
    ci = bootstrap(ev.sweep, RECORDED_THRESHOLD, bands=False).ci()
    labels = ev.predictions.frame["label"]
    return {
        "data": {"source": str(Path(data).resolve()), "val": {"real": int((labels == 1).sum()), "fake": int((labels == 0).sum())}},
        "validation": {"threshold": RECORDED_THRESHOLD, **summary},
        "validation_ci": ci,
        "validation_tta": {"roc_auc": tta_summary["roc_auc"], "accuracy": tta_summary["accuracy"]},
    }


def _extras(recipe: dict) -> str:
    """The recipe's departures from the report that the member line would otherwise hide."""
    parts = [f"{label} {recipe[key]}" for key, label in (("region_loss", "region loss"), ("jpeg_augment", "JPEG augment"),
                                                        ("degrade_augment", "degrade augment")) if recipe.get(key)]
    if recipe.get("freeze") not in (None, "none"):
        parts.append(f"frozen: {recipe['freeze']}")
    if recipe.get("augment") not in (None, "report"):
        parts.append(f"augmentation {recipe['augment']}")
    return "".join(", " + p for p in parts)


def write_ensemble_card(out: Path, card: dict) -> None:
    import json

    from .metrics import fmt
    from .model_card import format_duration
    from .train_card import digest_lines, lineage_lines

    atomic.write_bytes(out.with_suffix(".json"), (json.dumps(card, indent=2, default=float) + "\n").encode())

    def f(x):
        return fmt(x, 4)

    lines = [f"# Model card: {out.name} (ensemble)", "",
             f"- {len(card['members'])} members; output: {card['combine']}, sigmoid = P(real); REAL when P(real) >= 0.5",
             f"- Input: {card['input_size']}x{card['input_size']}, squash resize, ImageNet mean/std; each member sees it "
             "resized (bilinear, antialiased) to its own input size",
             *digest_lines((card.get("data") or {}).get("digests")),
             "", "## Members", "", "| # | file | sha256 | backbone | input | attention | own val ROC-AUC | trained on | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, m in enumerate(card["members"], 1):
        lines.append(f"| {i} | {Path(m['file']).name} | {m['sha256'][:12]} | {m['backbone']} | {m['input_size']} px | "
                     f"{m['attention']} | {f(m['validation_roc_auc'])} | {m['device'] or 'n/a'} | {m.get('note') or ''} |")
    lines += ["", "## How each member was trained", ""]
    for i, m in enumerate(card["members"], 1):
        r = m.get("recipe") or {}
        what = (f"{r.get('backbone')} {r.get('image_size')} px, attention {r.get('attention')}, {r.get('epochs')} epochs max "
                f"(best {m.get('best_epoch')}), lr {r.get('lr')}, synthetic fakes {r.get('synthetic_fakes') or 0}, seed {r.get('seed')}, "
                f"{r.get('precision')}{_extras(r)}; {format_duration(m.get('training_time_s') or 0)} on {m.get('device')}" if r else "no training record")
        lines.append(f"{i}. {Path(m['file']).name}: {what}")
        lines += ["   " + line for line in lineage_lines(m.get("init_from"))]
    if card.get("validation"):
        v, ci = card["validation"], card.get("validation_ci") or {}
        lines += ["", f"## Validation ({card['data']['source']}: {card['data']['val']}, threshold 0.5)", "",
                  "| metric | value | 95 % bootstrap CI |", "|---|---|---|"]
        for key in ("roc_auc", "accuracy", "precision", "recall", "specificity", "f1", "average_precision", "eer"):
            band = ci.get(key)
            lines.append(f"| {key} | {f(v.get(key))} | {f'{band[0]:.4f} to {band[1]:.4f}' if band else ''} |")
        if card.get("validation_tta"):
            lines.append(f"| roc_auc with flip TTA | {f(card['validation_tta']['roc_auc'])} | |")
            lines.append(f"| accuracy with flip TTA | {f(card['validation_tta']['accuracy'])} | |")
    if card.get("note"):
        lines += ["", f"Note: {card['note']}"]
    atomic.write_bytes(out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())


def run_unpack(args: argparse.Namespace) -> int:
    """Each member as a checkpoint of its own, named after its original file, with the
    training record the ensemble's card kept; its outputs equal the member inside the
    ensemble fed at its own input size."""
    from .checkpoint import load_detector, save_checkpoint

    det = load_detector(args.ensemble)
    if not hasattr(det.model, "members"):
        raise CheckpointError(f"{Path(args.ensemble).name} is a single model ({det.backbone}), not an ensemble")
    records = (det.meta.get("training") or {}).get("members") or [{}] * len(det.model.members)
    half = det.meta.get("storage_dtype") == "float16"
    out = Path(args.out)
    for i, (member, size, record) in enumerate(zip(det.model.members, det.model.input_sizes, records), 1):
        name = Path(record.get("file") or f"member{i}.pth").name
        path = out / f"{i}_{name}"
        pre = dataclasses.replace(det.preprocessing, input_size=size)
        save_checkpoint(path, member, pre, threshold=0.5, threshold_source="default 0.5",
                        training={**record, "unpacked_from": {"file": str(det.path), "sha256": det.sha256}}, half=half)
        print(f"{path}: {member.backbone} {size} px (sha256 of the original member {str(record.get('sha256'))[:12]})")
    return 0
