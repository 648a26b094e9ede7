"""``FILE.last.pt``, the state ``python -m core train --resume`` continues from.

Every epoch saves it (model, optimizer, scheduler, history and the run's options). A run
continues only with the options it was started with: another learning rate, image size,
data folder or backbone would make a different run than its model card describes. Only
how long it runs and how it is written may change (``MAY_CHANGE``). A run that is not
finished is not thrown away by a command without ``--resume``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

# May differ on --resume: how long the run goes on, how many processes load its data, and
# what is written at the end (the card's note, flip TTA, float16 storage).
MAY_CHANGE = ("epochs", "stop_after", "workers", "patience", "note", "tta", "half")
_NOT_OPTIONS = ("resume", "out", "func", "command")
_PATHS = ("data", "init", "pretrained")


def load_state(last_path: Path) -> dict | None:
    """What ``save_state`` wrote at ``last_path``, or None when there is none."""
    return torch.load(last_path, map_location="cpu", weights_only=False) if last_path.exists() else None


def finished(state: dict) -> bool:
    """Whether the saved run had ended: all its epochs done, or its patience run out."""
    saved, epoch = state.get("args") or {}, state["epoch"]
    return epoch >= saved.get("epochs", epoch) or epoch - state["best"]["epoch"] >= saved.get("patience", epoch + 1)


def _comparable(name: str, value):
    """A saved or given option as compared: paths resolved (the same folder from another cwd is the same)."""
    if name in _PATHS and isinstance(value, str) and value not in ("auto", "none", ""):
        return str(Path(value).resolve())
    return value


def _words(value) -> str:
    """An option's value as the command line gives it: a flag on or off, an option left out."""
    if isinstance(value, bool) or value is None:
        return {True: "on", False: "off", None: "not given"}[value]
    return str(value)


def changed_options(saved: dict, args: argparse.Namespace) -> list[str]:
    """'--lr: saved 0.0002, given 0.001' for each option that differs from the saved run's
    (options the saved run did not record yet are not compared)."""
    given = vars(args)
    return [f"--{name.replace('_', '-')}: saved {_words(saved[name])}, given {_words(given[name])}"
            for name in sorted(set(saved) & set(given)) if name not in MAY_CHANGE + _NOT_OPTIONS
            and _comparable(name, saved[name]) != _comparable(name, given[name])]


def resume_problem(args: argparse.Namespace, last_path: Path, state: dict | None) -> str | None:
    """Why this command must not run against ``last_path``'s ``state``, said before any work:
    an unfinished run that a fresh start would overwrite, or a --resume with other options
    or fewer epochs than are done. None when it may run."""
    if state is None:
        return None
    done = state["epoch"]
    if not args.resume:
        if finished(state):
            return None  # its model is written; a new run with the same --out replaces both, as asked
        return (f"{last_path} holds an unfinished run (epoch {done} of {(state.get('args') or {}).get('epochs', '?')} "
                f"done): add --resume to continue it, or delete {last_path} to start over")
    diffs = changed_options(state.get("args") or {}, args)
    if diffs:
        allowed = ", ".join("--" + n.replace("_", "-") for n in MAY_CHANGE)
        return (f"--resume: {last_path} was saved by a run with other options, and its model card would describe "
                "a run that never happened:\n  " + "\n  ".join(diffs) + "\n"
                f"To continue it, give the saved values (only {allowed} may change). To train with the new "
                f"ones, start over: drop --resume and delete {last_path}, or choose another --out.")
    if args.epochs < done:
        return f"--resume --epochs {args.epochs}: {last_path} has already trained {done} epochs; give --epochs {done} or more"
    return None


def save_state(last_path: Path, args, model, head, ema, optimizer, scheduler, run: dict, epoch: int) -> None:
    """Everything ``--resume`` needs after ``epoch``, written atomically (an interrupt mid-write keeps the last one)."""
    tmp = last_path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "region_head": head.state_dict() if head is not None else None,
                "ema": ema.state_dict() if ema is not None else None,
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "history": run["history"], "best": run["best"], "best_state": run["best_state"], "epoch": epoch,
                "train_seconds": run["train_seconds"], "args": vars(args) | {"func": None}}, tmp)
    tmp.replace(last_path)


def restore(args: argparse.Namespace, last_path: Path, state: dict | None, model, head, ema, optimizer, scheduler) -> dict:
    """The run's progress: ``history``, ``best``, ``best_state``, ``start_epoch`` and
    ``train_seconds``, read back from ``state`` with ``--resume`` (the model, head, EMA,
    optimizer and scheduler restored in place), else a fresh start."""
    fresh = {"history": [], "best": {"roc_auc": -1.0, "epoch": 0}, "best_state": None, "start_epoch": 1,
             "train_seconds": 0.0}
    if not args.resume:
        return fresh
    if state is None:
        print(f"no {last_path} to resume from; starting at epoch 1", file=sys.stderr)
        return fresh
    model.load_state_dict(state["model"])
    if head is not None:
        head.load_state_dict(state["region_head"])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    print(f"resuming after epoch {state['epoch']} from {last_path}", file=sys.stderr)
    return {"history": state["history"], "best": state["best"], "best_state": state["best_state"],
            "start_epoch": state["epoch"] + 1, "train_seconds": state.get("train_seconds", 0.0)}
