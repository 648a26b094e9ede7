"""core.confusion: the one formula table of every rate, checked cell by cell against scikit-learn."""
import numpy as np
from numpy.testing import assert_allclose


def test_confusion_rates_on_arrays_match_sklearn_cell_by_cell():
    """The one formula table, evaluated on a grid of confusions at once (as the bootstrap
    does), against scikit-learn on each confusion; empty margins included."""
    import sklearn.metrics as skm

    from core.confusion import confusion_rates

    cells = np.array([(tp, fp, fn, tn) for tp in (0, 3) for fp in (0, 2) for fn in (0, 1) for tn in (0, 4)
                      if tp + fp + fn + tn]).T
    rates = confusion_rates(*cells.reshape(4, 3, -1))  # any shape, not just 1-d
    for k, (tp, fp, fn, tn) in enumerate(cells.T):
        y_true = np.r_[np.ones(tp + fn), np.zeros(fp + tn)]
        y_pred = np.r_[np.ones(tp), np.zeros(fn), np.ones(fp), np.zeros(tn)]
        got = {name: v.reshape(-1)[k] for name, v in rates.items()}
        assert_allclose(got["accuracy"], skm.accuracy_score(y_true, y_pred))
        if tp + fn and tn + fp:
            assert_allclose(got["mcc"], skm.matthews_corrcoef(y_true, y_pred), atol=1e-12)
        else:
            assert np.isnan(got["mcc"])
        if tp + fp:
            assert_allclose(got["precision"], skm.precision_score(y_true, y_pred))
        else:
            assert np.isnan(got["precision"])
        if tp + fn and tn + fp:
            assert_allclose(got["balanced_accuracy"], skm.balanced_accuracy_score(y_true, y_pred))
        if fp + tn:  # the ROC's x at this confusion: 1 - specificity
            assert_allclose(got["fpr"], 1 - skm.recall_score(1 - y_true, 1 - y_pred))
        assert_allclose(got["prevalence"], y_true.mean())
