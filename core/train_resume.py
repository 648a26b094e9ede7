"""``FILE.last.pt``, the state ``python -m core train --resume`` continues from.

Every epoch saves it (model, optimizer, scheduler, history and the run's options). A run
continues only with the options it was started with: another learning rate, image size,
data folder or backbone would make a different run than its model card describes. Only
how long it runs and how it is written may change (``MAY_CHANGE``). A run that is not
finished is not thrown away by a command without ``--resume``.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
from pathlib import Path

import torch

from .cli import OutputError
from .data import os_error_words

# May differ on --resume: how long the run goes on, how many processes load its data (each draw's
# augmentation is seeded on its own: train_data.SeededDraws), and what is written at the end
# (the card's note, flip TTA, float16 storage).
MAY_CHANGE = ("epochs", "stop_after", "workers", "patience", "note", "tta", "half")
_NOT_OPTIONS = ("resume", "out", "func", "command")
_PATHS = ("data", "init", "pretrained")


def load_state(last_path: Path) -> dict | None:
    """What ``save_state`` wrote at ``last_path``, or None when there is none."""
    return torch.load(last_path, map_location="cpu", weights_only=False) if last_path.exists() else None


def finished(state: dict) -> bool:
    """Whether the saved run had ended: all its epochs done, or its patience run out."""
    saved, epoch = state.get("args") or {}, state["epoch"]
    return epoch >= saved.get("epochs", epoch) or patience_ran_out(state, saved.get("patience", epoch + 1))


def patience_ran_out(state: dict, patience: int) -> bool:
    """Whether a saved run has had ``patience`` epochs or more without a better validation ROC-AUC:
    the training loop would stop before another epoch."""
    return state["epoch"] - state["best"]["epoch"] >= patience


def _resolved(name: str, value):
    """A path option as an absolute path (``save_state`` saves them so: the same folder named from
    another working directory is the same); other options as they are."""
    if name in _PATHS and isinstance(value, str) and value not in ("auto", "none", ""):
        return str(Path(value).resolve())
    return value


def _comparable(name: str, value):
    """A saved or given option as compared: paths resolved (a relative one saved before paths were
    saved absolute is read from here), ``--device auto`` as the device it picks."""
    if name == "device" and isinstance(value, str):
        from .checkpoint import DeviceUnavailable, resolve_device

        try:
            return resolve_device(value).type
        except DeviceUnavailable:
            return value
    return _resolved(name, value)


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
        if args.resume:
            return (f"--resume: there is no {last_path} to resume from (no run with this --out saved an epoch here); "
                    "drop --resume to start a fresh run")
        return None
    done, saved = state["epoch"], state.get("args") or {}
    if not args.resume:
        if finished(state):
            return None  # its model is written; a new run with the same --out replaces both, as asked
        return (f"{last_path} holds an unfinished run (epoch {done} of {saved.get('epochs', '?')} "
                f"done): add --resume to continue it, or delete {last_path} to start over")
    diffs = changed_options(saved, args)
    used, here = state.get("device_used"), _comparable("device", args.device)
    if used and used != here and not any(d.startswith("--device") for d in diffs):
        diffs.append(f"--device: the saved run trained on {used}, --device {args.device} picks {here} here "
                     "(its precision and the card's device would change mid-run)")
    if diffs:
        allowed = ", ".join("--" + n.replace("_", "-") for n in MAY_CHANGE)
        return (f"--resume: {last_path} was saved by a run with other options, and its model card would describe "
                "a run that never happened:\n  " + "\n  ".join(diffs) + "\n"
                f"To continue it, give the saved values (only {allowed} may change). To train with the new "
                f"ones, start over: drop --resume and delete {last_path}, or choose another --out.")
    if args.epochs < done:
        return f"--resume --epochs {args.epochs}: {last_path} has already trained {done} epochs; give --epochs {done} or more"
    best, planned = state["best"]["epoch"], saved.get("epochs", done)
    if args.epochs > max(done, planned) and patience_ran_out(state, args.patience):  # an extension that would stop at once
        return (f"--resume --epochs {args.epochs}: the saved run has had no better validation ROC-AUC since epoch {best} "
                f"({done - best} epoch{'s' * (done - best != 1)} to epoch {done}, --patience {args.patience}), so it would stop before training "
                f"another; give --patience {done - best + 1} or more to train more epochs")
    return None


def save_state(last_path: Path, args, model, head, ema, optimizer, scheduler, run: dict, epoch: int) -> None:
    """Everything ``--resume`` needs after ``epoch``, written atomically (an interrupt mid-write keeps the last one)."""
    tmp = last_path.with_suffix(".tmp")
    kept = (f"{last_path} still holds epoch {run['saved_epoch']}: free space and continue with --resume"
            if run.get("saved_epoch") else "nothing of this run was saved yet")
    with saved_or_said(last_path, kept, f"epoch {epoch} to "):
        try:
            torch.save({"model": model.state_dict(), "region_head": head.state_dict() if head is not None else None,
                        "ema": ema.state_dict() if ema is not None else None,
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "history": run["history"], "best": run["best"], "best_state": run["best_state"], "epoch": epoch,
                        "train_seconds": run["train_seconds"], "schedule_changes": run["schedule_changes"],
                        "device_used": next(model.parameters()).device.type,
                        "args": {k: _resolved(k, v) for k, v in vars(args).items()} | {"func": None}}, tmp)
            tmp.replace(last_path)
        finally:
            tmp.unlink(missing_ok=True)


class SaveFailed(OutputError):
    """A checkpoint or resume state that could not be written (disk full, folder gone); the message
    says what is kept. ``python -m core`` prints it as one error line, exit 2."""


@contextlib.contextmanager
def saved_or_said(path: Path, kept: str, what: str = ""):
    """Writes to ``path`` inside; a failed one raises ``SaveFailed`` saying ``what`` could not be
    saved to ``path``, why, and ``kept``, what is left (not a traceback after an hour of training)."""
    try:
        yield
    except (OSError, RuntimeError) as exc:  # torch.save says a failed write as a RuntimeError naming the system's error
        if isinstance(exc, RuntimeError) and "strerror:" not in str(exc) and "PytorchStreamWriter failed" not in str(exc):
            raise  # not a write that failed: a bug, shown as one
        raise SaveFailed(f"could not save {what}{path} ({save_error_words(exc)}); {kept}") from None


def save_error_words(exc: Exception) -> str:
    """The reason a write failed: torch.save's RuntimeError ("[enforce fail at inline_container.cc:747] .
    open file failed with strerror: No space left on device") cut to its last part."""
    if isinstance(exc, OSError):
        return os_error_words(exc)
    why = str(exc).rsplit("strerror:", 1)[-1].strip() if "strerror:" in str(exc) else "the write failed"
    return why[:1].lower() + why[1:]


def extend_cosine(optimizer, scheduler, last_lr: float, done: int, total: int) -> float:
    """Re-plan a cosine schedule (``CosineAnnealingLR``, restored after ``done`` epochs) for
    ``total`` epochs: a cosine of its own from ``last_lr``, the rate epoch ``done`` trained at,
    over the epochs left, so the rate neither jumps back up nor reaches 0 before the last epoch
    (the restored schedule had annealed to 0 at its old end). Epoch ``done + t`` trains at
    ``last_lr * (1 + cos(pi * t / (total - done + 1))) / 2``. Returns the next epoch's rate."""
    span = total - done + 1  # epoch `done` is step 0 of the new cosine
    lr = last_lr * (1 + math.cos(math.pi / span)) / 2
    for group in optimizer.param_groups:
        group["lr"] = lr
    # CosineAnnealingLR steps by the ratio of consecutive cosine values, so from step 1 on it follows the new one
    scheduler.T_max, scheduler.last_epoch, scheduler.base_lrs = span, 1, [last_lr] * len(optimizer.param_groups)
    return lr


def trained_lr(state: dict) -> float:
    """The rate the last saved epoch trained at. A state saved before ``schedule_changes`` existed
    recorded each epoch's ``lr`` after the scheduler stepped, i.e. the next epoch's (0 at a cosine
    run's end): there the epoch before's entry, or the run's --lr after one epoch, is the rate."""
    history = state["history"]
    if "schedule_changes" in state:
        return history[-1]["lr"]
    return history[-2]["lr"] if len(history) > 1 else (state.get("args") or {}).get("lr", history[-1]["lr"])


def _replan(args: argparse.Namespace, state: dict, optimizer, scheduler) -> list[dict]:
    """The run's schedule changes (``schedule_changes`` of the state), with a new one when
    --resume gives the cosine schedule another epoch count than the saved run's."""
    changes = list(state.get("schedule_changes", []))
    planned = (state.get("args") or {}).get("epochs", args.epochs)
    if (args.schedule != "cosine" or planned == args.epochs or not state["history"] or args.epochs <= state["epoch"]
            or patience_ran_out(state, args.patience)):
        return changes  # the same plan, or no epoch left to train under a new one
    last_lr = trained_lr(state)
    lr = extend_cosine(optimizer, scheduler, last_lr, state["epoch"], args.epochs)
    print(f"cosine schedule re-planned from {planned} to {args.epochs} epochs: annealed from epoch {state['epoch']}'s "
          f"lr {last_lr:g} over the {args.epochs - state['epoch']} epochs left (next {lr:g})", file=sys.stderr)
    return changes + [{"after_epoch": state["epoch"], "epochs_before": planned, "epochs": args.epochs, "from_lr": last_lr}]


def restore(args: argparse.Namespace, last_path: Path, state: dict | None, model, head, ema, optimizer, scheduler) -> dict:
    """The run's progress: ``history``, ``best``, ``best_state``, ``start_epoch``,
    ``train_seconds``, ``schedule_changes`` and ``saved_epoch``, read back from ``state`` with ``--resume`` (the
    model, head, EMA, optimizer and scheduler restored in place, the cosine schedule
    re-planned for a new ``--epochs``), else a fresh start."""
    fresh = {"history": [], "best": {"roc_auc": -1.0, "epoch": 0}, "best_state": None, "start_epoch": 1,
             "train_seconds": 0.0, "schedule_changes": [], "saved_epoch": 0}
    if not args.resume or state is None:  # --resume without a state is refused before (resume_problem)
        return fresh
    model.load_state_dict(state["model"])
    if head is not None:
        head.load_state_dict(state["region_head"])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    changes = _replan(args, state, optimizer, scheduler)
    print(f"resuming after epoch {state['epoch']} from {last_path}", file=sys.stderr)
    return {"history": state["history"], "best": state["best"], "best_state": state["best_state"],
            "start_epoch": state["epoch"] + 1, "train_seconds": state.get("train_seconds", 0.0), "schedule_changes": changes,
            "saved_epoch": state["epoch"]}


def interrupted_words(last_path: Path, run: dict, epochs: int) -> str:
    """What a Ctrl-C leaves: the epoch ``last_path`` holds and that --resume continues from it.
    ``run["saved_epoch"]``: the last epoch ``save_state`` wrote (0: none yet)."""
    saved = run.get("saved_epoch", 0)
    if not saved:
        return "\ninterrupted before the first epoch was saved: nothing to resume; run the command again to start"
    return (f"\ninterrupted: {last_path} holds epoch {saved} of {epochs}; the same command with --resume "
            f"continues from there")
