"""core/atomic.py: whole files only, and writers of one path at once never collide."""
from __future__ import annotations

import threading

import pytest

from core import atomic


def test_many_writers_of_one_path_at_once_all_succeed_and_leave_one_whole_file(tmp_path):
    target = tmp_path / "cache" / "entry.bin"
    payloads = [bytes([i]) * 2_000_000 for i in range(8)]  # large enough that writes overlap
    start, errors = threading.Barrier(len(payloads)), []

    def write(data):
        start.wait()
        try:
            atomic.write_bytes(target, data)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert target.read_bytes() in payloads
    assert [p.name for p in target.parent.iterdir()] == ["entry.bin"]  # no temporary file left behind


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    target = tmp_path / "entry.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["entry.csv"]


def test_written_files_get_the_permissions_of_a_plain_write_not_mkstemps_0600(tmp_path):
    """train's checkpoint came out 0600 (mkstemp's mode) while its model card was 0644."""
    import os
    import stat

    from core.atomic import write_bytes

    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"x")
    write_bytes(tmp_path / "new.bin", b"y")
    assert stat.S_IMODE((tmp_path / "new.bin").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    os.chmod(plain, 0o640)
    write_bytes(plain, b"z")  # an existing file keeps the mode it was given
    assert stat.S_IMODE(plain.stat().st_mode) == 0o640


def test_the_umask_is_read_without_changing_it():
    import os

    from core.atomic import _read_umask

    before = os.umask(0o027)
    try:
        assert _read_umask() == 0o027 and os.umask(0o027) == 0o027  # read, and left as it was
    finally:
        os.umask(before)
