"""How the detector holds up when images are handled the way the internet handles them.

Perturbed copies are made on the fly, in memory, between decoding and the model's own
preprocessing; the files on disk are only ever read. Every row's metrics come from a
``ThresholdSweep`` over that row's scores. The clean row is ``evaluate``'s own
predictions (same cache), the "flip TTA" row is ``evaluate`` with
``InferenceSettings(tta=True)``.

Levels: JPEG re-compression at quality q; downscaling to a fraction of the model's
input size and back up (so the model sees the lost detail at its own resolution);
Gaussian blur with sigma in pixels of the stored image; Gaussian noise with sigma in
8-bit grey levels (seeded per image, so reruns are identical).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageFilter
from torch.utils.data import DataLoader, Dataset

from . import pace, prediction_cache
from .atomic import atomic_path
from .checkpoint import Detector
from .data import LABEL_NAMES, TestSet, require_readable
from .evaluation import evaluate
from .inference import InferenceSettings, Progress, score_batch, set_draft_size
from .metric_words import score_text
from .metrics import MetricUnavailable, ThresholdSweep, fmt, predicted_real
from .preprocess import ImageError, open_image
from .quality import detail_share, low_detail_share

KINDS = ("identity", "jpeg", "downscale", "blur", "noise")


@dataclass(frozen=True)
class Perturbation:
    """One perturbation at one level; ``apply`` returns a new image, never touching files."""

    kind: str
    level: float = 0.0

    @property
    def name(self) -> str:
        if self.kind == "identity":
            return "clean (perturbation path)"
        unit = {"jpeg": "q", "downscale": "x", "blur": "σ", "noise": "σ"}[self.kind]
        level = int(self.level) if float(self.level).is_integer() else self.level
        return f"{self.kind} {unit}{level}"

    def apply(self, image: Image.Image, input_size: int, seed: int = 0) -> Image.Image:
        if self.kind == "identity":
            return image
        if self.kind == "jpeg":
            buf = io.BytesIO()
            image.save(buf, format="JPEG", quality=int(self.level))
            return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        if self.kind == "downscale":
            small = max(1, int(round(input_size * self.level)))
            return image.resize((small, small), Image.BILINEAR).resize((input_size, input_size), Image.BILINEAR)
        if self.kind == "blur":
            return image.filter(ImageFilter.GaussianBlur(radius=float(self.level)))
        if self.kind == "noise":
            rng = np.random.default_rng(seed)
            a = np.asarray(image, dtype=np.float32) + rng.normal(0.0, self.level, (image.height, image.width, 3))
            return Image.fromarray(a.clip(0, 255).astype(np.uint8))
        raise ValueError(f"unknown perturbation {self.kind!r}; choose one of {', '.join(KINDS)}")


DEFAULT_PERTURBATIONS = (
    *(Perturbation("jpeg", q) for q in (95, 75, 50, 30)),
    *(Perturbation("downscale", f) for f in (0.75, 0.5, 0.25)),
    *(Perturbation("blur", s) for s in (1, 2)),
    *(Perturbation("noise", s) for s in (5, 15)),
)


class _PerturbedFolder(Dataset):
    """Decode → perturb → the model's own eval transform (same decode as inference)."""

    def __init__(self, paths, relpaths, preprocessing, perturbation: Perturbation, measure_detail: bool = True,
                 draft_size: int | None = None):
        self.paths, self.relpaths, self.perturbation = paths, relpaths, perturbation
        self.draft_size = draft_size  # the clean pass's JPEG draft (fast): perturb the picture it scored
        self.measure_detail = measure_detail  # items are (tensor, index, detail share or NaN, error)
        self.transform, self.size = preprocessing.eval_transform(), preprocessing.input_size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        try:
            image, _ = open_image(self.paths[i], name=os.path.basename(self.paths[i]), draft_size=self.draft_size)
            seed = int.from_bytes(hashlib.sha256(self.relpaths[i].encode()).digest()[:4], "little")
            perturbed = self.perturbation.apply(image, self.size, seed)
            # the perturbed copy's fine detail: does the low-detail warning see what the perturbation did?
            return self.transform(perturbed), i, detail_share(perturbed) if self.measure_detail else float("nan"), ""
        except ImageError as exc:
            return torch.zeros(3, self.size, self.size), i, float("nan"), str(exc)


def _cache_path(detector, test_set, settings, perturbation, cache_dir) -> Path:
    # by content, not modification time: a folder copied or checked out again keeps its sweep
    files = list(zip(test_set.images["relpath"], prediction_cache.content_digests(test_set, cache_dir)))
    key = json.dumps(
        {"v": 4, "weights": detector.sha256, "pre": detector.preprocessing.to_dict(), "settings": settings.key(),
         "root": str(test_set.root), "perturbation": [perturbation.kind, perturbation.level], "files": files},
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return Path(cache_dir or prediction_cache.DEFAULT_CACHE_DIR) / "robustness" / f"{digest}.csv"


def predict_perturbed(detector: Detector, test_set: TestSet, perturbation: Perturbation,
                      settings: InferenceSettings = InferenceSettings(), *, use_cache: bool = True,
                      cache_dir: Path | None = None, progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """P(real) of every readable image after ``perturbation``, and the perturbed copy's
    ``detail_share``: DataFrame[relpath, label, p_real, detail_share].
    Cached per model, preprocessing, settings, test set (its files' contents) and perturbation.
    ``progress(n, from_cache)`` is called with the number of images just scored (all of
    them, from_cache True, when the cache answered)."""
    path = _cache_path(detector, test_set, settings, perturbation, cache_dir)
    if use_cache and path.exists():
        try:
            cached = pd.read_csv(path)
            if progress:
                progress(len(test_set), True)
            return cached
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
            pass  # a damaged cache is rebuilt
    images = test_set.images.reset_index(drop=True)
    # Unlike the clean pass (``inference.effective_workers``: none on the CPU), worker processes pay
    # here: each image is perturbed (blur, re-encoding) as well as decoded, and this folder has no
    # threaded batch decode. bench/bench_robustness.py on the 163 validation images, 2 cores: 6.6 -> 8.3
    # images/s in float32 and 13.5 -> 16.2 in bfloat16 from no worker to two (medians of 4 passes).
    workers = settings.workers if settings.workers is not None else min(4, os.cpu_count() or 1)
    folder = _PerturbedFolder(images["path"].tolist(), images["relpath"].tolist(), detector.preprocessing, perturbation,
                              draft_size=set_draft_size(detector.preprocessing, settings.fast))
    loader = DataLoader(folder, batch_size=settings.batch_size, num_workers=workers)
    p, detail = np.full(len(images), np.nan), np.full(len(images), np.nan)
    for batch, idx, share, error in loader:
        ok = np.array([not e for e in error])
        detail[idx.numpy()] = share.numpy()
        if ok.any():
            p[idx.numpy()[ok]] = score_batch(detector, batch[torch.from_numpy(ok)], settings)
        if progress:
            progress(len(idx))
    kept = np.isfinite(p)
    out = images.loc[kept, ["relpath", "label"]].assign(p_real=p[kept], detail_share=detail[kept]).reset_index(drop=True)
    if use_cache:
        with atomic_path(path) as tmp:
            out.to_csv(tmp, index=False, float_format="%.17g")
    return out


def row_metrics(label, p_real, threshold: float) -> dict:
    """ROC-AUC, accuracy, fake catch rate and real pass rate at ``threshold``, from one sweep."""
    sweep = ThresholdSweep(label, p_real)
    c = sweep.confusion(threshold, "real")
    try:
        auc = sweep.roc("real").auc
    except MetricUnavailable:
        auc = None
    return {
        "roc_auc": auc,
        "accuracy": c.accuracy,
        "fake_catch_rate": c.fake_catch_rate,
        "real_pass_rate": c.real_pass_rate,
        "n_images": int(len(sweep.label)),
    }


@dataclass(frozen=True)
class RobustnessSweep:
    """``table``: one row per condition (clean, flip TTA, each perturbation) with the metrics of
    ``row_metrics``, their change from clean (``d_*``) and ``low_detail``, the share of images
    the low-detail warning would flag (``core.quality``). ``scores``: relpath, label,
    p_clean and one P(real) column per condition name. ``threshold``: the verdict rule used."""

    table: pd.DataFrame
    scores: pd.DataFrame
    threshold: float

    @property
    def defined_metrics(self) -> list[str]:
        """The ``METRICS`` this test set defines: a set of one class has no ROC-AUC and no rate
        of the other class, and its accuracy is its own rate again, so only that rate is left."""
        defined = [m for m in METRICS if self.table[m].notna().any()]
        if ("fake_catch_rate" in defined) != ("real_pass_rate" in defined) and "accuracy" in defined:
            defined.remove("accuracy")
        return defined

    def flips(self, condition: str) -> pd.DataFrame:
        """Images whose verdict at ``threshold`` differs between clean and ``condition``."""
        s = self.scores.dropna(subset=[condition])
        was, now = predicted_real(s["p_clean"], self.threshold), predicted_real(s[condition], self.threshold)
        out = s.loc[was != now, ["path", "relpath", "label", "p_clean", condition]].rename(columns={condition: "p_perturbed"})
        return out.assign(clean_verdict=np.where(was[was != now], "REAL", "FAKE"),
                          new_verdict=np.where(now[was != now], "REAL", "FAKE")).reset_index(drop=True)

    def flips_shown(self, condition: str) -> pd.DataFrame:
        """``flips`` for a person: named columns ("file", "true class" real/fake) and each P(real)
        as ``score_text`` writes it, the verdict beside it."""
        f = self.flips(condition)
        return pd.DataFrame({"file": f["relpath"], "true class": f["label"].map(LABEL_NAMES),
                             "clean": f["clean_verdict"], "P(real) clean": f["p_clean"].map(score_text),
                             condition: f["new_verdict"], f"P(real) {condition}": f["p_perturbed"].map(score_text)})


METRICS = ("roc_auc", "accuracy", "fake_catch_rate", "real_pass_rate")


def _tta(settings: InferenceSettings) -> InferenceSettings:
    return InferenceSettings(settings.fast, True, settings.batch_size, settings.workers)


def conditions_words(perturbations=DEFAULT_PERTURBATIONS, tta: bool = True) -> str:
    """The conditions a sweep runs, grouped by kind: "JPEG q95, q75 · blur σ1, σ2 · flip TTA"."""
    kinds: dict[str, list[str]] = {}
    for pert in perturbations:
        kinds.setdefault(pert.kind, []).append(pert.name.split(" ", 1)[1])
    names = {"jpeg": "JPEG", "downscale": "downscale", "blur": "blur", "noise": "noise"}
    parts = [f"{names.get(kind, kind)} {', '.join(levels)}" for kind, levels in kinds.items()]
    return " · ".join(parts + (["flip TTA"] if tta else []))


def images_to_score(detector: Detector, test_set: TestSet, *, perturbations=DEFAULT_PERTURBATIONS,
                    settings: InferenceSettings = InferenceSettings(), tta: bool = True,
                    cache_dir: Path | None = None) -> tuple[int, int]:
    """(images a ``robustness_sweep`` with these arguments would still score, images it
    covers in all), from the caches alone: nothing is decoded or scored. 0 to score means the
    sweep only reads its caches (a second or so), so a page can run it without asking."""
    def uncached(s: InferenceSettings) -> int:
        return len(prediction_cache.merge_with_cache(test_set, prediction_cache.cache_path(
            detector.sha256, test_set, s, cache_dir))[1])

    todo = uncached(settings) + (uncached(_tta(settings)) if tta else 0)
    todo += sum(len(test_set) for pert in perturbations
                if not _cache_path(detector, test_set, settings, pert, cache_dir).exists())
    return todo, len(test_set) * (1 + int(tta) + len(perturbations))


def robustness_sweep(detector: Detector, test_set: TestSet, *, threshold: float | None = None,
                     perturbations=DEFAULT_PERTURBATIONS, settings: InferenceSettings = InferenceSettings(),
                     tta: bool = True, use_cache: bool = True, cache_dir: Path | None = None,
                     progress: Callable[[Progress], None] | None = None) -> RobustnessSweep:
    """Clean + flip-TTA + every perturbation, each scored on the whole test set."""
    threshold = detector.threshold if threshold is None else float(threshold)
    total = len(test_set) * (1 + int(tta) + len(perturbations))
    start, done, cached = time.perf_counter(), 0, 0

    def report(within: int = 0, within_cached: int = 0):
        if progress:
            progress(Progress(min(done + within, total), total, time.perf_counter() - start, cached + within_cached))

    def tick(n: int, from_cache: bool = False):
        nonlocal done, cached
        done, cached = done + n, cached + (n if from_cache else 0)
        report()

    def scored(s: InferenceSettings) -> pd.DataFrame:
        """A whole-set pass, the bar moving as it goes; its cached images count as done, not as speed."""
        nonlocal done, cached
        preds = evaluate(detector, test_set, s, use_cache=use_cache, cache_dir=cache_dir,
                         progress=lambda p: report(p.done, p.cached)).predictions
        done, cached = done + len(test_set), cached + preds.from_cache
        report()
        return preds.frame

    clean = scored(settings)
    require_readable(len(clean), test_set)  # nothing to perturb: a table of zeros would read as a result
    scores = clean[["path", "relpath", "label", "p_real"]].rename(columns={"p_real": "p_clean"})
    conditions = [("clean", "clean", 0.0)]
    low = {"clean": low_detail_share(clean["detail_share"])}
    if tta:
        flipped = scored(_tta(settings))
        scores = scores.merge(flipped[["relpath", "p_real"]].rename(columns={"p_real": "flip TTA"}), on="relpath", how="left")
        conditions.append(("flip TTA", "tta", 1.0))
        low["flip TTA"] = low["clean"]  # the same images, mirrored
    for pert in perturbations:
        got = predict_perturbed(detector, test_set, pert, settings, use_cache=use_cache, cache_dir=cache_dir, progress=tick)
        scores = scores.merge(got[["relpath", "p_real"]].rename(columns={"p_real": pert.name}), on="relpath", how="left")
        conditions.append((pert.name, pert.kind, pert.level))
        low[pert.name] = low_detail_share(got["detail_share"])
    rows = []
    for name, kind, level in conditions:
        col = "p_clean" if name == "clean" else name
        s = scores.dropna(subset=[col])
        rows.append({"condition": name, "kind": kind, "level": level, **row_metrics(s["label"], s[col], threshold),
                     "low_detail": low.get(name)})
    table = pd.DataFrame(rows)
    for m in METRICS:
        base = table.loc[0, m]
        table[f"d_{m}"] = [None if v is None or base is None else v - base for v in table[m]]
    table["flips"] = [0] + [len(RobustnessSweep(table, scores, threshold).flips(n)) for n, _, _ in conditions[1:]]
    # the speed this machine gave, for the next sweep's estimate (core.pace); cached images did no work
    pace.record(pace.SWEEP, detector.sha256, detector.device.type, settings.fast, done - cached, time.perf_counter() - start,
                cache_dir=cache_dir)
    return RobustnessSweep(table=table, scores=scores, threshold=threshold)


def format_table(sweep: RobustnessSweep) -> str:
    """The sweep as a fixed-width text table (for the CLI): the metrics the set defines (a set of
    one class shows only its own rate), each with its change from clean."""

    def f(x, signed=False):
        return fmt(x, 4, signed)

    heads = {"roc_auc": ("ROC-AUC", "ΔAUC"), "accuracy": ("acc", "Δacc"), "fake_catch_rate": ("fake caught", "Δ"),
             "real_pass_rate": ("real passed", "Δ")}
    shown = [m for m in heads if m in sweep.defined_metrics]
    widths = {m: max(9, len(heads[m][0]) + 2) for m in shown}
    head = f"{'condition':<28}" + "".join(f"{heads[m][0]:>{widths[m]}}{heads[m][1]:>9}" for m in shown) + f"{'flips':>7}{'low detail':>12}"
    lines = [f"Threshold {sweep.threshold:.4f} (REAL when P(real) >= threshold)", head, "-" * len(head)]
    for r in sweep.table.to_dict("records"):
        lines.append(f"{r['condition']:<28}" + "".join(f"{f(r[m]):>{widths[m]}}{f(r['d_' + m], True):>9}" for m in shown)
                     + f"{r['flips']:>7}{f(r['low_detail']):>12}")
    return "\n".join(lines)
