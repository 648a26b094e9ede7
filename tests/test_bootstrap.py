"""core.bootstrap: intervals hold the estimate, narrow with more data, and match a slow
reference that replays the same resamples one by one."""
import numpy as np
import pytest

from core.bootstrap import HEADLINE, Interval, bootstrap, draw_indices
from core.metrics import ThresholdSweep


def _scores(n, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n // 2, int), np.zeros(n - n // 2, int)]
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    return y, (s.round(1) if ties else s)


@pytest.mark.parametrize("ties", [False, True])
def test_interval_contains_estimate(ties):
    y, s = _scores(200, ties=ties)
    r = bootstrap(ThresholdSweep(y, s), 0.5, n_resamples=500)
    for name in HEADLINE:
        iv = r.intervals[name]
        assert iv.low <= iv.estimate <= iv.high, name
        assert iv.n_valid == 500


def test_interval_narrows_as_set_grows():
    small = bootstrap(ThresholdSweep(*_scores(60)), 0.5, n_resamples=400)
    big = bootstrap(ThresholdSweep(*_scores(2000)), 0.5, n_resamples=400)
    for name in ("accuracy", "f1", "roc_auc", "eer"):
        w_small = small.intervals[name].high - small.intervals[name].low
        w_big = big.intervals[name].high - big.intervals[name].low
        assert w_big < w_small / 2, name


@pytest.mark.parametrize("positive", ["real", "fake"])
@pytest.mark.parametrize("ties", [False, True])
def test_matches_slow_reference(positive, ties):
    y, s = _scores(40, seed=3, ties=ties)
    sweep = ThresholdSweep(y, s)
    n_boot, t = 30, 0.45
    from core.bootstrap import resample_metrics

    fast, _ = resample_metrics(sweep, t, positive, n_resamples=n_boot, seed=7)
    idx_r, idx_f = draw_indices(sweep.n_real, sweep.n_fake, n_boot, seed=7)
    s_real, s_fake = s[y == 1], s[y == 0]
    for b in range(n_boot):  # the slow way: a fresh sweep per resample
        rs = np.r_[s_real[idx_r[b]], s_fake[idx_f[b]]]
        ry = np.r_[np.ones(len(idx_r[b]), int), np.zeros(len(idx_f[b]), int)]
        ref = ThresholdSweep(ry, rs).summary(t, positive)
        for name in HEADLINE:
            want = np.nan if ref[name] is None else ref[name]
            np.testing.assert_allclose(fast[name][b], want, atol=1e-12, err_msg=f"{name} resample {b}")


def test_one_class_set_gives_what_it_can():
    r = bootstrap(ThresholdSweep(np.zeros(20, int), np.linspace(0, 1, 20)), 0.5, n_resamples=200)
    assert r.intervals["fake_catch_rate"].low is not None
    assert r.intervals["roc_auc"].estimate is None and r.roc_band is None
    assert r.intervals["real_pass_rate"].format() == "n/a"


def test_bands_bracket_the_curve_and_seed_is_fixed():
    y, s = _scores(300)
    sweep = ThresholdSweep(y, s)
    a, b = bootstrap(sweep, 0.5, n_resamples=300), bootstrap(sweep, 0.5, n_resamples=300)
    assert a.ci() == b.ci()
    band = a.roc_band
    assert np.all(band.low <= band.high) and band.low[-1] == 1.0
    roc = sweep.roc()
    tpr_mid = np.interp(0.3, roc.fpr, roc.tpr)
    k = np.searchsorted(band.x, 0.3)
    assert band.low[k] - 0.02 <= tpr_mid <= band.high[k] + 0.02


def test_format():
    assert Interval(0.936, 0.881, 0.972, 1000).format() == "93.6% (95% CI 88.1–97.2)"
    assert Interval(0.5, None, None, 0).format() == "50.0%"
    # the two halves a metric card shows apart (value, then its interval as the caption)
    iv = Interval(0.9044, 0.86, 0.94, 1000)
    assert (iv.format_estimate(False), iv.format_interval(False)) == ("0.904", "95% CI 0.860–0.940")
    assert Interval(None, None, None, 0).format_interval() == "" and Interval(None, None, None, 0).format_estimate() == "n/a"
    assert Interval(1.0, None, None, 0, method="none").format_interval().startswith("no interval")


def test_rate_with_nothing_to_resample_gets_wilson_interval():
    """Five reals all passed: every resample passes them all, so the percentile interval
    would be 100-100 %; the Wilson interval of 5 of 5 says how little five images show."""
    from scipy.stats import binomtest

    y = np.r_[np.ones(5, int), np.zeros(6, int)]
    s = np.r_[np.full(5, 0.9), [0.1, 0.2, 0.3, 0.6, 0.7, 0.95]]
    r = bootstrap(ThresholdSweep(y, s), 0.5, n_resamples=300)
    iv = r.intervals["real_pass_rate"]
    want = binomtest(5, 5).proportion_ci(method="wilson")
    assert iv.method == "wilson" and iv.estimate == 1.0
    np.testing.assert_allclose([iv.low, iv.high], [want.low, want.high])
    assert iv.low < 0.6 and "Wilson CI" in iv.format()
    assert r.intervals["fake_catch_rate"].method == "bootstrap"  # 3 of 6: resampling varies it
    assert r.intervals["roc_auc"].low < r.intervals["roc_auc"].high


def test_constant_metric_that_is_not_a_rate_gets_no_interval():
    y = np.r_[np.ones(4, int), np.zeros(4, int)]
    s = np.r_[np.full(4, 0.9), np.full(4, 0.1)]  # every image right
    r = bootstrap(ThresholdSweep(y, s), 0.5, n_resamples=200)
    for name in ("f1", "mcc", "roc_auc", "balanced_accuracy"):
        iv = r.intervals[name]
        assert iv.method == "none" and iv.low is None and iv.estimate is not None, name
        assert "no interval" in iv.format(), name
    assert r.ci()["f1"] is None
    assert r.intervals["accuracy"].method == "wilson" and r.intervals["accuracy"].low < 1.0


def test_stratified_constant_accuracy_that_is_not_0_or_1():
    """Every real right and every fake wrong: class sizes are fixed in each resample, so
    accuracy is 4/8 in all of them; the interval still comes from 4 of 8."""
    y = np.r_[np.ones(4, int), np.zeros(4, int)]
    r = bootstrap(ThresholdSweep(y, np.full(8, 0.9)), 0.5, n_resamples=200)
    iv = r.intervals["accuracy"]
    assert iv.estimate == 0.5 and iv.method == "wilson" and iv.low < 0.5 < iv.high
