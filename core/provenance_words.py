"""What the model has seen of a test set or an upload, in words: the sentences the pages, the
CLI, the report and the API show for a ``core.provenance.Overlap`` or a ``Seen`` verdict.
Streamlit-free and torch-free.
"""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .metric_words import few_images_words, metric_value
from .metrics import ThresholdSweep, fmt
from .provenance import Overlap

# The columns of the tables of seen and near-copy test images (an ``Overlap``'s, ``core.near_copies``'),
# named for a person; their CSV downloads keep the data's own names. Sides: test/other (across two
# folders), a/b (two images of the test set).
SHOWN_COLUMNS = {
    "relpath": "file", "label": "true class",
    "test_relpath": "test image", "test_label": "test image's class",
    "other_relpath": "copy in the other folder", "other_label": "copy's class",
    "a_relpath": "test image", "a_label": "test image's class",
    "b_relpath": "copy in the test set", "b_label": "copy's class",
    "seen_as": "copy of a", "distance": "bits apart",
}
SHOWN_HELP = {  # by shown name, where the name alone does not say it
    "copy of a": "training: an image the model learned from; validation: one it was not trained on but chosen "
                 "by (its best epoch, its threshold)",
    "bits apart": "How many of the 256 bits of the two perceptual hashes (pHash) differ: re-saved, resized or "
                  "re-encoded copies of a picture measured at most 4 apart, two different faces 28 or more",
    "copy in the other folder": "The folder named above to compare with (e.g. the training data)",
}


def shown_table(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """``table`` with its columns named for a person (``SHOWN_COLUMNS``; others kept) and the help,
    by shown name, of those the name alone does not explain."""
    shown = table.rename(columns=SHOWN_COLUMNS)
    return shown, {name: text for name, text in SHOWN_HELP.items() if name in shown.columns}



def overlap_short(o: Overlap | None) -> str:
    """A table cell: "trained on 60 · chosen on 163", "none", or "not recorded"."""
    if o is None:
        return "not recorded"
    parts = [f"trained on {len(o.train)}" if len(o.train) else "", f"chosen on {len(o.val)}" if len(o.val) else ""]
    return " · ".join(p for p in parts if p) or "none"


def overlap_json(o: Overlap | None) -> dict:
    """The overlap for ``evaluate --json``: which test files the model was trained / chosen on."""
    if o is None:
        return {"checked": False}
    return {"checked": True, "from": o.where, "n_images": o.n_images,
            "trained_on": o.train["relpath"].tolist(), "chosen_on": o.val["relpath"].tolist()}


def upload_words(seen_as: str) -> str | None:
    """The tester's note for an upload the model has seen (``UploadVerdict.seen_as``)."""
    if seen_as == "training image":
        return ("This exact file is one of the model's training images: its verdict shows what the model learned, "
                "not how it judges a face it has never seen.")
    if seen_as == "validation image":
        return ("This exact file is one of the model's validation images: it was not trained on it, but it was "
                "chosen by its score on such images.")
    if seen_as == "near copy of a training image":
        return ("This picture is a re-saved copy (another size, quality or format) of one of the model's training "
                "images: its verdict shows what the model learned, not how it judges a face it has never seen.")
    if seen_as == "near copy of a validation image":
        return ("This picture is a re-saved copy of one of the model's validation images: it was not trained on it, "
                "but it was chosen by its score on such images.")
    return None


def _classes(part: pd.DataFrame) -> str:
    real = int((part["label"] == 1).sum())
    return f"{real} real, {len(part) - real} fake"


def overlap_words(o: Overlap | None) -> list[tuple[str, str]]:
    """(level, sentence) pairs for a page or the CLI; level is "error" (most of the set was
    trained on), "warning", "info" (chosen on), "ok" (none seen) or "unknown" (no record)."""
    if o is None:
        return [("unknown", "This checkpoint does not record which images it was trained on, so whether the test set "
                         "overlaps its training data cannot be checked (`python -m core fingerprint` records it for "
                         "a checkpoint trained before that).")]
    out = []
    n = o.n_images
    if len(o.train):
        share = len(o.train) / n
        out.append(("error" if share > 0.5 else "warning",
                    f"{len(o.train)} of the {n} test images ({share:.0%}; {_classes(o.train)}) are files this model "
                    "was trained on: on them the numbers measure memory, not detection. Evaluate on images it has "
                    "not seen."))
    if len(o.val):
        out.append(("info", f"{len(o.val)} of the {n} test images ({_classes(o.val)}) are this model's validation "
                            "images: it was not trained on them, but it was chosen (best epoch, members, settings) "
                            "by its score on them, so expect somewhat lower numbers on new images."))
    if not out:
        out.append(("ok", f"None of the {n} test images is a file this model was trained or chosen on "
                          f"(content digests, from {o.where}); re-saved or resized copies are another matter: "
                          "`python -m core near-copies` or the Data check page looks for those."))
    return out


def unseen_words(frame: pd.DataFrame, o, threshold: float, positive: str = "real",
                 copies: Iterable[str] = ()) -> str | None:
    """When only part of a test set trained the model (``core.provenance.Overlap``): the
    headline numbers on the rest, the part that is a test, leaving out ``copies`` too (relpaths
    of its training pictures saved again, ``core.near_copies.resaved_for``). None otherwise."""
    trained = set(o.train["relpath"]) | set(copies) if o is not None else set()
    if o is None or not len(o.train) or not len(rest := frame[~frame["relpath"].isin(trained)]):
        return None
    sweep = ThresholdSweep(rest["label"], rest["p_real"])
    s = sweep.summary(threshold, positive)
    head = f"On the {len(rest)} test images it was not trained on ({sweep.n_real} real, {sweep.n_fake} fake)"
    few = few_images_words(sweep.n_real, sweep.n_fake)  # one fake's ROC-AUC of 1.000 read as "perfect"
    auc = fmt(s["roc_auc"]) + (f" ({few})" if few else "")
    # as every page writes them: a share in percent, ROC-AUC in decimals
    return f"{head}: accuracy {metric_value('accuracy', s['accuracy'])}, ROC-AUC {auc} at threshold {threshold:.4f}."
