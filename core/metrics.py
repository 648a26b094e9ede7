"""One threshold sweep from which every metric comes.

The verdict is REAL when P(real) >= threshold (the report's rule). ``ThresholdSweep``
sorts the scores once and holds, for every distinct threshold, how many real and fake
images are predicted real. Confusion matrices at any threshold, ROC, precision-recall,
EER, TPR at a given FPR and metric-vs-threshold curves are all views of it.

``positive`` selects which class counts as positive: ``"real"`` reproduces the report's
table (a true negative is a caught fake); ``"fake"`` is the benchmark convention.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .confusion import Confusion, confusion_rates  # noqa: F401  (re-exported: core.metrics is where callers look)

POSITIVES = ("real", "fake")

NAMES = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall", "f1": "F1",
         "specificity": "Specificity", "balanced_accuracy": "Balanced accuracy", "mcc": "MCC",
         "roc_auc": "ROC-AUC", "average_precision": "Average precision", "eer": "EER",
         "fake_catch_rate": "Fake catch rate", "real_pass_rate": "Real pass rate"}
# metrics that are shares of images: written as percentages (82.8%) everywhere; the rest
# (ROC-AUC, AP, MCC) are scores, written as decimals (0.904)
SHARE_METRICS = frozenset({"accuracy", "precision", "recall", "f1", "specificity", "eer", "balanced_accuracy",
                           "fake_catch_rate", "real_pass_rate"})


def predicted_real(p_real, threshold: float):
    """The verdict rule, the one place it is written: REAL where P(real) >= threshold (the
    report's rule). A bool for a scalar, a bool array (or Series) for an array."""
    return p_real >= threshold


def verdict(p_real: float, threshold: float) -> str:
    """"REAL" or "FAKE" for one P(real) at ``threshold``."""
    return "REAL" if predicted_real(p_real, threshold) else "FAKE"


def just_above(low: float, high: float) -> float:
    """A threshold in (low, high]: the first 4-decimal number above ``low`` when it is within
    ``high`` (what the pages show is then the very threshold applied), else ``high``."""
    t = round(np.floor(low * 1e4) / 1e4 + 1e-4, 4)
    while t <= low:  # float rounding: never equal to low, where a score at low would pass
        t = round(t + 1e-4, 4)
    return float(t) if t <= high else float(high)


def fmt(value: float | None, digits: int = 3, signed: bool = False) -> str:
    """A metric as text: ``digits`` decimals (a sign with ``signed``), "n/a" when it is
    undefined (None or NaN: one class only, no predictions of a kind)."""
    if value is None or value != value:  # NaN is the one value unequal to itself
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


class MetricUnavailable(ValueError):
    """A metric that this data cannot define (e.g. ROC-AUC with one class only)."""


@dataclass(frozen=True)
class RocCurve:
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray  # P(real) threshold of each point
    auc: float


@dataclass(frozen=True)
class PrCurve:
    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    average_precision: float


@dataclass(frozen=True)
class Eer:
    eer: float
    threshold: float


class ThresholdSweep:
    """Counts of predicted-real images at every distinct P(real) threshold.

    ``thresholds`` is descending: the distinct scores, preceded by +inf (nothing
    predicted real). ``real_ge[k]`` / ``fake_ge[k]`` count real / fake images with
    P(real) >= ``thresholds[k]``. Built in O(n log n); a new threshold costs O(log n).
    """

    def __init__(self, label, p_real):
        label = np.asarray(label).astype(int).ravel()
        score = np.asarray(p_real, dtype=float).ravel()
        if label.shape != score.shape:
            raise ValueError(f"label and p_real differ in length: {label.shape} vs {score.shape}")
        if not np.all(np.isfinite(score)):
            raise ValueError("p_real holds NaN or infinite values")
        self.label, self.score = label, score
        self.n_real = int((label == 1).sum())
        self.n_fake = int((label == 0).sum())
        self._real_sorted = np.sort(score[label == 1])
        self._fake_sorted = np.sort(score[label == 0])
        order = np.argsort(-score, kind="mergesort")
        s_desc, is_real = score[order], label[order] == 1
        distinct = np.r_[np.diff(s_desc) != 0, True][: len(s_desc)]  # last index of each tie group (none if empty)
        cum_real = np.cumsum(is_real)[distinct]
        cum_fake = np.cumsum(~is_real)[distinct]
        self.thresholds = np.r_[np.inf, s_desc[distinct]]
        self.real_ge = np.r_[0, cum_real].astype(np.int64)
        self.fake_ge = np.r_[0, cum_fake].astype(np.int64)

    def __len__(self) -> int:
        return self.n_real + self.n_fake

    @property
    def has_both_classes(self) -> bool:
        return self.n_real > 0 and self.n_fake > 0

    @property
    def only_class(self) -> str | None:
        """"real" or "fake" when every scored image is of that class, else None."""
        if self.has_both_classes or not len(self):
            return None
        return "real" if self.n_real else "fake"

    def _missing_class_words(self) -> str:
        if not self.n_real and not self.n_fake:
            return "this set has no scored images"
        return f"this set has only {'real' if self.n_real else 'fake'} images"

    def require_both(self, what: str) -> None:
        """MetricUnavailable, naming ``what`` and the missing class, unless the set has both classes."""
        if not self.has_both_classes:
            raise MetricUnavailable(f"{what} needs both real and fake images; {self._missing_class_words()}")

    # --- one threshold -------------------------------------------------------------
    def counts_at(self, threshold: float) -> tuple[int, int]:
        """(real predicted real, fake predicted real) at ``threshold``."""
        real_ge = self.n_real - int(np.searchsorted(self._real_sorted, threshold, side="left"))
        fake_ge = self.n_fake - int(np.searchsorted(self._fake_sorted, threshold, side="left"))
        return real_ge, fake_ge

    def confusion(self, threshold: float, positive: str = "real") -> Confusion:
        return self._confusion_from(*self.counts_at(threshold), positive)

    def _confusion_from(self, real_ge, fake_ge, positive):
        real_flagged, fake_caught = self.n_real - real_ge, self.n_fake - fake_ge
        if positive == "real":
            return Confusion(tp=real_ge, fp=fake_ge, fn=real_flagged, tn=fake_caught, positive=positive)
        if positive == "fake":
            return Confusion(tp=fake_caught, fp=real_flagged, fn=fake_ge, tn=real_ge, positive=positive)
        raise ValueError(f"positive must be one of {POSITIVES}, got {positive!r}")

    # --- all thresholds ------------------------------------------------------------
    def _rates(self, positive: str):
        """(tp, fp, n_pos, n_neg) arrays over ``self.thresholds``, ordered so that
        predicted positives grow along the array (the order ROC and PR expect)."""
        if positive == "real":
            return self.real_ge, self.fake_ge, self.n_real, self.n_fake, self.thresholds
        # Predicted fake grows as the threshold rises: walk the sweep backwards.
        tp = (self.n_fake - self.fake_ge)[::-1]
        fp = (self.n_real - self.real_ge)[::-1]
        return tp, fp, self.n_fake, self.n_real, self.thresholds[::-1]

    def roc(self, positive: str = "real") -> RocCurve:
        self.require_both("ROC")
        tp, fp, n_pos, n_neg, thr = self._rates(positive)
        fpr, tpr = fp / n_neg, tp / n_pos
        return RocCurve(fpr=fpr, tpr=tpr, thresholds=thr, auc=float(np.trapezoid(tpr, fpr)))

    def pr(self, positive: str = "real") -> PrCurve:
        """Precision-recall points (recall rising) and average precision as scikit-learn
        defines it: sum over thresholds of (R_k - R_{k-1}) * P_k."""
        self.require_both("Precision-recall")
        tp, fp, n_pos, _, thr = self._rates(positive)
        keep = (tp + fp) > 0
        tp, fp, thr = tp[keep], fp[keep], thr[keep]
        precision, recall = tp / (tp + fp), tp / n_pos
        ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
        return PrCurve(precision=precision, recall=recall, thresholds=thr, average_precision=ap)

    def eer(self) -> Eer:
        """Equal error rate: where the share of fakes passed equals the share of reals flagged.

        Interpolated linearly between the two sweep points around the crossing; the
        threshold returned is the sweep threshold nearest to it. The same for either
        positive class."""
        self.require_both("EER")
        fake_pass = self.fake_ge / self.n_fake  # rises along the sweep
        real_flag = 1 - self.real_ge / self.n_real  # falls along the sweep
        diff = fake_pass - real_flag  # rises from -1 to +1
        k = int(np.argmax(diff >= 0))
        if k == 0 or diff[k] == 0:
            j = k
            eer = (fake_pass[j] + real_flag[j]) / 2
        else:
            w = -diff[k - 1] / (diff[k] - diff[k - 1])
            eer = fake_pass[k - 1] + w * (fake_pass[k] - fake_pass[k - 1])
            j = k if w >= 0.5 else k - 1
        thr = self.thresholds[j]
        if not np.isfinite(thr):  # +inf: everything flagged fake; report the top score instead
            thr = self.thresholds[1]
        return Eer(eer=float(eer), threshold=float(thr))

    def tpr_at_fpr(self, max_fpr: float, positive: str = "real") -> tuple[float, float]:
        """Highest TPR with FPR <= ``max_fpr`` and the threshold that gives it."""
        roc = self.roc(positive)
        ok = np.flatnonzero(roc.fpr <= max_fpr + 1e-12)
        best = ok[np.argmax(roc.tpr[ok])]
        return float(roc.tpr[best]), float(roc.thresholds[best])

    def metric_curves(self, positive: str = "real") -> dict[str, np.ndarray]:
        """Every confusion metric at every sweep threshold (finite thresholds only), as arrays.
        Undefined values (0/0) are NaN here; the page draws them as gaps."""
        thr = self.thresholds[1:]
        c = self._confusion_from(self.real_ge[1:], self.fake_ge[1:], positive)
        rates = confusion_rates(c.tp, c.fp, c.fn, c.tn)
        return {"threshold": thr, **{k: rates[k] for k in ("accuracy", "precision", "recall", "specificity", "f1")}}

    def class_shares(self) -> dict[str, np.ndarray]:
        """At every finite sweep threshold (descending), the share of fakes caught
        (P(real) < threshold) and of reals passed (P(real) >= threshold). Each needs only
        its own class, so a one-class set gets its curve; NaN for a class the set lacks."""
        thr = self.thresholds[1:]
        missing = np.full(len(thr), np.nan)
        caught = 1 - self.fake_ge[1:] / self.n_fake if self.n_fake else missing
        passed = self.real_ge[1:] / self.n_real if self.n_real else missing
        return {"threshold": thr, "fake_caught": caught, "real_passed": passed}

    def threshold_for_share(self, cls: str, share: float) -> float:
        """The sweep threshold that gets at least ``share`` of class ``cls`` right and,
        of those, leaves the most room to the other class: for fakes the lowest threshold
        catching that share (just above the highest-scoring fake that must be caught: the
        first 4-decimal number above it when no other score lies between), for reals the
        highest passing it (the lowest real that must pass scores exactly it). Raises
        MetricUnavailable when the set has no ``cls`` images, or when that fake scores 1."""
        if cls not in POSITIVES:
            raise ValueError(f"cls must be one of {POSITIVES}, got {cls!r}")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be within [0, 1], got {share}")
        if not (self.n_fake if cls == "fake" else self.n_real):
            raise MetricUnavailable(f"this set has no {cls} images")
        shares = self.class_shares()
        right = shares["fake_caught" if cls == "fake" else "real_passed"]
        thr = shares["threshold"]
        ok = np.flatnonzero(right >= share - 1e-12)
        if cls == "real" and len(ok):
            return float(thr[ok[0]])  # a real passes at its own score: that score is the highest
        if len(ok):
            k = int(ok[-1])
            if k + 1 == len(thr):  # the lowest score already does (share 0): nothing lower to name
                return float(thr[k])
            # Every threshold in (next score down, thr[k]] gives these counts; a fake at that lower
            # score passes at it, so the lowest threshold is just above it, not thr[k].
            return just_above(float(thr[k + 1]), float(thr[k]))
        # The top sweep threshold still passes the top-scoring fakes. Just above the top score
        # catches every fake, unless that score is 1 (no threshold can then).
        top = float(self.thresholds[1])
        if top >= 1.0:
            raise MetricUnavailable(f"no threshold catches {share:.1%} of the fakes: some score P(real) = 1; "
                                    f"the most is {right[0]:.1%}")
        return just_above(top, 1.0)

    # --- summary -------------------------------------------------------------------
    def _threshold_free(self, positive: str) -> dict:
        """ROC-AUC, AP and EER do not move with the threshold: computed once per positive
        class (O(n)), so a threshold change costs O(log n) at any set size."""
        memo = self.__dict__.setdefault("_threshold_free_memo", {})
        if positive not in memo:
            e = self.eer()
            memo[positive] = {
                "roc_auc": self.roc(positive).auc,
                "average_precision": self.pr(positive).average_precision,
                "eer": e.eer,
                "eer_threshold": e.threshold,
            }
        return dict(memo[positive])

    def summary(self, threshold: float, positive: str = "real") -> dict:
        """Headline numbers at ``threshold``; threshold-free metrics are None (with a
        reason under ``unavailable``) when the set has one class only."""
        c = self.confusion(threshold, positive)
        out = {
            "n_real": self.n_real,
            "n_fake": self.n_fake,
            "threshold": float(threshold),
            "positive": positive,
            **c.metrics(),
            "confusion": c.as_dict(),
            "roc_auc": None,
            "average_precision": None,
            "eer": None,
            "eer_threshold": None,
            "unavailable": {},
        }
        try:
            out.update(self._threshold_free(positive))
        except MetricUnavailable:
            for key, name in (("roc_auc", "ROC-AUC"), ("average_precision", "average precision"), ("eer", "EER")):
                out["unavailable"][key] = f"{name} needs both real and fake images; {self._missing_class_words()}"
        for key in ("accuracy", "precision", "recall", "f1", "specificity", "balanced_accuracy", "mcc"):
            if out[key] is None:
                out["unavailable"][key] = f"{key} is 0/0 at this threshold for positive={positive}"
        if out["mcc"] is None:
            out["unavailable"]["mcc"] = f"MCC needs both real and fake images; {self._missing_class_words()}"
        return out
