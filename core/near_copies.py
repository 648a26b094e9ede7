"""Near copies: the same picture re-saved, resized or re-encoded, found by perceptual hash.

``core.provenance`` finds a test file that *is* a training file (same bytes). A test set
assembled from the same sources often holds the same picture saved again instead: another
JPEG quality, half the size, a PNG. Those leak just as much and no byte digest sees them.
Within one test set, near copies count one picture twice, and a fake that is near a real
face of the set was made from that face (CIPLab's composites paste parts onto real faces).

The hash is the 256-bit DCT perceptual hash (pHash; bit for bit ``imagehash.phash(hash_size=16)``,
checked on 60 CIPLab faces):
grayscale, 64x64, the 16x16 lowest DCT frequencies, one bit per coefficient above their
median. Measured on the 1,632 CIPLab faces (``tools/near_copy_margins.py``, 100 faces per kind
of copy): re-encoding at JPEG quality 60, halving the size, a PNG copy or a 300 px JPEG copy moves
a hash by at most 4 of 256 bits; the nearest two *different* faces are 28 bits apart (a fake and the real face it
was built on), the median nearest pair 90. The default ``MAX_DISTANCE`` of 12 sits between.
Crops, flips and strong edits are not found: this is a copy detector, not a face matcher.
The pair search is ``core.hash_search`` (multi-index hashing for large sets).
Streamlit-free and torch-free.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from .data import LABEL_NAMES
from .hash_search import pairs_within
from .provenance import each_with_progress
from .quality import to_8bit

HASH_SIZE = 16  # bits per side: 256-bit hashes
HASH_BYTES = HASH_SIZE * HASH_SIZE // 8
MAX_DISTANCE = 12  # bits of 256: copies measured <= 4 apart, different CIPLab faces >= 28
RECORD_COLUMNS = ["test_relpath", "test_label", "seen_as", "distance", "test_path"]
_SIDE = 4 * HASH_SIZE  # the grayscale image the DCT runs on (imagehash's highfreq_factor 4)


def _dct_matrix(n: int) -> np.ndarray:
    """The DCT-II matrix, unnormalised as ``scipy.fftpack.dct`` (which imagehash uses) up to one
    factor for every coefficient: ``C @ x`` is the DCT of a length-n signal."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    return np.cos(np.pi * (2 * i + 1) * k / (2 * n))


_DCT = _dct_matrix(_SIDE)[:HASH_SIZE]  # only the low frequencies are kept


def image_hash(image: Image.Image) -> bytes:
    """The 256-bit perceptual hash of a PIL image, as 32 bytes."""
    gray = np.asarray(to_8bit(image).convert("L").resize((_SIDE, _SIDE), Image.Resampling.LANCZOS), dtype=np.float64)
    low = _DCT @ gray @ _DCT.T  # (HASH_SIZE, HASH_SIZE)
    return np.packbits(low.ravel() > np.median(low)).tobytes()


def file_hash(path) -> bytes | None:
    """``image_hash`` of an image file as it is shown and scored, turned upright by its EXIF
    orientation (decoded near the hash's size: JPEG draft mode), None when it cannot be read as
    an image. (The stored pixels of a phone photo lie on their side: its copy of a training face
    was found by the API, which hashes the upright picture, and missed by `predict`.)"""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (2 * _SIDE, 2 * _SIDE))
            return image_hash(ImageOps.exif_transpose(im))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def hash_files(paths: Iterable, progress: Callable[[int, int], None] | None = None) -> list[bytes | None]:
    """``file_hash`` of each path, in order; ``progress(done, total)`` every 64 files."""
    return each_with_progress(file_hash, paths, progress, 64)


def cached_hashes(paths: Iterable, cache_dir: str | os.PathLike | None = None,
                  progress: Callable[[int, int], None] | None = None) -> list[bytes | None]:
    """``hash_files`` through a disk cache, ``cache_dir/phash/hashes_upright.csv``: one row per file (its
    absolute path, size and modification time, the hash in hex or empty when unreadable), shared by
    every test set and model, so a folder is hashed once, not on every check. A changed file is
    hashed again; without ``cache_dir`` nothing is cached. ``progress(done, total)`` counts cached
    files as done."""
    paths = list(paths)
    if cache_dir is None:
        return hash_files(paths, progress)
    keys = []
    for p in paths:
        try:
            st = os.stat(p)
            keys.append((os.path.abspath(p), st.st_size, st.st_mtime_ns))  # abspath: resolving links costs 3x
        except OSError:
            keys.append(None)  # gone or unreadable: no hash, and nothing to cache
    store = Path(cache_dir) / "phash" / "hashes_upright.csv"
    known = _read_store(store)
    todo = [i for i, k in enumerate(keys) if k is not None and k not in known]
    ready = len(paths) - len(todo)
    made = hash_files([paths[i] for i in todo], progress and (lambda done, _: progress(ready + done, len(paths))))
    if todo:
        known.update({keys[i]: h for i, h in zip(todo, made)})
        lines = "".join(f"{json.dumps(keys[i][0])}\t{keys[i][1]}\t{keys[i][2]}\t{h.hex() if h else ''}\n" for i, h in zip(todo, made))
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            with open(store, "a") as f:  # one write: rows appended by another process are not cut
                f.write(lines)
        except OSError:
            pass  # a read-only cache only costs speed: the hashes are made again next time
    return [known.get(k) if k is not None else None for k in keys]


def _read_store(store: Path) -> dict:
    """The hash cache as {(path, size, mtime_ns): hash or None}; later rows win; torn or foreign lines are skipped."""
    known = {}
    try:
        text = store.read_text()
    except OSError:
        return known
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 4:
            continue
        try:
            key = (json.loads(parts[0]), int(parts[1]), int(parts[2]))
            value = bytes.fromhex(parts[3]) if parts[3] else None
        except ValueError:  # json's errors are ValueErrors too
            continue
        if value is None or len(value) == HASH_BYTES:
            known[key] = value
    return known


def near_pairs(query: list[bytes | None], reference: list[bytes | None] | None = None,
               max_distance: int = MAX_DISTANCE, chunk: int = 512, method: str = "auto") -> pd.DataFrame:
    """Pairs of near copies: columns ``i`` (index into ``query``), ``j`` (into ``reference``)
    and ``distance`` (bits), sorted by distance; without ``reference`` the pairs within ``query``
    (i < j). Unreadable entries (None) match nothing. ``core.hash_search.pairs_within`` with this
    module's default distance (``method``: "brute", "blocks" or "auto")."""
    return pairs_within(query, reference, max_distance, chunk, method)


@dataclass(frozen=True)
class NearCopies:
    """What a near-copy check found in a test set: ``across`` (test image, other-set image,
    distance: a picture the model may have learned from), ``within`` (two test images that
    are one picture), ``unreadable`` (files that could not be hashed), ``max_distance``."""

    across: pd.DataFrame  # test_relpath, test_label, other_relpath, other_label, distance, test_path, other_path
    within: pd.DataFrame  # a_relpath, a_label, b_relpath, b_label, distance, a_path, b_path
    n_test: int
    n_other: int
    max_distance: int
    unreadable: int = 0
    unreadable_test: int = 0  # of those, the test set's: all of them means nothing was checked
    # near copies of the images a model records (core.provenance.Seen hashes), RECORD_COLUMNS;
    # None when no record was checked
    recorded: pd.DataFrame | None = None
    n_recorded: int = 0  # training + validation images in that record
    record_where: str = ""  # where the record was read from ("the checkpoint", a sidecar's name)

    def recorded_as(self, kind: str) -> pd.DataFrame:
        """The rows of ``recorded`` that are copies of the model's ``kind`` ("training" / "validation")
        images; empty when no record was checked."""
        if self.recorded is None:
            return pd.DataFrame(columns=RECORD_COLUMNS)
        return self.recorded[self.recorded["seen_as"] == kind]

    @property
    def derived_fakes(self) -> pd.DataFrame:
        """Pairs within the test set of one real and one fake image: a fake that barely changes a
        real picture of the set, or a mislabelled file."""
        w = self.within
        return w[w["a_label"] != w["b_label"]]


def _frame_pairs(pairs: pd.DataFrame, left: pd.DataFrame, right: pd.DataFrame, names: tuple[str, str]) -> pd.DataFrame:
    a, b = names
    i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
    return pd.DataFrame({
        f"{a}_relpath": left["relpath"].to_numpy()[i], f"{a}_label": left["label"].map(LABEL_NAMES).to_numpy()[i],
        f"{b}_relpath": right["relpath"].to_numpy()[j], f"{b}_label": right["label"].map(LABEL_NAMES).to_numpy()[j],
        "distance": pairs["distance"].to_numpy(),
        f"{a}_path": left["path"].astype(str).to_numpy()[i], f"{b}_path": right["path"].astype(str).to_numpy()[j],
    })


def against_record(test: pd.DataFrame, test_hashes: list[bytes | None], seen, max_distance: int = MAX_DISTANCE) -> pd.DataFrame:
    """The test images (``relpath``, ``label``, ``path``) whose hash lies within ``max_distance`` of
    a perceptual hash a model records (``seen``: a ``core.provenance.Seen``): one row per such image,
    ``seen_as`` "training" when it is a copy of a training image (the stronger leak), else
    "validation", with the distance to the closest one of that kind. Closest first."""
    found = []
    for kind, hashes in (("training", seen.train_hashes), ("validation", seen.val_hashes)):
        pairs = near_pairs(test_hashes, sorted(hashes), max_distance)
        closest = pairs.groupby("i", sort=True)["distance"].min()
        found.append(pd.DataFrame({"i": closest.index.to_numpy(np.int64), "seen_as": kind,
                                   "distance": closest.to_numpy(np.int64)}))
    rows = pd.concat(found, ignore_index=True).drop_duplicates("i", keep="first")  # training before validation
    rows = rows.sort_values(["distance", "i"], kind="stable")
    i = rows["i"].to_numpy()
    return pd.DataFrame({
        "test_relpath": test["relpath"].to_numpy()[i], "test_label": test["label"].map(LABEL_NAMES).to_numpy()[i],
        "seen_as": rows["seen_as"].to_numpy(), "distance": rows["distance"].to_numpy(),
        "test_path": test["path"].astype(str).to_numpy()[i]})


def copies_in(copies: pd.DataFrame, test: pd.DataFrame, overlap=None) -> pd.DataFrame:
    """The rows of ``copies`` (``against_record``) that are images of ``test`` and not files
    ``overlap`` (``core.provenance.Overlap``) names already: the pictures saved again (another
    size, quality or format), which no byte digest finds."""
    exact = set(overlap.train["relpath"]) | set(overlap.val["relpath"]) if overlap is not None else set()
    keep = copies["test_relpath"].isin(set(test["relpath"])) & ~copies["test_relpath"].isin(exact)
    return copies[keep].reset_index(drop=True)


def resaved_for(test: pd.DataFrame, seen, overlap=None, cache_dir: str | os.PathLike | None = None) -> pd.DataFrame | None:
    """The test images that are the model's training or validation pictures saved again:
    ``copies_in`` of ``against_record`` for a model's record (``seen``, a
    ``core.provenance.Seen``); None when the model records no perceptual hashes. Hashes go
    through ``cached_hashes`` with ``cache_dir``."""
    if seen is None or not seen.has_hashes or not len(test):
        return None
    return copies_in(against_record(test, cached_hashes(test["path"], cache_dir), seen), test, overlap)


def resaved_words(copies: pd.DataFrame, n_images: int, where: str) -> list[tuple[str, str]]:
    """(level, sentence) for ``resaved_for``: "warning" for copies of training images, "info"
    for copies of validation images; nothing when there are none."""
    out = []
    for kind, level, meaning in (
            ("training", "warning", "its numbers on them measure memory, not detection (leaving out the "
                                    "training images, the sidebar's toggle or `evaluate --unseen-only`, leaves "
                                    "them out too)"),
            ("validation", "info", "it was chosen by its score on them, so expect somewhat lower numbers on new "
                                   "images")):
        n = int((copies["seen_as"] == kind).sum())
        if n:
            are = "is a re-saved copy" if n == 1 else "are re-saved copies"
            out.append((level, f"{n} of the {n_images} test images {are} (the same picture at another size, quality "
                               f"or format; perceptual hash, from {where}) of the model's {kind} images: {meaning}."))
    return out


def check(test: pd.DataFrame, other: pd.DataFrame | None = None, max_distance: int = MAX_DISTANCE,
          progress: Callable[[int, int], None] | None = None, seen=None,
          cache_dir: str | os.PathLike | None = None) -> NearCopies:
    """Near copies in a test set (``path``, ``relpath``, ``label`` as ``core.data`` lists
    them), within it and, with ``other`` (e.g. the training folder), across the two. With
    ``seen`` (a ``core.provenance.Seen`` that records perceptual hashes) also against the
    images a model says it was trained and chosen on: no training folder needed. With
    ``cache_dir`` the hashes go through ``cached_hashes``."""
    total = len(test) + (0 if other is None else len(other))
    report = (lambda done, _: progress(done, total)) if progress else None
    test_hashes = cached_hashes(test["path"], cache_dir, report)
    other_hashes = []
    if other is not None:
        offset = (lambda done, _: progress(len(test) + done, total)) if progress else None
        other_hashes = cached_hashes(other["path"], cache_dir, offset)
    within = _frame_pairs(near_pairs(test_hashes, None, max_distance), test, test, ("a", "b"))
    # without another folder the reference is empty: no pairs, the same columns
    across = _frame_pairs(near_pairs(test_hashes, other_hashes, max_distance), test, test if other is None else other,
                          ("test", "other"))
    unreadable = sum(h is None for h in test_hashes) + sum(h is None for h in other_hashes)
    record = {}
    if seen is not None and seen.has_hashes:
        record = {"recorded": against_record(test, test_hashes, seen, max_distance),
                  "n_recorded": len(seen.train_hashes) + len(seen.val_hashes), "record_where": seen.where}
    return NearCopies(across=across, within=within, n_test=len(test), n_other=0 if other is None else len(other),
                      max_distance=max_distance, unreadable=unreadable,
                      unreadable_test=sum(h is None for h in test_hashes), **record)


def words(nc: NearCopies, other: str = "the other folder") -> list[tuple[str, str]]:
    """(level, sentence) pairs for the CLI and a page: "warning" for copies across the sets, of the
    model's training images and for real/fake pairs, "info" for copies of its validation images
    and within the test set, "ok" when there are none, and with findings one "ok" naming the
    checks that found nothing."""
    out = []
    if len(nc.across):
        n = nc.across["test_relpath"].nunique()
        are = "is a near copy" if n == 1 else "are near copies"
        out.append(("warning", f"{n} of the {nc.n_test} test images {are} (re-saved, resized or re-encoded; pHash "
                               f"within {nc.max_distance} of 256 bits) of images in {other}: if a model was "
                               "trained there, its numbers on them measure memory, not detection."))
    trained, chosen = (len(nc.recorded_as(kind)) for kind in ("training", "validation"))
    if trained:
        are = "is a copy" if trained == 1 else "are copies"
        out.append(("warning", f"{trained} of the {nc.n_test} test images {are} (the same picture, perhaps re-saved; "
                               f"pHash within {nc.max_distance} of 256 bits) of images this model was trained on "
                               f"(its record in {nc.record_where}): its numbers on them measure memory, not detection."))
    if chosen:
        are = "is a copy" if chosen == 1 else "are copies"
        out.append(("info", f"{chosen} of the {nc.n_test} test images {are} of this model's validation images (its "
                            f"record in {nc.record_where}): it was not trained on them, but it was chosen by its "
                            "score on them, so expect somewhat lower numbers on new images."))
    dup = nc.within[nc.within["a_label"] == nc.within["b_label"]]
    if len(dup):
        pairs = "1 pair of test images is a near copy" if len(dup) == 1 else f"{len(dup)} pairs of test images are near copies"
        out.append(("info", f"{pairs} of each other: the set counts those pictures twice."))
    if len(nc.derived_fakes):
        n = len(nc.derived_fakes)
        pairs = "1 pair of a real and a fake test image is a near copy" if n == 1 else \
            f"{n} pairs of a real and a fake test image are near copies"
        out.append(("warning", f"{pairs}: the fake changes almost nothing of that real picture, or one of the two is "
                               "mislabelled."))
    if out:  # and say which checks found nothing, so a finding does not hide a clean result
        none = ["within the test set"] if not len(dup) and not len(nc.derived_fakes) else []
        if nc.n_other and not len(nc.across):
            none.append(f"of the {nc.n_other} images in {other}")
        if nc.recorded is not None:
            none += (["of the images the model was trained on"] if not trained else []) + \
                    (["of its validation images"] if not chosen else [])
        if none:
            listed = none[0] if len(none) == 1 else ", ".join(none[:-1]) + " or " + none[-1]
            out.append(("ok", f"No near copies {listed} (pHash within {nc.max_distance} of 256 bits)."))
    else:
        what = f" or between it and the {nc.n_other} other images" if nc.n_other else ""
        if nc.recorded is not None:
            what += f", nor copies of the {nc.n_recorded:,} images the model records ({nc.record_where})"
        out.append(("ok", f"No near copies within the {nc.n_test} test images{what} (pHash within {nc.max_distance} "
                          "of 256 bits; crops and flips are not looked for)."))
    return out
