"""Longest files first under pytest-xdist, so the two workers finish together.

Why: ``make test`` runs whole files per worker (``--dist loadfile``) and xdist hands files out in
collection order. Alphabetically, the stack tests (``test_kms_stack``, ``test_backup_stack``,
each 2-4 minutes) came last, and one worker ran them alone while the other was done. Sorting
files by their measured duration, longest first, is the classic LPT schedule: the tail shrinks
to the length of the shortest files.

The durations live in ``durations.json`` beside this file (seconds per test file, from a full
run). Refresh them after adding a heavy file:

    .venv/bin/python -m pytest -n 2 --dist loadfile --junitxml=/tmp/junit.xml
    .venv/bin/python tests/testbed/schedule.py /tmp/junit.xml

A file missing from the table counts as short; the order inside a file never changes (module
fixtures start once). Only xdist workers reorder: a single-process run keeps pytest's order.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS = Path(__file__).with_name("durations.json")


def _durations() -> dict[str, float]:
    try:
        table = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in table.items() if isinstance(v, int | float)}


def file_of(item: pytest.Item) -> str:
    """The test file's path relative to tests/ (what durations.json is keyed by)."""
    path = Path(str(item.path))
    tests = Path(__file__).resolve().parents[1]
    try:
        return path.resolve().relative_to(tests).as_posix()
    except ValueError:
        return path.name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    table = _durations()
    if table:
        # stable: files keep their items together and in order; equal weights keep pytest's order
        items.sort(key=lambda item: -table.get(file_of(item), 0.0))


def update(junit_xml: Path) -> dict[str, float]:
    """Seconds per test file from a junit XML report (``pytest --junitxml``)."""
    import xml.etree.ElementTree as ET

    per_file: dict[str, float] = defaultdict(float)
    for case in ET.parse(junit_xml).iter("testcase"):
        parts = (case.get("classname") or "").split(".")
        if not parts or parts[0] != "tests":
            continue
        modules = [p for p in parts[1:] if not p[:1].isupper()]  # drop a test class name
        per_file["/".join(modules) + ".py"] += float(case.get("time") or 0)
    return {name: round(seconds, 1) for name, seconds in sorted(per_file.items(), key=lambda kv: -kv[1])}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/testbed/schedule.py JUNIT_XML")
    table = update(Path(sys.argv[1]))
    DURATIONS.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{DURATIONS}: {len(table)} files, {sum(table.values()):.0f} s in all")
