"""Write a file so that readers never see half of it, and concurrent writers never collide.

The dashboard serves every session from threads of one process, so two sessions can
write the same cache entry at once; a fixed temporary name ("x.tmp", or one per process)
let one writer move the other's half-written file into place, and the other then failed
on a vanished file. Each write here gets its own temporary file beside the target, and
``exclusive`` lets one writer at a time append to a file (the prediction cache).
"""
from __future__ import annotations

import os
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


def _read_umask() -> int:
    """The process's umask: from /proc on Linux; elsewhere by setting and restoring it, which is
    process-wide for an instant (so done once, at import)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _mode_for(path: Path) -> int:
    """The permissions a plain ``open(path, "w")`` would give: the old file's when it exists, else
    0o666 less the umask. mkstemp's temporary files are 0o600, so a checkpoint written through
    one was unreadable to an API running as another user."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~_UMASK


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
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """``Path.write_bytes``, atomically (see ``atomic_path``)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@contextmanager
def exclusive(path: str | os.PathLike, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock of ``path`` (a file ``path`` + ".lock" beside it): one writer at a time, among
    the dashboard's threads and other processes (``evaluate``, the API) alike; ``waiting`` is called
    once when another holds it. Where ``fcntl`` is missing (Windows), threads of this process still
    take turns."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(str(path.resolve()), threading.Lock())
    told = False

    def wait() -> None:
        nonlocal told
        if waiting and not told:
            waiting()
        told = True

    if not lock.acquire(blocking=False):
        wait()
        lock.acquire()
    try:
        with open(path.with_name(path.name + ".lock"), "a") as handle:
            if fcntl is not None:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    wait()
                    fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        lock.release()
