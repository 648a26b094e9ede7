"""Threshold presets, each a view of ``ThresholdSweep``'s table.

Every preset picks one of the sweep's finite thresholds (a distinct score), or just above
the highest fake a share of fakes needs caught, so applying it with the rule REAL when
P(real) >= threshold reproduces exactly the counts it was chosen on. Rates are in words: a
*false alarm* is a real face flagged fake, a *catch* is a fake flagged fake, a *miss* is a
fake passed as real.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metric_words import share_text
from .metrics import MetricUnavailable, ThresholdSweep, fmt, just_above


@dataclass(frozen=True)
class OperatingPoint:
    """One preset: its ``threshold``, what it optimises (in words), and the value of
    that objective at the threshold; ``share``: whether that value is a share of images
    (F1, the EER, a catch or false-alarm rate), written as a percentage, or not (Youden's J,
    an expected cost), written as a decimal."""

    key: str
    label: str
    threshold: float
    optimises: str
    value: float
    false_alarm_rate: float
    catch_rate: float
    share: bool = False

    def value_text(self) -> str:
        """The objective's value as the pages and the report write it: "84.6%" for a share,
        as the rates beside it and the Overview's cards; "0.754" for Youden's J; four
        decimals for an expected cost per image, which is often below 0.01."""
        if self.share:
            return share_text(self.value)
        return fmt(self.value, 4 if self.key == "min_cost" else 3)


@dataclass(frozen=True)
class CostCurve:
    """Expected cost per image at every finite sweep threshold."""

    thresholds: np.ndarray
    cost: np.ndarray
    cost_miss: float
    cost_false_alarm: float
    fake_share: float


def _rates(sweep: ThresholdSweep, all_fake: bool = False):
    """(thresholds, false-alarm rate, catch rate) over the finite sweep thresholds,
    threshold descending (false alarms fall, catches fall along the array). With ``all_fake``,
    led by ``_all_fake``'s threshold, where every face is flagged, when there is one."""
    sweep.require_both("Operating points")
    thr = sweep.thresholds[1:]
    false_alarm = 1 - sweep.real_ge[1:] / sweep.n_real
    catch = 1 - sweep.fake_ge[1:] / sweep.n_fake
    if all_fake and (t := _all_fake(sweep)) is not None:
        return np.r_[t, thr], np.r_[1.0, false_alarm], np.r_[1.0, catch]
    return thr, false_alarm, catch


def _all_fake(sweep: ThresholdSweep) -> float | None:
    """The threshold just above the top score, where every face is called fake: a preset may
    be best there (a costly miss, F1 for fakes when the top score is a fake's); None when a face
    scores P(real) = 1, above which no threshold lies."""
    top = float(sweep.thresholds[1])
    return None if top >= 1.0 else just_above(top, 1.0)


def _point(sweep: ThresholdSweep, threshold: float, key: str, label: str, optimises: str, value,
           share: bool = False) -> OperatingPoint:
    """The preset at ``threshold``, its rates read from the sweep's confusion there; ``value``
    is the objective's value, or a function of (false-alarm rate, catch rate) giving it;
    ``share``: whether it is a share of images (see ``OperatingPoint``)."""
    c = sweep.confusion(threshold)
    fa, catch = c.real_flagged / sweep.n_real, c.fake_caught / sweep.n_fake
    value = value(fa, catch) if callable(value) else value
    return OperatingPoint(key=key, label=label, threshold=float(threshold), optimises=optimises, value=float(value),
                          false_alarm_rate=float(fa), catch_rate=float(catch), share=share)


def max_f1(sweep: ThresholdSweep, positive: str = "real") -> OperatingPoint:
    """Threshold with the highest F1 for ``positive`` (the lowest such threshold on ties)."""
    thr, _, _ = _rates(sweep)
    f1 = np.nan_to_num(sweep.metric_curves(positive)["f1"], nan=-1.0)
    k = int(np.flatnonzero(f1 == f1.max())[-1])
    t, best = thr[k], f1[k]
    if (top := _all_fake(sweep)) is not None:  # every face called fake: the finite sweep leaves it out
        everything = sweep.confusion(top, positive).metrics()["f1"]
        if everything is not None and everything > best:
            t, best = top, everything
    return _point(sweep, t, "max_f1", "Maximum F1", f"F1 with {positive} as the positive class", best,
                  share=True)


def youden(sweep: ThresholdSweep) -> OperatingPoint:
    """Threshold maximising Youden's J = catch rate + real pass rate - 1."""
    thr, fa, catch = _rates(sweep)
    j = catch + (1 - fa) - 1
    k = int(np.argmax(j))
    return _point(sweep, thr[k], "youden", "Youden's J", "catch rate + real pass rate - 1", j[k])


def eer_point(sweep: ThresholdSweep) -> OperatingPoint:
    """The threshold ``ThresholdSweep.eer`` reports: false-alarm rate ~ miss rate."""
    e = sweep.eer()
    thr, _, _ = _rates(sweep)
    k = int(np.argmin(np.abs(thr - e.threshold)))
    return _point(sweep, thr[k], "eer", "Equal error rate", "false alarms = misses (value: the EER)", e.eer,
                  share=True)


def max_false_alarm(sweep: ThresholdSweep, rate: float) -> OperatingPoint:
    """Most fakes caught while at most ``rate`` of real faces are flagged fake: the
    highest threshold that passes at least 1 - ``rate`` of them (the Threshold explorer's
    target share, ``ThresholdSweep.threshold_for_share``)."""
    sweep.require_both("Operating points")
    t = sweep.threshold_for_share("real", max(0.0, 1.0 - rate))
    return _point(sweep, t, "false_alarm", f"At most {rate:.1%} false alarms",
                  f"fakes caught, with at most {rate:.1%} of real faces flagged", lambda fa, catch: catch,
                  share=True)


def min_catch_rate(sweep: ThresholdSweep, rate: float) -> OperatingPoint:
    """Fewest false alarms while at least ``rate`` of fakes are caught: the lowest
    threshold that catches that share (``ThresholdSweep.threshold_for_share``; just above
    the top score when a fake holds it). MetricUnavailable only when a fake that must be
    caught scores P(real) = 1."""
    sweep.require_both("Operating points")
    t = sweep.threshold_for_share("fake", rate)
    return _point(sweep, t, "catch", f"Catch at least {rate:.1%} of fakes",
                  f"fewest real faces flagged, with at least {rate:.1%} of fakes caught", lambda fa, catch: fa,
                  share=True)


def cost_curve(sweep: ThresholdSweep, cost_miss: float = 1.0, cost_false_alarm: float = 1.0,
               fake_share: float = 0.5) -> CostCurve:
    """Expected cost per image: cost_miss * fake_share * miss rate
    + cost_false_alarm * (1 - fake_share) * false-alarm rate; over every threshold that gives
    other counts, flagging every face included."""
    if cost_miss < 0 or cost_false_alarm < 0:
        raise ValueError("costs must be zero or positive")
    if not 0.0 <= fake_share <= 1.0:
        raise ValueError(f"the share of fakes must be within [0, 1], got {fake_share}")
    thr, fa, catch = _rates(sweep, all_fake=True)
    cost = cost_miss * fake_share * (1 - catch) + cost_false_alarm * (1 - fake_share) * fa
    return CostCurve(thresholds=thr, cost=cost, cost_miss=float(cost_miss),
                     cost_false_alarm=float(cost_false_alarm), fake_share=float(fake_share))


def min_cost(sweep: ThresholdSweep, cost_miss: float = 1.0, cost_false_alarm: float = 1.0,
             fake_share: float = 0.5) -> OperatingPoint:
    """Threshold with the lowest expected cost (see ``cost_curve``); on a tie the highest
    threshold, but one that still passes a face over flagging them all."""
    c = cost_curve(sweep, cost_miss, cost_false_alarm, fake_share)
    lead = int(_all_fake(sweep) is not None)  # the flag-everything point leads the curve
    k = lead + int(np.argmin(c.cost[lead:]))
    if lead and c.cost[0] < c.cost[k]:
        k = 0
    return _point(sweep, c.thresholds[k], "min_cost", "Minimum expected cost",
                  f"expected cost per image (miss {cost_miss:g}, false alarm {cost_false_alarm:g}, "
                  f"{fake_share:.0%} fakes)", c.cost[k])


def all_presets(sweep: ThresholdSweep, positive: str = "real", *, false_alarm_rate: float = 0.01,
                catch_rate: float = 0.95, cost_miss: float = 1.0, cost_false_alarm: float = 1.0,
                fake_share: float = 0.5, problems: list[str] | None = None) -> list[OperatingPoint]:
    """Every preset; ones this data cannot define are left out, and why goes to
    ``problems`` when a list is given (so a page can say it). Empty for one-class sets."""
    if not sweep.has_both_classes:
        return []
    makers = [lambda: max_f1(sweep, positive), lambda: youden(sweep), lambda: eer_point(sweep),
              lambda: max_false_alarm(sweep, false_alarm_rate), lambda: min_catch_rate(sweep, catch_rate),
              lambda: min_cost(sweep, cost_miss, cost_false_alarm, fake_share)]
    out = []
    for make in makers:
        try:
            out.append(make())
        except MetricUnavailable as exc:
            if problems is not None:
                problems.append(str(exc))
    return out
