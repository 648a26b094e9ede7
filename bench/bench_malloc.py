"""Scoring with glibc's default malloc settings against ``core.malloc_tuning``'s (not a test).

Runs ``python -m core evaluate --data DIR --no-cache`` (model load and a full uncached pass)
as a child process, alternating the two settings ``--repeats`` times, and prints the median
wall, user and system time and peak memory of each, and their ratios. The default runs set
``DEEPFAKE_DEFAULT_MALLOC`` (so the CLI does not restart itself tuned) and drop the
``MALLOC_*`` variables the Makefile exports.

    .venv/bin/python bench/bench_malloc.py [--data data/ciplab_split/val] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from common import REPO, header, median, table

sys.path.insert(0, str(REPO))
from core.malloc_tuning import MALLOC_ENV, OPT_OUT  # noqa: E402


def run_once(args, tuned: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV and k != OPT_OUT}
    env.update(MALLOC_ENV if tuned else {OPT_OUT: "1"})
    cmd = [sys.executable, "-m", "core", "evaluate", "--data", args.data, "--no-cache"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return {"wall": time.perf_counter() - t0, "user": usage.ru_utime, "sys": usage.ru_stime,
            "rss_gb": usage.ru_maxrss / 1024**2}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO / "data" / "ciplab_split" / "val"))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    header("evaluate --no-cache: glibc malloc defaults vs core.malloc_tuning (medians)")
    runs = {False: [], True: []}
    for _ in range(args.repeats):
        for tuned in (False, True):  # alternating, so drifting load falls on both
            runs[tuned].append(run_once(args, tuned))
    med = {t: {k: median([r[k] for r in runs[t]]) for k in runs[t][0]} for t in runs}
    rows = [["glibc defaults", *med[False].values()], ["tuned (" + ", ".join(f"{k}={v}" for k, v in MALLOC_ENV.items()) + ")",
                                                       *med[True].values()]]
    print(table(["malloc", "wall s", "user s", "sys s", "peak RSS GB"], rows))
    print(f"\nwall-time ratio default/tuned: {med[False]['wall'] / med[True]['wall']:.2f}x; "
          f"system time {med[False]['sys'] / max(med[True]['sys'], 1e-9):.1f}x; "
          f"peak memory +{med[True]['rss_gb'] - med[False]['rss_gb']:.2f} GB ({args.repeats} runs each)")


if __name__ == "__main__":
    main()
