"""Throttled progress for long operations (migrate, rotate), in the steps' event vocabulary.

Why throttle at the source: a migration of 5,000 small objects advances thousands of times a
second across worker threads; the CLI needs a line a second and the TUI a repaint a few times a
second, so only one progress event per ``interval`` leaves here (plus the final one). Logs,
starts and ends always pass. Events are :mod:`wizard.steps.events` types, so the CLI renderers
and the TUI Execute screen show them unchanged.
"""

from __future__ import annotations

import threading
import time

from wizard.steps.events import Emit, Event, ProgressMeter, StepLog, StepProgress


class Throttle:
    """Wraps an ``emit``: progress at most every ``interval`` seconds, everything else at once."""

    def __init__(self, emit: Emit, interval: float = 0.25) -> None:
        self.emit = emit
        self.interval = interval
        self._last: float | None = None  # the first report always passes
        self._pending: StepProgress | None = None
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepProgress):
            finished = event.items_total is not None and event.items >= event.items_total
            with self._lock:
                now = time.monotonic()
                if not finished and self._last is not None and now - self._last < self.interval:
                    self._pending = event
                    return
                self._last, self._pending = now, None
        self.emit(event)

    def flush(self) -> None:
        """Emit the last held-back progress event (call at the end of a phase)."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self.emit(pending)


class SharedMeter:
    """A :class:`ProgressMeter` that many worker threads advance (rate and ETA over all of them)."""

    def __init__(self, step_id: str, emit: Emit, items_total: int | None, bytes_total: int | None) -> None:
        self.throttle = Throttle(emit)
        self.meter = ProgressMeter(step_id, self.throttle, items_total=items_total, bytes_total=bytes_total)
        self._lock = threading.Lock()

    def advance(self, items: int = 0, nbytes: int = 0, what: str = "") -> None:
        with self._lock:
            self.meter.advance(items, nbytes, what)

    def log(self, message: str, level: str = "info") -> None:
        self.throttle(StepLog(self.meter.step_id, message, level))

    def finish(self) -> None:
        self.throttle.flush()
