"""Command line: ``python -m core {evaluate,predict,split,train,...}``.

Each subcommand lives in a module with ``add_parser(subparsers)``; the ones listed in
``COMMAND_MODULES`` are registered here.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import importlib
import json
import math
import os
import sys
from pathlib import Path

COMMAND_MODULES = ["core.cli_evaluate", "core.cli_train", "core.cli_ensemble", "core.cli_compare", "core.cli_explain", "core.cli_report",
                   "core.cli_fingerprint", "core.cli_card", "core.cli_near_copies", "core.cli_export"]
# Which module defines each subcommand: a run imports only that one, so that e.g. a fully
# cached `evaluate` never pays for importing PyTorch. `--help` imports them all.
COMMANDS = {
    "evaluate": "core.cli_evaluate", "predict": "core.cli_evaluate", "split": "core.cli_evaluate",
    "train": "core.cli_train", "ensemble": "core.cli_ensemble", "unpack": "core.cli_ensemble", "compare": "core.cli_compare", "explain": "core.cli_explain", "regions": "core.cli_explain",
    "robustness": "core.cli_explain", "report": "core.cli_report", "fingerprint": "core.cli_fingerprint",
    "card": "core.cli_card", "near-copies": "core.cli_near_copies", "export": "core.cli_export",
}

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = PROJECT_ROOT / "data" / "test_images"
WEIGHTS_DIR = PROJECT_ROOT / "weights"


def default_weights() -> Path:
    """``weights/default.pth``, or the only checkpoint in ``weights/``."""
    default = WEIGHTS_DIR / "default.pth"
    if default.exists():
        return default
    found = sorted(WEIGHTS_DIR.glob("*.pth")) + sorted(WEIGHTS_DIR.glob("*.pt"))
    if len(found) == 1:
        return found[0]
    return default  # missing: loading it gives the clear "not found" message


# Where each command writes: a file (with the suffixes it can write, None for any) or a folder.
FILE_OUTPUTS = {"train": None, "ensemble": None, "export": None, "report": (".html", ".htm"), "explain": (".png", ".jpg", ".jpeg", ".webp")}
FOLDER_OUTPUTS = ("split", "unpack")


class OutputError(Exception):
    """An output that cannot be written; the message names it and why."""


def _os_words(exc: OSError) -> str:
    """'file name too long' from an OSError (``core.data.os_error_words``, without importing pandas)."""
    why = exc.strerror or str(exc)
    return why[:1].lower() + why[1:]


def _cannot_create_in(folder: Path) -> str | None:
    """Why no file can be made in ``folder``, found by making (and removing) one: ``os.access``
    says yes to root everywhere, /proc included, and knows nothing of a read-only mount."""
    import tempfile

    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".write-check-")
    except OSError as exc:
        return f"cannot be written in {folder} ({_os_words(exc)})"
    os.close(fd)
    os.unlink(name)
    return None


# What the writers add to a name: atomic writes go through ".NAME.XXXXXXXX.tmp" (+14), a checkpoint's
# card through its stem + ".json" (+2 over ".pt", then +14), train's resume state NAME + ".last.pt".
_LONGEST_ADDED = 16


def _name_too_long(path: Path, parent: Path) -> str | None:
    """Why ``path``'s name leaves no room for the files written beside it, or None: a 243-byte name
    passed a check that made a short file, trained every epoch, then failed on its temp file."""
    try:
        room = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        room = 255
    length = len(os.fsencode(path.name))
    if length + _LONGEST_ADDED > room:
        return (f"has a name of {length} bytes, and the temp file and model card written beside it need up to "
                f"{_LONGEST_ADDED} more of the {room} this file system takes: give a name of at most "
                f"{room - _LONGEST_ADDED} bytes")
    return None


def unwritable(out: str) -> str | None:
    """Why a file cannot be written at ``out`` (a folder there, something that is not a
    regular file, a parent that is a file or where no file can be made, a name the system
    refuses), or None."""
    if out == "-":  # standard output
        return None
    path = Path(out)
    try:
        if path.is_dir():
            return "is a folder; give a file name"
        if path.exists() and not path.is_file():  # a device (/dev/full), pipe or socket: never replaced
            return "is not a regular file; give a file name (or - for standard output)"
        parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), None)
        if parent is None or not parent.is_dir():
            return f"{parent} is not a folder"
        if path.exists() and not os.access(path, os.W_OK):
            return "is read-only; make it writable or give another name"
        return _name_too_long(path, parent) or _cannot_create_in(parent)
    except OSError as exc:  # a name too long for the file system, say
        return f"cannot be written ({_os_words(exc)})"


def checkpoint_name_problem(out: str) -> str | None:
    """Why ``train`` or ``ensemble --out`` cannot name a checkpoint: its model card goes beside it as
    ``Path.with_suffix('.json'/'.md')``, so ``m.json`` would be overwritten by its own card and
    ``model.v1`` / ``model.v2`` would share ``model.json``, as ``m.pt`` would with a trained ``m.pth``.
    None for a .pth or .pt name of its own."""
    path = Path(out)
    if path.suffix.lower() in (".pth", ".pt"):
        twins = _twins(path)
        if not twins or not path.with_suffix(".json").exists():
            return None
        owners = [_card_owner(path, t.name) for t in twins]
        if True in owners:
            twin, owner = twins[owners.index(True)], True
        elif None in owners:  # a card that cannot be read may be any twin's
            twin, owner = twins[0], None
        else:
            return None
        return (f"{twin.name} beside it is another checkpoint, and {path.with_suffix('.json').name} / "
                f"{path.with_suffix('.md').name} {'its' if owner else 'may be its'} model card, which "
                "this run's card would replace; choose another name")
    fixed = path.with_suffix(".pth").name if path.suffix.lower() in (".json", ".md") else path.name + ".pth"
    return (f"must end in .pth or .pt: the model card is written beside it with .json and .md in place of that "
            f"ending, so any other name loses the model or another run's card; e.g. {fixed}")


def _replaces_a_model(out: str, args: argparse.Namespace) -> str | None:
    """Why ``train``/``ensemble`` must not write over the checkpoint at ``out`` (a model that may
    have taken hours of GPU time, gone for good with its card), unless ``--force`` (or ``--resume``,
    which continues the very run written there) says so; None when it may."""
    path = Path(out)
    if getattr(args, "force", False) or getattr(args, "resume", False) or not path.is_file():
        return None
    card = path.with_suffix(".md")
    return (f"{path.name} exists (a checkpoint{f', its card {card.name}' if card.exists() else ''}): choose another "
            "--out, or add --force to replace it")


def _twins(path: Path) -> list[Path]:
    """The other checkpoints whose model card is ``path``'s (``m.pt`` beside ``m.pth``, or ``m.PTH``;
    not the resume state ``m.pth.last.pt``), sorted by name."""
    try:
        return sorted(t for t in path.parent.glob(f"{glob.escape(path.stem)}.*") if t.name != path.name
                      and t.stem == path.stem and t.suffix.lower() in (".pth", ".pt") and t.is_file())
    except OSError:  # a folder that cannot be listed: unwritable() says so
        return []


def _card_owner(path: Path, name: str) -> bool | None:
    """Whether the model card beside ``path`` describes the checkpoint ``name``, from its ``.md``'s
    first line ("# Model card: m.pth", "# Model card: m (1).pth (ensemble)"); None when that
    cannot be read."""
    try:
        with open(path.with_suffix(".md"), encoding="utf-8") as f:
            first = f.readline().rstrip("\n")
    except (OSError, UnicodeDecodeError):
        return None
    if not first.startswith("# Model card: "):
        return None
    title = first.removeprefix("# Model card: ")
    return title == name or title.startswith(f"{name} (")


def out_problem(command: str, args: argparse.Namespace) -> str | None:
    """Why ``--out`` cannot take what ``command`` writes, checked before any work: a model
    trained for an hour must not be lost to a folder at its path. None when it can."""
    out = getattr(args, "out", None)
    if not isinstance(out, str):
        return None
    if command in FILE_OUTPUTS:
        if out == "-":  # these write binary files beside cards; `-` would be a file named "-"
            return "must name a file (standard output is for --json only)"
        suffixes = FILE_OUTPUTS[command]
        if suffixes and Path(out).suffix.lower() not in suffixes:
            return f"must name {'an HTML' if '.html' in suffixes else 'an image'} file ({', '.join(suffixes)})"
        inputs = [getattr(args, name, None) for name in ("weights", "init")] + list(getattr(args, "members", None) or [])
        if any(i and Path(i).exists() and Path(i).resolve() == Path(out).resolve() for i in inputs):
            return "is the checkpoint this command reads; write to another file"
        if command in ("train", "ensemble"):
            return unwritable(out) or checkpoint_name_problem(out) or _replaces_a_model(out, args)
        return unwritable(out)
    if command in FOLDER_OUTPUTS:
        try:
            return _folder_problem(command, Path(out), getattr(args, "data", None))
        except OSError as exc:  # a name too long for the file system, say
            return f"cannot be written ({_os_words(exc)})"
    return None


def _folder_problem(command: str, path: Path, data: str | None) -> str | None:
    """``out_problem`` for a command that writes a folder."""
    if path.exists() and not path.is_dir():
        return "is a file; give a folder"
    below = next(p for p in [path.absolute(), *path.absolute().parents] if p.exists())  # what mkdir would write in
    if not below.is_dir():
        return f"{below} is a file, not a folder"
    problem = _cannot_create_in(below)
    if problem:
        return problem
    if command == "split" and data:
        inside, root = path.resolve(), Path(data).resolve()
        if inside == root or root in inside.parents:  # its links under real/ or fake/ would become images
            return (f"is inside the data set {data}: the split's links would be read as its images (fakes under "
                    "real/); choose a folder outside it")
    return None


# The real standard output while ``main`` sends a command's text to stderr for ``--json -``, so that
# what a pipe reads is one JSON document (``evaluate --json - | jq``), not the report with JSON after it.
_JSON_STDOUT: list = [None]


def write_json(obj, out: str | None) -> None:
    """``obj`` as standard JSON at ``out``: an undefined number (NaN, inf) is null, since NaN is not JSON
    and stops strict readers (JavaScript's JSON.parse, jq). Written whole or not at all;
    OutputError says why it could not be."""
    if out:
        from .atomic import write_bytes

        text = json.dumps(_finite(obj), indent=2, default=_json_default, allow_nan=False) + "\n"
        if out == "-":
            (_JSON_STDOUT[0] or sys.stdout).write(text)
            return
        try:
            write_bytes(out, text.encode())
        except OSError as exc:
            raise OutputError(f"--json {out}: {exc.strerror or exc}") from None


def _finite(o):
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, np.ndarray):
        return _finite(o.tolist())
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or only ``command``'s module when it is known."""
    parser = argparse.ArgumentParser(
        prog="python -m core", description="Deepfake face detector: evaluate, predict, train.",
        epilog="Also: the dashboard (streamlit run streamlit_app.py) and the REST API, the report's main.py "
               "(python -m core.api --help).")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .data import DatasetError
    from .identity import CheckpointError, DeviceUnavailable, PretrainedWeightsUnavailable

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    for out in (getattr(args, "json_out", None), getattr(args, "json", None)):
        problem = unwritable(out) if isinstance(out, str) else None
        if problem:  # said before the run, not as a traceback after it
            print(f"error: --json {out}: {problem}", file=sys.stderr)
            return 2
    problem = out_problem(args.command, args)
    if problem:
        print(f"error: --out {args.out}: {problem}", file=sys.stderr)
        return 2
    json_to_stdout = "-" in (getattr(args, "json_out", None), getattr(args, "json", None))
    _JSON_STDOUT[0] = sys.stdout if json_to_stdout else None
    try:
        with contextlib.redirect_stdout(sys.stderr) if json_to_stdout else contextlib.nullcontext():
            return int(args.func(args) or 0)
    except (DatasetError, CheckpointError, PretrainedWeightsUnavailable, DeviceUnavailable, FileNotFoundError,
            FileExistsError, OutputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        _JSON_STDOUT[0] = None
