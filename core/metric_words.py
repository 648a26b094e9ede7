"""How a metric is named and written on screen: card labels and help, values (shares as
percentages, scores as decimals), deltas, and metric tables with their intervals folded in.
One place, so the Overview, the Threshold explorer, Operating points, Compare and Slices
write the same number the same way."""
from __future__ import annotations

import pandas as pd

from .metrics import NAMES, SHARE_METRICS, fmt


def metric_label(key: str, positive: str) -> str:
    """A metric card's label: precision, recall and F1 name the positive class they are about
    ("Recall (real)"), since an audience of detectors reads recall as fakes caught."""
    name = {**NAMES, "average_precision": "AP", "balanced_accuracy": "Bal. acc."}[key]  # short: whole at 1000 px
    return f"{name} ({positive})" if key in ("precision", "recall", "f1") else name


def metric_value(key: str, value: float | None) -> str:
    """A metric card's value, written the one way every page writes it: a share of images as a
    percentage ("82.8%", as the report and the Operating points page give them), a score that is
    not a share (ROC-AUC, AP, MCC) with three decimals; "n/a" when undefined."""
    if key not in SHARE_METRICS or value is None or value != value:
        return fmt(value)
    return share_text(value)


def share_text(value: float | None) -> str:
    """A share of images (0..1) as the cards write it, one decimal of a percent ("82.8%");
    "n/a" when undefined."""
    return "n/a" if value is None or value != value else f"{value:.1%}"


# a P(real) (or P(fake)) as a person reads it: four decimals, the threshold's precision, so an
# image at 0.5000 reads as exactly at a 0.5000 threshold; a figure's hover uses SCORE_FORMAT
SCORE_DIGITS = 4
SCORE_FORMAT = f".{SCORE_DIGITS}f"


def score_text(p: float | None) -> str:
    """An image's P(real) (or P(fake)) as every page, caption and table writes it: "0.5000";
    "n/a" when missing."""
    return fmt(p, SCORE_DIGITS)


# Below this many images of a class, ROC-AUC, AP and EER (which rank every fake against every real)
# are flagged as resting on those few: with one fake, a ROC-AUC of 1.000 says only that it scored
# under every real, and one image more can move it from 1.000 to 0.5.
FEW_OF_A_CLASS = 5
RANKING_METRICS = ("roc_auc", "average_precision", "eer")


def few_images_words(n_real: int, n_fake: int) -> str | None:
    """"from 1 fake: says little" when a class present has fewer than ``FEW_OF_A_CLASS`` images,
    for beside a ROC-AUC, AP or EER; None when both have enough (or one is absent: those metrics
    are then n/a, said elsewhere)."""
    small = [f"{n} {name}" for n, name in ((n_real, "real"), (n_fake, "fake")) if 0 < n < FEW_OF_A_CLASS]
    return f"from {' and '.join(small)}: says little" if small and n_real and n_fake else None


def few_of_its_class_words(key: str, positive: str, n_real: int, n_fake: int) -> str | None:
    """"from 1 fake: says little" beside a recall or specificity measured on fewer than
    ``FEW_OF_A_CLASS`` images of its class (the positive class's for recall, the other's for
    specificity): with one fake, specificity is 0 % or 100 %. None otherwise."""
    counts = {"real": n_real, "fake": n_fake}
    cls = {"recall": positive, "specificity": "fake" if positive == "real" else "real"}.get(key)
    n = counts.get(cls, 0)
    return f"from {n} {cls}: says little" if cls and 0 < n < FEW_OF_A_CLASS else None


def few_images_help(n_real: int, n_fake: int) -> str | None:
    """The sentence behind ``few_images_words`` for a card's help, or None."""
    if not few_images_words(n_real, n_fake):
        return None
    return (f"This set holds {n_real} real and {n_fake} fake images. ROC-AUC, AP and EER rank every fake against "
            f"every real, so with fewer than {FEW_OF_A_CLASS} of a class one image more or less can move them "
            "from perfect to chance: they say little here.")


def metric_delta(key: str, delta: float | None) -> str:
    """The change of a card's value: percentage points for a share ("+1.2 pp": not "+1.2%", which
    reads as relative), signed decimals otherwise; "n/a" when undefined, as ``metric_value``."""
    if delta is None or delta != delta:
        return "n/a"
    return f"{delta * 100:+.1f} pp" if key in SHARE_METRICS else f"{delta:+.3f}"


def metric_table(table: pd.DataFrame, extra_shares=()) -> tuple[pd.DataFrame, dict[str, str]]:
    """A table of metrics for the screen, and the printf format of each number column. Each
    metric's ``*_low``/``*_high`` (and ``*_ci`` method) columns become one text column beside it,
    "Accuracy: 95% CI" = "76.7–88.3" (", Wilson" where that interval was used), which halves the
    columns a 1280 px window must scroll; shares are percentages (their changes ``d_*``, percentage
    points), scores three decimals, as the cards write them; ``extra_shares``: other columns that
    are shares of images. The metrics stay numbers, so the grid still sorts by them."""
    out, formats = pd.DataFrame(index=table.index), {}
    for c in table.columns:
        base = c.rsplit("_", 1)[0]
        if c.endswith(("_low", "_high", "_ci")) and base in NAMES and base in table:
            continue  # folded into base's interval column
        key, delta = (c[2:], True) if c.startswith("d_") and c[2:] in NAMES else (c, False)
        if key not in NAMES and c not in extra_shares:
            out[c] = table[c]
            if table[c].dtype.kind == "f":
                formats[c] = "%.4f" if c == "threshold" else "%.3f"
            continue
        share = key in SHARE_METRICS or c in extra_shares
        name = NAMES.get(key, key.replace("_", " "))
        head = ("Δ " if delta else "") + name + ((" (pp)" if delta else " (%)") if share else "")
        out[head] = table[c] * (100 if share else 1)
        formats[head] = ("%+" if delta else "%") + (".1f" if share else ".3f")
        if f"{c}_low" in table and f"{c}_high" in table:
            how = table[f"{c}_ci"] if f"{c}_ci" in table else pd.Series("", index=table.index)
            out[f"{name}: 95% CI"] = [_interval_text(lo, hi, m, share) for lo, hi, m in
                                      zip(table[f"{c}_low"], table[f"{c}_high"], how)]
    return out, formats


def missing_as_na(shown: pd.DataFrame, formats: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """``metric_table``'s ``shown`` and ``formats`` with every number column that holds an undefined
    metric (a one-class slice's ROC-AUC) written as text, "n/a" as the cards write it, where a
    number column showed a grey "None" (Streamlit draws a missing cell so whatever its format).
    Returns the table, the formats of the columns still numbers, and the columns now text, to be
    right-aligned. The numbers are padded to one width, so for values >= 0 the text sorts as the
    numbers did, "n/a" last."""
    out, numbers, texts = shown.copy(), {}, []
    for c, f in formats.items():
        defined = out[c].notna()
        if defined.all():
            numbers[c] = f
            continue
        width = max((len(f % v) for v in out[c][defined]), default=0)
        out[c] = [(f % v).rjust(width) if ok else "n/a" for v, ok in zip(out[c], defined)]
        texts.append(c)
    return out, numbers, texts


def _interval_text(low, high, method, share: bool) -> str:
    if method == "none":
        return "no interval"
    if low is None or high is None or low != low or high != high:  # NaN: the metric is undefined
        return ""
    k, d = (100, 1) if share else (1, 3)
    return f"{low * k:.{d}f}–{high * k:.{d}f}" + (", Wilson" if method == "wilson" else "")


def metric_help(key: str, positive: str) -> str:
    """One plain sentence per metric, for the card's help icon."""
    other = "fake" if positive == "real" else "real"
    said = {"real": "passed as real", "fake": "caught as fake"}
    return {
        "accuracy": "The share of all images labelled correctly at this threshold.",
        "precision": f"Of the images called {positive}, the share that truly are {positive}.",
        "recall": f"Of the truly {positive} images, the share {said[positive]}.",
        "f1": f"The harmonic mean of precision and recall for the {positive} class: high only when both are.",
        "specificity": f"Of the truly {other} images, the share {said[other]}.",
        "roc_auc": "The chance that a random real face scores a higher P(real) than a random fake (1 = perfect, "
                   "0.5 = coin toss). It does not depend on the threshold.",
        "average_precision": f"The area under the precision-recall curve of the {positive} class: precision averaged "
                             "over every threshold.",
        "eer": "Equal error rate: the error at the threshold where the share of reals flagged as fake equals the "
               "share of fakes passed as real (lower is better).",
        "balanced_accuracy": "Balanced accuracy: the mean of the share of reals passed and the share of fakes "
                             "caught, so the larger class does not dominate.",
        "mcc": "Matthews correlation coefficient: one number from all four cells, from -1 (always wrong) through 0 "
               "(no better than chance) to 1 (perfect); fair when the classes differ in size.",
    }[key]


def rows_as_text(table: pd.DataFrame, keys, values=(), deltas=()) -> pd.DataFrame:
    """A table with one metric per row (``keys``: each row's metric key) for the screen: the
    ``values`` columns written as ``metric_value`` writes them and the ``deltas`` columns as
    ``metric_delta`` does, so a row of accuracy reads 82.8% / +1.2 pp and a row of ROC-AUC
    0.904 / +0.012 in the same column; an undefined value is "n/a"."""
    out = table.copy()
    keys = list(keys)
    for column in values:
        out[column] = [metric_value(k, plain_number(v)) for k, v in zip(keys, table[column])]
    for column in deltas:
        out[column] = [metric_delta(k, plain_number(v)) for k, v in zip(keys, table[column])]
    return out


def plain_number(v) -> float | None:
    """``v`` as a float, or None where it is missing or NaN."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if v != v else v
