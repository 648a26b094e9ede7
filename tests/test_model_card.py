"""core/model_card.py and the Model card page: lineage, recipe departures, curves, recorded vs now."""
import pandas as pd
import pytest

from core import model_card as mc
from core.checkpoint import load_detector
from core.cli import build_parser, main
from core.figures_analysis import training_curves_figure

from .conftest import make_checkpoint, make_test_set, open_page, point_app_at

GPU_PARENT = {"file": "/tmp/parts/p384.pth", "sha256": "ab" * 32, "device": "cuda: NVIDIA H100", "best_epoch": 16,
              "training_time_s": 150.0, "validation_roc_auc": 0.881, "init_from": None,
              "recipe": {"pretrained": "/tmp/parts/a/lite0_imagenet_fp16.pth", "image_size": 384, "epochs": 24, "lr": 2e-4,
                         "attention": False}}
CPU_CHILD = {"file": "artifacts/m384r.pth", "sha256": "cd" * 32, "device": "cpu: x86_64 (2 threads)", "best_epoch": 4,
             "training_time_s": 980.0, "validation_roc_auc": 0.884, "init_from": GPU_PARENT,
             "recipe": {"pretrained": "auto", "image_size": 384, "epochs": 4, "lr": 5e-5, "attention": False,
                        "region_loss": 1.0}}
SCRATCH = {"file": "s224.pth", "device": "cpu: x86_64", "validation_roc_auc": 0.75, "init_from": None,
           "recipe": {"pretrained": "none", "image_size": 224, "epochs": 20, "lr": 2e-4}}


def test_train_defaults_are_the_report_recipe_but_the_backbone():
    args = vars(build_parser("train").parse_args(["train", "--data", "d", "--out", "o"]))
    args["attention"] = not args.pop("no_attention")
    assert {k: args[k] for k in mc.TRAIN_DEFAULTS} == mc.TRAIN_DEFAULTS
    assert {k for k in mc.REPORT_RECIPE if mc.REPORT_RECIPE[k] != mc.TRAIN_DEFAULTS[k]} == {"backbone"}
    assert mc.REPORT_RECIPE["backbone"] == "resnet50"  # the report's model
    table = mc.recipe_table(mc.TRAIN_DEFAULTS)  # a default run departs from the report in its backbone alone
    assert list(table.loc[table["departs"], "setting"]) == ["backbone"]


def test_lineage_walks_back_to_the_start():
    steps = mc.lineage(CPU_CHILD)
    assert [s.name for s in steps] == ["m384r.pth", "p384.pth"]
    assert [s.start for s in steps] == [None, "ImageNet weights"]
    assert steps[0].what() == "4 epochs at 384 px, lr 5e-05, on cpu, 16 min"
    assert steps[1].what() == "24 epochs at 384 px, lr 0.0002, on cuda, 2.5 min"
    assert mc.lineage(SCRATCH)[0].start == "random weights"


def test_ensemble_lineage_graph_and_table():
    meta = {"training": {"members": [CPU_CHILD, SCRATCH]}}
    chains = mc.lineages(meta, "weights/default.pth")
    assert list(chains) == ["m384r.pth", "s224.pth"]
    dot = mc.lineage_dot(meta, "weights/default.pth")
    for edge in ['"ImageNet weights" -> "p384.pth"', '"p384.pth" -> "m384r.pth"', '"m384r.pth" -> "default.pth"',
                 '"random weights" -> "s224.pth"', '"s224.pth" -> "default.pth" [label="member"]']:
        assert edge in dot
    table = mc.lineage_table(chains)
    assert list(table["started from"]) == ["p384.pth", "ImageNet weights", "random weights"]
    shown = mc.lineage_markdown(chains)  # a list that wraps: each "what" whole, no "None" or "nan"
    assert all(what in shown for what in table["what"]) and "None" not in shown and "nan" not in shown
    assert [line for line in shown.splitlines() if line.startswith("**")] == ["**m384r.pth**", "**s224.pth**"]
    assert shown.count("\n- ") == len(table) and "from p384.pth: " in shown
    assert all(len(v.split(" · val ROC-AUC ")[1].split()[0].split(".")[1]) == 4 for v in shown.splitlines() if "ROC-AUC" in v)
    assert mc.devices(chains) == {"CPU": "cpu: x86_64, cpu: x86_64 (2 threads)", "GPU": "cuda: NVIDIA H100"}
    assert mc.short_name("ensemble(...)", 2) == "ensemble of 2" and mc.short_name("efficientnet_lite2") == "Lite2"
    assert mc.lineages({"training": {"note": "random weights for tests"}}, "x.pth") == {}
    assert mc.lineage_dot({}, "x.pth") is None
    assert "rankdir=TB" in dot  # an ensemble: each member a column, at the graph's own size


def test_edge_labels_break_between_clauses_only():
    assert mc._clause_lines("24 epochs at 384 px, lr 0.0002, on cuda, 2.5 min") == [
        "24 epochs at 384 px", "lr 0.0002, on cuda", "2.5 min"]
    assert mc._clause_lines("a much longer first clause than the width, b") == ["a much longer first clause than the width", "b"]
    dot = mc.lineage_dot({"training": CPU_CHILD}, "m.pth")
    label = dot.split('[label="')[-1].split('"]')[0]
    assert "\\n" in label and all(len(line) <= 24 or ", " not in line for line in label.split("\\n"))


def test_a_long_chain_is_drawn_top_to_bottom():
    step, parent = dict(CPU_CHILD), GPU_PARENT
    for i in range(mc.LONG_CHAIN):  # LONG_CHAIN + 1 runs in all
        step = {**CPU_CHILD, "file": f"run{i}.pth", "init_from": parent}
        parent = step
    dot = mc.lineage_dot({"training": step}, "r.pth")
    assert "rankdir=TB" in dot and '"ImageNet weights" -> "p384.pth"' in dot and '"run0.pth" -> "run1.pth"' in dot
    assert "rankdir=LR" in mc.lineage_dot({"training": CPU_CHILD}, "m.pth")


def test_recipe_table_marks_departures_only():
    table = mc.recipe_table({**mc.REPORT_RECIPE, "image_size": 384, "lr": 5e-5, "attention": False, "focal_alpha": 0.25})
    assert set(table.loc[table["departs"], "setting"]) == {"input size (px)", "learning rate", "spatial-attention block"}
    assert table.set_index("setting").loc["spatial-attention block", "value"] == "no"


def test_history_and_curves():
    assert mc.history_frame({"training": {}}) is None
    hist = [{"epoch": e, "train_loss": 1 / e, "val_loss": 2 / e, "val_roc_auc": 0.5 + e / 10, "val_accuracy": 0.5,
             "lr": 1e-4} for e in (1, 2, 3)]
    frame = mc.history_frame({"training": {"history": hist}})
    assert list(frame.columns) == ["epoch", "train_loss", "val_loss", "val_roc_auc", "val_accuracy"]
    fig = training_curves_figure(frame, best_epoch=2)
    assert [t.name for t in fig.data] == ["train loss", "validation loss", "ROC-AUC", "accuracy"]
    assert len(fig.layout.shapes) == 2 and fig.layout.shapes[0].x0 == 2


def test_recorded_against_now():
    meta = {"training": {"validation": {"roc_auc": 0.9, "accuracy": 0.8, "n_real": 2, "n_fake": 1}}}
    same = mc.recorded_vs_now(meta, {"roc_auc": 0.9, "accuracy": 0.8}, True)
    assert same.agrees and "come back to within 0.0005" in mc.recorded_words(same, "v", "float32")
    assert same.keys == ("roc_auc", "accuracy") and list(same.table["metric"]) == ["ROC-AUC", "accuracy"]
    off = mc.recorded_vs_now(meta, {"roc_auc": 0.9, "accuracy": 0.7}, True)
    assert not off.agrees
    words = mc.recorded_words(off, "v", "float32", "torch.bfloat16")
    assert "accuracy differs by -0.1000" in words and "validated with bfloat16 autocast" in words
    assert "not the validation set" in mc.recorded_words(mc.recorded_vs_now(meta, {}, False), "t", "float32")
    assert mc.recorded_vs_now({"training": {}}, {}, True) is None
    # a metric of 0 is a number, not a missing one; undefined both then and now agrees
    zero = {"training": {"validation": {"accuracy": 0.0, "precision": None}}}
    assert mc.recorded_vs_now(zero, {"accuracy": 0.0, "precision": None}, True).agrees
    assert not mc.recorded_vs_now(zero, {"accuracy": 0.0, "precision": 0.5}, True).agrees


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained on split folders, float32, so its recorded numbers can be checked."""
    root = tmp_path_factory.mktemp("card")
    assert main(["split", "--data", str(make_test_set(root / "all", n_real=10, n_fake=10, size=64)),
                 "--out", str(root / "split"), "--val-fraction", "0.3"]) == 0
    out = root / "m.pth"
    assert main(["train", "--data", str(root / "split"), "--out", str(out), "--epochs", "2", "--batch-size", "4",
                 "--image-size", "64", "--workers", "0", "--pretrained", "none", "--device", "cpu",
                 "--precision", "float32"]) == 0
    return root / "split", out


def test_page_on_a_trained_checkpoint_shows_its_history_and_its_numbers_come_back(trained, cache_dir, monkeypatch):
    split, ckpt = trained
    point_app_at(monkeypatch, split / "val", ckpt)
    at = open_page("streamlit_app.py")  # scores the set, as a user's first page would
    at.switch_page("pages/11_Model_card.py").run()
    assert not at.exception
    assert at.get("graphviz_chart") and len(at.get("plotly_chart")) == 1
    assert any("depart from the report's recipe" in c.value for c in at.caption), [c.value for c in at.caption]
    assert any("is the validation set they were recorded on, and they come back" in m.value for m in at.markdown), \
        [m.value for m in at.markdown]
    assert any(c.value == "Both columns at threshold 0.5000 with real as the positive class, as training records them."
               for c in at.caption)
    # the sidebar set to fake: the table stays at training's basis and says the sidebar does not apply to it
    at.sidebar.radio(key="w_positive").set_value("fake").run()
    assert not at.exception
    assert "recall (real)" in list(at.dataframe[-1].value["metric"])
    assert any(c.value.endswith("the sidebar's positive class fake applies to the other pages, not to this table.")
               for c in at.caption), [c.value for c in at.caption]
    point_app_at(monkeypatch, split / "train", ckpt)
    at = open_page("pages/11_Model_card.py")
    assert not at.exception
    assert any("Nothing measured yet" in c.value for c in at.caption)
    # scored: its training images measure "now", and the page says so beside the numbers, not only the Overview
    open_page("streamlit_app.py")
    at = open_page("pages/11_Model_card.py")
    assert not at.exception
    assert any("is not the validation set" in m.value for m in at.markdown)
    assert any("trained on" in box.value for box in [*at.error, *at.warning]), [b.value for b in [*at.error, *at.warning]]


def test_the_recorded_basis_names_what_of_the_sidebar_does_not_apply():
    assert mc.recorded_basis_words(0.45, "fake").endswith(
        "the sidebar's threshold 0.4500 and positive class fake apply to the other pages, not to this table.")
    assert mc.recorded_basis_words(0.5, "real").endswith("as training records them.")
    assert "the sidebar's threshold 0.49999 applies" in mc.recorded_basis_words(0.49999, "real")


def test_page_on_a_checkpoint_without_training_record(tmp_path, cache_dir, monkeypatch):
    point_app_at(monkeypatch, make_test_set(tmp_path / "s", n_real=2, n_fake=2), make_checkpoint(tmp_path / "r.pth"))
    at = open_page("pages/11_Model_card.py")
    assert not at.exception
    assert "records no training" in at.info[0].value


def test_the_shipped_checkpoints_describe_their_lineage():
    meta = load_detector("weights/default.pth").meta
    chains = mc.lineages(meta, "default.pth")
    assert len(chains) == 2 and all(chain[-1].start == "ImageNet weights" for chain in chains.values())
    assert set(mc.devices(chains)) == {"CPU", "GPU"}
    assert isinstance(mc.recipe_table(next(iter(chains.values()))[0].recipe), pd.DataFrame)


def test_an_ensemble_keeps_each_members_curves(trained, tmp_path, cache_dir, monkeypatch):
    split, ckpt = trained
    out = tmp_path / "ens.pth"
    assert main(["ensemble", str(ckpt), str(ckpt), "--out", str(out)]) == 0
    meta = load_detector(out).meta
    own = mc.history_frame(load_detector(ckpt).meta)
    pd.testing.assert_frame_equal(mc.history_frame(meta, 1), own)
    assert mc.history_frame(meta) is None and mc.history_frame(meta, 5) is None
    point_app_at(monkeypatch, split / "val", out)
    at = open_page("pages/11_Model_card.py")
    assert not at.exception and len(at.get("plotly_chart")) == 1


def test_card_command_prints_lineage_departures_and_the_check(trained, tmp_path, cache_dir, capsys):
    import json

    split, ckpt = trained
    out = tmp_path / "card.json"
    assert main(["card", str(ckpt), "--data", str(split / "val"), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "<- random weights: 2 epochs at 64 px, lr 0.0002, on cpu" in text
    assert "input size (px) 64 (report: 224)" in text and "epochs (at most) 2 (report: 20)" in text
    assert "Seen images: 14 training and 6 validation digests (the checkpoint)" in text
    assert "is the validation set they were recorded on, and they come back" in text
    got = json.loads(out.read_text())
    assert got["lineage"][0]["started from"] == "random weights" and len(got["recorded_vs_now"]) == 6
    assert main(["card", str(make_checkpoint(tmp_path / "r.pth"))]) == 0
    assert "No training recorded" in capsys.readouterr().out


def test_model_words_say_what_the_model_is_in_one_sentence():
    from core.model_card import model_words

    ensemble = {"backbone": "ensemble", "members": [
        {"backbone": "efficientnet_lite0", "attention": False, "input_size": 384},
        {"backbone": "efficientnet_lite0", "attention": True, "input_size": 224}]}
    assert model_words(ensemble) == (
        "An ensemble of 2 CNNs (EfficientNet-Lite0 at 384 px; EfficientNet-Lite0 at 224 px with the report's "
        "spatial-attention head): P(real) is the sigmoid of the mean of their logits.")
    assert model_words({"backbone": "resnet50", "attention": True}, 224) == (
        "One CNN (ResNet50 at 224 px with the report's spatial-attention head): P(real) is the sigmoid of its one "
        "output logit.")
    assert "ResNet50 at 224 px with the report's spatial-attention head" in model_words({"backbone": "resnet50"}, 224)
    assert model_words({}, 224).startswith("One CNN (an architecture it does not record at 224 px")
