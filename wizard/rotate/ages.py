"""How old each key is against ``rotation.interval_days`` — what the TUI shows and offers to rotate.

Why read-only metadata: the wizard's last page and the dashboard must show this while the KMS is
down and without unwrapping anything. A wrapped blob carries ``created`` and ``rotated``; a
plaintext key file (the development-only local backend) has only its modification time, which
the rotation sets when it replaces the file. The KMS key's own age is the last finished
``rotate kms-key`` (its journal), else the oldest blob it wrapped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed
from wizard.rotate.journal import RotationJournal


@dataclass(frozen=True)
class KeyAge:
    """One key: its name, age in days, and which kind of the ``rotate`` command renews it."""

    name: str
    age_days: int
    interval_days: int
    rotation: str | None  # "volume-keys" | "kms-key" | None (rotated some other way)

    @property
    def due(self) -> bool:
        return self.rotation is not None and self.age_days >= self.interval_days

    @property
    def state(self) -> str:
        if self.rotation is None:
            return "see runbook"
        return "due" if self.due else "ok"


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _days(since: datetime, now: datetime) -> int:
    return max(0, (now - since).days)


def key_ages(plan: Any, now: datetime | None = None) -> list[KeyAge]:
    """Every stored key with its age; empty before the first render."""
    from wizard import kms
    from wizard.kms.store import read_blobs

    now = now or datetime.now(UTC)
    interval = plan.rotation.interval_days
    secrets_dir: Path = plan.output_path / "secrets"
    rows: list[KeyAge] = []

    def kind_of(name: str) -> str | None:
        if name.startswith("volume-") and name.endswith(".key"):
            return "volume-keys"
        return None

    if kms.envelope(plan):
        blobs = read_blobs(secrets_dir)
        for name, blob in sorted(blobs.items()):
            stamp = _parse(blob.rotated) or _parse(blob.created)
            if stamp is not None:
                rows.append(KeyAge(name, _days(stamp, now), interval, kind_of(name)))
        if plan.kms.backend != "local" and blobs:  # rotate kms-key drives vault, aws, azure and gcp
            try:
                journal = RotationJournal.load(plan.output_path / ".stackseal", "kms-key")
            except OperationFailed:  # damaged: 'rotate kms-key' says so in one line; ages fall back
                journal = None
            if journal is not None and journal.finished_at:
                since = datetime.fromtimestamp(journal.finished_at, UTC)
            else:
                created = [d for d in (_parse(b.created) for b in blobs.values()) if d is not None]
                since = min(created) if created else now
            rows.insert(0, KeyAge(f"KMS key {plan.kms.key_name}", _days(since, now), interval, "kms-key"))
        return rows
    if secrets_dir.is_dir():
        for entry in sorted(os.scandir(secrets_dir), key=lambda e: e.name):
            if entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
                since = datetime.fromtimestamp(entry.stat(follow_symlinks=False).st_mtime, UTC)
                rows.append(KeyAge(entry.name, _days(since, now), interval, kind_of(entry.name)))
    return rows
