"""core.compare: the model x test-set table and the disagreement list."""
import numpy as np
import pandas as pd
import pytest

from core.compare import Run, compare_table, disagreements, roc_curves


def _frame(p_real, label):
    n = len(label)
    return pd.DataFrame({"relpath": [f"x/{i}.jpg" for i in range(n)], "path": [f"/d/x/{i}.jpg" for i in range(n)],
                         "label": label, "p_real": p_real})


def test_table_has_cis_and_one_class_sets_get_nan():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(50, int), np.zeros(50, int)]
    good = Run("good", "set A", _frame(np.clip(rng.normal(0.3 + 0.4 * y, 0.15), 0, 1), y), 0.5)
    weak = Run("weak", "set A", _frame(rng.uniform(size=100), y), 0.5)
    only_fake = Run("good", "fakes only", _frame(rng.uniform(size=10), np.zeros(10, int)), 0.5)
    t = compare_table([good, weak, only_fake], n_resamples=300)
    assert list(t["model"]) == ["good", "weak", "good"]
    assert t.loc[0, "roc_auc"] > t.loc[1, "roc_auc_high"]  # clearly better, beyond the weak model's CI
    for m in ("roc_auc", "average_precision", "eer", "accuracy"):
        assert t.loc[0, f"{m}_low"] <= t.loc[0, m] <= t.loc[0, f"{m}_high"]
    assert np.isnan(t.loc[2, "roc_auc"]) and not np.isnan(t.loc[2, "accuracy"])
    assert set(roc_curves([good, weak, only_fake])) == {"good on set A", "weak on set A"}


def test_disagreements_are_the_images_one_gets_right():
    y = np.array([1, 1, 0, 0])
    a = Run("A", "s", _frame(np.array([0.9, 0.2, 0.1, 0.7]), y), 0.5)  # right, wrong, right, wrong
    b = Run("B", "s", _frame(np.array([0.8, 0.6, 0.6, 0.3]), y), 0.5)  # right, right, wrong, right
    d = disagreements(a, b)
    assert set(d["relpath"]) == {"x/1.jpg", "x/2.jpg", "x/3.jpg"}
    assert dict(zip(d["relpath"], d["right"])) == {"x/1.jpg": "B", "x/2.jpg": "A", "x/3.jpg": "B"}


def test_disagreements_refuse_different_labels():
    a = Run("A", "s", _frame(np.array([0.9]), np.array([1])), 0.5)
    b = Run("B", "s", _frame(np.array([0.9]), np.array([0])), 0.5)
    with pytest.raises(ValueError, match="same test set"):
        disagreements(a, b)
