"""core/ensemble.py and core/cli_ensemble.py: random-weight members, real checkpoints on disk."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.checkpoint import CheckpointError, load_detector, save_checkpoint
from core.cli import main
from core.cli_ensemble import combine
from core.ensemble import EnsembleClassifier
from core.inference_model import inference_model
from core.preprocess import Preprocessing

from .conftest import make_checkpoint


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    d = tmp_path_factory.mktemp("members")
    return [make_checkpoint(d / "a64.pth", input_size=64, seed=1, attention=True),
            make_checkpoint(d / "b96.pth", input_size=96, seed=2, attention=False)]


@pytest.fixture(scope="module")
def ensemble(members, tmp_path_factory):
    out = tmp_path_factory.mktemp("ens") / "ens.pth"
    assert main(["ensemble", *map(str, members), "--out", str(out)]) == 0
    return out


def test_forward_is_mean_of_member_logits_on_their_own_sizes(members):
    dets = [load_detector(p) for p in members]
    model, pre = combine(dets)
    assert pre.input_size == 96 and model.input_sizes == [64, 96]
    x = torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        want = (dets[0].model(F.interpolate(x, size=(64, 64), mode="bilinear", antialias=True, align_corners=False))
                + dets[1].model(x)) / 2
        got = model(x)
        # the decomposed path the feature-map page and Grad-CAM use gives the same logit
        via_embed = model.classifier(model.embed(x))
        att = model.attention_map(model.feature_map(x))
    assert got.shape == (3, 1) and torch.isfinite(got).all()
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    torch.testing.assert_close(via_embed, got, rtol=0, atol=1e-5)
    assert model.embed(x).shape == (3, 2 * 1280)
    # the one attention member's map, on the finer (96 px → 3x3) grid
    assert att.shape == (3, 1, 3, 3) and float(att.std()) > 0


def test_checkpoint_round_trip_and_self_description(members, ensemble):
    det = load_detector(ensemble)
    args = det.meta["model_args"]
    assert args["backbone"] == "ensemble" and [m["input_size"] for m in args["members"]] == [64, 96]
    assert det.preprocessing.input_size == 96 and det.backbone.startswith("ensemble(")
    assert det.input_size_words == "64 + 96 px" and load_detector(members[0]).input_size_words == "64 px"
    card = json.loads(ensemble.with_suffix(".json").read_text())
    assert [m["sha256"] for m in card["members"]] == [load_detector(p).sha256 for p in members]
    assert "a64.pth" in ensemble.with_suffix(".md").read_text()
    model, _ = combine([load_detector(p) for p in members])
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(det.model(x), model(x), rtol=0, atol=1e-6)


def test_folded_inference_copy_matches(ensemble):
    det = load_detector(ensemble)
    x = torch.randn(4, 3, 96, 96)
    with torch.no_grad():
        a = torch.sigmoid(det.model(x))
        b = torch.sigmoid(inference_model(det.model, 96)(x.contiguous(memory_format=torch.channels_last)))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_card_measures_on_data_and_evaluate_runs(members, tiny_set, tmp_path, cache_dir, capsys):
    out = tmp_path / "ens_val.pth"
    assert main(["ensemble", *map(str, members), "--out", str(out), "--data", str(tiny_set), "--half"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["data"]["val"] == {"real": 6, "fake": 6}
    assert 0.0 <= card["validation"]["roc_auc"] <= 1.0 and len(card["validation_ci"]["roc_auc"]) == 2
    assert "95 % bootstrap CI" in out.with_suffix(".md").read_text()
    # validating before the one save leaves nothing in the user's cache and no scratch file
    assert not list(cache_dir.rglob("*.csv")) and sorted(p.name for p in tmp_path.glob("ens_val*")) == [
        "ens_val.json", "ens_val.md", "ens_val.pth"]
    capsys.readouterr()
    report = tmp_path / "eval.json"
    assert main(["evaluate", "--data", str(tiny_set), "--weights", str(out), "--json", str(report)]) == 0
    got = json.loads(report.read_text())
    # the card's number and evaluate's agree: one model, one test set
    assert got["roc_auc"] == pytest.approx(card["validation"]["roc_auc"], abs=1e-9)
    assert got["backbone"].startswith("ensemble(")


def test_explain_averages_member_grad_cams(ensemble, tiny_set, cache_dir):
    from core.explain import explain_file, target_layers

    det = load_detector(ensemble)
    assert len(target_layers(det.model)) == 2
    image = next(p for p in sorted((tiny_set / "fake").rglob("*")) if p.suffix in (".jpg", ".png"))
    e = explain_file(det, image, use_cache=False)
    assert e.gradcam.shape == e.attention.shape and np.isfinite(e.gradcam).all() and e.has_attention
    assert 0.0 <= e.p_real <= 1.0


def test_refusals_say_why(members, ensemble, tmp_path, capsys):
    assert main(["ensemble", str(members[0]), "--out", str(tmp_path / "one.pth")]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert main(["ensemble", str(ensemble), str(members[0]), "--out", str(tmp_path / "nested.pth")]) == 2
    assert "already an ensemble" in capsys.readouterr().err
    odd = tmp_path / "odd.pth"
    det = load_detector(members[0])
    save_checkpoint(odd, det.model, Preprocessing(input_size=64, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)))
    assert main(["ensemble", str(members[0]), str(odd), "--out", str(tmp_path / "mixed.pth")]) == 2
    assert "normalises differently" in capsys.readouterr().err
    assert not (tmp_path / "one.pth").exists() and not (tmp_path / "mixed.pth").exists()
    with pytest.raises(ValueError, match="at least 2"):
        EnsembleClassifier([det.model], [64])


def test_training_from_an_ensemble_is_refused(ensemble, tiny_set, tmp_path, capsys):
    rc = main(["train", "--data", str(tiny_set), "--out", str(tmp_path / "t.pth"), "--init", str(ensemble),
               "--epochs", "1", "--image-size", "64", "--pretrained", "none"])
    assert rc == 2
    assert "ensemble" in capsys.readouterr().err


def test_uploads_show_each_members_score_and_the_mean_logit_verdict(ensemble, members, tiny_set):
    from core.uploads import judge_uploads

    det = load_detector(ensemble)
    files = [(p.name, p.read_bytes()) for p in sorted((tiny_set / "real").glob("*.jpg"))[:3]]
    results = judge_uploads(det, files)
    assert len(results) == 3 and all(r.ok for r in results)
    assert all(list(r.members) == ["a64.pth", "b96.pth"] for r in results)
    for r in results:
        logits = [np.log(p / (1 - p)) for p in r.members.values()]
        assert r.p_real == pytest.approx(1 / (1 + np.exp(-np.mean(logits))), abs=1e-5)
    single = judge_uploads(load_detector(members[0]), files[:1])
    assert single[0].members is None


def test_dashboard_runs_an_ensemble_like_any_checkpoint(ensemble, tiny_set, monkeypatch, cache_dir):
    from .conftest import open_page, point_app_at

    point_app_at(monkeypatch, tiny_set, ensemble)
    at = open_page()
    assert not at.exception
    assert any("ensemble(" in c.value for c in at.caption)
    assert not any("px), 96 px)" in c.value for c in at.sidebar.caption)  # sizes named once, by the members
    card = open_page("pages/11_Model_card.py")
    assert not card.exception and {m.label: m.value for m in card.metric}["Input size"] == "64 + 96 px"
    assert not open_page("pages/3_Single_image_tester.py").exception
    explanations = open_page("pages/8_Explanations.py")
    assert not explanations.exception
    assert any("mean of its members' maps" in c.value for c in explanations.caption)


def test_api_returns_members_and_the_card_lists_them(ensemble, members):
    from fastapi.testclient import TestClient

    from core.api import create_app
    from core.api_schemas import ApiConfig

    from .test_api import _image_bytes

    with TestClient(create_app(ApiConfig(weights=ensemble, device="cpu"), background_load=False)) as c:
        card = c.get("/model").json()
        assert [m["file"].rsplit("/", 1)[-1] for m in card["members"]] == ["a64.pth", "b96.pth"]
        r = c.post("/predict", files={"file": ("x.jpg", _image_bytes(3), "image/jpeg")}).json()
        assert set(r["members"]) == {"a64.pth", "b96.pth"}
        logit = np.mean([np.log(p / (1 - p)) for p in r["members"].values()])
        assert r["real_prob"] == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-5)
    with TestClient(create_app(ApiConfig(weights=members[0], device="cpu"), background_load=False)) as c:
        assert c.get("/model").json()["members"] is None
        r = c.post("/predict", files={"file": ("x.jpg", _image_bytes(3), "image/jpeg")}).json()
        assert r["members"] is None


def test_cli_predict_prints_members(ensemble, tiny_set, tmp_path, capsys):
    image = sorted((tiny_set / "real").glob("*.jpg"))[0]
    out = tmp_path / "p.json"
    assert main(["predict", str(image), "--weights", str(ensemble), "--device", "cpu", "--json", str(out)]) == 0
    assert "members: a64.pth" in capsys.readouterr().out
    (row,) = json.loads(out.read_text())
    logit = np.mean([np.log(p / (1 - p)) for p in row["members"].values()])
    assert row["p_real"] == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-5)


def test_unpack_gives_back_each_member(ensemble, members, tmp_path, capsys):
    out = tmp_path / "unpacked"
    assert main(["unpack", str(ensemble), "--out", str(out)]) == 0
    got = sorted(out.glob("*.pth"))
    assert [p.name for p in got] == ["1_a64.pth", "2_b96.pth"]
    x = torch.randn(2, 3, 96, 96)
    for path, original in zip(got, members):
        a, b = load_detector(path), load_detector(original)
        assert a.preprocessing == b.preprocessing
        assert a.meta["training"]["sha256"] == b.sha256
        with torch.no_grad():
            xs = F.interpolate(x, size=(b.preprocessing.input_size,) * 2, mode="bilinear", antialias=True, align_corners=False)
            torch.testing.assert_close(a.model(xs), b.model(xs), rtol=0, atol=1e-6)
    assert main(["unpack", str(members[0]), "--out", str(out)]) == 2
    assert "not an ensemble" in capsys.readouterr().err


def test_shipped_default_fits_25_mb_and_its_card_matches_the_checkpoint():
    from .conftest import REPO

    path = REPO / "weights" / "default.pth"
    assert path.stat().st_size <= 25_000_000  # the limit; a third Lite0 member would break it
    det = load_detector(path)
    card = json.loads(path.with_suffix(".json").read_text())
    assert det.meta["training"]["validation"]["roc_auc"] == pytest.approx(card["validation"]["roc_auc"])
    if card.get("kind") == "ensemble":
        assert len(card["members"]) == len(det.model.members)
        assert all(len(m["sha256"]) == 64 and m["validation_roc_auc"] for m in card["members"])


def test_the_card_names_each_members_departures_from_the_report(tmp_path):
    from core.cli_ensemble import write_ensemble_card

    recipe = {"backbone": "efficientnet_lite0", "image_size": 384, "attention": False, "epochs": 4, "lr": 5e-5,
              "synthetic_fakes": 0.33, "seed": 0, "precision": "torch.bfloat16", "freeze": "none", "augment": "report"}
    members = [
        {"file": "plain.pth", "sha256": "a" * 64, "backbone": "efficientnet_lite0", "input_size": 384, "attention": False,
         "recipe": {**recipe, "region_loss": 0.0, "jpeg_augment": 0.0}, "device": "cpu", "best_epoch": 4,
         "training_time_s": 10.0, "validation_roc_auc": 0.8},
        {"file": "region.pth", "sha256": "b" * 64, "backbone": "efficientnet_lite0", "input_size": 224, "attention": True,
         "recipe": {**recipe, "region_loss": 1.0, "degrade_augment": 0.3, "freeze": "half"}, "device": "cpu",
         "best_epoch": 1, "training_time_s": 10.0, "validation_roc_auc": 0.8},
    ]
    out = tmp_path / "ens.pth"
    write_ensemble_card(out, {"members": members, "combine": "mean of member logits", "input_size": 384})
    lines = {line.split(":")[0]: line for line in out.with_suffix(".md").read_text().splitlines() if line[:3] in ("1. ", "2. ")}
    assert "region loss" not in lines["1. plain.pth"] and "augment" not in lines["1. plain.pth"]
    assert "region loss 1.0" in lines["2. region.pth"] and "degrade augment 0.3" in lines["2. region.pth"]
    assert "frozen: half" in lines["2. region.pth"]


def test_the_model_card_is_written_whole_or_not_at_all(members, tmp_path, monkeypatch):
    """The card went through write_text: a full disk or a kill mid-write left a torn card beside a
    good checkpoint (train's card the same; core/cli.py's name-length check counts its temp file)."""
    import core.atomic

    written, real = [], core.atomic.write_bytes
    monkeypatch.setattr(core.atomic, "write_bytes", lambda path, data: written.append(Path(path).name) or real(path, data))
    assert main(["ensemble", *map(str, members), "--out", str(tmp_path / "e.pth")]) == 0
    assert {"e.json", "e.md"} <= set(written)
