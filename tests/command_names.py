"""Which ``stackseal`` commands a text names, and which of those the CLI does not register.

Why one helper: a user who is told to run ``stackseal migrate volume`` (by the README, a doc, the
rendered runbook or an error message) and gets "invalid choice" has been lied to. Every place
that shows users text checks it with :func:`unregistered_commands`, which reads the registered
commands from the real argument parser (``wizard.cli.build_parser``), nested subcommands
included, so a command becomes nameable the moment it is registered and not before.

What counts as naming a command (prose like "stackseal renders the files" does not):
- ``stackseal WORD`` at the start of a code span or string, after a quote, ``$`` or ``sudo``,
  or at the start of a line inside a fenced code block;
- ``stackseal WORD`` anywhere when WORD is a registered or a planned command name.
A line that marks the command "(planned)" may name one that does not exist yet.
"""

from __future__ import annotations

import argparse
import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Commands the module map plans; prose may name one only on a line marked "(planned)".
PLANNED_WORDS = ("unlock", "lock", "keys", "verify", "rotate", "backup", "migrate", "dashboard", "bench")

_WORD = r"([a-z][a-z0-9-]*)"
_NEXT = r"(?:[ \t]+([a-z][a-z0-9-]*))?"
_COMMAND_AT = re.compile(r"(?:[`'\"$]|\bsudo )\s*stackseal[ \t]+" + _WORD + _NEXT)
_COMMAND_LINE = re.compile(r"^\s*stackseal[ \t]+" + _WORD + _NEXT)
_COMMAND_ANY = re.compile(r"\bstackseal[ \t]+" + _WORD + _NEXT)


@functools.cache
def registered() -> dict[str, frozenset[str] | None]:
    """Each registered command and its subcommands (None when it takes no subcommand)."""
    from wizard.cli import build_parser

    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser] | None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return None

    top = subcommands(build_parser()) or {}
    result: dict[str, frozenset[str] | None] = {}
    for name, parser in top.items():
        nested = subcommands(parser)
        result[name] = None if nested is None else frozenset(nested)
    return result


def named_commands(text: str) -> Iterator[tuple[str, str | None, str, bool]]:
    """(command, the word after it, the whole line, written as a command line) for every command
    ``text`` names. Only a command line (code span, quote, code block) is held to naming a
    subcommand too: prose may say "stackseal backup files are encrypted"."""
    known = set(registered()) | set(PLANNED_WORDS)
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        seen: set[int] = set()
        at = list(_COMMAND_AT.finditer(line))
        if in_fence and (command_line := _COMMAND_LINE.match(line)):
            at.append(command_line)
        for match in at:
            seen.add(match.start(1))
            yield match.group(1), match.group(2), line, True
        for match in _COMMAND_ANY.finditer(line):
            if match.start(1) not in seen and match.group(1) in known:
                yield match.group(1), match.group(2), line, False


def unregistered_commands(text: str) -> list[str]:
    """Lines of ``text`` naming a command (or subcommand) the CLI does not register, unless the
    line marks it "(planned)"."""
    commands = registered()
    bad = []
    for name, after, line, command_line in named_commands(text):
        if "(planned)" in line:
            continue
        if name not in commands:
            bad.append(line.strip())
            continue
        nested = commands[name]
        if command_line and nested is not None and (after is None or after not in nested):
            bad.append(line.strip())
    return bad


def source_strings(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal in a Python file; an f-string's fixed parts are kept
    and each ``{...}`` becomes ``<value>``, so ``f"run 'stackseal {cmd}'"`` cannot hide a name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    inside_fstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    inside_fstrings.add(id(value))
                    parts.append(value.value)
                else:
                    parts.append("<value>")
            yield node.lineno, "".join(parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_fstrings:
            yield node.lineno, node.value


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_files() -> list[Path]:
    return sorted(p for pkg in ("wizard", "screens") for p in (ROOT / pkg).rglob("*.py"))
