"""A crash-safe journal for long operations (object migration, key rotation, volume moves).

Why two files: a checkpoint (``<name>.json``, rewritten atomically every few hundred records or
seconds) plus a write-ahead log (``<name>.wal``, one JSON line appended per event, truncated at
each checkpoint). Appending a line is cheap enough to do before and after every object, and the
kernel keeps what was written when the process is SIGKILLed, so a re-run knows exactly which
objects were finished and which copy was in flight (an ``intent`` without its ``done``) — without
rewriting a large file per object. A torn last line (power cut) is ignored.

This is not apply's ``.stackseal/journal.json``: each operation keeps its own.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed
from wizard.fsutil import atomic_write

VERSION = 1


class OpJournal:
    """Records per item key: the last ``intent`` (before an irreversible call) and ``done`` state."""

    def __init__(self, state_dir: Path, name: str, target: dict[str, Any], checkpoint_every: int = 500) -> None:
        self.path = state_dir / f"{name}.json"
        self.wal = state_dir / f"{name}.wal"
        self.target = target
        self.checkpoint_every = checkpoint_every
        self.items: dict[str, dict[str, Any]] = {}
        self.meta: dict[str, Any] = {}
        self.resumed = False
        self._lock = threading.Lock()
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        self._wal_handle: Any = None
        self._load()

    # -- loading ------------------------------------------------------------------------------
    def _load(self) -> None:
        state_dir = self.path.parent
        for p in (state_dir, self.path, self.wal):
            if p.is_symlink():
                raise OperationFailed(f"{p}: is a symbolic link; stackseal keeps its state only in real files")
        for p in (self.path, self.wal):  # a FIFO would block the read forever, a device is not ours
            if p.exists() and not stat.S_ISREG(p.stat(follow_symlinks=False).st_mode):
                raise OperationFailed(f"{p}: not a regular file; stackseal keeps its state only in real files")
        found = self.path.exists()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8")) if found else None
        except (OSError, ValueError, RecursionError) as err:
            raise OperationFailed(
                f"{self.path}: damaged journal ({type(err).__name__}); move it aside to start over "
                "(finished work is then re-checked, never lost)"
            ) from None
        if found and not isinstance(data, dict):  # JSON (``null`` too), but not the object this class writes
            raise OperationFailed(
                f"{self.path}: damaged journal (not a JSON object); move it aside to start over "
                "(finished work is then re-checked, never lost)"
            )
        if data is not None:
            items, meta = data.get("items"), data.get("meta", {})
            if (
                data.get("version") != VERSION
                or not isinstance(items, dict)
                or not all(isinstance(rec, dict) for rec in items.values())
                or not isinstance(meta, dict)
            ):
                raise OperationFailed(f"{self.path}: not a journal this stackseal can read; move it aside")
            if data.get("target") == self.target:
                self.items = items
                self.meta = meta
                self.resumed = True
        if not self.wal.exists():
            return
        with open(self.wal, encoding="utf-8", errors="replace") as handle:
            lines = handle.readlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except (ValueError, RecursionError):
            header = {}
        if not isinstance(header, dict):  # valid JSON of another shape: a damaged header, like a torn one
            header = {}
        if header.get("target") != self.target or (data is not None and data.get("target") != self.target):
            self.items = {}
            self.resumed = False
            os.unlink(self.wal)  # a journal of another run (other SSE mode or key): start over
            return
        for line in lines[1:]:
            try:
                rec = json.loads(line)
                key, fields = rec["key"], rec["rec"]
            except (ValueError, KeyError, TypeError, RecursionError):
                continue  # a torn last line
            if not isinstance(key, str) or not isinstance(fields, dict):
                continue  # not a record this class appends: skipped like a torn line
            self.items.setdefault(key, {}).update(fields)
            self.resumed = True

    # -- recording ----------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return dict(self.items[key]) if key in self.items else None

    def update(self, key: str, **rec: Any) -> None:
        """Merge ``rec`` into the item's record and append it to the WAL (flushed, not fsynced)."""
        line = json.dumps({"key": key, "rec": rec}, separators=(",", ":")) + "\n"
        with self._lock:
            self.items.setdefault(key, {}).update(rec)
            handle = self._open_wal()
            handle.write(line)
            handle.flush()
            self._since_checkpoint += 1
            due = self._since_checkpoint >= self.checkpoint_every or time.monotonic() - self._last_checkpoint > 5
            if due:
                self._checkpoint_locked()

    def _open_wal(self) -> Any:
        if self._wal_handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.wal, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            self._wal_handle = os.fdopen(fd, "a", encoding="utf-8")
            if os.fstat(fd).st_size == 0:
                self._wal_handle.write(json.dumps({"target": self.target}) + "\n")
        return self._wal_handle

    def checkpoint(self, **meta: Any) -> None:
        with self._lock:
            self.meta.update(meta)
            self._checkpoint_locked()

    def _checkpoint_locked(self) -> None:
        doc = {"version": VERSION, "target": self.target, "meta": self.meta, "items": self.items}
        atomic_write(self.path, json.dumps(doc, separators=(",", ":")).encode(), mode=0o600)
        if self._wal_handle is not None:
            self._wal_handle.close()
            self._wal_handle = None
        try:
            os.unlink(self.wal)
        except FileNotFoundError:
            pass
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()

    def close(self, **meta: Any) -> None:
        self.checkpoint(**meta)
