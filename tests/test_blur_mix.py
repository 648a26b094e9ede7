"""tools/blur_mix.py: a sharp-plus-blurred test set for the fine-detail slices."""
import importlib.util

import pytest

from tests.conftest import REPO, make_test_set

spec = importlib.util.spec_from_file_location("blur_mix", REPO / "tools" / "blur_mix.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_links_every_image_blurs_every_nth_and_names_unreadable_files(tmp_path, capsys):
    from core.data import scan_test_set
    from core.preprocess import open_image
    from core.quality import detail_share

    data = make_test_set(tmp_path / "set", n_real=4, n_fake=4, size=200, corrupt=True)
    counts = tool.blur_mix(str(data), str(tmp_path / "mix"), every=2, sigma=2)
    # real: 4 faces + 2 broken files linked, blurred copies of sorted items 0, 2, 4 (one of them broken: skipped)
    blurred = sorted(p.name for p in (tmp_path / "mix").rglob("blur2_*"))
    assert counts == {"real": 6 + len([b for b in blurred if (tmp_path / "mix" / "real" / b).exists()]),
                      "fake": 4 + 2}
    assert "skipped" in capsys.readouterr().err
    assert all((tmp_path / "mix" / "real" / p.name).is_symlink() for p in (data / "real").iterdir())
    mixed = scan_test_set(tmp_path / "mix")  # the report's layout, so evaluate and the dashboard take it
    assert mixed.n_real == counts["real"] and mixed.n_fake == counts["fake"]
    for name in blurred:
        copy = next((tmp_path / "mix").rglob(name))
        original = next(data.rglob(name.removeprefix("blur2_").rsplit(".", 1)[0] + ".*"))
        assert detail_share(open_image(copy)[0]) < detail_share(open_image(original)[0])


def test_bad_arguments_are_refused(tmp_path):
    data = make_test_set(tmp_path / "set")
    with pytest.raises(SystemExit, match="--every must be at least 1"):
        tool.blur_mix(str(data), str(tmp_path / "mix"), every=0)
