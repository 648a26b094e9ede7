"""glibc malloc settings that keep the CPU from spending as long in the kernel as in the model.

A batch of 32 faces at 384 px makes activations of ~150 MB each. glibc serves anything above
its mmap threshold (at most 32 MB by default) with a fresh ``mmap`` and returns it with
``munmap``, so every batch faults in hundreds of megabytes of new zeroed pages: scoring the
163 validation images spent 19 s in the kernel beside 20 s of user time. Keeping such
blocks on the heap (mmap threshold 256 MB) and not trimming it back after each batch (trim
threshold 1 GB) made ``evaluate --no-cache`` 1.57x faster (24.7 s -> 15.7 s, system time
19 s -> 4.3 s) for 0.6 GB more peak memory (``bench/bench_malloc.py``, medians of 3, 2-core
AMD EPYC).

glibc reads these only at start-up (``mallopt`` refuses an mmap threshold above 32 MB), so
the entry points set them in the environment and start the process again, once.
"""
from __future__ import annotations

import os
import sys

# MALLOC_ARENA_MAX: the dashboard and the API score from many threads, and each glibc arena would keep
# up to the trim threshold of freed memory; two arenas bound that (the CLI ran as fast: 15.9 s, sys 3.4 s).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "268435456", "MALLOC_TRIM_THRESHOLD_": "1073741824", "MALLOC_ARENA_MAX": "2"}
OPT_OUT = "DEEPFAKE_DEFAULT_MALLOC"  # set (to anything) to run with glibc's own settings


def wanted(environ=os.environ, platform: str = sys.platform) -> bool:
    """Whether this process should restart with ``MALLOC_ENV``: on Linux (glibc reads them;
    other C libraries ignore them), unless already set by anyone or opted out of."""
    return platform.startswith("linux") and OPT_OUT not in environ and not any(k in environ for k in MALLOC_ENV)


def restart_with_tuned_malloc(module: str) -> None:
    """Re-run ``python -m module`` with the same arguments and ``MALLOC_ENV`` added, when
    ``wanted``; returns only when it is not (the process is replaced otherwise)."""
    if not wanted():
        return
    env = {**os.environ, **MALLOC_ENV}
    # the interpreter's own options too (-X importtime, -W error, -O): the command line as it was typed
    orig = getattr(sys, "orig_argv", None)
    argv = [sys.executable, *orig[1:]] if orig and "-m" in orig else [sys.executable, "-m", module, *sys.argv[1:]]
    try:
        os.execve(sys.executable, argv, env)
    except OSError:  # no exec here (a locked-down runtime): run as is, only slower
        return
