"""tools/probe_input_size.py: one checkpoint scored at several input sizes."""
import importlib.util

import pytest

from tests.conftest import REPO, make_checkpoint, make_test_set

spec = importlib.util.spec_from_file_location("probe_input_size", REPO / "tools" / "probe_input_size.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_each_size_is_scored_and_the_trained_size_matches_evaluate(tmp_path, tiny_ckpt, capsys):
    from core.checkpoint import load_detector
    from core.data import scan_test_set
    from core.inference import InferenceSettings, predict_test_set
    from core.metrics import ThresholdSweep

    data = make_test_set(tmp_path / "set", corrupt=True)
    rows = tool.probe(str(tiny_ckpt), str(data), [48, 64, 80])
    assert [r["size"] for r in rows] == [48, 64, 80]
    assert [r["trained_size"] for r in rows] == [False, True, False]
    assert "skipped" in capsys.readouterr().err  # the corrupt files are named, not fatal
    # at the trained size the probe is the evaluate path: the same ROC-AUC and accuracy
    preds = predict_test_set(load_detector(tiny_ckpt), scan_test_set(data), InferenceSettings(), use_cache=False,
                             cache_dir=tmp_path / "cache")
    sweep = ThresholdSweep(preds.frame["label"], preds.frame["p_real"])
    assert rows[1]["roc_auc"] == pytest.approx(sweep.roc().auc, abs=1e-9)
    assert rows[1]["accuracy"] == pytest.approx(sweep.confusion(0.5).accuracy, abs=1e-9)
    assert rows[0]["roc_auc"] != rows[1]["roc_auc"] or rows[0]["accuracy"] != rows[1]["accuracy"]


def test_an_ensemble_is_refused_with_a_message(tmp_path, tiny_set):
    from core.cli import main

    members = [make_checkpoint(tmp_path / f"m{i}.pth", input_size=s, seed=i) for i, s in enumerate((64, 96))]
    out = tmp_path / "ens.pth"
    assert main(["ensemble", *map(str, members), "--out", str(out)]) == 0
    with pytest.raises(SystemExit, match="ensemble: probe its members"):
        tool.probe(str(out), str(tiny_set), [64])


def test_a_one_class_set_is_refused(tmp_path, tiny_ckpt):
    from core.data import DatasetError

    data = make_test_set(tmp_path / "set", n_fake=0)
    with pytest.raises(DatasetError):
        tool.probe(str(tiny_ckpt), str(data), [64])
