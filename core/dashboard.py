"""Pure helpers of the dashboard (no streamlit): the page list, the context a page gets,
the cache keys, where the settings come from, which test sets and weights exist, and how
numbers and details are put into words.
``core.ui`` re-exports them; tests and scripts can use them without a running app."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import provenance
from .checkpoint import Detector
from .evaluation import ONE_CLASS_WORDS, one_class_summary  # noqa: F401  (re-exported for the pages)
from .data import MISSING_CLASS, TestSet, has_class_folders, unreadable
from .identity import threshold_sidecar
from .inference import InferenceSettings, Progress
from .metric_words import score_text
from .quality import LOW_DETAIL

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA, DEFAULT_WEIGHTS = "data/test_images", "weights/default.pth"


@dataclass(frozen=True)
class Page:
    path: str  # relative to the repository root: streamlit_app.py or pages/<n>_<Name>.py
    label: str  # what a person reads in the sidebar
    icon: str  # a material icon, ":material/<name>:"
    needs_model: bool = True  # False: the page works without loadable weights (and says nothing of them)
    one_class: bool = True  # False: the page weighs the two classes, so a test set of one class (e.g. only new fakes) stops it


# The sidebar navigation, in order. Append one entry per new page file.
PAGES: list[Page] = [
    Page("streamlit_app.py", "Overview", ":material/dashboard:"),
    Page("pages/1_Threshold_explorer.py", "Threshold explorer", ":material/tune:"),
    Page("pages/2_Error_gallery.py", "Error gallery", ":material/photo_library:"),
    Page("pages/3_Single_image_tester.py", "Single-image tester", ":material/add_photo_alternate:"),
    Page("pages/4_Operating_points.py", "Operating points & CIs", ":material/target:", one_class=False),
    Page("pages/5_Calibration.py", "Calibration", ":material/balance:", one_class=False),
    Page("pages/6_Slices.py", "Slices", ":material/pie_chart:"),
    Page("pages/7_Compare.py", "Compare", ":material/compare:"),
    Page("pages/8_Explanations.py", "Explanations", ":material/visibility:"),
    Page("pages/9_Robustness.py", "Robustness", ":material/shield:"),
    Page("pages/10_Feature_map.py", "Feature map", ":material/scatter_plot:"),
    Page("pages/11_Model_card.py", "Model card", ":material/badge:"),
    Page("pages/12_Data_check.py", "Data check", ":material/content_copy:", needs_model=False),
]
TESTER = "pages/3_Single_image_tester.py"
DEVICES = {"auto": "auto", "cpu": "CPU", "cuda": "GPU"}


@dataclass(frozen=True)
class Context:
    """What the sidebar chose, and what could (or could not) be loaded from it."""

    data_dir: str
    weights: str
    device: str
    positive: str
    threshold: float
    fast: bool
    detector: Detector | None = None
    detector_error: str | None = None
    test_set: TestSet | None = None
    set_signature: str = ""
    test_set_error: str | None = None
    left_out: int = 0  # test images the model was trained on, left out by the sidebar's toggle
    n_trained: int = 0  # test images the model was trained on (left out or not)
    seen: provenance.Seen | None = None  # what the model was trained and chosen on, if it records it
    seen_digests: dict = field(default_factory=dict)  # relpath -> digest of the set's possibly seen files
    seen_copies: pd.DataFrame | None = None  # the set's re-saved copies of its seen pictures (near_copies.resaved_for)

    @property
    def settings(self) -> InferenceSettings:
        return InferenceSettings(fast=self.fast)

    @property
    def settings_key(self) -> tuple:
        """``settings`` as a hashable cache key (what the prediction cache keys on)."""
        return tuple(sorted(self.settings.key().items()))


def file_stamp(path: Path) -> tuple:
    """Modification times of a file or of a folder and its direct subfolders: the cache key
    that makes the app notice an edited weights file or a changed test set."""
    try:
        if path.is_dir():
            return tuple((p.name, p.stat().st_mtime_ns) for p in [path, *sorted(path.iterdir())] if p.is_dir())
        st_ = path.stat()
        # ctime and inode too: a copy that keeps the old modification time (cp -p, rsync -t) over a
        # file of the same size would otherwise keep serving the old model's sha256 and scores
        return (st_.st_size, st_.st_mtime_ns, st_.st_ctime_ns, st_.st_ino)
    except OSError:
        return ()


def weights_stamp(path: Path) -> tuple:
    """The model cache's key: the weights file and the threshold saved beside it, so that
    a threshold saved on one page reaches every page and every new session."""
    return file_stamp(path) + file_stamp(threshold_sidecar(path))


def first_readable(test_set: TestSet) -> int:
    """Index of the first image of ``test_set`` whose header reads (a header check per file,
    stopping at the first good one): a broken file is no page's opening view."""
    return next((i for i, path in enumerate(test_set.images["path"]) if unreadable(path) is None), 0)


def files_signature(test_set) -> str:
    """A digest of a test set's folder and file list (relative path, size, modification time):
    the cache key of everything computed from the set. The folder counts: a second folder of links
    to the same files was taken for the first, so it was scored with no progress bar (outside the
    bar's branch) and its frame's paths pointed into the first folder."""
    keys = test_set.images[["relpath", "size_bytes", "mtime_ns"]]
    digest = hashlib.sha256(str(test_set.root).encode("utf-8", "surrogateescape"))
    digest.update(pd.util.hash_pandas_object(keys, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def resolve_path(path: str) -> Path:
    """A typed path; relative paths are taken from the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO / p


def initial_sources(query: dict, environ: dict) -> dict:
    """Start values: query parameters ``data``, ``weights``, ``threshold`` win over the
    environment (``DATA_DIR``, ``WEIGHTS``), which wins over the defaults. ``threshold``
    is None unless the URL holds a valid one (the weights' own threshold is used then).
    ``unseen=1`` leaves out the test images the model was trained on; ``positive=fake``
    makes fake the positive class (anything else: real, the report's)."""
    out = {
        "data_dir": query.get("data") or environ.get("DATA_DIR") or DEFAULT_DATA,
        "weights": query.get("weights") or environ.get("WEIGHTS") or DEFAULT_WEIGHTS,
        "threshold": None,
        "unseen_only": query.get("unseen") == "1",
        "positive": "fake" if query.get("positive") == "fake" else "real",
    }
    try:
        t = float(query.get("threshold", ""))
        out["threshold"] = t if 0.0 <= t <= 1.0 else None
    except ValueError:
        pass
    return out


def known_test_sets(root: Path = REPO / "data", depth: int = 3) -> list[str]:
    """Folders below ``root`` (to ``depth`` levels) holding real/ or fake/ (or folders read as
    them, e.g. training_real/), as repo-relative paths."""
    found, frontier = [], [root]
    for _ in range(depth):
        nxt = []
        for folder in frontier:
            try:
                subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:
                continue
            for sub in subs:
                if has_class_folders(sub):  # an unreadable folder is simply not one
                    found.append(sub)
                elif sub.name.lower() not in ("real", "fake"):
                    nxt.append(sub)
        frontier = nxt
    return sorted({_display(p) for p in found})


def other_test_sets(current: str, sets: list[str]) -> list[str]:
    """``sets`` without the folder ``current`` names and with each folder once, links resolved:
    ``data/test_images`` is a link to the split's ``val/``, and offered beside it as "another" set
    it let a page fit a temperature on the images it then judges. A relative name is the
    repository's (``resolve_path``); the first name of a folder is kept, in order."""
    taken, out = {os.path.realpath(resolve_path(current))}, []
    for name in sets:
        if (where := os.path.realpath(resolve_path(name))) not in taken:
            taken.add(where)
            out.append(name)
    return out


def known_weights(root: Path = REPO / "weights") -> list[str]:
    """Checkpoint files (.pth, .pt) under ``root``, as repo-relative paths."""
    if not root.is_dir():
        return []
    return sorted(_display(p) for p in root.rglob("*") if p.suffix in (".pth", ".pt") and p.is_file())


def _display(p: Path) -> str:
    try:
        return p.relative_to(REPO).as_posix()
    except ValueError:
        return str(p)


def progress_text(p: Progress, what: str = "Scoring the test set") -> str:
    """'Scoring the test set: 120/500 images · 35.2 images/s · 11 s left' (the rate and time
    left from the images actually scored, not those a cache answered)."""
    if p.waiting:
        return f"{what}: another session (or a command) is scoring these images with this model; waiting for it…"
    eta = "" if p.eta_s is None else f" · {p.eta_s:.0f} s left"
    rate = f" · {p.images_per_s:.1f} images/s{eta}" if p.done > p.cached else " · measuring speed…"
    return f"{what}: {p.done}/{p.total} images{rate}"


def skipped_table(skipped: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(skipped, columns=["file", "reason"])


def skipped_markdown(skipped: list[tuple[str, str]], per_reason: int = 10) -> tuple[str, bool]:
    """The unreadable files as a markdown list, one item per reason: its files (``per_reason``
    named at most), then the reason in full. A table cut the reason off at its column's width
    ("... (a renamed or damaged"), and at 390 px only the file name showed. Also whether some
    files went unnamed, so that the page adds the table of every file."""
    by_reason: dict[str, list[str]] = {}
    for rel, why in skipped:
        by_reason.setdefault(why, []).append(rel)
    items = []
    for why, files in by_reason.items():
        names = ", ".join(f"`{f}`" if "`" not in f else f"`` {f} ``" for f in files[:per_reason])
        more = f" and {len(files) - per_reason} more" if len(files) > per_reason else ""
        items.append(f"- {names}{more}: {why}")
    return "\n".join(items), any(len(files) > per_reason for files in by_reason.values())


def image_details(item: pd.Series, frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Two-column table describing one gallery image (with its size and format from ``frame``)."""
    full = frame.loc[frame["relpath"] == item["relpath"]].iloc[0]
    pairs = [("file", item["relpath"]), *([("group", item["group"])] if item["group"] else []), ("true class", item["true"]),
             ("predicted", item["predicted"]), ("P(real)", score_text(item["p_real"])),
             ("distance to threshold", score_text(abs(item["p_real"] - threshold))),
             ("size", f"{full['width']}x{full['height']} {full['format']}, {full['size_bytes'] / 1024:.0f} KiB")]
    share = pd.to_numeric(full.get("detail_share"), errors="coerce")
    if pd.notna(share):
        pairs.append(("fine detail", detail_words(float(share))))
    return pd.DataFrame(pairs, columns=["", "value"])


def detail_words(share: float) -> str:
    """An image's detail share in a few words (the details table is narrow), against the level
    the low-detail warning uses: below it an image looks blurred, upscaled or smoothed."""
    if share < LOW_DETAIL:
        return f"{share:.3f} · low (< {LOW_DETAIL:.2f})"
    return f"{share:.3f} · normal"


def uploads_digest(files) -> str:
    h = hashlib.sha256()
    for name, data in files:
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def score_context_words(c, set_name: str, face_crop: bool = False) -> str:
    """A ``core.analysis.ScoreContext`` in two sentences for the single-image tester, the plain
    reading first (what the set's images near this score are), so it can be said aloud; with
    ``face_crop``, a third: the score is of a crop, the set's are of whole images."""
    near_fake = c.near - c.near_real
    mix = "mostly fakes" if near_fake >= 0.7 * c.near else "mostly real faces" if c.near_real >= 0.7 * c.near \
        else "a mix of both"
    return (f"The {c.near} images of `{set_name}` scoring closest to this one "
            f"(P(real) {score_text(c.near_low)}–{score_text(c.near_high)}) "
            f"are {mix}: {near_fake} fake, {c.near_real} real. Of the set's {c.n_real} real faces "
            f"{1 - c.reals_at_or_above:.0%} score lower than {score_text(c.p_real)}, and of its {c.n_fake} fakes "
            f"{1 - c.fakes_at_or_above:.0%}." + (" This score is of the face crop and the set's are of whole images, "
                                                 "so it can sit elsewhere among them than the whole image would."
                                                 if face_crop else ""))


def seen_fields(seen: provenance.Seen | None, digests: dict, test_set: TestSet | None, signature: str,
                leave_out: bool, trained_copies: frozenset = frozenset()) -> dict:
    """The ``Context`` fields for what a model has seen of a test set: ``seen``, ``seen_digests``
    (``Seen.digest_map`` of the set), ``n_trained`` (when some but not all of its images trained
    the model: its training files, and ``trained_copies``, the relpaths of its training pictures
    saved again) and, with ``leave_out``, the set without them under its own signature, so that
    every cache keeps the two apart. When all of them trained it nothing is left out: the
    Overview says why."""
    out = {"seen": seen, "seen_digests": digests, "n_trained": 0, "left_out": 0}
    trained = (seen.trained_in(digests) | trained_copies) if seen else frozenset()
    if not trained or test_set is None or len(trained) == len(test_set.images):
        return out
    out["n_trained"] = len(trained)
    if leave_out:
        out.update(left_out=len(trained), test_set=provenance.without(test_set, trained),
                   set_signature=f"{signature}-unseen")
    return out


def _count(n: int, what: str) -> str:
    return f"{abs(n)} {'more' if n > 0 else 'fewer'} {what}{'' if abs(n) == 1 else 's'}"


def threshold_change_words(sweep, reference: float, threshold: float) -> str | None:
    """What moving from the model's own threshold ``reference`` to ``threshold`` changes on this
    set, in images (from the set's one ThresholdSweep), or None when they are the same."""
    if abs(reference - threshold) < 1e-9:
        return None
    real_ref, fake_ref = sweep.counts_at(reference)
    real_now, fake_now = sweep.counts_at(threshold)
    caught, flagged = fake_ref - fake_now, real_ref - real_now  # fewer called REAL: more caught / flagged
    if not caught and not flagged:
        return f"Against the model's own threshold {reference:.4f}: no image changes verdict on this set."
    parts = [_count(caught, "fake") + " caught" if caught else "", _count(flagged, "real") + " flagged as fake" if flagged else ""]
    net = caught - flagged
    total = "the same number right in all" if net == 0 else _count(net, "image") + " right in all"
    return f"Against the model's own threshold {reference:.4f}: " + ", ".join(p for p in parts if p) + f"; {total}."


def one_class_words(cls: str, n: int) -> str:
    """What a page can show on a test set of ``n`` images of class ``cls`` alone, and what it cannot."""
    other = "real" if cls == "fake" else "fake"
    return (f"This test set holds only {cls} images ({n}), e.g. a new kind of {'fake' if cls == 'fake' else 'camera or source'} "
            f"to check the model against. What one class defines is shown: the share of {ONE_CLASS_WORDS[cls][2]} "
            f"at each threshold, the score distribution and the errors. ROC-AUC, precision, EER and every other number "
            f"that weighs the two classes against each other need {other} images too: add a `{other}/` folder beside "
            f"`{cls}/` to see them, or, where there is one, see the warnings for why none of its images could be read.")


def set_problems(test_set: TestSet, only_class: str | None) -> list[str]:
    """The test set's warnings to list, less the missing class folder that the one-class
    banner (``one_class_words``) already explains."""
    said = {MISSING_CLASS.format(name=name, root=test_set.root) for name in ("real", "fake") if only_class}
    return [p for p in test_set.problems if p not in said]


def set_role_words(overlap) -> str:
    """What a heading over the test set's numbers adds when the model has seen all of it
    (``provenance.Overlap``): ": the model's validation images" (it was chosen on them) or
    ": the model's training images"; "" for a set it has not seen whole."""
    if overlap is None or not overlap.n_images:
        return ""
    if len(overlap.val) == overlap.n_images:
        return ": the model's validation images"
    if len(overlap.train) + len(overlap.val) == overlap.n_images:
        return ": images the model was trained or chosen on"
    return ""

