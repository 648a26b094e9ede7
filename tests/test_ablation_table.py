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
