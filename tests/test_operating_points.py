"""core.operating_points on scores with a known answer."""
import numpy as np
import pytest

from core import operating_points as op
from core.metrics import ThresholdSweep

# 4 fakes at 0.1 0.2 0.3 0.6, 4 reals at 0.4 0.5 0.7 0.8 (REAL when p >= t)
Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
S = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.8])
SWEEP = ThresholdSweep(Y, S)


def test_max_f1_and_youden():
    # t=0.4: tp 4, fp 1 -> F1 8/9, J = 0.75 + 1 - 1 = 0.75 (best); t=0.7: J = 1 + 0.5 - 1
    assert op.max_f1(SWEEP).threshold == 0.4
    assert op.max_f1(SWEEP).value == pytest.approx(8 / 9)
    assert op.youden(SWEEP).threshold == 0.4
    assert op.youden(SWEEP).value == pytest.approx(0.75)


def test_false_alarm_and_catch_targets():
    # at most 0% reals flagged: lowest threshold keeping all reals is 0.4 -> catches 3/4
    p = op.max_false_alarm(SWEEP, 0.0)
    assert p.threshold == 0.4 and p.catch_rate == 0.75 and p.false_alarm_rate == 0.0
    # at most 50% reals flagged: threshold 0.7 catches all fakes
    assert op.max_false_alarm(SWEEP, 0.5).threshold == 0.7
    # catch all fakes with fewest false alarms: just above the top fake, 0.6 -> 0.6001 (2 reals flagged,
    # as at the next score 0.7, which is not the lowest such threshold)
    p = op.min_catch_rate(SWEEP, 1.0)
    assert p.threshold == 0.6001 and p.false_alarm_rate == 0.5


def test_catching_every_fake_when_a_fake_holds_the_top_score_is_just_above_it():
    """The preset and the Threshold explorer's target share are one rule: a fake at the
    top score is caught just above it (the preset used to raise), unless it scores 1."""
    sweep = ThresholdSweep([0, 0, 1, 1], [0.9, 0.2, 0.8, 0.7])
    p = op.min_catch_rate(sweep, 1.0)
    assert p.threshold == sweep.threshold_for_share("fake", 1.0) == 0.9001
    assert p.catch_rate == 1.0 and p.false_alarm_rate == 1.0 and p.value == 1.0
    for rate in (0.0, 0.5, 0.99):
        assert op.max_false_alarm(sweep, rate).threshold == sweep.threshold_for_share("real", 1 - rate)
    with pytest.raises(op.MetricUnavailable, match="P\\(real\\) = 1"):
        op.min_catch_rate(ThresholdSweep([0, 1], [1.0, 0.5]), 1.0)


def test_eer_point_is_the_sweep_eer():
    assert op.eer_point(SWEEP).threshold == SWEEP.eer().threshold


def test_min_cost_follows_costs():
    # misses cost a lot: catch every fake (t=0.7); false alarms cost a lot: flag no real (t=0.4)
    assert op.min_cost(SWEEP, cost_miss=10, cost_false_alarm=1).threshold == 0.7
    assert op.min_cost(SWEEP, cost_miss=1, cost_false_alarm=10).threshold == 0.4
    c = op.cost_curve(SWEEP, 1, 1, 0.5)
    assert c.cost.min() == pytest.approx(0.125) and len(c.cost) == len(SWEEP.thresholds)  # and flag-everything
    assert c.thresholds[0] == 0.8001 and c.cost[0] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(40))
def test_presets_find_the_best_of_every_threshold_flagging_everything_included(seed):
    """Flagging every face (a threshold above the top score) was never a candidate: with a fake on
    top, F1 for fakes and a costly miss are best there, and the presets missed it."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    y = np.r_[0, 1, rng.integers(0, 2, n)]
    s = np.round(rng.random(len(y)), 2)  # ties too
    sweep = ThresholdSweep(y, s)
    # each distinct verdict set, and everything fake (no threshold lies above a score of 1)
    grid = np.r_[np.unique(s), [s.max() + 1e-4] if s.max() < 1 else []]
    f1 = [f1_score(y == 0, s < t, zero_division=0) for t in grid]
    assert op.max_f1(sweep, "fake").value == pytest.approx(max(f1))
    cost = [10 * 0.5 * np.mean(s[y == 0] >= t) + 0.5 * np.mean(s[y == 1] < t) for t in grid]
    best = op.min_cost(sweep, cost_miss=10, cost_false_alarm=1)
    assert best.value == pytest.approx(min(cost))
    fa, catch = np.mean(s[y == 1] < best.threshold), np.mean(s[y == 0] < best.threshold)
    assert best.value == pytest.approx(10 * 0.5 * (1 - catch) + 0.5 * fa)  # the threshold gives the value it shows


def test_presets_apply_to_the_counts_they_were_chosen_on():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    sweep = ThresholdSweep(y, s)
    for p in op.all_presets(sweep, false_alarm_rate=0.05, catch_rate=0.9):
        c = sweep.confusion(p.threshold)
        assert c.real_flagged / sweep.n_real == pytest.approx(p.false_alarm_rate)
        assert c.fake_caught / sweep.n_fake == pytest.approx(p.catch_rate)
        assert p.optimises
    assert op.max_false_alarm(sweep, 0.05).false_alarm_rate <= 0.05


def test_a_preset_left_out_says_why():
    sweep = ThresholdSweep([0, 0, 1], [1.0, 0.2, 0.6])  # a fake at P(real) = 1 cannot be caught
    problems: list[str] = []
    keys = [p.key for p in op.all_presets(sweep, catch_rate=1.0, problems=problems)]
    assert "catch" not in keys and "max_f1" in keys
    assert len(problems) == 1 and "no threshold catches 100.0% of the fakes" in problems[0]


def test_one_class_and_bad_costs():
    assert op.all_presets(ThresholdSweep([1, 1], [0.2, 0.3])) == []
    with pytest.raises(ValueError):
        op.cost_curve(SWEEP, 1, 1, 1.5)


def test_a_presets_value_is_written_as_a_share_or_a_decimal_by_what_it_is():
    """F1, the EER and the rates are shares of images, written in % as the rates beside them;
    Youden's J and an expected cost are not, and stay decimals."""
    by_key = {p.key: p for p in op.all_presets(SWEEP, "real", false_alarm_rate=0.0, catch_rate=1.0)}
    assert by_key["max_f1"].value_text() == "88.9%"  # 8/9
    assert by_key["false_alarm"].value_text() == "75.0%"  # 3 of 4 fakes caught
    assert by_key["catch"].value_text() == "50.0%"  # 2 of 4 reals flagged
    assert by_key["eer"].value_text().endswith("%")
    assert by_key["youden"].value_text() == "0.750"
    assert not by_key["min_cost"].value_text().endswith("%") and by_key["min_cost"].value_text().count(".") == 1
