"""Keep the ablation table in one place: ``weights/ablation.json``.

    python tools/ablation_table.py add NAME "what changed" RUN.json [--command "..."]
    python tools/ablation_table.py markdown            # the table for the README and model card
    python tools/ablation_table.py card weights/default.md   # rewrite the card's "## Ablation" section

``add`` takes a row from the model card that ``python -m core train`` wrote beside a
checkpoint (``RUN.json``), so no number is typed by hand; a row of the same name is replaced.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

TABLE = Path(__file__).resolve().parent.parent / "weights" / "ablation.json"


def row_from_card(name: str, what: str, card: dict, command: str | None) -> dict:
    tta = card.get("validation_tta") or {}
    if card.get("kind") == "ensemble":  # written by `python -m core ensemble --data VAL`
        if not card.get("validation"):
            raise SystemExit(f"{name}: the ensemble's card has no validation numbers; build it with --data VAL")
        members = card["members"]
        return {
            "name": name, "what": what,
            "val_roc_auc": round(card["validation"]["roc_auc"], 4),
            "val_accuracy": round(card["validation"]["accuracy"], 4),
            "val_roc_auc_flip_tta": round(tta["roc_auc"], 4) if tta else None,
            "val_accuracy_flip_tta": round(tta["accuracy"], 4) if tta else None,
            "best_epoch": None, "epochs_run": None,
            "training_time_s": sum(_total_time(m) for m in members),
            "device": " + ".join(dict.fromkeys(d for m in members for d in _devices(m))),
            "precision": "float32 (evaluate)",
            **({"command": command} if command else {}),
        }
    return {
        "name": name,
        "what": what,
        "val_roc_auc": round(card["validation"]["roc_auc"], 4),
        "val_accuracy": round(card["validation"]["accuracy"], 4),
        "val_roc_auc_flip_tta": round(tta["roc_auc"], 4) if tta else None,
        "val_accuracy_flip_tta": round(tta["accuracy"], 4) if tta else None,
        "best_epoch": card["best_epoch"],
        "epochs_run": len(card["history"]),
        "training_time_s": card["training_time_s"],
        "device": card["device"],
        "precision": card["recipe"]["precision"],
        **({"command": command} if command else {}),
    }


def _total_time(record: dict) -> float:
    """Training time of a model and of the models it was started from (``--init``)."""
    t = record.get("training_time_s") or 0.0
    return t + (_total_time(record["init_from"]) if record.get("init_from") else 0.0)


def _devices(record: dict) -> list[str]:
    """Devices of a model and of the models it was started from."""
    own = [record["device"]] if record.get("device") else []
    return own + (_devices(record["init_from"]) if record.get("init_from") else [])


def device_label(device: str) -> str:
    """A model card's device ("cuda: NVIDIA H100 80GB HBM3", "cpu: x86_64 (2 threads)") as a
    short table cell: "GPU (H100)", "CPU (2 threads)"."""
    if " + " in device:  # an ensemble's members: one label per kind, the most specific one
        labels = list(dict.fromkeys(device_label(d) for d in device.split(" + ")))
        labels = [x for x in labels if not (x in ("CPU", "GPU") and any(y.startswith(x + " (") for y in labels))]
        return " + ".join(labels)
    kind, _, name = device.partition(": ")
    if kind == "cuda":
        words = [w for w in name.split() if w not in ("NVIDIA", "Tesla", "GeForce")]
        return f"GPU ({words[0]})" if words else "GPU"
    threads = re.search(r"\((\d+) threads?\)", name)
    return f"CPU ({threads.group(1)} threads)" if threads else "CPU"


def markdown(table: dict, shipped: str | None = None) -> str:
    lines = [
        "| run | what changed | val ROC-AUC | val accuracy @0.5 | ROC-AUC flip TTA | best epoch / run | training time | device |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table["rows"]:
        tta = "n/a" if r.get("val_roc_auc_flip_tta") is None else f"{r['val_roc_auc_flip_tta']:.4f}"
        device = device_label(r["device"])
        name = f"{r['name']} (**shipped**)" if r["name"] == (shipped or table.get("shipped")) else r["name"]
        epochs = "members" if r.get("best_epoch") is None else f"{r['best_epoch']} / {r['epochs_run']}"
        lines.append(
            f"| {name} | {r['what']} | {r['val_roc_auc']:.4f} | {r['val_accuracy']:.4f} | {tta} | "
            f"{epochs} | {r['training_time_s'] / 60:.1f} min | {device} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add")
    a.add_argument("name")
    a.add_argument("what")
    a.add_argument("card", type=Path)
    a.add_argument("--command", default=None)
    sub.add_parser("markdown")
    c = sub.add_parser("card")
    c.add_argument("path", type=Path)
    s = sub.add_parser("ship")
    s.add_argument("name")
    args = ap.parse_args(argv)
    table = json.loads(TABLE.read_text())
    if args.cmd == "add":
        row = row_from_card(args.name, args.what, json.loads(args.card.read_text()), args.command)
        table["rows"] = [r for r in table["rows"] if r["name"] != args.name] + [row]
        table["rows"].sort(key=lambda r: -r["val_roc_auc"])
        TABLE.write_text(json.dumps(table, indent=1) + "\n")
        print(f"{args.name}: val ROC-AUC {row['val_roc_auc']:.4f}, accuracy {row['val_accuracy']:.4f}")
    elif args.cmd == "ship":
        if args.name not in {r["name"] for r in table["rows"]}:
            ap.error(f"no row named {args.name}")
        table["shipped"] = args.name
        TABLE.write_text(json.dumps(table, indent=1) + "\n")
    elif args.cmd == "markdown":
        print(markdown(table))
    else:
        text = args.path.read_text()
        head = text.split("\n## Ablation")[0].rstrip("\n")
        section = (f"\n\n## Ablation (validation split: {table['split']})\n\nEach row: `python -m core train` "
                   "with the report's recipe unless the row says otherwise; best epoch by validation ROC-AUC; "
                   f"the exact commands are in `weights/ablation.json`.\n\n{markdown(table)}\n")
        args.path.write_text(head + section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
