"""Events a provisioning run emits while it works.

Why plain frozen dataclasses delivered to one callback ``emit(event)``: the CLI (rich progress
bars, or plain lines when stdout is not a TTY) and the TUI Execute screen (which forwards each
event from its worker thread with ``post_message``) render the same stream; neither needs to know
how a step works, and a step never imports a UI. Events never carry a secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StepStarted:
    """A step begins (``index`` is 1-based out of ``total``)."""

    step_id: str
    title: str
    index: int
    total: int


@dataclass(frozen=True)
class StepProgress:
    """How far a long step is: items and bytes done (of a total when known), rate and ETA.

    ``rate`` is bytes per second when bytes are counted, else items per second; ``eta`` is in
    seconds, ``None`` while it cannot be estimated.
    """

    step_id: str
    items: int
    items_total: int | None = None
    bytes: int = 0
    bytes_total: int | None = None
    rate: float = 0.0
    eta: float | None = None
    what: str = ""


@dataclass(frozen=True)
class StepLog:
    """One human-readable line from a step (a command it ran, what it found)."""

    step_id: str
    message: str
    level: str = "info"  # info | warning


@dataclass(frozen=True)
class StepDone:
    """A step finished; ``changed`` is False when it found nothing to do."""

    step_id: str
    changed: bool
    summary: str
    seconds: float = 0.0


@dataclass(frozen=True)
class StepFailed:
    """A step failed; ``error`` is the one line shown to the user (never a secret)."""

    step_id: str
    error: str
    seconds: float = 0.0


Event = StepStarted | StepProgress | StepLog | StepDone | StepFailed
Emit = Callable[[Event], None]


def discard(_event: Event) -> None:
    """An ``emit`` that drops everything (for callers that only want the result)."""


@dataclass
class ProgressMeter:
    """Turns "n more items / bytes done" into :class:`StepProgress` events with rate and ETA.

    Why a helper: every long step (copying a volume, waiting for services) must report the same
    four numbers the same way; computing rate and ETA in each step would drift.
    """

    step_id: str
    emit: Emit
    items_total: int | None = None
    bytes_total: int | None = None
    items: int = 0
    bytes: int = 0
    _start: float = field(default_factory=time.monotonic)

    def advance(self, items: int = 0, nbytes: int = 0, what: str = "") -> StepProgress:
        """Record progress and emit an event; returns it (handy in tests)."""
        self.items += items
        self.bytes += nbytes
        elapsed = max(time.monotonic() - self._start, 1e-6)
        remaining: int | None
        if self.bytes_total:
            rate = self.bytes / elapsed
            remaining = self.bytes_total - self.bytes
        else:
            rate = self.items / elapsed
            remaining = (self.items_total - self.items) if self.items_total is not None else None
        eta = (remaining / rate) if (remaining is not None and rate > 0) else None
        event = StepProgress(
            self.step_id,
            self.items,
            self.items_total,
            self.bytes,
            self.bytes_total,
            rate,
            max(eta, 0.0) if eta is not None else None,
            what,
        )
        self.emit(event)
        return event
