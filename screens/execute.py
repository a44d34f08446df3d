"""Execute: runs the provisioning steps with live progress and logs; cancel stops at the next
safe point (the journal lets ``stackseal apply`` resume).

Why a thread worker and messages: steps block (Docker, cryptsetup); the runner's ``emit`` is
called in the worker thread: progress reports are posted as messages (never blocking; bursts
collapse to the newest, see :class:`RunEvent`), other events go through ``call_from_thread``.
Cancelling sets a flag that the next event checks, so no step is killed half-way.
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
from wizard.errors import OperationFailed, StacksealError
from wizard.plan import Plan
from wizard.steps.events import StepDone, StepFailed, StepLog, StepProgress, StepStarted, progress_text


def progress_line(event: StepProgress) -> str:
    """ "adopt seaweedfs-data: 120/400 items, 35.2 MiB of 80.0 MiB, 12.1 MiB/s, ETA 23s"."""
    return f"{event.step_id} {event.what}: {progress_text(event)}"


class RunEvent(Message):
    """A provisioning event posted from the worker thread (non-blocking, in order).

    Why a message and not ``call_from_thread``: that call blocks the worker until the UI thread
    has drawn the event, so a copy reporting progress thousands of times waits on the screen.
    Posting never blocks, and a burst of progress reports of one step collapses to the newest
    (``can_replace``), so the screen shows the latest numbers and never falls behind.
    """

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(self.event, StepProgress)
            and isinstance(message, RunEvent)
            and isinstance(message.event, StepProgress)
            and message.event.step_id == self.event.step_id
        )


def deliver(screen: Any, event: Any) -> None:
    """From a worker thread: progress is posted (never blocks, bursts collapse); every other event
    is delivered with ``call_from_thread`` (rare, and a cancel request is seen at the next one)."""
    if isinstance(event, StepProgress):
        screen.post_message(RunEvent(event))
    else:
        screen.app.call_from_thread(screen._event, event)


class Cancelled(OperationFailed):
    """Raised from ``emit`` in the worker when the user pressed Cancel."""


class EventView:
    """Renders provisioning events into ``#exec-status``, ``#exec-progress``, ``#exec-steps`` and
    ``#exec-log`` (shared by Execute and Migrate)."""

    steps: list[list[str]]
    finished: bool
    query_one: Any

    STATE_MARK = {
        "pending": ("·", "dim"),
        "running": ("▶", "cyan"),
        "changed": ("✔", "green"),
        "unchanged": ("=", "dim"),
        "failed": ("✘", "bold red"),
    }

    def _set_steps(self, listing: list[tuple[str, str]]) -> None:
        self.steps = [[step_id, title, "pending"] for step_id, title in listing]
        self._draw_steps()

    def _mark(self, step_id: str, state: str) -> None:
        for row in self.steps:
            if row[0] == step_id:
                row[2] = state
        self._draw_steps()

    def _draw_steps(self) -> None:
        text = Text()
        for index, (step_id, title, state) in enumerate(self.steps):
            mark, style = self.STATE_MARK[state]
            text.append(("\n" if index else "") + f"{mark} ", style=style)
            text.append(f"{step_id:<14}", style="bold" if state == "running" else "")
            text.append(f" {title}", style="dim" if state == "pending" else "")
        self.query_one("#exec-steps", Static).update(text)

    def on_run_event(self, message: RunEvent) -> None:
        self._event(message.event)

    def _event(self, event: Any) -> None:
        log = self.query_one("#exec-log", RichLog)
        status = self.query_one("#exec-status", Static)
        bar = self.query_one("#exec-progress", ProgressBar)
        if isinstance(event, StepStarted):
            status.update(Text.assemble(("▶ ", "cyan"), f"step {event.index} of {event.total}: {event.title}"))
            bar.display = True
            bar.update(total=event.total, progress=event.index - 1)
            log.write(Text(f"▶ {event.step_id}: {event.title}", style="bold"))
            self._mark(event.step_id, "running")
        elif isinstance(event, StepDone):
            bar.advance(1)
            log.write(
                Text(
                    f"✔ {event.step_id}: {event.summary} ({event.seconds:.1f}s)",
                    style="green" if event.changed else "dim",
                )
            )
            self._mark(event.step_id, "changed" if event.changed else "unchanged")
        elif isinstance(event, StepFailed):
            log.write(Text(f"✘ {event.step_id}: {event.error}", style="bold red"))
            self._mark(event.step_id, "failed")
        elif isinstance(event, StepProgress):
            if not self.finished and self._step_active(event.step_id):  # a late report never hides an end
                status.update(progress_line(event))
        elif isinstance(event, StepLog):
            log.write(Text(f"  {event.step_id}: {event.message}", style="yellow" if event.level == "warning" else ""))

    def _step_active(self, step_id: str) -> bool:
        states = {row[0]: row[2] for row in self.steps}
        return states.get(step_id, "running") in ("running", "pending")


class ExecuteScreen(EventView, WizardScreen):
    """Execute — the steps run one after another, with their progress and logs.

    Cancel stops at the next safe point (between steps, or at a progress report); the answers
    file is saved and 'stackseal apply -c FILE' resumes where this run stopped.
    """

    TITLE_TEXT = "Execute"
    NEXT_LABEL = "Finish"

    def __init__(self, cancel: threading.Event | None = None) -> None:
        super().__init__()
        #: Set by the Cancel button; checked by ``emit`` in the worker thread.
        self._cancel = cancel or threading.Event()

    def compose_body(self) -> ComposeResult:
        yield Static("Starting…", id="exec-status")
        yield ProgressBar(id="exec-progress", show_eta=True)
        yield Static("", id="exec-steps")
        yield RichLog(id="exec-log", wrap=True, markup=False, max_lines=2000)

    def compose_buttons(self) -> ComposeResult:
        yield Button("Cancel", id="cancel", variant="error", compact=True)

    finished = False

    def on_mount(self) -> None:
        self.query_one("#back", Button).disabled = True
        self.query_one("#next", Button).disabled = True
        self.query_one("#exec-progress").display = False  # shown with the first step (no idle animation)
        self.finished = False
        self.failed: str | None = None
        #: (step id, title, state) in order; state: pending | running | changed | unchanged | failed
        self.steps: list[list[str]] = []
        self._run(self.wizard.plan)

    @work(thread=True, exclusive=True, group="execute", exit_on_error=False)
    def _run(self, plan: Plan) -> None:
        from wizard.steps import build_steps
        from wizard.steps.context import Context
        from wizard.steps.runner import run

        answers = self.wizard.out

        def emit(event: Any) -> None:
            # Safe points only: before a step starts (nothing of it done yet, so it stays
            # "pending" on screen) or at a progress report (the step is journalled as
            # interrupted and resumes). Never on StepDone, which would record a finished step
            # as failed.
            cancelled = Cancelled(f"cancelled by the user; 'stackseal apply -c {answers}' resumes from here")
            if self._cancel.is_set() and isinstance(event, StepStarted):
                raise cancelled
            deliver(self, event)
            if self._cancel.is_set() and isinstance(event, StepProgress):
                raise cancelled

        try:
            listing = [(step.id, step.title) for step in build_steps(plan)]
        except Exception:  # the checklist is a convenience; the run itself reports real failures
            listing = []
        self.app.call_from_thread(self._set_steps, listing)
        ctx = Context.for_plan(plan)
        try:
            run(ctx, emit)
        except StacksealError as err:
            self.app.call_from_thread(self._done, str(err))
            return
        except Exception as err:  # shown, never a traceback on screen
            self.app.call_from_thread(self._done, f"{type(err).__name__}: {err}")
            return
        finally:
            ctx.close()
        self.app.call_from_thread(self._done, None)

    def _done(self, error: str | None) -> None:
        self.finished = True
        self.failed = error
        status = self.query_one("#exec-status", Static)
        if error is None:
            out = self.wizard.out
            status.update(
                Text(f"✔ All steps done. 'stackseal plan -c {out}' now shows what is in place.", style="bold green")
            )
            from screens.widgets.key_ages import KeyAges  # the last page shows key ages and offers rotation

            self.query_one("#exec-steps").parent.mount(KeyAges(self.wizard.plan), after="#exec-steps")
        else:
            status.update(Text(f"✘ Stopped: {error}", style="bold red"))
        self.query_one("#cancel", Button).disabled = True
        self.query_one("#next", Button).disabled = False
        self.query_one("#next", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            event.stop()
            self.request_cancel()
            return
        super().on_button_pressed(event)

    def request_cancel(self) -> None:
        """Cancel button, Ctrl+Q and Ctrl+C: stop at the next safe point, then Finish leaves."""
        if self.finished:
            return
        self._cancel.set()
        self.query_one("#exec-status", Static).update("Cancelling at the next safe point…")
