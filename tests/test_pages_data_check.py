"""The Data check page under AppTest: near copies found on request and shown side by side."""
import pytest

from tests.conftest import make_checkpoint, open_page, photo_like, point_app_at


@pytest.fixture()
def env(tmp_path, cache_dir, monkeypatch):
    train, test = tmp_path / "train", tmp_path / "test"
    for root in (train, test):
        (root / "real").mkdir(parents=True)
        (root / "fake").mkdir(parents=True)
    pictures = [photo_like(120, seed=s) for s in range(6)]
    for i, p in enumerate(pictures[:3]):
        p.save(train / ("real" if i % 2 else "fake") / f"t{i}.jpg", quality=95)
    pictures[0].save(test / "fake" / "copy_of_t0.png")  # a training picture saved again
    for i, p in enumerate(pictures[3:]):
        p.save(test / ("real" if i % 2 else "fake") / f"x{i}.jpg", quality=95)
    pictures[4].resize((60, 60)).save(test / "real" / "x1_small.jpg")  # one test picture twice
    point_app_at(monkeypatch, test, make_checkpoint(tmp_path / "w" / "random.pth"))
    return train, test


def test_nothing_is_read_until_asked_then_copies_are_shown(env):
    train, _ = env
    at = open_page("pages/12_Data_check.py")
    assert not at.exception, at.exception
    assert "Press **Check**" in at.info[0].value and not at.get("imgs")
    at.text_input(key="near_other").set_value(str(train)).run()
    assert not at.exception, at.exception
    next(b for b in at.button if b.label == "Check").click().run()
    assert not at.exception, at.exception
    assert "1 of the 5 test images is a near copy" in at.warning[0].value
    assert any("1 pair of test images is a near copy of each other" in i.value for i in at.info)
    assert len(at.dataframe) == 2  # across, within
    assert [b.label for b in at.get("download_button")] == ["Download these pairs (CSV)"] * 2
    across = at.dataframe[0].value
    assert across[["test image", "copy in the other folder"]].values.tolist() == [["fake/copy_of_t0.png", "fake/t0.jpg"]]
    _named_for_people(at)
    # kept for the session: a threshold change elsewhere does not lose it or hash again
    at.sidebar.number_input(key="w_threshold_box").set_value(0.3).run()
    assert not at.exception and len(at.dataframe) == 2


def test_a_folder_that_is_not_a_test_set_is_said(env, tmp_path):
    at = open_page("pages/12_Data_check.py")
    at.text_input(key="near_other").set_value(str(tmp_path / "nowhere")).run()
    next(b for b in at.button if b.label == "Check").click().run()
    assert not at.exception, at.exception
    assert at.warning and "nowhere" in at.warning[0].value


def test_a_model_that_records_hashes_is_checked_against_its_own_images(env, tmp_path):
    from core.cli import main

    train, test = env
    weights = tmp_path / "w" / "random.pth"
    at = open_page("pages/12_Data_check.py")
    assert any("records no perceptual hashes" in c.value for c in at.caption)  # said before the check
    assert main(["fingerprint", str(weights), "--train", str(train)]) == 0  # now it records its training images
    at = open_page("pages/12_Data_check.py")  # no other folder: the model's record alone finds the copy
    assert "compare them with the 3 training and validation images `random.pth` records" in at.info[0].value
    next(b for b in at.button if b.label == "Check").click().run()
    assert not at.exception, at.exception
    assert "1 of the 5 test images is a copy" in at.warning[0].value and "trained on" in at.warning[0].value
    # the checks that found nothing are a plain line beside the finding, not a green all-clear
    assert not at.success and any("No near copies" in c.value for c in at.caption)
    assert any("copies of images `random.pth` was trained or chosen on" in s.value for s in at.subheader)
    recorded = at.dataframe[0].value
    assert recorded[["test image", "copy of a"]].values.tolist() == [["fake/copy_of_t0.png", "training"]]
    _named_for_people(at)
    assert "Download these copies (CSV)" in [b.label for b in at.get("download_button")]


def _named_for_people(at) -> None:
    """Every table's columns are words, not the data's snake_case names, none twice, and the
    distance in bits and "copy of a" say what they mean on hover."""
    import json

    for df in at.dataframe:
        columns = list(df.value.columns)
        assert columns and not any("_" in c for c in columns) and len(set(columns)) == len(columns), columns
        helps = json.loads(df.proto.columns or "{}")
        for name in {"bits apart", "copy of a"} & set(columns):
            assert "256" in helps[name]["help"] if name == "bits apart" else "training" in helps[name]["help"]
