"""Has the model already seen these test images? Content digests of its training and
validation images, checked against a test set or an upload.

``train`` records the digests in the checkpoint (``training.data.digests``) and ``ensemble``
carries the union of its members'. A checkpoint from before that gets them from a sidecar,
``FILE.seen.json``, written by ``python -m core fingerprint`` and tied to the weights' sha256:
the weights file stays untouched, so its hash and every cache keyed by it stay valid.

A digest is the file's size and a 64-bit BLAKE2b of its bytes ("48213-9f3a..."), so a renamed
or copied image is found and a re-encoded or resized one is not. The size part lets a check
read only the test files whose size matches a seen file's: a test set of 100,000 other images
costs a directory listing, not 100,000 reads. The sentences that say what the model has seen are
in ``core.provenance_words``. Streamlit-free and torch-free.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


DIGEST = "file size in bytes, '-', blake2b-64 of the file bytes"
DIGEST_SIZE = 8  # bytes; a chance collision among a million files has odds of about 3e-8


def file_digest(path: str | os.PathLike) -> str | None:
    """The digest of one file, None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            h = hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=DIGEST_SIZE)).hexdigest()
            return f"{f.tell()}-{h}"
    except OSError:
        return None


def bytes_digest(data: bytes) -> str:
    """The digest of an upload's bytes (equal to ``file_digest`` of the same file)."""
    return f"{len(data)}-{hashlib.blake2b(data, digest_size=DIGEST_SIZE).hexdigest()}"


def digest_size(digest: str) -> int:
    """The file size in bytes a ``file_digest`` / ``bytes_digest`` starts with."""
    return int(digest.split("-", 1)[0])


def each_with_progress(fn: Callable, items: Iterable, progress: Callable[[int, int], None] | None = None,
                       every: int = 256) -> list:
    """``[fn(x) for x in items]``, calling ``progress(done, total)`` every ``every`` items and at the end."""
    items = list(items)
    out = []
    for i, x in enumerate(items):
        out.append(fn(x))
        if progress and (i % every == every - 1 or i == len(items) - 1):
            progress(i + 1, len(items))
    return out


def digests(paths: Iterable, progress: Callable[[int, int], None] | None = None) -> list[str | None]:
    """``file_digest`` of each path, in order; ``progress(done, total)`` every 256 files."""
    return each_with_progress(file_digest, paths, progress, 256)


PHASH = "256-bit DCT perceptual hash, hex (core.near_copies)"


def as_record(train: Iterable[str], val: Iterable[str] = (), hashes: tuple[Iterable[bytes], Iterable[bytes]] | None = None) -> dict:
    """What a checkpoint stores under ``training.data.digests``: sorted, unique digests and,
    with ``hashes`` (train, val), the images' perceptual hashes under ``phash``, so that a
    re-saved copy of a training image is found too."""
    rec = {"digest": DIGEST, "train": sorted(set(train)), "val": sorted(set(val))}
    if hashes is not None:
        rec["phash"] = {"hash": PHASH, "train": sorted({h.hex() for h in hashes[0]}),
                        "val": sorted({h.hex() for h in hashes[1]})}
    return rec


def digest_and_hash(path: str | os.PathLike) -> tuple[str | None, bytes | None]:
    """``file_digest`` and the perceptual hash (``core.near_copies.file_hash``) of one file from
    a single read; None for what cannot be made (an unreadable file, or bytes that are no image)."""
    from .near_copies import file_hash

    try:
        data = Path(path).read_bytes()
    except OSError:
        return None, None
    return bytes_digest(data), file_hash(io.BytesIO(data))


def record(train_paths: Iterable, val_paths: Iterable = ()) -> dict:
    """``as_record`` of the files at these paths (unreadable ones left out), with their
    perceptual hashes; each file is read once for both."""
    parts = [[digest_and_hash(p) for p in paths] for paths in (train_paths, val_paths)]
    found = [([d for d, _ in part if d], [h for _, h in part if h]) for part in parts]
    return as_record(found[0][0], found[1][0], (found[0][1], found[1][1]))


def _hash_set(rec: dict, part: str) -> frozenset[bytes]:
    """The ``phash`` hashes of a record's ``part`` ("train" / "val"); empty when absent or malformed."""
    phash = rec.get("phash")
    values = phash.get(part) if isinstance(phash, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, str) and len(v) == 64 for v in values):
        return frozenset()
    try:
        return frozenset(bytes.fromhex(v) for v in values)
    except ValueError:
        return frozenset()


@dataclass(frozen=True)
class Seen:
    """The digests of the images a model was trained on (``train``) and chosen on (``val``),
    and where they were read from (``where``: "the checkpoint" or a sidecar's name)."""

    train: frozenset[str]
    val: frozenset[str]
    where: str
    train_hashes: frozenset[bytes] = frozenset()  # perceptual hashes (core.near_copies), when recorded
    val_hashes: frozenset[bytes] = frozenset()

    @property
    def has_hashes(self) -> bool:
        """Whether re-saved copies can be recognised (perceptual hashes were recorded)."""
        return bool(self.train_hashes or self.val_hashes)

    def near(self, image_hash: bytes | None) -> str:
        """"training image" / "validation image" when a perceptual hash of those images lies within
        ``core.near_copies.MAX_DISTANCE`` of ``image_hash`` (a re-saved copy), else ""."""
        if image_hash is None:
            return ""
        from .near_copies import near_pairs

        for kind, hashes in (("training image", self.train_hashes), ("validation image", self.val_hashes)):
            if hashes and len(near_pairs([image_hash], list(hashes))):
                return kind
        return ""

    @property
    def sizes(self) -> frozenset[int]:
        return frozenset(digest_size(d) for d in self.train | self.val)

    def test_digests(self, images: pd.DataFrame, progress: Callable[[int, int], None] | None = None) -> list[str | None]:
        """Digests of a test set's files (``path``, ``size_bytes``), read only where the size
        matches a seen file's; None for the rest (they cannot be seen files)."""
        sizes = self.sizes
        maybe = images["size_bytes"].isin(sizes).to_numpy() if "size_bytes" in images else [True] * len(images)
        out: list[str | None] = [None] * len(images)
        idx = [i for i, m in enumerate(maybe) if m]
        for i, d in zip(idx, digests(images["path"].iloc[idx], progress)):
            out[i] = d
        return out

    def digest_map(self, images: pd.DataFrame) -> dict[str, str]:
        """relpath -> digest of the test files that may be seen ones (``test_digests``, read once),
        for ``check`` and ``trained_in`` to share."""
        return {r: d for r, d in zip(images["relpath"], self.test_digests(images)) if d}

    def trained_in(self, digest_map: dict[str, str]) -> frozenset[str]:
        """The relpaths of ``digest_map`` that are files the model was trained on."""
        return frozenset(r for r, d in digest_map.items() if d in self.train)


def sidecar_path(weights: str | os.PathLike) -> Path:
    weights = Path(weights)
    return weights.with_name(weights.name + ".seen.json")


def write_sidecar(weights: str | os.PathLike, sha256: str, rec: dict, source: dict) -> Path:
    """Write ``FILE.seen.json`` beside the weights: the digests, the folders they came from."""
    path = sidecar_path(weights)
    path.write_text(json.dumps({"weights_sha256": sha256, "source": source, **rec}, indent=0) + "\n")
    return path


def seen_from(digest_record: dict | None, weights: str | os.PathLike | None, sha256: str) -> Seen | None:
    """The model's seen images: from its own record (``training.data.digests``), else from a
    sidecar beside ``weights`` that names this sha256; None when neither has them."""
    if digest_record and digest_record.get("train"):
        return Seen(frozenset(digest_record["train"]), frozenset(digest_record.get("val", ())), "the checkpoint",
                    _hash_set(digest_record, "train"), _hash_set(digest_record, "val"))
    if weights is None:
        return None
    side = sidecar_path(weights)
    try:
        saved = json.loads(side.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("weights_sha256") != sha256 or not _digest_list(saved.get("train")) \
            or not _digest_list(saved.get("val", [])):
        return None  # written for other weights, or not by `fingerprint`: ignored rather than trusted
    return Seen(frozenset(saved["train"]), frozenset(saved.get("val", ())), side.name, _hash_set(saved, "train"),
                _hash_set(saved, "val"))


def _digest_list(x) -> bool:
    return isinstance(x, list) and all(isinstance(d, str) and "-" in d for d in x)


def checkpoint_record(meta: dict) -> dict | None:
    """``training.data.digests`` of a checkpoint's metadata, if it has them."""
    return ((meta.get("training") or {}).get("data") or {}).get("digests")


def file_seen(weights: str | os.PathLike) -> Seen | None:
    """``seen_from`` for a weights file, read without building the model; raises
    ``core.checkpoint.CheckpointError`` when it is not a checkpoint."""
    from .checkpoint import read_checkpoint
    from .identity import file_sha256

    return seen_from(checkpoint_record(read_checkpoint(weights)), weights, file_sha256(weights))


def model_seen(model) -> Seen | None:
    """``seen_from`` for a ``Detector`` (its metadata) or a ``ModelIdentity`` (its cached record)."""
    rec = checkpoint_record(model.meta) if hasattr(model, "meta") else getattr(model, "digests", None)
    return seen_from(rec, model.path, model.sha256)


@dataclass(frozen=True)
class Overlap:
    """Which test images the model has seen, by relpath: ``train`` (it learned from them) and
    ``val`` (it was chosen on them, and did not learn from them)."""

    n_images: int
    train: pd.DataFrame  # relpath, label of test images that are training files
    val: pd.DataFrame  # ... that are validation files
    where: str

    @property
    def unseen(self) -> int:
        return self.n_images - len(self.train) - len(self.val)


def overlap(frame: pd.DataFrame, test_digests: list[str | None], seen: Seen) -> Overlap:
    """``frame``: the test images (``relpath``, ``label``), ``test_digests`` in the same order."""
    d = pd.Series(test_digests, index=frame.index, dtype=object)
    in_train = d.isin(seen.train)
    in_val = d.isin(seen.val) & ~in_train
    cols = ["relpath", "label"]
    return Overlap(n_images=len(frame), train=frame.loc[in_train, cols].reset_index(drop=True),
                   val=frame.loc[in_val, cols].reset_index(drop=True), where=seen.where)


def check(frame: pd.DataFrame, seen: Seen | None, digest_map: dict[str, str] | None = None) -> Overlap | None:
    """``overlap`` of a test frame with what the model has seen (None when it records nothing);
    ``digest_map`` (``Seen.digest_map``) spares reading the files again."""
    if seen is None:
        return None
    found = seen.test_digests(frame) if digest_map is None else [digest_map.get(r) for r in frame["relpath"]]
    return overlap(frame, found, seen)


SEEN_VALUES = ("training image", "near copy of a training image", "validation image",
               "near copy of a validation image", "unseen")


def seen_column(frame: pd.DataFrame, o: Overlap, copies: pd.DataFrame | None = None) -> pd.Series:
    """Per test image, one of ``SEEN_VALUES`` (the ``seen_by_model`` slice column of the Slices
    page, the Error gallery's filter and the report's CSV): the file is a training or validation
    file (``o``), or, with ``copies`` (``core.near_copies.resaved_for``), that picture saved
    again, or "unseen"."""
    out = pd.Series("unseen", index=frame.index, dtype=object)
    if copies is not None:
        for kind in ("validation", "training"):
            out[frame["relpath"].isin(set(copies.loc[copies["seen_as"] == kind, "test_relpath"]))] = f"near copy of a {kind} image"
    out[frame["relpath"].isin(set(o.val["relpath"]))] = "validation image"
    out[frame["relpath"].isin(set(o.train["relpath"]))] = "training image"
    return out


def without(test_set, relpaths: frozenset[str]):
    """A copy of a ``core.data.TestSet`` without the images at ``relpaths``."""
    import dataclasses

    images = test_set.images
    return dataclasses.replace(test_set, images=images[~images["relpath"].isin(relpaths)].reset_index(drop=True))


def seen_as(seen: Seen | None, digest: str | None, image_hash: bytes | None = None) -> str:
    """"training image" or "validation image" when the model has seen the file with this digest;
    "near copy of a training image" (or validation) when, with ``image_hash``, the picture is a
    re-saved copy of one (the model records perceptual hashes); else ""."""
    if seen is None:
        return ""
    if digest is not None and (digest in seen.train or digest in seen.val):
        return "training image" if digest in seen.train else "validation image"
    near = seen.near(image_hash)
    return f"near copy of a {near}" if near else ""
