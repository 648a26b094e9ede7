"""tools/ablation_table.py: rows come from model cards, the table and card section follow."""
import importlib.util
import json

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("ablation_table", REPO / "tools" / "ablation_table.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def card(auc, acc):
    return {"validation": {"roc_auc": auc, "accuracy": acc}, "validation_tta": None, "best_epoch": 3,
            "history": [{}] * 5, "training_time_s": 120.0, "device": "cpu: x86_64 (2 threads)", "recipe": {"precision": "torch.bfloat16"}}


def test_add_replaces_by_name_sorts_and_the_card_section_is_rewritten(tmp_path, monkeypatch):
    table = tmp_path / "ablation.json"
    table.write_text(json.dumps({"split": "s", "shipped": "a", "rows": []}))
    monkeypatch.setattr(tool, "TABLE", table)
    for name, auc in (("a", 0.8), ("b", 0.9), ("a", 0.7)):
        (tmp_path / f"{name}.json").write_text(json.dumps(card(auc, 0.75)))
        assert tool.main(["add", name, f"row {name}", str(tmp_path / f"{name}.json")]) == 0
    rows = json.loads(table.read_text())["rows"]
    assert [(r["name"], r["val_roc_auc"]) for r in rows] == [("b", 0.9), ("a", 0.7)]
    md = tool.markdown(json.loads(table.read_text()))
    assert "| a (**shipped**) | row a | 0.7000 | 0.7500 | n/a | 3 / 5 | 2.0 min | CPU (2 threads) |" in md
    model_card = tmp_path / "m.md"
    model_card.write_text("# card\n\nbody\n\n## Ablation (old)\n\nold table\n")
    tool.main(["card", str(model_card)])
    tool.main(["card", str(model_card)])  # twice: still one section
    text = model_card.read_text()
    assert text.count("## Ablation") == 1 and "old table" not in text and "| b | row b |" in text


def test_device_label_comes_from_the_cards_device():
    assert tool.device_label("cuda: NVIDIA H100 80GB HBM3") == "GPU (H100)"
    assert tool.device_label("cuda: NVIDIA H200") == "GPU (H200)"
    assert tool.device_label("cpu: x86_64 (16 threads)") == "CPU (16 threads)"
    assert tool.device_label("cpu: x86_64") == "CPU"


def test_an_ensemble_card_becomes_a_row_with_its_members_time_and_devices(tmp_path, monkeypatch):
    table = tmp_path / "ablation.json"
    table.write_text(json.dumps({"split": "s", "rows": []}))
    monkeypatch.setattr(tool, "TABLE", table)
    gpu_parent = {"training_time_s": 90.0, "device": "cuda: NVIDIA H100 80GB HBM3", "init_from": None}
    ens = {"kind": "ensemble", "validation": {"roc_auc": 0.87, "accuracy": 0.79}, "validation_tta": {"roc_auc": 0.86, "accuracy": 0.78},
           "members": [{"training_time_s": 1400.0, "device": "cpu: x86_64 (2 threads)", "init_from": gpu_parent},
                       {"training_time_s": 1770.0, "device": "cpu: x86_64 (2 threads)", "init_from": None}]}
    (tmp_path / "e.json").write_text(json.dumps(ens))
    assert tool.main(["add", "ens", "two members", str(tmp_path / "e.json")]) == 0
    row = json.loads(table.read_text())["rows"][0]
    assert row["training_time_s"] == 1400.0 + 90.0 + 1770.0  # a member's --init parent counts too
    md = tool.markdown(json.loads(table.read_text()))
    # the GPU that trained a member's parent counts among the devices
    assert "| ens | two members | 0.8700 | 0.7900 | 0.8600 | members | 54.3 min | CPU (2 threads) + GPU (H100) |" in md
    assert tool.device_label("cpu: x86_64 (2 threads) + cuda: NVIDIA H100") == "CPU (2 threads) + GPU (H100)"
    assert tool.device_label("cpu: x86_64 (2 threads) + cpu: x86_64") == "CPU (2 threads)"
    (tmp_path / "bare.json").write_text(json.dumps({"kind": "ensemble", "members": []}))
    import pytest

    with pytest.raises(SystemExit, match="--data"):
        tool.main(["add", "bare", "no numbers", str(tmp_path / "bare.json")])
