"""Migrate — after Execute on a stack that was already running: what would move (volumes with
sizes, buckets with object counts, downtime per service), then the migration with live progress.

Why it shares Execute's :class:`~screens.execute.EventView`: the same event rendering (status
line, progress bar, log) and the same non-blocking delivery of progress; only the work differs. The inventory and the migration run in a
thread worker; domain logic lives in ``wizard.stores.inventory``, ``wizard.volumes.move`` and
``wizard.stores.objects_run``.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Button, ProgressBar, RichLog, Static

from screens.base import WizardScreen
from screens.execute import Cancelled, EventView, deliver
from wizard.errors import StacksealError
from wizard.steps.events import human_bytes


class InventoryReady(Message):
    def __init__(self, inventory: Any, error: str | None = None) -> None:
        super().__init__()
        self.inventory = inventory
        self.error = error


def offered(app: Any) -> bool:
    """Detection saw this plan's compose project running: its existing data may be plaintext."""
    projects = app.facts.data("stack", "projects") or {}
    return app.plan.project in projects


class MigrateScreen(EventView, WizardScreen):
    """Migrate — move the running stack's existing data under encryption.

    The volumes listed are copied into their encrypted volumes while only their service is
    stopped (verified by SHA-256; Neo4j's graph counted before and after); the objects listed
    are re-encrypted in place. 'Finish' leaves without migrating: 'stackseal migrate volume --all'
    and 'stackseal migrate objects' do it later from the command line.
    """

    TITLE_TEXT = "Migrate"
    NEXT_LABEL = "Finish"
    #: "Finish" (Next) ends the wizard from here (see StacksealApp.action_next)
    LEAVES_APP = True

    def __init__(self) -> None:
        super().__init__()
        self._cancel = threading.Event()

    def compose_body(self) -> ComposeResult:
        yield Static("Looking at the running stack…", id="mig-inventory")
        yield Static("", id="exec-status")
        yield ProgressBar(id="exec-progress", show_eta=True)
        yield Static("", id="exec-steps")
        yield RichLog(id="exec-log", wrap=True, markup=False, max_lines=2000)

    def compose_buttons(self) -> ComposeResult:
        yield Button("Migrate", id="migrate", variant="warning", compact=True, disabled=True)

    def on_mount(self) -> None:
        self.query_one("#back", Button).disabled = True
        self.query_one("#exec-progress").display = False
        self.query_one("#exec-status", Static).update("")
        self.finished = True  # nothing runs yet: Finish leaves
        self.failed: str | None = None
        self.steps = []
        self.inventory: Any = None
        self._inventory()

    @work(thread=True, exclusive=True, group="migrate", exit_on_error=False)
    def _inventory(self) -> None:
        from wizard.steps.context import Context
        from wizard.stores.inventory import take

        ctx = Context.for_plan(self.wizard.plan)
        try:
            self.post_message(InventoryReady(take(ctx)))
        except StacksealError as err:
            self.post_message(InventoryReady(None, str(err)))
        finally:
            ctx.close()

    def on_inventory_ready(self, message: InventoryReady) -> None:
        self.inventory = inv = message.inventory
        box = self.query_one("#mig-inventory", Static)
        if inv is None:
            box.update(Text(f"✘ {message.error}", style="bold red"))
            return
        text = Text()
        text.append("Volumes to move into encrypted storage\n", style="bold")
        for v in inv.volumes:
            text.append(
                f"  {v.name:<16} {v.service:<10} {human_bytes(v.bytes):>10}  {v.files} files  from {v.source}\n"
            )
        if not inv.volumes:
            text.append("  none: every volume is already on encrypted storage\n", style="dim")
        text.append("Objects to re-encrypt in place, per bucket (already encrypted ones are skipped)\n", style="bold")
        for b in inv.buckets:
            detail = b.error or f"{b.objects} objects, {human_bytes(b.bytes)}"
            text.append(f"  {b.name:<16} {detail}\n")
        from wizard.stores.inventory import copy_rate

        rate, source = copy_rate(self.wizard.plan.output_path, self.wizard.plan.volumes.backend)
        downtime = inv.downtime(rate)
        if downtime:
            text.append(f"Downtime (service stopped while its data is copied and verified; {source})\n", style="bold")
            for service, seconds in sorted(downtime.items()):
                text.append(f"  {service:<16} about {max(seconds, 1):.0f} s (only {service} stops)\n")
        for problem in inv.problems:
            text.append(f"  ! {problem}\n", style="yellow")
        box.update(text)
        self.query_one("#migrate", Button).disabled = inv.empty

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "migrate":
            event.stop()
            event.button.disabled = True
            self.query_one("#next", Button).disabled = True
            self.finished = False
            self._migrate()
            return
        super().on_button_pressed(event)

    @work(thread=True, exclusive=True, group="migrate", exit_on_error=False)
    def _migrate(self) -> None:
        from wizard.steps.context import Context
        from wizard.stores.objects_run import migrate_objects
        from wizard.volumes.move import migrate_volume

        inv = self.inventory
        ctx = Context.for_plan(self.wizard.plan)

        def emit(event: Any) -> None:
            from wizard.steps.events import StepStarted

            if self._cancel.is_set() and isinstance(event, StepStarted):
                raise Cancelled("cancelled by the user; 'stackseal migrate volume --all' resumes from here")
            deliver(self, event)

        errors: list[str] = []
        try:
            for v in inv.volumes:
                try:
                    outcome = migrate_volume(ctx, v.name, emit)
                    emit_log(emit, v.name, outcome.summary)
                except StacksealError as err:
                    errors.append(f"{v.name}: {err}")
                    emit_log(emit, v.name, str(err), "warning")
            if any(b.objects for b in inv.buckets):
                try:
                    result = migrate_objects(ctx.plan, emit)
                    r = result.report
                    emit_log(
                        emit, "objects", f"{r.copied} re-encrypted, {r.already} already encrypted. {result.vacuum}"
                    )
                    errors += [f"{name}: {reason}" for name, reason in r.failed]
                except StacksealError as err:
                    errors.append(f"objects: {err}")
        finally:
            ctx.close()
        self.app.call_from_thread(self._done, "; ".join(errors[:3]) if errors else None)

    def _done(self, error: str | None) -> None:
        self.finished = True
        self.failed = error
        status = self.query_one("#exec-status", Static)
        if error is None:
            status.update(Text("✔ Migration done: the existing data is encrypted now.", style="bold green"))
        else:
            status.update(
                Text(
                    f"✘ Not everything was migrated: {error} ('stackseal migrate volume --all' and 'stackseal migrate objects' resume)",
                    style="bold red",
                )
            )
        self.query_one("#next", Button).disabled = False
        self.query_one("#next", Button).focus()

    def request_cancel(self) -> None:
        """Stop before the next volume (a volume or object run in progress finishes its item)."""
        if not self.finished:
            self._cancel.set()
            self.query_one("#exec-status", Static).update("Cancelling before the next volume…")


def emit_log(emit: Any, what: str, message: str, level: str = "info") -> None:
    from wizard.steps.events import StepLog

    emit(StepLog(f"migrate-{what}", message, level))
