"""One journal per rotation kind: ``<out_dir>/.stackseal/rotate-<kind>.json``.

Why not apply's journal: ``.stackseal/journal.json`` belongs to ``apply``; an interrupted rotation
recorded there would be "resumed" by the next apply. Each rotation kind keeps its own small
record of what it reached, rewritten atomically (temp file + rename, like apply's) after every
transition, so a SIGKILL at any instant leaves a parseable file. The journal is a guide for the
re-run, not the truth: every step re-reads the facts (which key opens a volume, which version a
blob carries) before acting. It never holds a key, only public fingerprints and versions.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed
from wizard.fsutil import atomic_write

JOURNAL_VERSION = 1
_KIND = re.compile(r"^[a-z][a-z0-9-]{1,30}$")


#: Latest plausible timestamp (year 2255): beyond it ``datetime.fromtimestamp`` overflows.
_MAX_TIMESTAMP = float(1 << 33)


def _timestamp(value: Any) -> float | None:
    """A journal time as written by :func:`time.time`; ValueError (a damaged journal) otherwise.

    Why: the key-ages page turns ``finished_at`` into a date, and a string, a list, a boolean
    or 1e300 from a hand-edited file would end there in a traceback.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= _MAX_TIMESTAMP:
        raise ValueError("not a journal timestamp")
    return float(value)


@dataclass
class RotationJournal:
    """What one rotation run of one kind reached: per item state plus free-form facts."""

    path: Path
    kind: str
    run_id: str
    started_at: float
    status: str = "running"  # running | done | failed
    finished_at: float | None = None
    resumed: int = 0
    facts: dict[str, Any] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str = ""

    @staticmethod
    def file(state_dir: Path, kind: str) -> Path:
        if not _KIND.match(kind):
            raise ValueError(f"bad rotation kind {kind!r}")
        return state_dir / f"rotate-{kind}.json"

    @classmethod
    def load(cls, state_dir: Path, kind: str) -> RotationJournal | None:
        path = cls.file(state_dir, kind)
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise OperationFailed(f"{path}: not a regular file; move it aside and run the rotation again")
        try:
            if path.exists() and path.stat().st_size > 16 << 20:
                raise OperationFailed(f"{path}: journal is implausibly large; move it aside and run again")
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("kind") != kind:
                raise KeyError("kind")
            started_at = _timestamp(data["started_at"])
            if started_at is None:
                raise KeyError("started_at")
            return cls(
                path=path,
                kind=kind,
                run_id=str(data["run_id"]),
                started_at=started_at,
                status=str(data["status"]),
                finished_at=_timestamp(data.get("finished_at")),
                resumed=int(data.get("resumed", 0)),
                facts=dict(data.get("facts", {})),
                items={str(k): dict(v) for k, v in data.get("items", {}).items()},
                error=str(data.get("error", "")),
            )
        except FileNotFoundError:
            return None
        except OSError as err:
            raise OperationFailed(f"{path}: cannot read the rotation journal ({err.strerror})") from None
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise OperationFailed(
                f"{path}: damaged rotation journal; move it aside and run the rotation again (each step re-checks "
                "which key opens what)"
            ) from None

    @classmethod
    def begin(cls, state_dir: Path, kind: str) -> RotationJournal:
        """Resume the unfinished run of this kind, or start a new one (one rotation at a time)."""
        _hold_lock(state_dir)
        previous = cls.load(state_dir, kind)
        if previous is not None and previous.status != "done":
            previous.resumed += 1
            previous.status, previous.error = "running", ""
            previous.save()
            return previous
        journal = cls(path=cls.file(state_dir, kind), kind=kind, run_id=uuid.uuid4().hex[:12], started_at=time.time())
        journal.save()
        return journal

    @property
    def resuming(self) -> bool:
        return self.resumed > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": JOURNAL_VERSION,
            "kind": self.kind,
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "resumed": self.resumed,
            "facts": self.facts,
            "items": self.items,
            "error": self.error,
        }

    def save(self) -> None:
        atomic_write(self.path, (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode(), mode=0o600)

    def set_item(self, name: str, **values: Any) -> None:
        self.items.setdefault(name, {}).update(values)
        self.save()

    def set_fact(self, **values: Any) -> None:
        self.facts.update(values)
        self.save()

    def fail(self, error: str) -> None:
        self.status, self.error = "failed", error
        self.save()
        _release_lock(self.path.parent)

    def finish(self) -> None:
        self.status, self.finished_at = "done", time.time()
        self.save()
        _release_lock(self.path.parent)


_LOCKS: dict[str, int] = {}


def _hold_lock(state_dir: Path) -> None:
    """One rotation at a time per stack, of any kind, until this process exits.

    Why every kind: ``rotate kms-key`` rewrites every blob it read; a ``rotate volume-keys``
    promoting a new volume key meanwhile would be overwritten by the re-wrapped *old* key.
    The kernel drops the lock when the process dies, so a SIGKILL never leaves it stale.
    """
    key = str(state_dir.resolve())
    if key in _LOCKS:
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "rotate.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as err:
        raise OperationFailed(f"{path}: cannot open the rotation lock ({err.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OperationFailed(
            f"another stackseal rotation of this stack is running (lock {path}); wait for it and run again"
        ) from None
    _LOCKS[key] = fd


def _release_lock(state_dir: Path) -> None:
    """Let the next rotation run (a long-lived process such as the TUI must not keep the lock)."""
    fd = _LOCKS.pop(str(state_dir.resolve()), None)
    if fd is not None:
        os.close(fd)
