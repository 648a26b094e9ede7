"""Shared helpers for the benchmarks: what machine ran them, medians, small tables.

Benchmarks compare ratios measured in one run (the machine is shared, so absolute
numbers drift between runs); every table says the machine, the device, the torch
version and the exact command, so a number can be traced and reproduced.
"""
from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CIPLAB = REPO.parent / "shared" / "datasets" / "ciplab_train"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine_line(device: str = "cpu") -> str:
    """One line: CPU model, cores, bf16 hardware support, load, torch version, device."""
    import torch

    flags = cpu_flags()
    amx = "yes" if "amx_bf16" in flags else "no"
    avx_bf16 = "yes" if "avx512_bf16" in flags else "no"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    dev = device
    if device.startswith("cuda") and torch.cuda.is_available():
        dev = f"{device} ({torch.cuda.get_device_name(0)})"
    return (
        f"machine: {cpu_model()}, {os.cpu_count()} cores, AMX {amx}, AVX512-BF16 {avx_bf16}, "
        f"load avg {load:.1f}; torch {torch.__version__} ({torch.get_num_threads()} threads); device {dev}"
    )


def command_line() -> str:
    return "command: " + " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv])


def header(title: str, device: str = "cpu") -> None:
    print(f"# {title}")
    print(machine_line(device))
    print(command_line())
    print()


def median(xs) -> float:
    return statistics.median(xs)


def table(headers: list[str], rows: list[list]) -> str:
    """A small Markdown table (pasteable into the README)."""

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def ciplab_subset(n: int) -> list[Path]:
    """``n`` images of the real data set, real and fake alternating (never copied)."""
    if not CIPLAB.is_dir():
        raise SystemExit(f"benchmark needs the labelled data at {CIPLAB}")
    real = sorted((CIPLAB / "real").glob("*.jpg"))
    fake = sorted((CIPLAB / "fake").glob("*.jpg"))
    out = [p for pair in zip(real, fake) for p in pair]
    return out[:n]


def link_subset(paths: list[Path], root: Path) -> Path:
    """A test set in the report's layout made of symlinks to ``paths`` under ``root``."""
    for p in paths:
        d = root / p.parent.name
        d.mkdir(parents=True, exist_ok=True)
        target = d / p.name
        if not target.exists():
            target.symlink_to(p)
    return root


def tiny_jpeg_farm(root: Path, n: int, *, seed: int = 0, size: int = 48, distinct: int = 8) -> Path:
    """``n`` images in the report's layout (half real, half fake) as hard links to
    ``distinct`` tiny JPEGs per class: 100,000 files cost ~no disk."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    src = root.parent / (root.name + "_src")
    src.mkdir(parents=True, exist_ok=True)
    for cls in ("real", "fake"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        originals = []
        for k in range(distinct):
            f = src / f"{cls}_{k}.jpg"
            if not f.exists():
                Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(f, quality=85)
            originals.append(f)
        count = n // 2 if cls == "real" else n - n // 2
        for i in range(count):
            target = root / cls / f"{cls}_{i:06d}.jpg"
            if not target.exists():
                os.link(originals[i % distinct], target)
    return root
