"""Renders provisioning events on a terminal: rich progress bars on a TTY, plain lines otherwise.

Why two renderings of one event stream: an operator at a terminal wants live bars with rate and
ETA; a CI log or a pipe wants stable, greppable lines with no control characters. The TUI has a
third renderer (the Execute screen); none of them changes what the steps do.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from wizard.steps.events import Event, StepDone, StepFailed, StepLog, StepProgress, StepStarted, progress_text


class PlainRenderer:
    """One line per event (progress at most once a second per step)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def __call__(self, event: Event) -> None:
        line = self.format(event)
        if line is None:
            return
        with self._lock:
            print(line, file=self.stream, flush=True)

    def format(self, event: Event) -> str | None:
        if isinstance(event, StepStarted):
            return f"[{event.index}/{event.total}] {event.step_id}: {event.title}"
        if isinstance(event, StepProgress):
            now = time.monotonic()
            finished = event.items_total is not None and event.items >= event.items_total
            if not finished and now - self._last.get(event.step_id, 0.0) < 1.0:
                return None
            self._last[event.step_id] = now
            return f"    progress: {progress_text(event)}" + (f" ({event.what})" if event.what else "")
        if isinstance(event, StepLog):
            return f"    {'warning: ' if event.level == 'warning' else ''}{event.message}"
        if isinstance(event, StepDone):
            return f"    {'changed' if event.changed else 'ok'}: {event.summary} ({event.seconds:.1f}s)"
        if isinstance(event, StepFailed):
            return f"    FAILED: {event.error}"
        return None


class RichRenderer:
    """Live progress bars (rich) for an interactive terminal. Use as a context manager."""

    def __init__(self, console: Any = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[extra]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> RichRenderer:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: Event) -> None:
        p = self.progress
        if isinstance(event, StepStarted):
            self.tasks[event.step_id] = p.add_task(
                f"[{event.index}/{event.total}] {event.step_id}", total=None, extra=""
            )
        task = self.tasks.get(getattr(event, "step_id", ""))
        if isinstance(event, StepProgress) and task is not None:
            if event.bytes_total:
                p.update(task, total=event.bytes_total, completed=event.bytes, extra=progress_text(event))
            else:
                p.update(task, total=event.items_total, completed=event.items, extra=progress_text(event))
        elif isinstance(event, StepLog):
            p.console.print(f"    [dim]{event.message}[/dim]", markup=True, highlight=False)
        elif isinstance(event, StepDone) and task is not None:
            mark = "[green]changed[/green]" if event.changed else "[dim]ok[/dim]"
            p.update(task, total=1, completed=1, extra="")
            p.console.print(f"  {mark} {event.step_id}: {event.summary}", highlight=False)
        elif isinstance(event, StepFailed) and task is not None:
            p.update(task, extra="[red]failed[/red]")
            p.console.print(f"  [red]FAILED[/red] {event.step_id}: {event.error}", highlight=False)
