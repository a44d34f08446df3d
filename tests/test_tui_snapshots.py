"""A snapshot of every wizard screen at 80x24 (pytest-textual-snapshot, Textual pinned to 8.2.8).

Facts are fixed (see ``snapshot_apps/wizard_at.py``) so a snapshot does not change with the
machine; update after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and look at the SVGs before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from snapshot_apps.wizard_at import make_app
from textual.widgets import Input

SIZE = (80, 24)


async def _settle(pilot) -> None:
    """Wait for workers (review) and stop cursor blink so the picture is stable."""
    await pilot.app.workers.wait_for_complete()
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()
    await pilot.pause()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "screen",
    ["WelcomeScreen", "Neo4jScreen", "ObjectStoreScreen", "KmsScreen", "VolumesScreen", "PolicyScreen", "ReviewScreen"],
)
def test_screen_snapshot(snap_compare, in_tmp: Path, screen: str):
    app = make_app(in_tmp, screen, out=Path("stackseal.yaml"))
    assert snap_compare(app, terminal_size=SIZE, run_before=_settle)


def test_help_snapshot(snap_compare, in_tmp: Path):
    app = make_app(in_tmp, "VolumesScreen", out=Path("stackseal.yaml"))
    assert snap_compare(app, terminal_size=SIZE, press=["f1"], run_before=_settle)


def test_cancel_snapshot(snap_compare, in_tmp: Path):
    app = make_app(in_tmp, "KmsScreen", out=Path("stackseal.yaml"))
    assert snap_compare(app, terminal_size=SIZE, press=["ctrl+q"], run_before=_settle)


async def _execute_unwritable(pilot) -> None:
    """Run Execute for real with an output directory that cannot exist (under /proc): the
    runner stops before any step, with the same message on every host."""
    from screens.execute import ExecuteScreen

    app = pilot.app
    app.plan = app.plan.__class__(
        **{**{f: getattr(app.plan, f) for f in app.plan.__struct_fields__}, "output_dir": "/proc/stackseal-none/stack"}
    )
    await app.push_screen(ExecuteScreen())
    await _settle(pilot)


def test_execute_snapshot(snap_compare, in_tmp: Path):
    app = make_app(in_tmp, "ReviewScreen", out=Path("stackseal.yaml"))
    assert snap_compare(app, terminal_size=SIZE, run_before=_execute_unwritable)
