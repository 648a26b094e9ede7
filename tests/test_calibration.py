"""core.calibration against scikit-learn."""
import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss as sk_log_loss

from core import calibration as cal


def _data(n=500, seed=0, sharpen=3.0):
    rng = np.random.default_rng(seed)
    p_true = rng.uniform(0.02, 0.98, n)
    y = (rng.uniform(size=n) < p_true).astype(int)
    z = np.log(p_true / (1 - p_true)) * sharpen  # overconfident by `sharpen`
    return y, 1 / (1 + np.exp(-z))


def test_brier_and_log_loss_match_sklearn():
    y, p = _data()
    assert cal.brier_score(y, p) == pytest.approx(brier_score_loss(y, p))
    assert cal.log_loss(y, p) == pytest.approx(sk_log_loss(y, np.clip(p, 1e-7, 1 - 1e-7)))


def test_reliability_matches_sklearn_calibration_curve():
    y, p = _data()
    p = np.r_[p, 0.1, 0.2, 0.0, 1.0]  # bin edges exercise the same binning
    y = np.r_[y, 1, 0, 0, 1]
    r = cal.reliability(y, p, n_bins=10)
    obs, conf = calibration_curve(y, p, n_bins=10)
    np.testing.assert_allclose(r.observed, obs)
    np.testing.assert_allclose(r.confidence, conf)
    assert r.ece == pytest.approx(np.sum(r.count * np.abs(obs - conf)) / len(p))


def test_reliability_bins_carry_wilson_intervals():
    # one bin of 1 fake (0 of 1 real), one of 10 images with 8 real: textbook Wilson bounds
    y = np.r_[0, np.ones(8), np.zeros(2)]
    p = np.r_[0.05, np.full(10, 0.85)]
    r = cal.reliability(y, p, n_bins=10)
    np.testing.assert_allclose(r.count, [1, 10])
    np.testing.assert_allclose(r.low, [0.0, 0.4902], atol=1e-4)
    np.testing.assert_allclose(r.high, [0.7935, 0.9433], atol=1e-4)


def test_reliability_interval_brackets_the_share_and_narrows_with_images():
    y, p = _data(4000)
    r = cal.reliability(y, p, n_bins=10)
    assert np.all(r.low <= r.observed) and np.all(r.observed <= r.high)
    assert np.all((r.low >= 0) & (r.high <= 1))
    small = cal.reliability(y[:200], p[:200], n_bins=10)
    assert np.median(small.high - small.low) > 2 * np.median(r.high - r.low)


def test_temperature_undoes_overconfidence():
    y, p = _data(2000, sharpen=3.0)
    t = cal.fit_temperature(y, p, fitted_on="a")
    assert 2.3 < t.temperature < 3.8
    assert t.log_loss_after < t.log_loss_before
    y2, p2 = _data(2000, seed=1, sharpen=3.0)  # apply to another split
    assert cal.scores(y2, t.apply(p2)).ece < cal.scores(y2, p2).ece
    # order (and so ROC) is unchanged
    assert np.array_equal(np.argsort(t.apply(p2), kind="stable"), np.argsort(p2, kind="stable"))


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="both|real and fake"):
        cal.fit_temperature([1, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match="within"):
        cal.brier_score([1], [1.5])
