"""The prediction cache, readable without PyTorch.

One CSV per (weights hash, inference settings, test-set folder); one row per image
keyed by relative path, size and modification time. Rows are appended per batch, and
later rows win. The weights hash covers the preprocessing, which the checkpoint holds;
``CACHE_VERSION`` covers the code's defaults (a bare report state dict's preprocessing) and
the columns: version 3 added ``detail_share`` (``core.quality``), measured on each image as
it is decoded for scoring; version 4 added ``digest`` (``core.provenance.file_digest``), so a
file whose modification time changed but whose bytes did not keeps its score; older caches are
left on disk, unread.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePath

import pandas as pd

from .data import TestSet

CACHE_VERSION = 4  # 4: each row carries its file's content digest
DEFAULT_CACHE_DIR = Path(os.environ.get("DEEPFAKE_CACHE_DIR", Path(__file__).resolve().parent.parent / ".cache"))
CACHE_COLUMNS = ["relpath", "size_bytes", "mtime_ns", "p_real", "width", "height", "format", "detail_share", "error",
                 "digest"]
_INTEGER, _FLOAT = ["size_bytes", "mtime_ns", "width", "height"], ["p_real", "detail_share"]
PREDICTION_COLUMNS = ["path", "relpath", "label", "group", "p_real", "width", "height", "format", "size_bytes",
                      "detail_share"]


@dataclass(frozen=True)
class InferenceSettings:
    """How the model is run.

    The default reproduces the report's numbers (full JPEG decode, ``Resize((S, S))``,
    float32). ``fast`` decodes JPEGs in draft mode, folds BatchNorm into the convolutions
    and runs in bfloat16 (CPU: AVX512-BF16 or AMX when present; GPU: bfloat16 with TF32
    convolutions): ~2-3x faster on CPU, P(real) moves by up to ~0.04 on the shipped model
    (bench/bench_inference.py). ``tta`` averages P(real) over the image and its mirror.
    ``workers``: see ``effective_workers``.
    """

    fast: bool = False
    tta: bool = False
    batch_size: int = 32
    workers: int | None = None

    @property
    def precision(self) -> str:
        return "bfloat16" if self.fast else "float32"

    def key(self) -> dict:
        return {"fast": self.fast, "tta": self.tta}


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    elapsed_s: float
    cached: int = 0  # of ``done``, images that came from a cache: no work, so not in the rate
    waiting: bool = False  # another session or process is scoring this set; this one waits for it
    preparing: bool = False  # the model is being made ready (BatchNorm folded): nothing scored yet

    @property
    def images_per_s(self) -> float:
        return (self.done - self.cached) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.images_per_s
        return (self.total - self.done) / rate if rate > 0 else None


@dataclass(frozen=True)
class Predictions:
    """``frame`` has PREDICTION_COLUMNS for every readable image; ``skipped`` lists
    (relpath, reason) of images that could not be read; ``scored`` counts the files read in
    this call and ``from_cache`` the others, unreadable ones included: ``unreadable_now`` of
    ``skipped`` were read in this call. ``count_words`` says them apart."""

    frame: pd.DataFrame
    skipped: list[tuple[str, str]]
    from_cache: int
    scored: int
    precision: str
    note: str = ""  # what the user should know about how they were made (a cache that could not be written)
    unreadable_now: int = 0



def cache_path(weights_sha256: str, test_set: TestSet, settings: InferenceSettings, cache_dir: Path | None = None) -> Path:
    key = json.dumps(
        {"v": CACHE_VERSION, "weights": weights_sha256, "settings": settings.key(), "root": str(test_set.root)},
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return Path(cache_dir or DEFAULT_CACHE_DIR) / "predictions" / f"{digest}.csv"


def read_cache(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=CACHE_COLUMNS)
    try:
        data = path.read_bytes()
        # A last line without its end is a row a killed run tore: it may still parse (cut after its
        # sizes), so it is not read; on_bad_lines: a line with too many fields (rows run together
        # after a torn write) is dropped like any other row that does not parse, not the whole cache
        cached = pd.read_csv(io.BytesIO(data[: data.rfind(b"\n") + 1]), keep_default_na=False,
                             na_values={"p_real": [""]}, dtype={"error": str, "format": str, "digest": str},
                             on_bad_lines="skip")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return pd.DataFrame(columns=CACHE_COLUMNS)  # a damaged cache is rebuilt, never trusted
    if list(cached.columns) != CACHE_COLUMNS:
        return pd.DataFrame(columns=CACHE_COLUMNS)
    # Rows that do not parse (a second header that two writers at once left before versions
    # took turns, a torn line) are dropped and their images scored again.
    whole = cached[_INTEGER].apply(pd.to_numeric, errors="coerce").notna().all(axis=1)
    if not whole.all():  # converted again once the bad rows are gone: via float, mtime_ns would lose digits
        cached = cached[whole]
        cached = cached.assign(**{c: pd.to_numeric(cached[c], errors="coerce") for c in _INTEGER + _FLOAT})
        cached = cached.astype({c: "int64" for c in _INTEGER})
    # A scored row always has a format and a digest: one without lost its end (a writer of
    # session 20 closed a torn line where it now cuts it) and would be trusted with those blank.
    blank = {c: cached[c].fillna("").astype(str) == "" for c in ("error", "format", "digest")}
    cached = cached[~blank["error"] | ~(blank["format"] | blank["digest"])]
    # Later rows win: a re-scored image appends a newer row.
    return cached.drop_duplicates(subset=["relpath"], keep="last")


_TAIL = 65536  # bytes drop_torn_line reads from the end


def drop_torn_line(path: Path) -> None:
    """Cut a last line that a run killed mid-write left without its end: appended to, it would
    run into the next row, and closed as it is, a row torn after its sizes would still parse
    (with a wrong height, no digest) and be trusted. Its image is scored again. Only the tail is
    read: a row is far shorter than ``_TAIL``, so a tail without a line end holds no whole row."""
    with open(path, "r+b") as f:
        end = f.seek(0, os.SEEK_END)
        start = f.seek(max(0, end - _TAIL))
        i = f.read().rfind(b"\n")
        keep = start + i + 1 if i >= 0 else 0  # no line end in the tail: no whole row to keep
        if keep < end:
            f.truncate(keep)


def has_cache_header(path: Path) -> bool:
    """Whether the file at ``path`` starts with this version's header line: rows appended
    under another first line (garbage, an older version) could never be read back."""
    try:
        with open(path, "rb") as f:
            return f.readline().rstrip(b"\r\n") == ",".join(CACHE_COLUMNS).encode()
    except OSError:
        return False


def merge_with_cache(test_set: TestSet, path: Path, use_cache: bool = True) -> tuple[pd.DataFrame, list[int]]:
    """The test set's rows joined with their cached scores, and the row indices still to score.

    A file is known by its path, size and modification time. One whose time changed but whose
    bytes did not (copied, synced or checked out again: the shared data set here gets new times
    between sessions) is recognised by its content digest and keeps its score; such rows are
    marked ``relinked`` so the caller can record the new time."""
    cached = read_cache(path) if use_cache else pd.DataFrame(columns=CACHE_COLUMNS)
    merged = test_set.images.merge(cached, on=["relpath", "size_bytes", "mtime_ns"], how="left", indicator=True)
    merged["relinked"] = False
    left = merged.index[merged["_merge"] == "left_only"]
    if len(left) and len(cached):
        from .provenance import file_digest

        known = cached[cached["digest"] != ""].set_index("relpath")
        values = [c for c in CACHE_COLUMNS if c not in ("relpath", "size_bytes", "mtime_ns")]
        for i in left:
            rel = merged.at[i, "relpath"]
            if rel not in known.index:
                continue
            row = known.loc[rel]
            if int(row["size_bytes"]) == int(merged.at[i, "size_bytes"]) and file_digest(merged.at[i, "path"]) == row["digest"]:
                merged.loc[i, values] = row[values].to_numpy()
                merged.loc[i, ["_merge", "relinked"]] = ["both", True]
    return merged, merged.index[merged["_merge"] == "left_only"].tolist()


def record_relinked(merged: pd.DataFrame, path: Path) -> int:
    """Append the rows ``merge_with_cache`` recognised by content under their new modification
    time, so the next lookup matches them directly; the number of rows written."""
    rows = merged.loc[merged["relinked"].astype(bool), CACHE_COLUMNS]
    if len(rows):
        drop_torn_line(path)  # else the first row would run into a line a killed run left open
        rows.to_csv(path, mode="a", header=False, index=False, float_format="%.17g")
    return len(rows)


def assemble(merged: pd.DataFrame, from_cache: int, scored: int, precision: str, todo=()) -> Predictions:
    """Predictions from a fully scored merge: readable images in ``frame``, the rest in ``skipped``;
    ``todo`` are the rows of ``merged`` read in this call."""
    err = merged["error"].fillna("").astype(str)
    ok = err == ""
    unreadable_now = int((~ok.loc[list(todo)]).sum())
    frame = merged.loc[ok, PREDICTION_COLUMNS].reset_index(drop=True)
    frame["p_real"] = frame["p_real"].astype(float)
    frame["detail_share"] = pd.to_numeric(frame["detail_share"], errors="coerce")
    frame[["width", "height"]] = frame[["width", "height"]].astype(int)
    # the reason without the file name the error message starts with: the relpath beside it names it
    skipped = [(rel, why.removeprefix(f"{PurePath(rel).name}: ")) for rel, why in zip(merged.loc[~ok, "relpath"], err[~ok])]
    return Predictions(frame=frame, skipped=skipped, from_cache=from_cache, scored=scored, precision=precision,
                       unreadable_now=unreadable_now)


def count_words(preds: Predictions) -> str:
    """How many images were scored, apart from the unreadable files, and where the scores came
    from: "10 images scored and 1 unreadable file left out (10 scored now, 0 from the cache)".
    The two counts in brackets add up to the images scored: an unreadable file has no score."""
    n_bad = len(preds.skipped)
    now = preds.scored - preds.unreadable_now
    cached = preds.from_cache - (n_bad - preds.unreadable_now)
    left_out = f" and {n_bad} unreadable file{'s' if n_bad != 1 else ''} left out" if n_bad else ""
    n = len(preds.frame)
    return f"{n} image{'s' if n != 1 else ''} scored{left_out} ({now} scored now, {cached} from the cache)"


def cached_predictions(weights_sha256: str, test_set: TestSet, settings: InferenceSettings,
                       cache_dir: Path | None = None) -> Predictions | None:
    """The predictions when every image of the set is cached, else None. Rows matched by
    content under a new modification time are recorded, as a scoring pass records them, so
    the next lookup does not read those files again."""
    path = cache_path(weights_sha256, test_set, settings, cache_dir)
    merged, todo = merge_with_cache(test_set, path)
    if todo:
        return None
    if merged["relinked"].any():
        from . import atomic

        try:
            with atomic.exclusive(path):
                record_relinked(merged, path)
        except OSError:
            pass  # a read-only cache: the answer stands, the files are only read again next time
    return assemble(merged, from_cache=len(merged), scored=0, precision=settings.precision)


def content_digests(test_set: TestSet, cache_dir: Path | None = None) -> list[str]:
    """Each image's content digest (``core.provenance.file_digest``), in the set's row order,
    for caches that must survive new modification times (the robustness and feature caches
    key on these). A small memo per folder, keyed by path, size and time, means each file is
    read once per change of time, not once per call; an unreadable file gets a key from its
    size and time, so it is tried again when it changes."""
    from . import atomic
    from .provenance import file_digest

    root_key = hashlib.sha256(str(test_set.root).encode()).hexdigest()[:24]
    memo_path = Path(cache_dir or DEFAULT_CACHE_DIR) / "digests" / f"{root_key}.csv"
    files = test_set.images[["path", "relpath", "size_bytes", "mtime_ns"]]
    try:
        memo = pd.read_csv(memo_path, dtype={"relpath": str, "digest": str})
        known = {(r, int(s), int(m)): d for r, s, m, d in memo[["relpath", "size_bytes", "mtime_ns", "digest"]].itertuples(index=False)}
    except (OSError, ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError):
        known = {}  # no memo yet, or a damaged one: rebuilt
    out, fresh = [], False
    for path, rel, size, mtime in files.itertuples(index=False):
        key = (rel, int(size), int(mtime))
        if key not in known:
            known[key], fresh = file_digest(path) or f"unreadable-{size}-{mtime}", True
        out.append(known[key])
    if fresh:
        rows = pd.DataFrame([(*k, d) for k, d in known.items()], columns=["relpath", "size_bytes", "mtime_ns", "digest"])
        try:
            atomic.write_bytes(memo_path, rows.to_csv(index=False).encode())
        except OSError:
            pass  # a read-only cache folder: the digests are still right, only read again next time
    return out
