"""Write a file so that readers never see half of it, and concurrent writers never collide.

The dashboard serves every session from threads of one process, so two sessions can
write the same cache entry at once; a fixed temporary name ("x.tmp", or one per process)
let one writer move the other's half-written file into place, and the other then failed
on a vanished file. Each write here gets its own temporary file beside the target.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A fresh temporary path beside ``path``; it replaces ``path`` when the block succeeds and
    is removed when the block fails, so ``path`` is always either the old file or a whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """``Path.write_bytes``, atomically (see ``atomic_path``)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
