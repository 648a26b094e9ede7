"""Test sets in the report's layout: a folder with ``real/`` and ``fake/`` below it.

Labels follow the report: 1 = real, 0 = fake. Images are found recursively; the
subfolder path below the class folder is kept as the image's ``group``.
"""
from __future__ import annotations

import mimetypes
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jfif", ".png", ".webp", ".bmp", ".tif", ".tiff")
CLASS_DIRS = {"fake": 0, "real": 1}  # the report's convention: 0 = fake, 1 = real
LABEL_NAMES = {0: "fake", 1: "real"}

LAYOUT_HELP = """A test set is a folder with one subfolder per class:

    my_test_set/
    ├── real/          authentic face photos (any depth of subfolders)
    │   └── real_00001.jpg
    └── fake/          generated or manipulated faces
        ├── stylegan2/ a subfolder becomes the image's "group"
        │   └── 0001.png
        └── easy_1_1010.jpg

Images: .jpg .jpeg .jfif .png .webp .bmp .tif .tiff (any letter case); images of other
types (.gif, .heic) are left out and counted. Class folders named otherwise, as data sets
ship them (training_real/ and training_fake/, 0_real/ and 1_fake/), are read as real/ and
fake/."""


class DatasetError(ValueError):
    """The folder is not a usable test set; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class TestSet:
    """Images of one test set.

    ``images`` has one row per image: ``path`` (absolute), ``relpath`` (below root),
    ``label`` (1 real, 0 fake), ``group`` ('' when the image sits directly in its
    class folder), ``size_bytes`` and ``mtime_ns``. ``problems`` holds human-readable
    warnings (a missing class, an empty folder) that do not stop loading.
    """

    root: Path
    images: pd.DataFrame
    problems: tuple[str, ...] = field(default_factory=tuple)

    __test__ = False  # not a pytest test class

    @property
    def n_real(self) -> int:
        return int((self.images["label"] == 1).sum())

    @property
    def n_fake(self) -> int:
        return int((self.images["label"] == 0).sum())

    @property
    def has_both_classes(self) -> bool:
        return self.n_real > 0 and self.n_fake > 0

    def __len__(self) -> int:
        return len(self.images)


_MIME = mimetypes.MimeTypes()  # Python's own table only: the same answer with or without /etc/mime.types


def _other_image_type(name: str) -> bool:
    """Whether a file we do not read is still an image by its name (a .gif, .heic, .avif):
    those are worth a warning, a notes.txt or Thumbs.db beside the images is not."""
    return (_MIME.guess_type(name)[0] or "").startswith("image/")


def left_out_words(class_name: str, relpaths: list[str], limit: int = 3) -> str:
    """One warning line for the files of a class folder that were not read as images."""
    shown = ", ".join(f"{class_name}/{r}" for r in relpaths[:limit]) + (", …" if len(relpaths) > limit else "")
    return (f"Left out {len(relpaths)} image(s) in {class_name}/ of a type not read here (only "
            f"{' '.join(IMAGE_EXTENSIONS)}): {shown}. Convert them (e.g. to .png) to score them.")


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def os_error_words(exc: OSError) -> str:
    """'permission denied' from an OSError: the system's words, to follow a colon or sit in brackets."""
    why = exc.strerror or str(exc)
    return why[:1].lower() + why[1:]


def _walk_images(class_dir: Path) -> tuple[list[tuple[str, str, str]], list[str], list[tuple[str, str]]]:
    """(absolute folder, group, file name) of every image below ``class_dir``; ``group``
    is the subfolder in posix form ('' at the top). Plain strings, not Paths: pathlib
    took most of a cached re-evaluation's time at 10,000 images. Second: the paths below
    ``class_dir`` of the images left out for their type (a .gif, a .heic), so that a folder
    of unsupported images is reported, not silently scored as a smaller set. Third:
    (folder below ``class_dir``, '.' for itself; why) of the folders that could not be listed."""
    found, other, unlisted = [], [], []
    top = str(class_dir.absolute())

    def note(exc: OSError) -> None:  # os.walk skips a folder it cannot list without a word: its images vanished
        rel = os.path.relpath(exc.filename, top) if exc.filename else "."
        unlisted.append((rel.replace(os.sep, "/"), os_error_words(exc)))

    # Linked folders are followed, but each real folder is read once, and never one that holds the
    # class folder itself: a link `real/up -> ..` made a 6 + 6 set read as 486 real (fakes among them).
    real_top = os.path.realpath(top)
    seen = {real_top}
    for dirpath, dirnames, filenames in os.walk(top, onerror=note, followlinks=True):
        keep = []
        for d in sorted(d for d in dirnames if not d.startswith(".")):
            real = os.path.realpath(os.path.join(dirpath, d))
            if real in seen or real_top.startswith(real.rstrip(os.sep) + os.sep):
                continue
            seen.add(real)
            keep.append(d)
        dirnames[:] = keep
        rel = os.path.relpath(dirpath, top)
        group = "" if rel == "." else rel.replace(os.sep, "/")
        for f in sorted(f for f in filenames if not f.startswith(".")):
            if is_image_name(f):
                found.append((dirpath, group, f))
            elif _other_image_type(f):
                other.append(f"{group}/{f}" if group else f)
    return found, other, unlisted


def _class_folders(subdirs: dict[str, Path]) -> tuple[dict[str, Path], list[str]]:
    """``subdirs`` (lower-cased name -> folder) with a class folder named otherwise read as
    ``real/`` or ``fake/``, and a note saying so. Data sets ship their classes as
    ``training_real/`` and ``training_fake/`` (the CIPLab download) or ``0_real/`` and
    ``1_fake/`` (CNNDetection's layout): a folder stands for a class when it is the only one
    whose name has that class's word, and not the other's, as a part (split at ``_``, ``-``,
    spaces and dots)."""
    out, notes = dict(subdirs), []
    for name in CLASS_DIRS:
        if name in subdirs:
            continue
        other = next(n for n in CLASS_DIRS if n != name)
        matches = [key for key in subdirs if name in (parts := set(re.split(r"[_\-. ]", key))) and other not in parts]
        if len(matches) == 1:
            out[name] = subdirs[matches[0]]
            notes.append(f"Read {subdirs[matches[0]].name}/ as the {name}/ folder.")
    return out, notes


def has_class_folders(folder: Path) -> bool:
    """Whether ``folder`` holds a real/ or fake/ folder, under any of the names
    ``scan_test_set`` reads as one (a cheap look: no image is listed)."""
    try:
        subdirs = {p.name.lower(): p for p in folder.iterdir() if p.is_dir()}
    except OSError:
        return False
    return bool(set(_class_folders(subdirs)[0]) & set(CLASS_DIRS))


def _hint_order(name: str, prefer: str) -> tuple:
    """Sort key of candidate folders: the preferred purpose's first (test, val or eval for a
    test set; train for training), then by name."""
    words = {"test": ("test", "val", "eval"), "train": ("train",)}[prefer]
    return (not any(w in name.lower() for w in words), name.lower())


MISSING_CLASS = "No {name}/ folder in {root}: metrics that need both classes are unavailable."

# Pairs of folder names that hold two classes but are not read as real/ and fake/: which is which is
# not guessed (CNNDetection's 0_real/ is 0, the report's 0 is fake), the error says what to rename.
CLASS_LIKE_PAIRS = ({"0", "1"}, {"true", "false"}, {"authentic", "manipulated"}, {"original", "manipulated"},
                    {"genuine", "forged"}, {"pristine", "tampered"})


def _list_root(root: Path) -> tuple[dict[str, Path], int]:
    """(lower-cased name -> folder) of the folders in ``root``, and how many images lie
    directly in it (never read: they are outside real/ and fake/)."""
    try:
        with os.scandir(root) as it:
            entries = list(it)
    except OSError as exc:
        raise DatasetError(f"Cannot list {root}: {os_error_words(exc)}.") from None
    subdirs = {e.name.lower(): root / e.name for e in entries if os.path.isdir(e.path)}
    n_top = sum(1 for e in entries if not e.name.startswith(".") and is_image_name(e.name) and os.path.isfile(e.path))
    return subdirs, n_top


def _class_like_hint(subdirs: dict[str, Path]) -> str:
    """A sentence for exactly two folders that look like the classes under names not read as
    them (0/ and 1/, Reals/ and Fakes/), or ''."""
    if len(subdirs) != 2:
        return ""
    a, b = sorted(subdirs)
    if {a, b} not in CLASS_LIKE_PAIRS and not any("real" in x and "fake" in y for x, y in ((a, b), (b, a))):
        return ""
    return (f" {subdirs[a].name}/ and {subdirs[b].name}/ look like class folders, but only real/ and fake/ are read "
            f"as classes (any letter case, or as a part of the name: 0_real/, training_fake/): rename them real/ and fake/.")


def _no_class_folders(root: Path, subdirs: dict[str, Path], n_top: int, prefer: str) -> DatasetError:
    """The error for a folder without real/ or fake/: what it holds, and where the classes may be."""
    seen = ", ".join(sorted(subdirs)) or "no subfolders"
    tops = f" Its {n_top} image(s) at the top level must go into real/ or fake/ by class." if n_top else ""
    below = sorted((p for p in subdirs.values() if has_class_folders(p)), key=lambda p: _hint_order(p.name, prefer))
    hint = f" Did you mean {below[0]}? It has them." if below else _class_like_hint(subdirs)
    if len(below) > 1:
        hint += f" (So {'does' if len(below) == 2 else 'do'} {', '.join(p.name + '/' for p in below[1:])}.)"
    return DatasetError(f"{root} has no real/ or fake/ subfolder (found: {seen}).{tops}{hint}\n\n{LAYOUT_HELP}")


def _unlisted_words(class_dir: Path, unlisted: list[tuple[str, str]], limit: int = 3) -> list[str]:
    """Warning lines for the folders of a class that could not be listed (the first ``limit``)."""
    lines = [f"Cannot list {class_dir}: {why} (the class folder is unreadable: none of its images are read)."
             if rel == "." else f"Cannot list {class_dir.name}/{rel}: {why} (its images are left out)."
             for rel, why in unlisted[:limit]]
    if len(unlisted) > limit:
        lines.append(f"Cannot list {len(unlisted) - limit} more folder(s) in {class_dir.name}/ (their images are left out).")
    return lines


# size_bytes and mtime_ns of a row whose file cannot be reached (a broken link): read, it fails with the reason
NO_STAT = -1


def _read_class(class_dir: Path, label: int, problems: list[str], files: dict) -> tuple[list[dict], str | None]:
    """Rows of the images of one class folder, and why the folder itself cannot be listed (or None).
    Warnings go to ``problems``; ``files`` maps each file's (device, inode) to {label: relpath},
    to find one file under both classes (by a link) whatever the path it was reached by."""
    paths, other, unlisted = _walk_images(class_dir)
    if other:
        problems.append(left_out_words(class_dir.name, other))
    problems.extend(_unlisted_words(class_dir, unlisted))
    unlisted_top = next((why for rel, why in unlisted if rel == "."), None)
    if not paths and unlisted_top is None:  # a folder that cannot be listed is unreadable, not empty
        problems.append(f"{class_dir} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
    rows = []
    for dirpath, group, fname in paths:
        path = os.path.join(dirpath, fname)
        relpath = f"{class_dir.name}/{group}/{fname}" if group else f"{class_dir.name}/{fname}"
        try:
            st = os.stat(path)
        except OSError:  # a dangling symlink, a permission problem: a row all the same, so that reading it
            # fails with the reason and every count and list of skipped files holds it (it was a warning apart)
            rows.append({"path": path, "relpath": relpath, "label": label, "group": group,
                         "size_bytes": NO_STAT, "mtime_ns": NO_STAT})
            continue
        if not stat.S_ISREG(st.st_mode):  # a named pipe would block the first reader forever
            problems.append(f"Skipped {path}: not a regular file (a pipe, socket or device)")
            continue
        files.setdefault((st.st_dev, st.st_ino), {}).setdefault(label, relpath)
        rows.append({"path": path, "relpath": relpath, "label": label, "group": group,
                     "size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns})
    return rows, unlisted_top


def _both_classes_words(root: Path, files: dict, limit: int = 3) -> str | None:
    """A warning for the files found under both classes (one file, two links), or None."""
    both = [f"{by_label[1]} = {by_label[0]}" for by_label in files.values() if len(by_label) == 2]
    if not both:
        return None
    shown = ", ".join(both[:limit]) + (", …" if len(both) > limit else "")
    return (f"{len(both)} file(s) are under both real/ and fake/ of {root} (the same file by two links): {shown}. "
            f"Each is scored as both classes; keep it in one.")


def scan_test_set(root: str | os.PathLike, *, require_both: bool = False, prefer: str = "test") -> TestSet:
    """List the images of a test set folder.

    Raises ``DatasetError`` when the folder does not exist or cannot be listed, has neither
    ``real/`` nor ``fake/``, has them as one folder, or holds no image at all. A set with
    one class only loads, with a problem noted (or raises when ``require_both``), so that
    single-class sets can still be scored while metrics that need both classes say why
    they are missing. ``prefer`` ("test" or "train") orders the hint when ``root`` only
    holds such folders below it (the report's ``data/`` with ``train_images/`` and
    ``test_images/``): a test set points at the test folder, training at the training one.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"Test set folder not found: {root}\n\n{LAYOUT_HELP}")
    if not root.is_dir():
        raise DatasetError(f"Not a folder: {root}\n\n{LAYOUT_HELP}")
    subdirs, n_top = _list_root(root)
    subdirs, problems = _class_folders(subdirs)  # any letter case (Real/, FAKE/), names as data sets ship them
    present = [name for name in CLASS_DIRS if name in subdirs]
    if not present:
        raise _no_class_folders(root, subdirs, n_top, prefer)
    if len(present) == 2 and os.path.samefile(subdirs["real"], subdirs["fake"]):  # fake -> real: each image twice
        raise DatasetError(f"{root}: real/ and fake/ are the same folder ({os.path.realpath(subdirs['fake'])}), so "
                           f"every image would be scored as both classes. Give each class its own folder.\n\n{LAYOUT_HELP}")
    if n_top:
        problems.append(f"{n_top} image(s) at the top level of {root} are not in real/ or fake/ and are left out.")

    rows, unlistable_classes, files = [], [], {}
    for name, label in CLASS_DIRS.items():
        if name not in subdirs:
            problems.append(MISSING_CLASS.format(name=name, root=root))
            continue
        class_rows, unlisted_why = _read_class(subdirs[name], label, problems, files)
        rows += class_rows
        if unlisted_why:
            unlistable_classes.append(f"{subdirs[name]}: {unlisted_why}")
    both = _both_classes_words(root, files)
    if both:
        problems.append(both)
    images = pd.DataFrame(rows, columns=["path", "relpath", "label", "group", "size_bytes", "mtime_ns"])
    if images.empty:
        why = f": cannot list {'; '.join(unlistable_classes)}" if unlistable_classes else ""
        raise DatasetError(f"No images found below {root}/real or {root}/fake{why}.\n\n{LAYOUT_HELP}")
    test_set = TestSet(root=root.absolute(), images=images, problems=tuple(problems))
    if require_both and not test_set.has_both_classes:
        raise DatasetError(
            f"{root} holds only {'real' if test_set.n_real else 'fake'} images; both classes are needed."
            f"\n\n{LAYOUT_HELP}"
        )
    return test_set


def unreadable(path: str) -> str | None:
    """Why an image file cannot be opened, from its header (cheap: no full decode), or None."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as exc:  # PIL raises UnidentifiedImageError, OSError, SyntaxError...
        from .preprocess import unreadable_reason

        return unreadable_reason(exc)
    return None


def require_readable(n_readable: int, test_set: "TestSet", skipped=()) -> None:
    """DatasetError when not one image of ``test_set`` could be read: every command then
    stops with the reason (exit 2) instead of a table of zeros, an "ok" or a traceback."""
    if n_readable == 0:
        listed = f": {unreadable_words(skipped, 5)}" if skipped else ""
        raise DatasetError(f"none of the {len(test_set.images)} files in {test_set.root} could be read as images{listed}")


def unreadable_words(skipped, limit: int) -> str:
    """``N unreadable file(s): a.jpg: why; b.jpg: why`` for (relpath, reason) pairs, the first
    ``limit`` named: the one-line note every command prints for the files it left out."""
    return f"{len(skipped)} unreadable file(s): " + "; ".join(f"{r}: {why}" for r, why in list(skipped)[:limit])
