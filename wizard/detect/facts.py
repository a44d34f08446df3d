"""What detection produces: facts, the set of facts found so far, and probes that never raise.

Why its own module: every probe module (host, docker, services) and every consumer (questions,
screens, prompts) shares these three types; keeping them apart from any probe keeps the import
of ``wizard.detect.facts`` free of sockets and subprocesses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wizard.plan import Plan

#: Seconds one network probe may take before its fact is reported as unknown.
DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True)
class Fact:
    """One thing detection found out.

    ``ok`` is True (present / reachable), False (absent / unreachable) or None (could not be
    decided, e.g. timed out). ``summary`` is the one line shown to the user; ``data`` holds
    machine-readable details (versions, edition, sealed status) that defaults rely on.
    """

    key: str
    title: str
    ok: bool | None
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


class Facts:
    """The facts found so far, by key. Thread-safe: probes add facts from worker threads."""

    def __init__(self, facts: Iterable[Fact] = ()) -> None:
        self._facts: dict[str, Fact] = {}
        self._lock = threading.Lock()
        for fact in facts:
            self.add(fact)

    def add(self, fact: Fact) -> None:
        with self._lock:
            self._facts[fact.key] = fact

    def get(self, key: str) -> Fact | None:
        with self._lock:
            return self._facts.get(key)

    def ok(self, key: str) -> bool | None:
        """True/False when the fact is known, None when it is unknown or not detected yet."""
        fact = self.get(key)
        return None if fact is None else fact.ok

    def data(self, key: str, name: str, default: Any = None) -> Any:
        fact = self.get(key)
        return default if fact is None else fact.data.get(name, default)

    def all(self) -> list[Fact]:
        with self._lock:
            return list(self._facts.values())

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._facts

    def __len__(self) -> int:
        with self._lock:
            return len(self._facts)


@dataclass(frozen=True)
class Probe:
    """A named detection function; ``run`` never raises (see :meth:`run`)."""

    key: str
    title: str
    fn: Callable[[Plan, float], Fact]

    def run(self, plan: Plan, timeout: float = DEFAULT_TIMEOUT) -> Fact:
        try:
            return self.fn(plan, timeout)
        except Exception as err:  # a probe bug must not stop the wizard; say what happened
            return Fact(self.key, self.title, None, f"check failed: {type(err).__name__}: {short(err)}")


def short(err: BaseException | str, limit: int = 90) -> str:
    text = str(err).strip()
    if text:
        text = text.splitlines()[0]
    elif isinstance(err, BaseException):
        text = type(err).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
