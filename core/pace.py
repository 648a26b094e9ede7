"""How fast this machine has been scoring images, so a button can say what a click will cost
from what was measured here, not only from a benchmark on a quiet machine.

A robustness sweep estimated from a fixed 10 images/s said ~3 min on a loaded 2-core CPU and
took 763 s. So the app records the speed it measured (per model, device type and precision: every
session of the server shares the machine) and estimates from that:

- ``SWEEP``: a robustness sweep's own speed (decode, perturb, score: the work it will repeat);
- ``CLEAN``: scoring a test set without perturbations (no blur or re-encoding, so a sweep is
  likely slower);
- ``FEATURES``: the Feature map's pass: the same decoding and model pass as a clean one but always
  float32, and its loader decodes in worker processes where scoring on a CPU uses none. Measured
  here (bench: 163 images, no caches, quiet 2-core CPU) the two ran within 15% of each other,
  either way round, so a float32 clean pass stands in for it until it has run;
- neither: ``CPU_IMAGES_PER_S``, said to be a benchmark figure.

The speeds are also kept in ``pace.json`` beside the prediction cache, so a restarted server, or a
test set whose scores all come from that cache (nothing scored, nothing measured), still estimates
from what this machine did, and says how long ago. Streamlit-free and torch-free.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import atomic, prediction_cache

SWEEP, CLEAN, FEATURES = "sweep", "clean", "features"
# Fewer freshly scored images than this give a rate that is mostly start-up (the first batch).
MIN_IMAGES = 16

# Measured by bench/bench_robustness.py on this 2-core CPU: the shipped two-model ensemble scores
# perturbed copies at 10.4 images/s in float32 and 25.8 in bfloat16 (fast) with the malloc settings
# `make run` exports (core/malloc_tuning.py; 8.3 and 16.2 without them, session 17); a rough figure,
# by precision (the `fast` setting), for when nothing has been measured here yet.
CPU_IMAGES_PER_S = {False: 10.0, True: 24.0}


@dataclass(frozen=True)
class Pace:
    """A measured speed: ``images`` freshly scored (not read from a cache) at ``images_per_s``,
    measured at ``at`` (``time.time()``)."""

    images_per_s: float
    images: int
    at: float


_MEASURED: dict[tuple, Pace] = {}
# The file the speeds are kept in; None: pace.json in the prediction cache folder (tests point it elsewhere).
STORE: Path | None = None
MAX_KEPT = 200  # speeds in the file, the latest kept: one per model, device, precision and kind


def store_path(cache_dir: Path | None = None) -> Path:
    return STORE or Path(cache_dir or prediction_cache.DEFAULT_CACHE_DIR) / "pace.json"


def _read(path: Path) -> dict[tuple, Pace]:
    """The speeds in ``path``; a missing, torn or foreign file, or an entry of the wrong shape, is
    left out (the next ``record`` rewrites the file with what was readable)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8")).get("paces")
    except (OSError, ValueError, AttributeError):  # AttributeError: JSON, but not an object
        return {}
    kept = {}
    for row in rows if isinstance(rows, list) else []:
        try:
            key = (str(row["kind"]), str(row["weights_sha"]), str(row["device_type"]), bool(row["fast"]))
            pace = Pace(float(row["images_per_s"]), int(row["images"]), float(row["at"]))
        except (TypeError, KeyError, ValueError):
            continue
        if math.isfinite(pace.images_per_s) and pace.images_per_s > 0 and math.isfinite(pace.at):
            kept[key] = pace
    return kept


def _keep(key: tuple, pace: Pace, path: Path) -> None:
    """Add ``pace`` to the file, one writer at a time; a folder that cannot be written keeps it in
    this process only."""
    try:
        with atomic.exclusive(path):
            kept = _read(path)
            kept.pop(key, None)
            kept[key] = pace  # last, so the newest survive the cap
            rows = [dict(zip(("kind", "weights_sha", "device_type", "fast"), k), **asdict(p))
                    for k, p in list(kept.items())[-MAX_KEPT:]]
            atomic.write_bytes(path, json.dumps({"paces": rows}, indent=1).encode())
    except OSError:
        pass


def record(kind: str, weights_sha: str, device_type: str, fast: bool, images: int, seconds: float,
           now: float | None = None, cache_dir: Path | None = None) -> Pace | None:
    """Keep the speed of ``images`` scored in ``seconds`` (the latest of its kind replaces the
    last), in this process and in ``store_path(cache_dir)``; None, and nothing kept, under
    ``MIN_IMAGES`` images."""
    if images < MIN_IMAGES or seconds <= 0:
        return None
    pace = Pace(images / seconds, int(images), time.time() if now is None else now)
    key = (kind, weights_sha, device_type, bool(fast))
    _MEASURED[key] = pace
    _keep(key, pace, store_path(cache_dir))
    return pace


def measured(kind: str, weights_sha: str, device_type: str, fast: bool, cache_dir: Path | None = None) -> Pace | None:
    """The speed measured in this process, else the one kept in ``store_path(cache_dir)`` (an
    earlier run), else None."""
    key = (kind, weights_sha, device_type, bool(fast))
    return _MEASURED.get(key) or _read(store_path(cache_dir)).get(key)


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return "under a minute" if minutes < 1 else f"about {minutes:.0f} min"


def _ago(pace: Pace, now: float) -> str:
    minutes = (now - pace.at) / 60
    if minutes < 1:
        return "just now"
    if minutes < 90:
        return f"{minutes:.0f} min ago"
    hours = round(minutes / 60)
    if hours < 36:
        return f"{hours} hours ago"
    days = round(hours / 24)
    return f"{days} days ago"


def sweep_time_words(n_images: int, weights_sha: str, device_type: str, fast: bool, now: float | None = None,
                     cache_dir: Path | None = None) -> str:
    """What scoring ``n_images`` in a robustness sweep will cost, and what the figure rests on:
    this model's last sweep here (same device and precision), else its clean test-set pass here,
    else the benchmark figure ``CPU_IMAGES_PER_S`` (CPU only: "" on a GPU, where it takes seconds)."""
    now = time.time() if now is None else now
    precision = "bfloat16" if fast else "float32"
    sweep, clean = (measured(k, weights_sha, device_type, fast, cache_dir) for k in (SWEEP, CLEAN))
    if sweep:
        when = _duration(n_images / sweep.images_per_s)
        return (f"{when[0].upper() + when[1:]} at {sweep.images_per_s:.1f} images/s, the speed of this model's last "
                f"robustness sweep on this machine ({device_type.upper()}, {precision}, {sweep.images} images, "
                f"{_ago(sweep, now)}).")
    if clean:
        when = _duration(n_images / clean.images_per_s)
        return (f"{when[0].upper() + when[1:]}, likely more: this model scored the clean test set on this machine at "
                f"{clean.images_per_s:.1f} images/s ({device_type.upper()}, {precision}, {_ago(clean, now)}); each "
                "perturbed copy is also blurred, re-encoded or resized, so a sweep is likely slower.")
    if device_type != "cpu":
        return ""
    rate = CPU_IMAGES_PER_S[bool(fast)]
    return (f"Not measured on this machine yet: {_duration(n_images / rate)} at {rate:.0f} images/s, a benchmark of the "
            "shipped ensemble on a quiet 2-core CPU; longer while other work runs. Once it runs, the bar gives the time "
            "left at the speed it measures.")


def feature_time_words(n_images: int, weights_sha: str, device_type: str, now: float | None = None,
                       cache_dir: Path | None = None) -> str:
    """What computing the Feature map's features of ``n_images`` will cost (always float32), and what
    the figure rests on: this model's last feature pass here; else, on a CPU, its float32 clean
    test-set pass here (a bfloat16 one is 2-3x faster: no guide); else the benchmark
    ``CPU_IMAGES_PER_S`` ("" on a GPU with nothing measured, where it takes seconds)."""
    now = time.time() if now is None else now
    own = measured(FEATURES, weights_sha, device_type, False, cache_dir)
    if own:
        when = _duration(n_images / own.images_per_s)
        return (f"{when[0].upper() + when[1:]} at {own.images_per_s:.1f} images/s, the speed of this model's last "
                f"feature pass on this machine ({device_type.upper()}, float32, {own.images} images, {_ago(own, now)}).")
    if device_type != "cpu":
        return ""
    clean = measured(CLEAN, weights_sha, device_type, False, cache_dir)
    if clean:
        when = _duration(n_images / clean.images_per_s)
        return (f"{when[0].upper() + when[1:]} at {clean.images_per_s:.1f} images/s, the speed at which this model scored "
                f"the clean test set on this machine (CPU, float32, {_ago(clean, now)}): not measured on this pass itself, "
                "which decodes the same images and runs the same float32 model, so it should take about as long.")
    rate = CPU_IMAGES_PER_S[False]
    return (f"Not measured on this machine yet: {_duration(n_images / rate)} at {rate:.0f} images/s, a benchmark of the "
            "shipped ensemble on a quiet 2-core CPU; longer while other work runs.")


def time_left_words(seconds: float) -> str:
    """'about 40 s left', 'about 3 min left': rounded, as an estimate should be, and short enough
    for a progress bar on a phone."""
    if seconds < 10:
        return "a few seconds left"
    if seconds < 90:
        return f"about {round(seconds / 10) * 10:.0f} s left"
    return f"about {round(seconds / 60):.0f} min left"


def scoring_words(p: prediction_cache.Progress, known: Pace | None = None) -> str:
    """A test-set pass's progress bar text: 'Scoring 37 of 163 images · about 40 s left'. The time
    left comes from this pass's own speed once ``MIN_IMAGES`` are freshly scored (the first batch
    takes tens of seconds on a CPU), before that from ``known`` (this model's last clean pass here,
    ``measured(CLEAN, ...)``), else it is not given; 'Loading the model…' while the model is made
    ready (``Progress.preparing``)."""
    if p.waiting:
        return "Waiting for another session scoring these images…"
    if p.preparing:
        return "Loading the model…"
    words = f"Scoring {p.done} of {p.total} images"
    fresh = p.done - p.cached
    rate = p.images_per_s if fresh >= MIN_IMAGES else known.images_per_s if known else 0.0
    if p.done < p.total and rate > 0:
        words += f" · {time_left_words((p.total - p.done) / rate)}"
    elif p.done < p.total:  # nothing measured here yet: the first batch is the slow one, and it is timed
        words += " · timing the first batch…"
    return words
