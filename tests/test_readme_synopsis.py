"""README.md's command-line synopsis names every option the parsers take, and no other.

An audit found a dozen options (``train --loss``, ``report --bootstrap``, ``--device`` on several
commands...) that the synopsis had never been told of; this keeps it from drifting again.
"""
import argparse
import re
from pathlib import Path

import pytest

from core.cli import COMMANDS, build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?$")


def _synopses(text: str) -> dict[str, str]:
    """``{command: its synopsis}`` from the first ```bash block under '## Command line'."""
    section = text.split("\n## Command line\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    out = {}
    for line in block.replace("\\\n", " ").splitlines():
        line = line.split("   #", 1)[0]  # a trailing comment
        m = re.match(r"\S+ -m core (\S+)(.*)", line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _shown(synopsis: str) -> dict[str, str | None]:
    """``{--option: the word after it, or None for a flag}`` as the synopsis writes them."""
    return {m.group(1): m.group(2) for m in re.finditer(r"(?<![\w-])(--[\w-]+)(?: ([^\s\[\]]+))?", synopsis)}


def _actions(command: str) -> list[argparse.Action]:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [a for a in sub.choices[command]._actions if a.option_strings and a.dest != "help"]


SYNOPSES = _synopses(README.read_text(encoding="utf-8"))


def test_the_synopsis_lists_every_command():
    assert set(SYNOPSES) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_synopsis_of_each_command_matches_its_parser(command):
    shown = _shown(SYNOPSES[command])
    actions = _actions(command)
    options = {a.option_strings[-1]: a for a in actions}
    assert sorted(set(options) - set(shown)) == [], f"README's `{command}` synopsis lacks these options"
    assert sorted(set(shown) - set(options)) == [], f"README's `{command}` synopsis names options it does not take"
    for name, action in options.items():
        word = shown[name]
        if action.nargs == 0:  # a flag takes no value
            assert word is None, f"{command} {name} is a flag, README gives it {word}"
        elif action.choices:
            assert word == "|".join(action.choices), f"{command} {name}: README shows {word}"
        elif word and NUMBER.match(word):  # a number shown is the default
            assert float(word) == float(action.default), f"{command} {name}: README shows {word}, default {action.default}"


def test_the_api_settings_table_names_every_option():
    from core.api import build_parser as api_parser

    text = README.read_text(encoding="utf-8").split("\n## REST API\n", 1)[1]
    for action in api_parser()._actions:
        if action.dest != "help":
            assert f"`{action.option_strings[-1]}`" in text, action.option_strings
