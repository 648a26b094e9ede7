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


def test_average_precision_and_roc_follow_the_positive_class():
    """The Compare page passes the sidebar's positive class: AP ranks for it (ROC-AUC, EER
    and accuracy do not depend on it), as on every other page."""
    from core.compare import paired_difference

    rng = np.random.default_rng(1)
    y = np.r_[np.ones(30, int), np.zeros(30, int)]
    a = Run("A", "s", _frame(np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1), y), 0.5)
    b = Run("B", "s", _frame(rng.uniform(size=60), y), 0.5)
    real, fake = compare_table([a], "real", n_resamples=50), compare_table([a], "fake", n_resamples=50)
    assert real.loc[0, "average_precision"] == pytest.approx(a.sweep.summary(0.5, "real")["average_precision"])
    assert fake.loc[0, "average_precision"] == pytest.approx(a.sweep.summary(0.5, "fake")["average_precision"])
    assert fake.loc[0, "average_precision"] != pytest.approx(real.loc[0, "average_precision"])
    assert fake.loc[0, "roc_auc"] == pytest.approx(real.loc[0, "roc_auc"])
    np.testing.assert_allclose(roc_curves([a], "fake")["A on s"].tpr, a.sweep.roc("fake").tpr)
    ap = paired_difference(a, b, positive="fake", n_resamples=50).set_index("metric").loc["average_precision"]
    assert ap["a"] == pytest.approx(a.sweep.summary(0.5, "fake")["average_precision"])
    assert ap["b"] == pytest.approx(b.sweep.summary(0.5, "fake")["average_precision"])


def test_disagreements_are_the_images_one_gets_right():
    y = np.array([1, 1, 0, 0])
    a = Run("A", "s", _frame(np.array([0.9, 0.2, 0.1, 0.7]), y), 0.5)  # right, wrong, right, wrong
    b = Run("B", "s", _frame(np.array([0.8, 0.6, 0.6, 0.3]), y), 0.5)  # right, right, wrong, right
    d = disagreements(a, b)
    assert set(d["relpath"]) == {"x/1.jpg", "x/2.jpg", "x/3.jpg"}
    assert dict(zip(d["relpath"], d["right"])) == {"x/1.jpg": "B", "x/2.jpg": "A", "x/3.jpg": "B"}


def test_disagreements_name_runs_a_and_b_even_for_one_model():
    y = np.array([1, 0])
    a = Run("w.pth", "s", _frame(np.array([0.6, 0.3]), y), 0.5)  # right, right
    b = Run("w.pth", "s", _frame(np.array([0.6, 0.3]), y), 0.65)  # the same model at a stricter threshold
    assert dict(zip(disagreements(a, b)["relpath"], disagreements(a, b)["right"])) == {"x/0.jpg": "A"}


def test_runs_on_two_test_sets_are_not_paired():
    """real/1.jpg of one set is not real/1.jpg of another: pairing them would compare different pictures."""
    y = np.array([1, 0])
    a, b = Run("w", "set A", _frame(np.array([0.9, 0.1]), y), 0.5), Run("w", "set B", _frame(np.array([0.1, 0.9]), y), 0.5)
    with pytest.raises(ValueError, match="one test set"):
        disagreements(a, b)


def test_disagreements_refuse_different_labels():
    a = Run("A", "s", _frame(np.array([0.9]), np.array([1])), 0.5)
    b = Run("B", "s", _frame(np.array([0.9]), np.array([0])), 0.5)
    with pytest.raises(ValueError, match="same test set"):
        disagreements(a, b)


def test_paired_difference_matches_a_slow_reference_on_the_same_resamples():
    from sklearn.metrics import roc_auc_score

    from core.bootstrap import draw_indices
    from core.compare import paired_difference

    rng = np.random.default_rng(3)
    y = np.r_[np.ones(30, int), np.zeros(25, int)]
    pa = np.round(np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1), 2)  # rounded: ties
    pb = np.round(np.clip(pa + rng.normal(0.1 * (2 * y - 1), 0.1), 0, 1), 2)
    a, b = Run("A", "s", _frame(pa, y), 0.5), Run("B", "s", _frame(pb, y), 0.5)
    t = paired_difference(a, b, n_resamples=200, seed=7).set_index("metric")
    ir, jf = draw_indices(30, 25, 200, seed=7)
    real, fake = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    ref = []
    for r, f in zip(ir, jf):
        idx = np.r_[real[r], fake[f]]
        ref.append(roc_auc_score(y[idx], pb[idx]) - roc_auc_score(y[idx], pa[idx]))
    lo, hi = np.quantile(ref, [0.025, 0.975])
    np.testing.assert_allclose([t.loc["roc_auc", "low"], t.loc["roc_auc", "high"]], [lo, hi], atol=1e-12)
    assert t.loc["roc_auc", "difference"] == pytest.approx(roc_auc_score(y, pb) - roc_auc_score(y, pa))
    assert t.loc["roc_auc", "b_better"] == pytest.approx(np.mean(np.array(ref) > 0))
    # far narrower than the two separate intervals, which overlap
    sep = compare_table([a, b], n_resamples=200, seed=7).set_index("model")
    assert (hi - lo) < (sep.loc["A", "roc_auc_high"] - sep.loc["A", "roc_auc_low"])


def test_paired_difference_of_a_model_with_itself_is_zero_and_one_class_sets_drop_curves():
    from core.compare import paired_difference

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(20, int), np.zeros(20, int)]
    a = Run("A", "s", _frame(rng.uniform(size=40), y), 0.5)
    t = paired_difference(a, a, n_resamples=100)
    assert (t["difference"] == 0).all() and (t["low"] == 0).all() and (t["high"] == 0).all() and (t["b_better"] == 0).all()
    fakes = Run("A", "f", _frame(rng.uniform(size=10), np.zeros(10, int)), 0.5)
    t1 = paired_difference(fakes, fakes, n_resamples=50)
    assert list(t1["metric"]) == ["accuracy"]
    with pytest.raises(ValueError, match="same test set"):
        paired_difference(a, Run("B", "s", _frame(rng.uniform(size=40), 1 - y), 0.5))


def test_cli_compare_prints_and_writes_the_paired_difference(tiny_set, tmp_path, cache_dir, capsys):
    import json

    from core.cli import main

    from .conftest import make_checkpoint, make_test_set

    a = make_checkpoint(tmp_path / "a.pth", seed=1)
    b = make_checkpoint(tmp_path / "b.pth", seed=2, spread=60.0)
    out = tmp_path / "cmp.json"
    assert main(["compare", str(a), str(b), "--data", str(tiny_set), "--bootstrap", "200", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "B − A, paired stratified bootstrap" in text and "Exactly one right on" in text
    got = json.loads(out.read_text())
    assert [r["model"].split(":")[0] for r in got["models"]] == ["A", "B"]
    roc = next(r for r in got["paired_difference"] if r["metric"] == "roc_auc")
    models = {r["model"][0]: r for r in got["models"]}
    assert roc["difference"] == pytest.approx(models["B"]["roc_auc"] - models["A"]["roc_auc"])
    assert roc["low"] <= roc["difference"] <= roc["high"]
    assert main(["compare", str(a), str(tmp_path / "missing.pth"), "--data", str(tiny_set)]) == 2
    capsys.readouterr()
    bad = make_test_set(tmp_path / "bad", n_real=3, n_fake=3, corrupt=True)  # two unreadable reals
    assert main(["compare", str(a), str(b), "--data", str(bad), "--bootstrap", "50"]) == 0
    text = capsys.readouterr().out
    assert "(3 real, 3 fake)" in text and "skipped 2 unreadable file(s)" in text  # counted as scored, not as listed


def test_cli_compare_on_a_one_class_set_says_so_instead_of_nan(tmp_path, cache_dir, capsys):
    from core.cli import main

    from .conftest import make_checkpoint, make_test_set

    root = make_test_set(tmp_path / "set", n_real=4, n_fake=0, corrupt=True)
    a, b = make_checkpoint(tmp_path / "a.pth", seed=1), make_checkpoint(tmp_path / "b.pth", seed=2)
    assert main(["compare", str(a), str(b), "--data", str(root), "--bootstrap", "100"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out.lower()
    assert "one class only" in out and "roc_auc n/a" in out and "skipped 2 unreadable" in out


def test_paired_figure_shortens_long_names_in_the_title_and_keeps_them_whole_on_hover():
    from core.compare import paired_difference
    from core.figures_analysis import paired_difference_figure

    rng = np.random.default_rng(1)
    y = np.r_[np.ones(20, int), np.zeros(20, int)]
    a = Run("A", "s", _frame(rng.uniform(size=40), y), 0.5)
    b = Run("B", "s", _frame(np.clip(0.2 + 0.6 * y + rng.normal(0, 0.1, 40), 0, 1), y), 0.5)
    long_a = "artifacts/members/lite0_384_noatt_synthetic_from_imagenet_seed3.pth"
    long_b = "artifacts/members/lite0_384_noatt_synthetic_from_imagenet_seed4.pth"
    fig = paired_difference_figure(paired_difference(a, b, n_resamples=50), long_a, long_b)
    title = fig.layout.title.text
    assert long_a not in title and "…" in title and "seed3.pth" in title and "seed4.pth" in title
    assert all(long_a in t.hovertemplate and long_b in t.hovertemplate for t in fig.data)
    short = paired_difference_figure(paired_difference(a, b, n_resamples=50), "a.pth", "b.pth")
    assert "B: b.pth" in short.layout.title.text and "…" not in short.layout.title.text


def test_short_names_are_file_names_unless_two_share_one():
    from core.compare import short_names

    assert short_names(["weights/default.pth", "/w/artifacts/members/lite0_384.pth"]) == ["default.pth", "lite0_384.pth"]
    assert short_names(["a/default.pth", "b/default.pth"]) == ["a/default.pth", "b/default.pth"]


@pytest.mark.parametrize("command", ["evaluate", "report", "compare"])
def test_every_command_bootstraps_as_many_resamples_as_the_dashboard(command):
    """The Compare page and ``compare`` must print the same intervals for the same seed."""
    import inspect

    from core import ui
    from core.bootstrap import DEFAULT_RESAMPLES
    from core.cli import build_parser

    args = {"compare": ["a.pth", "b.pth"], "report": ["--out", "r.html"]}.get(command, [])
    assert build_parser(command).parse_args([command, *args]).bootstrap == DEFAULT_RESAMPLES
    assert inspect.signature(ui.analysis).parameters["n_resamples"].default == DEFAULT_RESAMPLES
