"""argparse types shared by the subcommands: a bad number is refused when the command
line is read, with the option named, not minutes later as a traceback."""
from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer of at least 1 (epochs, batch size, image size, patience)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def open_fraction(text: str) -> float:
    """A share strictly between 0 and 1 (the validation fraction)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {value}")
    return value
