"""Files a person hands the dashboard besides face images: a zipped test set and a weights file.

``extract_test_set_zip`` unpacks a .zip holding ``real/`` and ``fake/`` safely (no paths outside
the target, no links, bounded size); ``save_weights`` keeps an uploaded checkpoint under a name
of its own. (Split from ``core.uploads``, which scores face images.)
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .data import DatasetError, LAYOUT_HELP, has_class_folders, is_image_name, scan_test_set
from .provenance import bytes_digest, file_digest

MAX_ZIP_BYTES = 2 * 1024**3  # uncompressed total
MAX_ZIP_FILES = 50_000


def safe_name(name: str) -> str:
    """A folder name made of letters, digits, '-', '_' and '.' (never '..' or empty)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem).strip("._")
    return stem[:64] or "upload"


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, or None for a path that would escape the target."""
    name = info.filename.replace("\\", "/")
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", name):
        return None
    return p


def save_weights(name: str, data: bytes, folder: str | Path) -> Path:
    """Write an uploaded weights file as ``folder/<safe name>-<content digest><suffix>`` (the
    folder made if needed) and return its path. The digest in the name keeps two different
    uploads of one name (two people's ``model.pth``) apart, and the same file uploaded again
    lands on the same path; the write is atomic, so no reader sees half a checkpoint."""
    from .atomic import write_bytes

    tag = _content_tag(data)
    out = Path(folder) / f"{safe_name(name)}-{tag}{Path(name).suffix.lower()}"
    if not (out.is_file() and out.stat().st_size == len(data)):
        write_bytes(out, data)
    return out


def _content_tag(source) -> str:
    """Ten hex digits of the content digest (``core.provenance``'s) of bytes, a path, or an
    upload held in memory (``getvalue``): what keeps uploads of one name apart."""
    if isinstance(source, (str, os.PathLike)):
        digest = file_digest(source)
        if digest is None:
            raise OSError(f"cannot read {source}")
    else:
        digest = bytes_digest(source if isinstance(source, (bytes, bytearray)) else source.getvalue())
    return digest.split("-")[-1][:10]


def extract_test_set_zip(source, dest_root: str | Path, name: str) -> Path:
    """Unpack a zipped test set into ``dest_root/<safe name>-<content digest>`` and return
    the folder holding ``real/`` and ``fake/`` (the zip may wrap them in one top folder).

    The archive is unpacked beside that folder and moved into place whole, so a session
    reading an earlier upload never sees it half written or deleted; the same archive again
    reuses its folder, and another archive of the same name gets its own. Only image files
    are extracted. Raises ``DatasetError`` for a file that is not a zip, members that escape
    the folder (zip-slip) or are links, archives over ``MAX_ZIP_BYTES`` uncompressed or
    ``MAX_ZIP_FILES`` files, or no test-set layout."""
    try:
        tag = _content_tag(source)
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{name}: not a readable .zip file ({exc})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_FILES:
            raise DatasetError(f"{name}: {len(members)} files, over the limit of {MAX_ZIP_FILES}")
        total = sum(m.file_size for m in members)
        if total > MAX_ZIP_BYTES:
            raise DatasetError(f"{name}: {total / 1e9:.1f} GB uncompressed, over the limit of {MAX_ZIP_BYTES / 1e9:.1f} GB")
        for m in members:
            if _member_path(m) is None:
                raise DatasetError(f"{name}: member {m.filename!r} points outside the archive folder; refused")
            if stat.S_ISLNK(m.external_attr >> 16):
                raise DatasetError(f"{name}: member {m.filename!r} is a symbolic link; refused")
        target = Path(dest_root) / f"{safe_name(name)}-{tag}"
        if not target.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
            try:
                _extract_images(archive, members, staging, name)
                _checked_layout(staging, name)  # a wrong archive leaves nothing behind
                try:
                    staging.rename(target)
                except OSError:  # another session unpacked the same archive first: theirs is used
                    shutil.rmtree(staging, ignore_errors=True)
            except (DatasetError, OSError, zipfile.BadZipFile) as exc:
                shutil.rmtree(staging, ignore_errors=True)
                if isinstance(exc, DatasetError):
                    raise
                raise DatasetError(f"{name}: could not unpack ({exc})") from None
    return _checked_layout(target, name)


def _checked_layout(folder: Path, name: str) -> Path:
    """The test-set folder inside an unpacked archive; DatasetError when there is none or
    it holds no usable image (``scan_test_set`` says why)."""
    root = _find_layout(folder)
    if root is None:
        raise DatasetError(f"{name}: no real/ or fake/ folder inside the zip.\n\n{LAYOUT_HELP}")
    scan_test_set(root)
    return root


def _extract_images(archive: zipfile.ZipFile, members, target: Path, name: str) -> None:
    written = 0
    for m in members:
        rel = _member_path(m)
        if not is_image_name(rel.name) or any(part.startswith((".", "__MACOSX")) for part in rel.parts):
            continue
        out = target.joinpath(*rel.parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(m) as src, open(out, "wb") as dst:
            # Count the bytes really written: a forged header must not let more through.
            written += _copy(src, dst, MAX_ZIP_BYTES - written, name)


def _copy(src, dst, budget: int, name: str) -> int:
    n = 0
    while chunk := src.read(1 << 20):
        n += len(chunk)
        if n > budget:
            raise DatasetError(f"{name}: more than {MAX_ZIP_BYTES / 1e9:.1f} GB uncompressed; refused")
        dst.write(chunk)
    return n


def _find_layout(target: Path) -> Path | None:
    """``target`` itself, or its single top folder, when it holds real/ or fake/ (under any
    name ``scan_test_set`` reads as one)."""
    for candidate in [target, *sorted(p for p in target.iterdir() if p.is_dir())]:
        if has_class_folders(candidate):
            return candidate
    return None
