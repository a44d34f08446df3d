"""What happened to the backups: the journal of create / verify / restore / rotate runs.

Why a file of its own (``<backups.dir>/.history.json``, not apply's journal): ``backup list``
and the TUI show each backup's last verification and the last failure without re-reading every
part, and an interrupted ``create`` stays visible as ``running`` with the id it was writing.
Entries never hold a secret: an id, an operation, a state, a time and the one-line error.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wizard.fsutil import atomic_write

if TYPE_CHECKING:
    from wizard.backup.repo import Repo

FILE = ".history.json"
KEEP = 500
_LOCK = threading.Lock()


def _path(repo: Repo) -> Any:
    return repo.root / FILE


def load(repo: Repo) -> list[dict[str, Any]]:
    path = _path(repo)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return []
    try:
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(4 << 20) or b"[]")
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON, or nested thousands deep
        return []
    # the backups directory is hostile: keep only entries shaped as record() writes them
    fields = ("id", "op", "state", "time")
    return [
        e
        for e in (data if isinstance(data, list) else [])
        if isinstance(e, dict)
        and all(isinstance(e.get(k), str) for k in fields)
        and isinstance(e.get("error", ""), str)
    ]


def record(repo: Repo, backup_id: str, op: str, state: str, error: str = "") -> None:
    """Append (or update the running entry of) one operation on one backup."""
    with _LOCK:
        entries = load(repo)
        entry = {
            "id": backup_id,
            "op": op,
            "state": state,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "error": error[:300],
        }
        if (
            entries
            and entries[-1].get("id") == backup_id
            and entries[-1].get("op") == op
            and entries[-1].get("state") == "running"
        ):
            entries[-1] = entry
        else:
            entries.append(entry)
        repo.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(_path(repo), json.dumps(entries[-KEEP:], indent=1).encode(), mode=0o600)


def last(repo: Repo, backup_id: str, op: str) -> dict[str, Any] | None:
    """The newest finished entry of ``op`` for ``backup_id``."""
    for entry in reversed(load(repo)):
        if entry.get("id") == backup_id and entry.get("op") == op and entry.get("state") != "running":
            return entry
    return None
