"""tools/near_copy_margins.py: copies stay near, different pictures far."""
import importlib.util

from tests.conftest import REPO, photo_like

spec = importlib.util.spec_from_file_location("near_copy_margins", REPO / "tools" / "near_copy_margins.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_margins_on_distinct_pictures(tmp_path):
    paths = []
    for s in range(6):
        paths.append(tmp_path / f"{s}.jpg")
        photo_like(320, seed=s).save(paths[-1], quality=95)
    m = tool.margins(paths, copies=3, seed=0)
    assert m["closest"][0] > 3 * 12  # different pictures: far apart
    assert set(m["copies"]) == set(tool.KINDS)
    assert all(c["max"] <= 12 for c in m["copies"].values())  # every kind of copy within the threshold
