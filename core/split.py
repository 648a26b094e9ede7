"""Train/validation splits of a test-set folder: rows split by class, and the split written
as folders of symlinks in the report's layout (``python -m core split``)."""
from __future__ import annotations

import os
import random
from pathlib import Path

import pandas as pd

from .data import LABEL_NAMES, DatasetError, os_error_words, scan_test_set, unreadable


def stratified_split(
    images: pd.DataFrame, val_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into (train, val), stratified by label, reproducible for a seed.

    Each class contributes ``round(n_class * val_fraction)`` images (at least one
    when the class has two or more) to validation.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = random.Random(seed)
    val_idx: list[int] = []
    for label in sorted(images["label"].unique()):
        idx = sorted(images.index[images["label"] == label].tolist(), key=lambda i: images.at[i, "relpath"])
        rng.shuffle(idx)
        n_val = round(len(idx) * val_fraction)
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val_idx.extend(idx[:n_val])
    val_mask = images.index.isin(val_idx)
    return images[~val_mask].reset_index(drop=True), images[val_mask].reset_index(drop=True)


def _clear_old_split(out: Path) -> None:
    """Remove the links an earlier ``write_split`` left in ``out/train`` and ``out/val``: a
    re-run with another seed or fraction must not leave old links behind (they would put
    validation images in train). Real files are never touched: a folder holding one refuses."""
    walks = [list(os.walk(out / name, topdown=False)) for name in ("train", "val")]  # deepest first, no links followed
    for dirpath, _, files in (step for walk in walks for step in walk):
        kept = [f for f in files if not os.path.islink(os.path.join(dirpath, f))]
        if kept:
            raise FileExistsError(f"{os.path.join(dirpath, kept[0])} is a file, not a link a split wrote: "
                                  f"choose an empty --out folder (nothing was changed)")
    for dirpath, dirs, files in (step for walk in walks for step in walk):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            os.unlink(os.path.join(dirpath, name))
        os.rmdir(dirpath)


def _write_links(out: Path, split_name: str, frame: pd.DataFrame) -> dict:
    """``out/split_name/{real,fake}/...``: one link per row; returns the counts per class."""
    for row in frame.itertuples():
        below = Path(row.relpath).relative_to(Path(row.relpath).parts[0])  # training_real/a.jpg -> real/a.jpg
        dest = out / split_name / LABEL_NAMES[row.label] / below
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(Path(row.path).resolve())
    return {LABEL_NAMES[k]: int(v) for k, v in frame["label"].value_counts().sort_index().items()}


def write_split(src: str | os.PathLike, out: str | os.PathLike, val_fraction: float = 0.1, seed: int = 0) -> dict:
    """Write ``out/train`` and ``out/val`` as folders of symlinks in the report's layout.

    Returns counts per split and class, and ``left_out``: (relpath, reason) of the files
    that are not readable images (they would stop training and blur the counts). The
    links of an earlier split in ``out`` are removed first, so the command can be re-run
    with another seed or fraction; real files there are never touched.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    test_set = scan_test_set(src, require_both=True)
    reasons = [unreadable(p) for p in test_set.images["path"]]
    left_out = [(r, why) for r, why in zip(test_set.images["relpath"], reasons) if why]
    images = test_set.images[[why is None for why in reasons]]
    if images["label"].nunique() < 2:
        raise DatasetError(f"{src}: no readable images of one class; both classes are needed to split.")
    train, val = stratified_split(images, val_fraction, seed)
    out = Path(out)
    try:
        _clear_old_split(out)
        counts = {name: _write_links(out, name, frame) for name, frame in (("train", train), ("val", val))}
    except FileExistsError:
        raise  # _clear_old_split's own words
    except OSError as exc:  # a read-only or full disk, a place even root may not write (/sys): one line, not a traceback
        from .cli import OutputError

        at = f" ({exc.filename})" if exc.filename and Path(exc.filename) != out else ""
        raise OutputError(f"cannot write the split in {out}{at}: {os_error_words(exc)}") from None
    return {"source": str(Path(src).resolve()), "val_fraction": val_fraction, "seed": seed, "counts": counts,
            "left_out": [list(x) for x in left_out]}
