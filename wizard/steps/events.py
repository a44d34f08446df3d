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


def human_bytes(n: float) -> str:
    """Bytes in binary units with their IEC names (1 KiB = 1024 B): the one unit convention of
    every progress display (the CLI's lines and bars, the TUI's Execute screen)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def progress_text(event: StepProgress) -> str:
    """ "3/5 items, 12.0 MiB of 40.0 MiB, 4.1 MiB/s, ETA 7s" (only the parts that are known).

    The one rendering of a progress event's numbers, shared by every renderer.
    """
    parts = [f"{event.items}/{event.items_total} items" if event.items_total is not None else f"{event.items} items"]
    if event.bytes or event.bytes_total:
        total = f" of {human_bytes(event.bytes_total)}" if event.bytes_total else ""
        parts.append(f"{human_bytes(event.bytes)}{total}")
        parts.append(f"{human_bytes(event.rate)}/s")
    elif event.rate:
        parts.append(f"{event.rate:.1f} items/s")
    if event.eta is not None:
        parts.append(f"ETA {event.eta:.0f}s")
    return ", ".join(parts)
