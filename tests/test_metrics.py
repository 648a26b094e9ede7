"""core.metrics against scikit-learn: ties, one class, perfect scores, both positive classes."""
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn import metrics as skm

from core.metrics import MetricUnavailable, ThresholdSweep


def _cases():
    rng = np.random.default_rng(0)
    yield "random", rng.integers(0, 2, 200), rng.random(200)
    # heavy ties: scores on a coarse grid
    yield "ties", rng.integers(0, 2, 300), np.round(rng.random(300), 1)
    yield "all_tied", np.array([0, 1, 0, 1, 1]), np.full(5, 0.5)
    yield "perfect", np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    yield "inverted", np.array([0, 0, 1, 1]), np.array([0.9, 0.8, 0.2, 0.1])
    yield "imbalanced", np.r_[np.zeros(95, int), np.ones(5, int)], rng.random(100)


CASES = list(_cases())


def _sk_view(label, p_real, positive):
    """y_true and a higher-is-positive score for scikit-learn."""
    if positive == "real":
        return label, p_real
    return 1 - label, -p_real  # exact: no float rounding from 1 - p


@pytest.mark.parametrize("name,label,p", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("positive", ["real", "fake"])
def test_threshold_metrics_match_sklearn(name, label, p, positive):
    sweep = ThresholdSweep(label, p)
    y_true, _ = _sk_view(label, p, positive)
    for t in [0.0, 0.05, 0.3, 0.5, 0.5000001, 0.8, 1.0, *np.unique(p)[:5]]:
        pred_real = (p >= t).astype(int)
        y_pred = pred_real if positive == "real" else 1 - pred_real
        c = sweep.confusion(t, positive)
        tn, fp, fn, tp = skm.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
        assert (c.tn, c.fp, c.fn, c.tp) == (tn, fp, fn, tp)
        assert_allclose(c.accuracy, skm.accuracy_score(y_true, y_pred))
        if tp + fn and tn + fp:
            assert_allclose(c.mcc, skm.matthews_corrcoef(y_true, y_pred), atol=1e-12)
        else:  # one true class: undefined here, where scikit-learn says 0
            assert c.mcc is None
        if tp + fp:
            assert_allclose(c.precision, skm.precision_score(y_true, y_pred, zero_division=0))
        else:
            assert c.precision is None
        if tp + fn:
            assert_allclose(c.recall, skm.recall_score(y_true, y_pred))
            assert_allclose(c.f1, skm.f1_score(y_true, y_pred))
        if tn + fp and tp + fn:
            assert_allclose(c.balanced_accuracy, skm.balanced_accuracy_score(y_true, y_pred))


@pytest.mark.parametrize("name,label,p", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("positive", ["real", "fake"])
def test_curves_match_sklearn(name, label, p, positive):
    sweep = ThresholdSweep(label, p)
    y_true, score = _sk_view(label, p, positive)
    roc = sweep.roc(positive)
    fpr, tpr, _ = skm.roc_curve(y_true, score, drop_intermediate=False)
    assert_allclose(roc.fpr, fpr)
    assert_allclose(roc.tpr, tpr)
    assert_allclose(roc.auc, skm.roc_auc_score(y_true, score))
    assert_allclose(sweep.pr(positive).average_precision, skm.average_precision_score(y_true, score))
    prec, rec, _ = skm.precision_recall_curve(y_true, score, drop_intermediate=False)
    pr = sweep.pr(positive)
    # scikit-learn lists recall falling and appends (1, 0); ours rises and has no sentinel
    assert_allclose(pr.precision, prec[:-1][::-1])
    assert_allclose(pr.recall, rec[:-1][::-1])


def test_roc_thresholds_reproduce_the_points():
    rng = np.random.default_rng(1)
    label, p = rng.integers(0, 2, 50), rng.random(50)
    sweep = ThresholdSweep(label, p)
    roc = sweep.roc("real")
    for fpr, tpr, t in list(zip(roc.fpr, roc.tpr, roc.thresholds))[1:]:
        c = sweep.confusion(t, "real")
        assert_allclose((c.fp / sweep.n_fake, c.tp / sweep.n_real), (fpr, tpr))


def test_eer_against_brute_force():
    rng = np.random.default_rng(2)
    for _ in range(20):
        label = rng.integers(0, 2, 80)
        p = np.clip(rng.normal(0.4 + 0.2 * label, 0.2), 0, 1)
        sweep = ThresholdSweep(label, p)
        fpr, tpr, _ = skm.roc_curve(label, p, drop_intermediate=False)
        fnr = 1 - tpr
        # EER lies between the last point with fnr > fpr and the first with fnr <= fpr
        k = int(np.argmax(fnr <= fpr))  # first ROC point past the crossing (k >= 1: fnr[0] = 1 > fpr[0] = 0)
        e = sweep.eer()
        # the crossing lies between ROC points k-1 and k
        assert min(fpr[k - 1], fnr[k]) - 1e-9 <= e.eer <= max(fnr[k - 1], fpr[k]) + 1e-9
        assert 0 <= e.eer <= 1
    perfect = ThresholdSweep([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert perfect.eer().eer == 0.0
    assert 0.2 < perfect.eer().threshold <= 0.8


def test_tpr_at_fpr():
    label = np.array([0] * 100 + [1] * 100)
    p = np.r_[np.linspace(0, 0.6, 100), np.linspace(0.4, 1.0, 100)]
    sweep = ThresholdSweep(label, p)
    tpr, t = sweep.tpr_at_fpr(0.01)
    c = sweep.confusion(t)
    assert c.fp / 100 <= 0.01
    fpr, tprs, _ = skm.roc_curve(label, p)
    assert_allclose(tpr, tprs[fpr <= 0.01].max())


def test_one_class_gives_reasons_not_nan():
    sweep = ThresholdSweep([1, 1, 1], [0.2, 0.6, 0.9])
    s = sweep.summary(0.5)
    assert s["accuracy"] == pytest.approx(2 / 3)
    assert s["roc_auc"] is None and "only real" in s["unavailable"]["roc_auc"]
    assert s["specificity"] is None and "specificity" in s["unavailable"]
    assert s["mcc"] is None and s["unavailable"]["mcc"].startswith("MCC needs both real and fake images")
    with pytest.raises(MetricUnavailable):
        sweep.roc()


def test_metric_curves_agree_with_confusion():
    rng = np.random.default_rng(3)
    label, p = rng.integers(0, 2, 40), np.round(rng.random(40), 2)
    sweep = ThresholdSweep(label, p)
    curves = sweep.metric_curves("fake")
    for i in range(0, len(curves["threshold"]), 5):
        c = sweep.confusion(curves["threshold"][i], "fake")
        assert_allclose(curves["accuracy"][i], c.accuracy)
        if c.precision is not None:
            assert_allclose(curves["precision"][i], c.precision)


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        ThresholdSweep([0, 1], [0.5])
    with pytest.raises(ValueError):
        ThresholdSweep([0, 1], [0.5, np.nan])


def test_fmt_says_na_for_undefined_metrics_and_keeps_digits():
    from core.metrics import fmt

    assert fmt(None) == "n/a" and fmt(float("nan"), 4) == "n/a" and fmt(np.float64("nan")) == "n/a"
    assert fmt(0.82822) == "0.828" and fmt(0.82822, 4) == "0.8282" and fmt(np.float32(0.5), 2) == "0.50"
    assert fmt(0.0123, 4, signed=True) == "+0.0123" and fmt(-0.0123, 4, signed=True) == "-0.0123"
    one_class = ThresholdSweep(np.ones(4, dtype=int), np.linspace(0.2, 0.8, 4)).summary(0.5, "real")
    assert fmt(one_class["roc_auc"]) == "n/a"  # what a one-class set gives is printed, never 'nan'


def test_an_empty_sweep_is_all_undefined_not_an_index_error():
    sweep = ThresholdSweep([], [])
    s = sweep.summary(0.5)
    assert not sweep.has_both_classes and s["accuracy"] is None and s["mcc"] is None
    assert "no scored images" in s["unavailable"]["roc_auc"] and s["unavailable"]["roc_auc"].startswith("ROC-AUC")


def test_fake_catch_and_real_pass_rates_do_not_depend_on_the_positive_class():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.4])
    sweep = ThresholdSweep(y, p)
    for positive in ("real", "fake"):
        c = sweep.confusion(0.5, positive)
        assert c.fake_catch_rate == pytest.approx(3 / 4) and c.real_pass_rate == pytest.approx(2 / 3)
    only_fakes = ThresholdSweep(y[y == 0], p[y == 0]).confusion(0.5)
    assert only_fakes.fake_catch_rate == pytest.approx(3 / 4) and only_fakes.real_pass_rate is None
