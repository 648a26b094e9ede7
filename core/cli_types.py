"""argparse types shared by the subcommands: a bad number is refused when the command
line is read, with the option named, not minutes later as a traceback."""
from __future__ import annotations

import argparse
import re

from .identity import DEVICE_PATTERN


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def finite_number(text: str) -> float:
    """Any finite number; the typed options below add their bounds to it."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def bounded(parse, accept, rule: str, doc: str):
    """An argparse type: ``parse`` the text, then refuse a value ``accept`` says no to, with
    ``rule`` and the value given (``--epochs: must be at least 1, got 0``)."""
    def check(text: str):
        value = parse(text)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {value}")
        return value
    check.__doc__ = doc
    return check


positive_int = bounded(_whole, lambda n: n >= 1, "must be at least 1",
                       "An integer of at least 1 (epochs, batch size, image size, patience).")
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 1024
# 64000 passed, and decoding the training images at that size took 24 GB before the kernel killed the run unsaid;
# under 16 px the trained checkpoint would not load (core.preprocess.Preprocessing.check)
image_size = bounded(_whole, lambda n: MIN_IMAGE_SIZE <= n <= MAX_IMAGE_SIZE,
                     f"must be from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} px (CIPLab's faces are 600 px; a larger input "
                     "is upscaled and costs memory with the square of its size)",
                     f"An input size in px, {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}.")
open_fraction = bounded(finite_number, lambda q: 0.0 < q < 1.0, "must be between 0 and 1 (exclusive)",
                        "A share strictly between 0 and 1 (the validation fraction).")
non_negative_int = bounded(_whole, lambda n: n >= 0, "must be 0 or more",
                           "An integer of at least 0 (decode workers, rows to list).")
probability = bounded(finite_number, lambda q: 0.0 <= q <= 1.0, "must be within [0, 1]",
                      "A number within [0, 1]: a threshold on P(real), a share of training images.")
non_negative_float = bounded(finite_number, lambda q: q >= 0, "must be 0 or more",
                             "A finite number of at least 0 (weight decay).")
port_number = bounded(positive_int, lambda n: n <= 65535, "must be a port number from 1 to 65535",
                      "A TCP port, 1 to 65535.")


def device_name(text: str) -> str:
    """A --device value: auto, cpu, cuda or cuda:N (whether that GPU exists is checked when a
    model is loaded: ``core.checkpoint.resolve_device``)."""
    if not re.fullmatch(DEVICE_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device this tool runs on; use auto, cpu or cuda (cuda:N)")
    return text


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` that shows each option's default, except where there is none worth showing
    (a required option, a flag that is off, an option that is unset unless given)."""

    def _get_help_string(self, action):
        if action.required or action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)
