"""core.metric_words: how metrics are named and written on every page."""


def test_metric_cards_name_the_class_they_are_about_and_explain_themselves():
    from core.metric_words import metric_help, metric_label
    from core.bootstrap import HEADLINE

    assert metric_label("recall", "real") == "Recall (real)" and metric_label("recall", "fake") == "Recall (fake)"
    assert metric_label("accuracy", "fake") == "Accuracy" and metric_label("balanced_accuracy", "real") == "Bal. acc."
    assert metric_help("recall", "fake") == "Of the truly fake images, the share caught as fake."
    assert metric_help("specificity", "real") == "Of the truly fake images, the share caught as fake."
    assert metric_help("specificity", "fake") == "Of the truly real images, the share passed as real."
    for key in HEADLINE:  # every card of the Operating points page has words
        assert metric_label(key, "real") and metric_help(key, "real").endswith(".")


def test_metric_cards_write_shares_as_percentages_and_scores_as_decimals():
    from core.metric_words import metric_delta, metric_value

    assert metric_value("accuracy", 0.82822) == "82.8%" and metric_value("eer", 0.1818) == "18.2%"
    assert metric_value("roc_auc", 0.90437) == "0.904" and metric_value("mcc", -0.25) == "-0.250"
    assert metric_value("precision", None) == "n/a" and metric_value("f1", float("nan")) == "n/a"
    assert metric_delta("recall", 0.0123) == "+1.2 pp" and metric_delta("specificity", -0.05) == "-5.0 pp"
    assert metric_delta("average_precision", 0.0123) == "+0.012"
    assert metric_delta("accuracy", None) == metric_delta("roc_auc", float("nan")) == "n/a"


def test_metric_tables_fold_each_interval_into_one_column_beside_its_metric():
    import numpy as np
    import pandas as pd

    from core.metric_words import metric_table

    t = pd.DataFrame({"slice": ["a", "b"], "n": [10, 4], "threshold": [0.5, 0.5],
                      "accuracy": [0.8, 1.0], "accuracy_low": [0.7, 0.51], "accuracy_high": [0.9, 1.0],
                      "accuracy_ci": ["bootstrap", "wilson"],
                      "roc_auc": [0.9, np.nan], "roc_auc_low": [0.85, np.nan], "roc_auc_high": [0.95, np.nan]})
    shown, formats = metric_table(t)
    assert list(shown.columns) == ["slice", "n", "threshold", "Accuracy (%)", "Accuracy: 95% CI", "ROC-AUC",
                                   "ROC-AUC: 95% CI"]
    assert shown["Accuracy (%)"].tolist() == [80.0, 100.0]  # a number still: the grid sorts it
    assert shown["Accuracy: 95% CI"].tolist() == ["70.0–90.0", "51.0–100.0, Wilson"]
    assert shown["ROC-AUC: 95% CI"].tolist() == ["0.850–0.950", ""]  # undefined: empty, never "nan"
    assert formats == {"threshold": "%.4f", "Accuracy (%)": "%.1f", "ROC-AUC": "%.3f"}


def test_changes_and_extra_shares_and_rows_of_mixed_metrics_are_written_as_the_cards_write_them():
    import pandas as pd

    from core.metric_words import metric_table, rows_as_text

    t = pd.DataFrame({"condition": ["clean", "blur 2"], "accuracy": [0.8, 0.7], "roc_auc": [0.9, 0.85],
                      "d_accuracy": [0.0, -0.1], "d_roc_auc": [0.0, -0.05], "low_detail": [0.0, 0.5]})
    shown, formats = metric_table(t, extra_shares=("low_detail",))
    assert list(shown.columns) == ["condition", "Accuracy (%)", "ROC-AUC", "Δ Accuracy (pp)", "Δ ROC-AUC",
                                   "low detail (%)"]
    assert shown["Δ Accuracy (pp)"].tolist() == [0.0, -10.0] and shown["low detail (%)"].tolist() == [0.0, 50.0]
    assert formats["Δ Accuracy (pp)"] == "%+.1f" and formats["Δ ROC-AUC"] == "%+.3f" and formats["ROC-AUC"] == "%.3f"
    rows = pd.DataFrame({"metric": ["accuracy", "roc_auc"], "a": [0.8, 0.9], "difference": [0.012, float("nan")]})
    text = rows_as_text(rows, rows["metric"], values=("a",), deltas=("difference",))
    assert text["a"].tolist() == ["80.0%", "0.900"] and text["difference"].tolist() == ["+1.2 pp", "n/a"]


def test_an_undefined_metric_in_a_table_reads_n_a_and_still_sorts():
    import pandas as pd

    from core.metric_words import metric_table, missing_as_na

    shown, formats = metric_table(pd.DataFrame({"slice": ["a", "b", "c"], "accuracy": [0.9, 1.0, 0.5],
                                                "roc_auc": [0.904, None, 0.5]}))
    table, numbers, texts = missing_as_na(shown, formats)
    assert texts == ["ROC-AUC"] and numbers == {"Accuracy (%)": "%.1f"}  # a column with every value stays a number
    assert list(table["ROC-AUC"]) == ["0.904", "n/a", "0.500"]
    assert sorted(missing_as_na(pd.DataFrame({"x": [90.0, 100.0, None, 5.0]}), {"x": "%.1f"})[0]["x"]) == [
        "  5.0", " 90.0", "100.0", "n/a"]  # as the numbers sort, the undefined last
    assert shown["ROC-AUC"].isna().sum() == 1  # the table given is left as it was


def test_a_p_real_is_written_to_the_thresholds_four_decimals_everywhere():
    from core.metric_words import SCORE_FORMAT, score_text

    assert score_text(0.5) == "0.5000" and score_text(0.70712) == "0.7071" and score_text(None) == "n/a"
    for p in (0.5, 0.70712, 0.123456):  # a figure's hover (d3-format, whose "f" Python's format shares) as the captions
        assert format(p, SCORE_FORMAT) == score_text(p)


def test_ranking_metrics_from_few_images_of_a_class_are_flagged_not_hidden():
    """"accuracy 85.7%, ROC-AUC 1.000" on 6 real and 1 fake read as a perfect ranking."""
    from core.metric_words import FEW_OF_A_CLASS, few_images_help, few_images_words

    assert few_images_words(6, 1) == "from 1 fake: says little"
    assert few_images_words(3, 2) == "from 3 real and 2 fake: says little"
    assert few_images_words(FEW_OF_A_CLASS, FEW_OF_A_CLASS) is None and few_images_words(100, 80) is None
    assert few_images_words(7, 0) is None and few_images_help(7, 0) is None  # one class: n/a, said elsewhere
    assert few_images_help(6, 1).startswith("This set holds 6 real and 1 fake images.")


def test_a_share_of_one_class_is_flagged_on_that_class_count():
    """Specificity on a set with one fake read "0.0%" with no word, beside a flagged ROC-AUC."""
    from core.metric_words import few_of_its_class_words

    assert few_of_its_class_words("specificity", "real", 6, 1) == "from 1 fake: says little"
    assert few_of_its_class_words("recall", "real", 6, 1) is None  # 6 reals: enough
    assert few_of_its_class_words("recall", "fake", 6, 1) == "from 1 fake: says little"
    assert few_of_its_class_words("specificity", "fake", 3, 50) == "from 3 real: says little"
    assert few_of_its_class_words("accuracy", "real", 1, 1) is None and few_of_its_class_words("specificity", "real", 6, 0) is None
