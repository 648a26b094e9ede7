"""The model card a training run writes beside its checkpoint (``FILE.json`` and ``FILE.md``).

The card records what the checkpoint cannot say about itself: the data (folders, counts,
the split, content digests of every training and validation file), the recipe, the
per-epoch history, validation metrics at the shipped threshold, and how long training took
on which device. ``init_lineage`` chains the cards of ``--init`` parents, so a fine-tuned
model says where it came from after its parent file is gone.
"""
from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch

from . import atomic, provenance
from .metrics import ThresholdSweep, fmt
from .model_card import RECORDED_THRESHOLD
from .train_data import BLUR_SIGMA, DOWNSCALE, JPEG_QUALITY


def init_lineage(parent) -> dict:
    """What a run started from (``--init``): the parent checkpoint's file, hash and the
    summary of its own training, so a fine-tuned model's card says where it came from even
    after the parent file is replaced."""
    t = parent.meta.get("training") or {}
    return {
        "file": str(parent.path), "sha256": parent.sha256,
        "recipe": t.get("recipe"), "best_epoch": t.get("best_epoch"), "device": t.get("device"),
        "training_time_s": t.get("training_time_s"),
        "validation_roc_auc": (t.get("validation") or {}).get("roc_auc"), "init_from": t.get("init_from"),
    }


def build_card(args, device, amp_dtype, train_df, val_df, split_how, history, best, final, final_tta, train_seconds,
               schedule_changes=(), val_copies: int = 0) -> dict:
    """The JSON model card of a finished run: data (counts, validation files, content digests),
    recipe, per-epoch history, validation at threshold 0.5 (and with flip TTA), time and device.
    ``schedule_changes``: each --resume that re-planned the cosine schedule for a new epoch count;
    ``val_copies``: how many validation files are byte-identical to training files."""
    def counts(df):
        return {"real": int((df["label"] == 1).sum()), "fake": int((df["label"] == 0).sum())}

    sweep = ThresholdSweep(final["label"], final["p_real"])
    val_metrics = {k: v for k, v in sweep.summary(RECORDED_THRESHOLD).items() if k not in ("unavailable",)}
    device_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)")
    return {
        "data": {"source": str(Path(args.data).resolve()), "split": split_how, "train": counts(train_df), "val": counts(val_df),
                 "val_files": sorted(val_df["relpath"].tolist()), "val_identical_to_train": val_copies,
                 "digests": provenance.record(train_df["path"], val_df["path"])},
        "recipe": {
            "backbone": args.backbone, "pretrained": args.pretrained, "attention": not args.no_attention, "freeze": args.freeze,
            "image_size": args.image_size, "augment": args.augment, "loss": args.loss, "focal_alpha": args.focal_alpha,
            "focal_gamma": args.focal_gamma, "optimizer": "AdamW", "lr": args.lr, "weight_decay": args.weight_decay,
            "batch_size": args.batch_size, "epochs": args.epochs, "schedule": args.schedule, "patience": args.patience,
            "sampler": "WeightedRandomSampler (class-balanced)", "seed": args.seed, "precision": str(amp_dtype or "float32"),
            "region_loss": args.region_loss, "init": args.init, "synthetic_fakes": args.synthetic_fakes,
            "jpeg_augment": args.jpeg_augment,
            "degrade_augment": args.degrade_augment,
            "ema": getattr(args, "ema", 0.0), "schedule_changes": list(schedule_changes),
        },
        "history": history,
        "best_epoch": best["epoch"],
        "validation": {"threshold": RECORDED_THRESHOLD, **val_metrics},
        "validation_tta": None if final_tta is None else {"roc_auc": final_tta["roc_auc"], "accuracy": final_tta["accuracy"]},
        "training_time_s": round(train_seconds, 1),
        "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # patience ran out before --epochs: the last epoch trained, and the patience that ended the run
        "stopped_early": ({"after_epoch": history[-1]["epoch"], "patience": args.patience}
                          if history and history[-1]["epoch"] < args.epochs else None),
        "device": f"{device.type}: {device_name}",
        "torch": str(torch.__version__),
        "note": args.note,
    }


def digest_lines(rec: dict | None) -> list[str]:
    if not rec:
        return []
    hashes = " and their perceptual hashes (re-saved copies of them are known too)" if rec.get("phash") else ""
    return [f"- Seen images: content digests of the {len(rec['train'])} training and {len(rec['val'])} validation files{hashes} "
            "(the dashboard and `evaluate` warn when a test set contains them)"]


def lineage_lines(init: dict | None) -> list[str]:
    lines = []
    while init:  # a chain of --init runs, newest first
        r, auc = init.get("recipe") or {}, init.get("validation_roc_auc")
        what = (f"{r.get('backbone')} {r.get('image_size')} px, {r.get('epochs')} epochs max, lr {r.get('lr')}" if r else "no training record")
        lines.append(f"- Started from {Path(init['file']).name} (sha256 {init['sha256'][:12]}): {what}; trained on {init.get('device')}"
                     + (f", validation ROC-AUC {auc:.4f}" if auc is not None else ""))
        init = init.get("init_from")
    return lines


def schedule_change_words(changes: list[dict] | None) -> str:
    """' (re-planned after epoch 2 from 2 to 4 epochs: ...)' for each --resume that gave the
    cosine schedule a new epoch count, '' for none."""
    return "".join(f" (re-planned after epoch {c['after_epoch']} from {c['epochs_before']} to {c['epochs']} epochs: "
                   f"annealed from that epoch's lr {c['from_lr']:g} over the epochs left)" for c in changes or ())


def _end_words(card: dict) -> str:
    """How the run ended: stopped early by its patience, and when it finished (UTC), where recorded."""
    early = card.get("stopped_early")
    return ((f"; stopped early after epoch {early['after_epoch']} (no better validation ROC-AUC for "
             f"{early['patience']} epoch{'s' * (early['patience'] != 1)})" if early else "")
            + (f"; finished {card['finished_utc']}" if card.get("finished_utc") else ""))


def write_model_card(out: Path, card: dict) -> None:
    """``FILE.json`` and a readable ``FILE.md`` beside the checkpoint."""
    atomic.write_bytes(out.with_suffix(".json"), (json.dumps(card, indent=2) + "\n").encode())
    v, r = card["validation"], card["recipe"]

    def f(x):
        return fmt(x, 4)

    lines = [
        f"# Model card: {out.name}",
        "",
        f"- Backbone: {r['backbone']} (pretrained: {r['pretrained']}), attention: {r['attention']}, freeze: {r['freeze']}",
        f"- Input: {r['image_size']}x{r['image_size']}, squash resize, ImageNet mean/std; output sigmoid = P(real); REAL when P(real) >= 0.5",
        f"- Data: {card['data']['source']} — {card['data']['split']}; train {card['data']['train']}, validation {card['data']['val']}",
        *digest_lines(card["data"].get("digests")),
        *([f"- Warning: {card['data']['val_identical_to_train']} validation files are byte-identical to training files: "
            "validation scored images the model trained on"] if card["data"].get("val_identical_to_train") else []),
        f"- Recipe: {r['loss']} loss (alpha {r['focal_alpha']}, gamma {r['focal_gamma']}), {r['optimizer']} lr {r['lr']} wd {r['weight_decay']}, "
        f"batch {r['batch_size']}, {r['schedule']} schedule{schedule_change_words(r.get('schedule_changes'))}, {r['epochs']} epochs max (patience {r['patience']}), augment '{r['augment']}', "
        f"{r['sampler']}, seed {r['seed']}, {r['precision']}"
        + (f", region loss weight {r['region_loss']} (training-only head on the replaced parts named in CIPLab file names)" if r.get("region_loss") else "")
        + (f", {r['synthetic_fakes']:.2f} of real draws made into synthetic part-swap fakes" if r.get("synthetic_fakes") else "")
        + (f", {r['jpeg_augment']:.2f} of training images re-encoded as JPEG (quality {JPEG_QUALITY[0]}-{JPEG_QUALITY[1]})"
           if r.get("jpeg_augment") else "")
        + (f", {r['degrade_augment']:.2f} of training images blurred (sigma {BLUR_SIGMA[0]}-{BLUR_SIGMA[1]}) or downscaled "
           f"(x{DOWNSCALE[0]}-{DOWNSCALE[1]}) and rescaled" if r.get("degrade_augment") else "")
        + (f", weights averaged (EMA, decay {r['ema']} per step): the average is validated and shipped" if r.get("ema") else ""),
        f"- Trained on {card['device']} in {card['training_time_s']:.0f} s (torch {card['torch']}); best epoch {card['best_epoch']}"
        + _end_words(card),
        *lineage_lines(card.get("init_from")),
        "",
        "## Validation (best epoch, threshold 0.5)",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key in ("roc_auc", "accuracy", "precision", "recall", "specificity", "f1", "average_precision", "eer"):
        lines.append(f"| {key} | {f(v.get(key))} |")
    if card.get("validation_tta"):
        lines.append(f"| roc_auc with flip TTA | {f(card['validation_tta']['roc_auc'])} |")
        lines.append(f"| accuracy with flip TTA | {f(card['validation_tta']['accuracy'])} |")
    lines += ["", "## History", "", "| epoch | train loss | val loss | val acc | val ROC-AUC | img/s |", "|---|---|---|---|---|---|"]
    for h in card["history"]:
        lines.append(f"| {h['epoch']} | {h['train_loss']:.4f} | {h['val_loss']:.4f} | {f(h['val_accuracy'])} | {f(h['val_roc_auc'])} | {h['images_per_s']:.0f} |")
    if card.get("note"):
        lines += ["", f"Note: {card['note']}"]
    atomic.write_bytes(out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
