"""``python -m core train``: the report's training recipe, with its knobs exposed.

Defaults are the report's: Resize 256 → RandomResizedCrop 224 (scale 0.8–1), flip,
ColorJitter(0.2, 0.2, 0.1, 0.1), ImageNet normalisation, focal loss (α 0.25, γ 2),
class-balanced sampling, AdamW lr 2e-4 / wd 1e-5, batch 24, 20 epochs, a cosine
learning-rate schedule; the best epoch is kept by validation ROC-AUC, with early
stopping. Every epoch leaves ``FILE.last.pt`` so ``--resume`` continues after an
interruption; each epoch re-seeds from ``seed + epoch``, so a resumed run on the CPU is
the same run.

Beyond the report: ``--region-loss W`` adds a training-only head that predicts, at every
cell of the backbone's feature map, whether that part of the face was pasted in. CIPLab
fakes name their replaced parts in the file name (``core.regions``), so each fake gives
a coarse map (the canonical-face boxes of those parts) and each real face an empty one;
fakes whose names say nothing only train the image label. The head is dropped when the
checkpoint is written: the shipped model is the report's ``FaceClassifier``, its backbone
taught where composites are. ``--init FILE`` starts from a checkpoint's weights (e.g. a
smaller input size first, then a larger one).
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .checkpoint import resolve_device, save_checkpoint
from .data import DatasetError, unreadable_words
from .metrics import MetricUnavailable, ThresholdSweep
from .preprocess import Preprocessing
from .train_card import build_card, write_model_card
from .train_data import (class_balanced_weights, decode_frame, epoch_loader, pre_crop_size, split_frames,
                         train_dataset, val_copies_of_train, val_dataset)
from .train_resume import interrupted_words, load_state, restore, resume_problem, save_state, saved_or_said
from .train_start import start_model


class TrainingDiverged(RuntimeError):
    """The loss or the model's outputs went NaN or infinite (a learning rate too high, say)."""


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """The report's focal loss (Lin et al. 2017), mean over the batch."""
    bce = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    pt = torch.exp(-bce)
    return (alpha * (1 - pt) ** gamma * bce).mean()


def region_loss(logits: torch.Tensor, masks: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Per-cell binary cross-entropy between the region head's (N, 1, h, w) logits and the
    replaced-part masks (N, 1, H, W), averaged down to the head's grid (the fraction of
    each cell that was pasted in); images whose parts are unknown (``known`` False) count
    for nothing."""
    target = nn.functional.adaptive_avg_pool2d(masks, logits.shape[-2:])
    per_image = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=(1, 2, 3))
    weight = known.float()
    return (per_image * weight).sum() / weight.sum().clamp(min=1.0)


def _freeze(model, mode: str) -> None:
    if mode == "none":
        return
    params = list(model.model.named_parameters())
    cut = len(params) // 2 if mode == "partial" else len(params)
    for _, p in params[:cut]:
        p.requires_grad_(False)


def _evaluate(model, loader, device, amp_dtype, tta: bool) -> dict:
    model.eval()
    logits, labels = [], []
    with torch.inference_mode(), torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        for x, y in loader:
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            out = model(x).float()
            if tta:
                out = torch.logit((torch.sigmoid(out) + torch.sigmoid(model(torch.flip(x, dims=[3])).float())) / 2, eps=1e-7)
            logits.append(out.cpu())
            labels.append(y)
    logits, labels = torch.cat(logits), torch.cat(labels)
    if not torch.isfinite(logits).all():
        raise TrainingDiverged("the model's validation outputs are NaN or infinite")
    p = torch.sigmoid(logits).numpy().ravel()
    sweep = ThresholdSweep(labels.numpy().ravel(), p)
    try:
        auc = sweep.roc().auc
    except MetricUnavailable:
        auc = float("nan")
    c = sweep.confusion(0.5)
    return {
        "loss": float(nn.functional.binary_cross_entropy_with_logits(logits, labels)),
        "accuracy": c.accuracy,
        "roc_auc": auc,
        "real_pass_rate": c.real_pass_rate,
        "fake_catch_rate": c.fake_catch_rate,
        "p_real": p,
        "label": labels.numpy().ravel(),
    }


def _train_epoch(model, head, bar, optimizer, loss_fn, args, device, amp_dtype, ema=None) -> dict:
    """One pass over ``bar`` (the epoch's loader in its progress bar); returns the mean train loss (and
    region loss) and the images seen.
    ``ema`` (a ``torch.optim.swa_utils.AveragedModel``) is updated after every step."""
    model.train()
    e0, seen, total_loss, total_region = time.perf_counter(), 0, 0.0, 0.0
    for batch in bar:
        x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            features = model.feature_map(x)  # model(x), in its steps: the region head reads the features too
            logits = model.classifier(model.pooled(features))
            region_logits = head(features) if head is not None else None
        loss = loss_fn(logits.float(), y)
        if head is not None:
            aux = region_loss(region_logits.float(), batch[2].to(device), batch[3].to(device))
            loss = loss + args.region_loss * aux
            total_region += aux.item() * len(y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if ema is not None:
            ema.update_parameters(model)
        seen += len(y)
        total_loss += loss.item() * len(y)
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", img_s=f"{seen / (time.perf_counter() - e0):.1f}")
    bar.close()
    return {"train_loss": total_loss / max(1, seen), "train_region_loss": total_region / max(1, seen),
            "seen": seen}


def _prepare_data(args: argparse.Namespace, train_df, val_df, split_how: str, workers: int):
    """(train_df, val_df, train_ds, val_ds): the split decoded once into memory; unreadable
    files are named and left out, and a side left with one class stops the run."""
    pre = Preprocessing(input_size=args.image_size)
    t0 = time.perf_counter()
    print(f"decoding {len(train_df)} train + {len(val_df)} val images ({split_how})", file=sys.stderr)
    train_df, train_arrays, bad = decode_frame(train_df, pre_crop_size(args.image_size), max(workers, 2))
    val_df, val_arrays, bad_val = decode_frame(val_df, pre.input_size, max(workers, 2))
    if bad or bad_val:  # one bad file must not stop a run: named here and left out of the card's counts
        print(f"left out {unreadable_words(bad + bad_val, 10)}", file=sys.stderr)
    for name, frame in (("train", train_df), ("validation", val_df)):
        if frame["label"].nunique() < 2:
            raise DatasetError(f"the readable {name} images hold one class only (or none); training needs real "
                               "and fake images in both train and validation")
    train_ds, note = train_dataset(args, train_df, train_arrays, pre)
    if note:
        print(note, file=sys.stderr)
    val_ds = val_dataset(val_df, val_arrays, pre)
    print(f"decoded in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return train_df, val_df, train_ds, val_ds


def _optimisation(args: argparse.Namespace, model, device):
    """(region head or None, optimizer, scheduler, EMA or None) for ``model``, already on ``device``."""
    head = None
    if args.region_loss > 0:  # training-only: not part of the checkpoint
        head = nn.Conv2d(model.attention[0].in_channels, 1, kernel_size=1).to(device, memory_format=torch.channels_last)
    trainable = [p for p in model.parameters() if p.requires_grad] + (list(head.parameters()) if head is not None else [])
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, args.epochs))
        if args.schedule == "cosine"
        else torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0)
    )
    ema = None
    if args.ema:  # weights and BatchNorm statistics averaged: the average is what is validated and shipped
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True)
    return head, optimizer, scheduler, ema


def _epoch_line(row: dict, improved: bool) -> str:
    return (f"epoch {row['epoch']:>2}  train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
            f"val acc {row['val_accuracy']:.4f}  val ROC-AUC {row['val_roc_auc']:.4f}  "
            f"{row['images_per_s']:.1f} img/s  {row['seconds']:.0f}s" + ("  *best" if improved else ""))


def run_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    device = resolve_device(args.device)
    amp_dtype = {"float32": None, "bfloat16": torch.bfloat16}.get(args.precision, torch.bfloat16 if device.type == "cuda" else None)
    workers = args.workers if args.workers is not None else min(8, max(1, (torch.get_num_threads() or 2)))
    out = Path(args.out)
    last_path = out.with_name(out.name + ".last.pt")
    saved = load_state(last_path)
    problem = resume_problem(args, last_path, saved)
    if problem:  # before any work: a fresh start must not overwrite an unfinished run, nor --resume change it
        print(f"error: {problem}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    train_df, val_df, split_how = split_frames(args.data, args.val_fraction, args.seed)
    val_copies = val_copies_of_train(train_df, val_df)
    if val_copies:  # said before training: the validation that picks the best epoch overstates
        print(f"warning: {val_copies} of the {len(val_df)} validation files are byte-identical to training files: "
              "validation scores images the model trains on", file=sys.stderr)
    # Build the model first: a missing pretrained file stops here, before minutes of decoding.
    model, lineage = start_model(args)
    train_df, val_df, train_ds, val_ds = _prepare_data(args, train_df, val_df, split_how, workers)
    _freeze(model, args.freeze)
    # channels_last: the layout oneDNN and cuDNN convolutions are fastest in (~1.3x here)
    model.to(device, memory_format=torch.channels_last)
    head, optimizer, scheduler, ema = _optimisation(args, model, device)
    shipped = ema.module if ema is not None else model  # the weights validated, kept as best and saved
    sample_weights = class_balanced_weights(train_df["label"].to_numpy(), args.synthetic_fakes)
    val_loader = DataLoader(val_ds, batch_size=64, num_workers=0)
    run = restore(args, last_path, saved, model, head, ema, optimizer, scheduler)
    run["val_copies"] = val_copies

    loss_fn = (lambda z, y: focal_loss(z, y, args.focal_alpha, args.focal_gamma)) if args.loss == "focal" else nn.functional.binary_cross_entropy_with_logits
    epochs_without_gain = run["history"][-1]["epoch"] - run["best"]["epoch"] if run["history"] else 0
    stop_at = args.epochs if args.stop_after is None else min(args.epochs, run["start_epoch"] - 1 + args.stop_after)
    try:  # Ctrl-C: say what is saved and how to go on, not a bare 'interrupted'
        for epoch in range(run["start_epoch"], stop_at + 1):
            if epochs_without_gain >= args.patience:
                print(f"early stop: no better validation ROC-AUC for {args.patience} epochs", file=sys.stderr)
                break
            torch.manual_seed(args.seed + epoch)  # dropout and augmentation of this epoch
            loader = epoch_loader(args, train_ds, sample_weights, workers, device, epoch)
            e0, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]  # this epoch's rate (step() sets the next)
            bar = tqdm(loader, desc=f"epoch {epoch}/{args.epochs}", unit="batch", file=sys.stderr, leave=False)
            try:
                done = _train_epoch(model, head, bar, optimizer, loss_fn, args, device, amp_dtype, ema)
                if not np.isfinite(done["train_loss"]):
                    raise TrainingDiverged(f"the training loss is {done['train_loss']}")
                scheduler.step()
                val = _evaluate(shipped, val_loader, device, amp_dtype, tta=False)
            except TrainingDiverged as exc:
                kept = (f"; {last_path} holds epoch {epoch - 1} for --resume (a run with another --lr starts over: "
                        "delete it first)" if epoch > 1 and last_path.exists() else "")
                print(f"error: training diverged in epoch {epoch}: {exc}. Try a lower --lr (now {args.lr:g}){kept}; "
                      f"nothing was written to {out}", file=sys.stderr)
                return 2
            seconds = time.perf_counter() - e0  # with the validation pass, as every card so far
            row = {"epoch": epoch, "train_loss": done["train_loss"], "val_loss": val["loss"],
                   "val_accuracy": val["accuracy"], "val_roc_auc": val["roc_auc"], "lr": lr,
                   "seconds": seconds, "images_per_s": done["seen"] / seconds}
            if head is not None:
                row["train_region_loss"] = done["train_region_loss"]
            run["train_seconds"] += seconds
            run["history"].append(row)
            improved = val["roc_auc"] > run["best"]["roc_auc"]
            if improved:
                run["best"] = {"roc_auc": val["roc_auc"], "epoch": epoch}
                run["best_state"] = {k: v.detach().cpu().clone() for k, v in shipped.state_dict().items()}
            epochs_without_gain = epoch - run["best"]["epoch"]
            print(_epoch_line(row, improved), flush=True)
            save_state(last_path, args, model, head, ema, optimizer, scheduler, run, epoch)
            run["saved_epoch"] = epoch

        if stop_at < args.epochs and epochs_without_gain < args.patience:
            print(f"stopped after epoch {stop_at} as asked; continue with --resume", file=sys.stderr)
            return 0
        _finish(args, out, last_path, model, lineage, device, amp_dtype, val_loader, train_df, val_df, split_how, run)
    except KeyboardInterrupt:
        print(interrupted_words(last_path, run, args.epochs), file=sys.stderr)
        return 130
    return 0


def _finish(args, out: Path, last_path: Path, model, lineage, device, amp_dtype, val_loader, train_df, val_df,
            split_how: str, run: dict) -> None:
    """The best epoch's weights validated again (with flip TTA when asked) and written with their model card."""
    model.load_state_dict(run["best_state"])
    final = _evaluate(model, val_loader, device, amp_dtype, tta=False)
    final_tta = _evaluate(model, val_loader, device, amp_dtype, tta=True) if args.tta else None
    card = build_card(args, device, amp_dtype, train_df, val_df, split_how, run["history"], run["best"], final,
                      final_tta, run["train_seconds"], run["schedule_changes"], run["val_copies"])
    card["init_from"] = lineage
    model = model.cpu().to(memory_format=torch.contiguous_format)
    with saved_or_said(out, f"the run is kept in {last_path}: free space and run the same command with --resume to write it"):
        save_checkpoint(out, model, Preprocessing(input_size=args.image_size), threshold=0.5,
                        threshold_source="0.5: the report's rule (model trained class-balanced)", training=card, half=args.half)
    with saved_or_said(out.with_suffix(".json"), f"{out} is written (its card is in it too: python -m core card {out})"):
        write_model_card(out, card)
    best = run["best"]
    print(f"best epoch {best['epoch']}: val ROC-AUC {final['roc_auc']:.4f}, accuracy {final['accuracy']:.4f}"
          + (f"; with flip TTA ROC-AUC {final_tta['roc_auc']:.4f}, accuracy {final_tta['accuracy']:.4f}" if final_tta else "")
          + f"  -> {out}")
    if last_path.exists():  # optimizer state and all: several times the checkpoint's size
        print(f"resume state kept in {last_path} ({last_path.stat().st_size / 1e6:.0f} MB): more epochs with "
              "--resume --epochs N, or delete it", file=sys.stderr)
