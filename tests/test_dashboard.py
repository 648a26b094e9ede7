"""core/dashboard.py: the pure side of the app (cache keys, the page list)."""
import os

from core.dashboard import PAGES, REPO, file_stamp, files_signature
from core.data import scan_test_set

from .conftest import make_test_set


def test_every_listed_page_exists_and_every_page_file_is_listed():
    listed = {p.path for p in PAGES}
    assert all((REPO / p).is_file() for p in listed)
    assert {f"pages/{f.name}" for f in (REPO / "pages").glob("*.py")} | {"streamlit_app.py"} == listed


def test_file_stamp_changes_when_the_file_does(tmp_path):
    f = tmp_path / "w.pth"
    assert file_stamp(f) == ()  # missing: no crash, an empty key
    f.write_bytes(b"a")
    first = file_stamp(f)
    os.utime(f, ns=(1, 1))
    assert file_stamp(f) != first


def test_files_signature_follows_the_file_list(tmp_path):
    root = make_test_set(tmp_path / "set")
    before = files_signature(scan_test_set(root))
    assert files_signature(scan_test_set(root)) == before  # stable
    victim = next((root / "real").iterdir())
    victim.rename(victim.with_name("renamed" + victim.suffix))
    assert files_signature(scan_test_set(root)) != before
