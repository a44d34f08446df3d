"""Key ages against ``rotation.interval_days``, with buttons that run the rotation.

Why a widget of its own: the wizard's last page shows it today and the dashboard can mount the
same one. The ages come from :func:`wizard.rotate.ages.key_ages` (metadata only, no KMS call);
a rotation runs ``run_kind`` of the chosen kind in a thread worker — the same code path as
the ``rotate`` command line — and only posts messages back to the UI thread.
"""

from __future__ import annotations

import importlib
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Static

from wizard.errors import StacksealError
from wizard.plan import Plan
from wizard.steps.events import StepProgress

KINDS = {"volume-keys": "wizard.rotate.volume_keys", "kms-key": "wizard.rotate.kms_key"}


class KeyAges(Vertical):
    """A table of keys (age, interval, due) and one "Rotate …" button per rotation kind present."""

    DEFAULT_CSS = """
    KeyAges { height: auto; }
    KeyAges DataTable { height: auto; max-height: 12; }
    KeyAges Horizontal { height: auto; }
    """

    class Rotated(Message):
        """A rotation finished (``error`` is None) or failed with one line."""

        def __init__(self, kind: str, summary: str, error: str | None) -> None:
            super().__init__()
            self.kind, self.summary, self.error = kind, summary, error

    class Progress(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, plan: Plan, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan

    def compose(self) -> ComposeResult:
        yield Static("", id="key-ages-title")
        yield DataTable(id="key-ages-table", cursor_type="row", zebra_stripes=True)
        yield Horizontal(id="key-ages-buttons")
        yield Static("", id="key-ages-status")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "age (days)", "every (days)", "state")
        self.refresh_ages()

    def refresh_ages(self) -> None:
        """Re-read the ages (after a rotation, or when the page is shown again)."""
        from wizard.rotate.ages import key_ages

        rows = key_ages(self.plan)
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            style = "bold red" if row.due else ("green" if row.state == "ok" else "dim")
            table.add_row(row.name, str(row.age_days), str(row.interval_days), Text(row.state, style=style))
        due = [r for r in rows if r.due]
        self.query_one("#key-ages-title", Static).update(
            f"Keys: {len(rows)}, due for rotation: {len(due)} (every {self.plan.rotation.interval_days} days)"
            if rows
            else "No keys yet: they appear once the stack is rendered."
        )
        buttons = self.query_one("#key-ages-buttons", Horizontal)
        buttons.remove_children()
        for kind in sorted({r.rotation for r in rows if r.rotation}):
            label = f"Rotate {kind}" + (" (due)" if any(r.due and r.rotation == kind for r in rows) else "")
            # no id: the old buttons are removed asynchronously, an id would clash until then
            buttons.mount(Button(label, name=kind, classes="rotate", compact=True))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.has_class("rotate") and event.button.name in KINDS:
            event.stop()
            kind = event.button.name
            for button in self.query(Button):
                button.disabled = True
            self.query_one("#key-ages-status", Static).update(f"Rotating {kind}…")
            self._rotate(kind)

    @work(thread=True, exclusive=True, group="rotate", exit_on_error=False)
    def _rotate(self, kind: str) -> None:
        def emit(event: Any) -> None:
            if isinstance(event, StepProgress):
                done = f"{event.items}/{event.items_total}" if event.items_total else str(event.items)
                self.post_message(self.Progress(f"Rotating {kind}: {done} {event.what}"))

        try:
            summary = importlib.import_module(KINDS[kind]).run_kind(self.plan, emit)
        except StacksealError as err:
            self.post_message(self.Rotated(kind, "", str(err)))
            return
        except Exception as err:  # shown as one line, never a traceback on screen
            self.post_message(self.Rotated(kind, "", f"{type(err).__name__}: {err}"))
            return
        self.post_message(self.Rotated(kind, summary, None))

    def on_key_ages_progress(self, message: KeyAges.Progress) -> None:
        self.query_one("#key-ages-status", Static).update(message.text)

    def on_key_ages_rotated(self, message: KeyAges.Rotated) -> None:
        status = self.query_one("#key-ages-status", Static)
        if message.error is None:
            status.update(Text(f"✔ {message.summary}", style="green"))
        else:
            status.update(Text(f"✘ rotate {message.kind}: {message.error}", style="bold red"))
        self.refresh_ages()
