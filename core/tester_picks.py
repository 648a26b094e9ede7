"""The single-image tester's faces from the test set: picks by name or at random, their true
class, and the true class of an upload that is a test-set file, so each verdict can be called
right or wrong."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .preprocess import file_error_words
from .uploads import UploadVerdict, true_verdict


MAX_PICKS = 12  # test-set images taken into the tester at once


def read_picks(images: pd.DataFrame, relpaths: list[str]) -> tuple[list[tuple[str, bytes]], dict[str, int], list[str]]:
    """Test-set images (``relpath`` of ``images``, as ``core.data`` lists them) taken into the
    single-image tester: (name, bytes) pairs as uploads are, named by relpath; their true labels
    by that name; and a message for each that could not be read (gone since the set was listed)."""
    rows = images.set_index("relpath")
    pairs, labels, problems = [], {}, []
    for rel in relpaths:
        if rel not in rows.index:
            problems.append(f"{rel}: not in the test set any more")
            continue
        try:
            pairs.append((rel, Path(rows.at[rel, "path"]).read_bytes()))
        except OSError as exc:
            problems.append(f"{rel}: {file_error_words(exc)}")  # "file not found", not "(FileNotFoundError)"
            continue
        labels[rel] = int(rows.at[rel, "label"])
    return pairs, labels, problems


def random_pick(images: pd.DataFrame, label: int, taken, rng=None) -> str | None:
    """The relpath of a random test-set image of class ``label`` (1 real, 0 fake) not in ``taken``;
    None when there is none left."""
    import random

    free = sorted(set(images.loc[images["label"] == label, "relpath"]) - set(taken))
    return (rng or random).choice(free) if free else None


def labels_by_content(results: list[UploadVerdict], digests: dict[str, str], images: pd.DataFrame) -> dict[str, int]:
    """The true class of each upload that is, byte for byte, a file of the test set: name -> 1 real
    / 0 fake, as ``read_picks`` gives for picks, so an uploaded test image is judged right or wrong
    too. ``digests``: relpath -> ``provenance`` digest of set files already read (the sidebar's
    ``Context.seen_digests``); the other files of an upload's exact size are read here. A content
    found under both classes gets no class."""
    from .provenance import digest_size, file_digest

    wanted = {r.digest for r in results if r.ok and r.digest}
    sizes = {digest_size(d) for d in wanted}
    known = {rel: d for rel, d in digests.items() if d}
    for rel, path, size in zip(images["relpath"], images["path"], images["size_bytes"]):
        if int(size) in sizes and rel not in known:  # a few files at most: sizes rarely collide
            known[rel] = file_digest(path)
    label = dict(zip(images["relpath"], images["label"]))
    classes: dict[str, set] = {}
    for rel, d in known.items():
        if d in wanted and rel in label:
            classes.setdefault(d, set()).add(int(label[rel]))
    return {r.name: next(iter(classes[r.digest])) for r in results
            if r.ok and len(classes.get(r.digest, ())) == 1}


def pick_words(label: int, verdict: str, threshold: float) -> str:
    """The tester's line for a test-set image: its true class and whether the verdict is right."""
    truth = true_verdict(label)
    right = "right" if verdict == truth else "wrong"
    return f"From the test set: truly **{truth.lower()}**, so this verdict is **{right}** at threshold {threshold:.4f}."
