"""Peak memory (RSS) of ``python -m core evaluate`` at 10,000 and 100,000 images.

Each size runs in a fresh subprocess, twice: a resumed run (the cache holds all but
``--to-score`` images, as an interrupted run leaves it: the whole set is listed, merged
with the cache, the rest is scored batch by batch and appended) and then a warm run
(every prediction from the cache). ``--cold`` adds a run that scores every image. The
images are hard links to a few tiny JPEGs and the model is a random EfficientNet-Lite0
at a 16 px input: its own memory is small, so what grows with the set (file list,
cache, result frame, sweep) shows.

Reported: the peak RSS of the main process (getrusage, exact), of the largest decode
worker, and the largest sum over the process tree seen by polling /proc every 0.2 s.

    .venv/bin/python bench/bench_memory.py                 # 10,000 and 100,000 images
    .venv/bin/python bench/bench_memory.py --quick         # 2,000 and 20,000 images
    .venv/bin/python bench/bench_memory.py --cold          # also score every image (slow on 2 cores)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, header, table, tiny_jpeg_farm  # noqa: E402

# Runs `python -m core evaluate ...` in-process, then prints its own and its children's peaks.
WRAPPER = """
import resource, sys
from core.cli import main
rc = main(sys.argv[1:])
me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"PEAK {me} {kids} {rc}", file=sys.stderr)
"""


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(cmd: list[str], env: dict) -> dict:
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tree_peak, start = 0, time.perf_counter()
    while proc.poll() is None:
        tree = [proc.pid, *_children(proc.pid)]
        tree_peak = max(tree_peak, sum(_rss_kb(p) for p in tree))
        time.sleep(0.2)
    err = proc.stderr.read()
    wall = time.perf_counter() - start
    peak = next((line.split() for line in err.splitlines() if line.startswith("PEAK ")), None)
    if proc.returncode != 0 or peak is None or peak[3] != "0":
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return {"main_mb": int(peak[1]) / 1024, "worker_mb": int(peak[2]) / 1024, "tree_mb": tree_peak / 1024, "wall_s": wall}


def fill_cache_except(weights: Path, root: Path, cache_dir: Path, leave_out: int) -> None:
    """The cache an interrupted run leaves: every image but ``leave_out`` random ones."""
    import numpy as np

    from core.checkpoint import load_detector
    from core.data import scan_test_set
    from core.inference import CACHE_COLUMNS, InferenceSettings, cache_file

    ts = scan_test_set(root)
    rng = np.random.default_rng(0)
    rows = ts.images[["relpath", "size_bytes", "mtime_ns"]].copy()
    rows = rows.drop(index=rng.choice(rows.index, size=min(leave_out, len(rows)), replace=False))
    rows["p_real"] = rng.uniform(0, 1, len(rows))
    rows["width"], rows["height"], rows["format"], rows["detail_share"], rows["error"] = 48, 48, "JPEG", 0.28, ""
    path = cache_file(load_detector(weights, "cpu"), ts, InferenceSettings(), cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows[CACHE_COLUMNS].to_csv(path, index=False, float_format="%.17g")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="comma list of set sizes (default 10000,100000)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--to-score", type=int, default=2000, help="images left to score in the resumed run (default 2000)")
    ap.add_argument("--cold", action="store_true", help="also a run that scores every image")
    ap.add_argument("--quick", action="store_true", help="2,000 and 20,000 images")
    args = ap.parse_args()
    if args.quick:
        args.sizes = "2000,20000"
    sizes = [int(s) for s in args.sizes.split(",")]
    header("Peak memory of python -m core evaluate")
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import make_checkpoint

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        weights = make_checkpoint(tmp / "tiny16.pth", input_size=16)
        env = {**os.environ, "DEEPFAKE_CACHE_DIR": str(tmp / "cache"), "PYTHONPATH": str(REPO)}
        rows = []
        for n in sizes:
            root = tiny_jpeg_farm(tmp / f"set{n}", n)
            cmd = [sys.executable, "-c", WRAPPER, "evaluate", "--data", str(root), "--weights", str(weights),
                   "--batch-size", str(args.batch_size)]
            runs = ["cold (scores all)"] if args.cold else []
            runs += [f"resumed (scores {min(args.to_score, n):,})", "warm (all cached)"]
            for run in runs:
                if run.startswith("resumed"):
                    fill_cache_except(weights, root, tmp / "cache", args.to_score)
                m = measure(cmd, env)
                rows.append([f"{n:,}", run, f"{m['main_mb']:.0f}", f"{m['worker_mb']:.0f}", f"{m['tree_mb']:.0f}", f"{m['wall_s']:.0f}"])
                print(" | ".join(rows[-1]), flush=True)
        print()
        print(f"model: random EfficientNet-Lite0, 16 px input; --batch-size {args.batch_size}; images: hard links to 16 tiny JPEGs")
        print("timed: .venv/bin/python -m core evaluate --data SET --weights tiny16.pth --batch-size "
              f"{args.batch_size} (through a wrapper that reports getrusage peaks)\n")
        print(table(["images", "run", "main peak RSS (MB)", "largest child peak (MB)", "process tree peak (MB, polled)", "wall s"], rows))
        if len(sizes) >= 2:
            by = {(r[0], r[1]): float(r[2]) for r in rows}
            small, big = f"{sizes[0]:,}", f"{sizes[-1]:,}"
            for run in sorted({r[1] for r in rows}):
                if (big, run) not in by or (small, run) not in by:
                    continue
                print(f"{run}: main peak at {big} = {by[(big, run)] / by[(small, run)]:.2f}x that at {small} (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
