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
