"""``card``: what a checkpoint says about itself, in the terminal (the Model card page as text).

    python -m core card [WEIGHTS] [--data VAL] [--json OUT]

Prints the checkpoint's identity, each run it came through (back to ImageNet or random
weights), the recipe settings of its last run(s) that depart from the report's, the
validation numbers it recorded, and whether it records the images it has seen. With
``--data``, the set is scored (or read from the prediction cache) and the recorded numbers
are put next to the measured ones: a check when it is the recorded validation set.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import model_card, provenance
from .cli import default_weights, write_json
from .cli_types import device_name


def add_parser(sub) -> None:
    p = sub.add_parser("card", help="what a checkpoint says about itself: lineage, recipe, recorded validation")
    p.add_argument("weights", nargs="?", default=None, help="the checkpoint (default: weights/default.pth)")
    p.add_argument("--data", default=None, help="also score this set and put the recorded numbers next to its own")
    p.add_argument("--device", type=device_name, default="auto", help="auto|cpu|cuda (for --data)")
    p.add_argument("--json", dest="json_out", default=None, help="write the card as JSON here")
    p.set_defaults(func=run_card)


def card_lines(detector, chains: dict, seen) -> list[str]:
    """The card as lines of text (without the --data check)."""
    meta, training = detector.meta, detector.meta.get("training") or {}
    size = detector.path.stat().st_size / 1e6 if detector.path and detector.path.exists() else None
    lines = [f"Model card: {detector.name} (sha256 {detector.sha256[:12]}"
             + (f", {size:.1f} MB, stored as {meta.get('storage_dtype', 'float32')})" if size else ")"),
             f"Model: {model_card.short_name(detector.backbone, len(training.get('members') or []))} · input "
             f"{detector.input_size_words} · threshold {detector.threshold:.4f} ({meta.get('threshold_source')})"
             + (f" · trained on {' + '.join(model_card.devices(chains))}" if chains else "")]
    if not chains:
        return [*lines, "No training recorded (a bare state dict, as the report's code saved it)."]
    lines.append("Lineage (newest first):")
    for name, chain in chains.items():
        lines.append(f"  {name}")
        for i, step in enumerate(chain):
            source = step.start or chain[i + 1].name
            result = f"; best epoch {step.best_epoch}" if step.best_epoch else ""
            result += f", val ROC-AUC {step.roc_auc:.4f}" if step.roc_auc is not None else ""
            lines.append(f"    <- {source}: {step.what()}{result}")
    lines.append("Departures from the report's recipe (last run):")
    for name, chain in chains.items():
        table = model_card.recipe_table(chain[0].recipe)
        gone = table[table["departs"]]
        lines.append(f"  {name}: " + (", ".join(f"{r['setting']} {r['value']} (report: {r['report' + chr(39) + 's recipe']})"
                                                for _, r in gone.iterrows()) or "none"))
    recorded = training.get("validation") or {}
    if recorded.get("roc_auc") is not None:
        lines.append(f"Recorded validation at 0.5 ({recorded.get('n_real')} real, {recorded.get('n_fake')} fake): "
                     f"ROC-AUC {recorded['roc_auc']:.4f}, accuracy {recorded.get('accuracy', float('nan')):.4f}")
    lines.append(f"Seen images: {len(seen.train)} training and {len(seen.val)} validation digests ({seen.where})" if seen
                 else "Seen images: not recorded (`python -m core fingerprint` adds them)")
    return lines


def run_card(args: argparse.Namespace) -> int:
    from .checkpoint import load_detector, resolve_device

    if args.data:
        from .data import scan_test_set

        scan_test_set(args.data)  # a bad folder is said before the card, not after it
    detector = load_detector(args.weights or default_weights(), resolve_device(args.device))
    chains = model_card.lineages(detector.meta, detector.name)
    seen = provenance.model_seen(detector)
    print("\n".join(card_lines(detector, chains, seen)))
    out = {"weights": str(detector.path), "weights_sha256": detector.sha256,
           "lineage": model_card.lineage_table(chains).to_dict(orient="records"),
           "departures": {name: model_card.recipe_table(chain[0].recipe).query("departs").to_dict(orient="records")
                          for name, chain in chains.items()}}
    if args.data:
        rec = _check(detector, args.data, seen)
        if rec is not None:
            out["recorded_vs_now"] = rec.table.to_dict(orient="records")
    write_json(out, args.json_out)
    return 0


def _check(detector, data: str, seen):
    """Score ``data`` (cache first) and print the recorded numbers next to its own."""
    from tqdm import tqdm

    from .data import require_readable, scan_test_set
    from .evaluation import evaluate

    test_set = scan_test_set(data)
    with tqdm(total=len(test_set), unit="img", desc="scoring", file=sys.stderr, leave=False) as bar:
        ev = evaluate(detector, test_set, progress=lambda p: bar.update(p.done - bar.n))
    frame = ev.predictions.frame
    if ev.predictions.note:
        print(f"warning: {ev.predictions.note}", file=sys.stderr)
    require_readable(len(frame), test_set, ev.predictions.skipped)
    o = provenance.check(frame, seen)
    rec = model_card.recorded_vs_now(detector.meta, ev.sweep.summary(model_card.RECORDED_THRESHOLD),
                                     model_card.is_validation_set(detector.meta, frame, o))
    if rec is None:
        print("No recorded validation numbers to compare with.")
        return None
    precision = ((detector.meta.get("training") or {}).get("recipe") or {}).get("precision")
    print(model_card.recorded_words(rec, str(Path(data)), ev.predictions.precision, precision).replace("`", ""))
    print(rec.table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    return rec
