"""Cached re-evaluation: wall time of ``python -m core evaluate`` (a subprocess, as a
user runs it) when every prediction is already cached, at 10,000 images.

The test set is 10,000 hard links to a few tiny JPEGs in the report's layout (no disk
cost, no images of the data set); the prediction cache is pre-filled for it, exactly
as a first run would leave it (same key, same columns).

    .venv/bin/python bench/bench_cached_eval.py               # 10,000 images, 3 runs
    .venv/bin/python bench/bench_cached_eval.py --quick       # 2,000 images, 1 run
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
from common import REPO, header, median, table, tiny_jpeg_farm  # noqa: E402

import numpy as np  # noqa: E402


def fill_cache(weights: Path, root: Path, cache_dir: Path) -> int:
    """Write the cache file a first ``evaluate`` run would write, without running the model."""
    from core.checkpoint import load_detector
    from core.data import scan_test_set
    from core.identity import write_record
    from core.inference import CACHE_COLUMNS, InferenceSettings, cache_file

    det = load_detector(weights, "cpu")
    ts = scan_test_set(root)
    rows = ts.images[["relpath", "size_bytes", "mtime_ns"]].copy()
    rows["p_real"] = np.random.default_rng(0).uniform(0, 1, len(rows))
    rows["width"], rows["height"], rows["format"], rows["detail_share"], rows["error"] = 48, 48, "JPEG", 0.28, ""
    path = cache_file(det, ts, InferenceSettings(), cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows[CACHE_COLUMNS].to_csv(path, index=False, float_format="%.17g")
    # what a real first run also leaves: the model's record, so a cached run needs no torch
    write_record(det.sha256, det.backbone, det.meta["checkpoint_threshold"], cache_dir)
    return len(rows)


def run(cmd: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall, proc.stderr


def in_process(cmd_args: list[str], cache_dir: Path, runs: int) -> list[float]:
    """The same command in this (warm) process, as the dashboard re-evaluates: no
    interpreter start, no imports. One untimed warm-up run first."""
    import contextlib
    import io

    import core.prediction_cache
    from core.cli import main as cli_main

    core.prediction_cache.DEFAULT_CACHE_DIR = cache_dir
    out = []
    for i in range(runs + 1):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            rc = cli_main(cmd_args)
        if rc != 0:
            raise SystemExit(f"in-process evaluate failed with exit code {rc}")
        if i:
            out.append(time.perf_counter() - start)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--weights", default=None, help="default: weights/default.pth (else a random tiny checkpoint)")
    ap.add_argument("--quick", action="store_true", help="2,000 images, 1 run")
    args = ap.parse_args()
    if args.quick:
        args.images, args.runs = 2_000, 1
    header("Cached re-evaluation: python -m core evaluate with every prediction cached")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        weights = Path(args.weights) if args.weights else REPO / "weights" / "default.pth"
        if not weights.exists():
            sys.path.insert(0, str(REPO / "tests"))
            from conftest import make_checkpoint

            weights = make_checkpoint(tmp / "tiny.pth", input_size=32)
        root = tiny_jpeg_farm(tmp / "set", args.images)
        cache_dir = tmp / "cache"
        n = fill_cache(weights, root, cache_dir)
        env = {**os.environ, "DEEPFAKE_CACHE_DIR": str(cache_dir)}
        py = sys.executable
        evaluate = [py, "-m", "core", "evaluate", "--data", str(root), "--weights", str(weights)]
        print(f"data: {n:,} images (hard links to 16 tiny JPEGs), cache pre-filled; weights {weights.name}")
        print(f"timed: {' '.join(['.venv/bin/python', *evaluate[1:]])}\n")
        rows = []
        cases = {
            "python -c 'import torch' (for scale)": [py, "-c", "import torch"],
            "evaluate, all cached": evaluate,
        }
        times = {k: [] for k in cases}
        note = ""
        for _ in range(args.runs):
            for name, cmd in cases.items():
                wall, err = run(cmd, env)
                times[name].append(wall)
                if name.startswith("evaluate"):
                    note = next((line for line in err.splitlines() if "from cache" in line), "")
        for name in cases:
            rows.append([name, f"{median(times[name]):.2f}", f"{min(times[name]):.2f}"])
        warm = in_process(evaluate[3:], cache_dir, args.runs)
        rows.append(["same evaluate in a warm process (no start-up, no imports)", f"{median(warm):.2f}", f"{min(warm):.2f}"])
        print(table(["command", "wall s (median)", "wall s (best)"], rows))
        print(f"\nevaluate said: {note.strip()}")
        print("target: under 2 s at 10,000 images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
