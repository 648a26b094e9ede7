"""The confusion counts at one threshold and the one formula table every rate comes from
(``confusion_rates``): the ``Confusion`` of a threshold, the metric curves and the bootstrap
all read their accuracy, precision, recall, specificity, F1, balanced accuracy and MCC here."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


def confusion_rates(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    """Every confusion metric from the four counts (arrays of one shape, or scalars): the
    one place their formulas live; a ``Confusion``, the metric curves and the bootstrap
    are views of it. NaN where a ratio is 0/0. MCC is 0 when only a predicted margin is
    empty (a constant verdict: scikit-learn's convention) but NaN when a true class is
    absent: a correlation with a constant truth is undefined, and scikit-learn's 0 there
    would read as "no better than chance" on a one-class test set."""
    tp, fp, fn, tn = (np.asarray(x, dtype=float) for x in (tp, fp, fn, tn))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "accuracy": (tp + tn) / (tp + fp + fn + tn),
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "specificity": tn / (tn + fp),
            "f1": 2 * tp / (2 * tp + fp + fn),
            "fpr": fp / (fp + tn),  # 1 - specificity: the ROC's x
            "prevalence": (tp + fn) / (tp + fp + fn + tn),  # the share of positives: the PR curve's chance level
        }
        out["balanced_accuracy"] = (out["recall"] + out["specificity"]) / 2
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        both_classes = (tp + fn > 0) & (tn + fp > 0)
        constant_verdict = np.where(both_classes, 0.0, np.nan)
        out["mcc"] = np.where(den > 0, (tp * tn - fp * fn) / np.where(den > 0, den, 1.0), constant_verdict)
    return out


@dataclass(frozen=True)
class Confusion:
    """Counts for the chosen positive class at one threshold."""

    tp: int
    fp: int
    fn: int
    tn: int
    positive: str = "real"

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @cached_property
    def _rates(self) -> dict[str, float | None]:
        """``confusion_rates`` of these counts, once, None where undefined (0/0)."""
        rates = confusion_rates(self.tp, self.fp, self.fn, self.tn)
        return {name: None if np.isnan(v) else float(v) for name, v in rates.items()}

    def _rate(self, name: str) -> float | None:
        return self._rates[name]

    @property
    def accuracy(self):
        return self._rate("accuracy")

    @property
    def precision(self):
        return self._rate("precision")

    @property
    def recall(self):
        return self._rate("recall")

    @property
    def specificity(self):
        return self._rate("specificity")

    @property
    def fpr(self):
        return self._rate("fpr")

    @property
    def prevalence(self):
        return self._rate("prevalence")

    @property
    def f1(self):
        return self._rate("f1")

    @property
    def balanced_accuracy(self):
        return self._rate("balanced_accuracy")

    @property
    def mcc(self):
        return self._rate("mcc")

    # The same cells in words, whatever the positive class.
    @property
    def fake_caught(self) -> int:
        return self.tn if self.positive == "real" else self.tp

    @property
    def fake_missed(self) -> int:
        return self.fp if self.positive == "real" else self.fn

    @property
    def real_flagged(self) -> int:
        return self.fn if self.positive == "real" else self.fp

    @property
    def real_passed(self) -> int:
        return self.tp if self.positive == "real" else self.tn

    @property
    def fake_catch_rate(self):
        """The share of fakes caught, whatever the positive class (None without fakes)."""
        return self.specificity if self.positive == "real" else self.recall

    @property
    def real_pass_rate(self):
        """The share of reals passed as real, whatever the positive class (None without reals)."""
        return self.recall if self.positive == "real" else self.specificity

    def as_dict(self) -> dict:
        return {"tn": self.tn, "fp": self.fp, "fn": self.fn, "tp": self.tp}

    def metrics(self) -> dict:
        """The seven rates, None where undefined (0/0)."""
        names = ("accuracy", "precision", "recall", "f1", "specificity", "balanced_accuracy", "mcc")
        return {name: self._rates[name] for name in names}
