"""The small types of an object migration: what an object is, what a run did, one failed object.

Why a module of their own: :mod:`wizard.stores.objects` (the migrator), ``objects_run`` (the
command's driver) and ``ssec_rotate`` (SSE-C rotation) share them; keeping them apart keeps the
migrator readable and lets the reporting side import them without the copy machinery.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    name: str
    size: int
    version_id: str | None = None
    is_latest: bool = True
    modified: float = 0.0  # last-modified timestamp (orders the versions of a key)

    @property
    def key(self) -> str:
        return f"{self.bucket}/{self.name}" + (f"?versionId={self.version_id}" if self.version_id else "")


@dataclass
class Report:
    """What a run did; ``failed`` lists (object, one-line reason) for the summary."""

    total: int = 0
    total_bytes: int = 0
    copied: int = 0
    copied_bytes: int = 0
    already: int = 0
    done_before: int = 0
    fallbacks: int = 0
    gone: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def sha256_of(client: Any, ref: ObjectRef, ssec: Any = None) -> str:
    """Streamed SHA-256 of an object's content (1 MiB reads; nothing kept)."""
    digest = hashlib.sha256()
    resp = client.get_object(ref.bucket, ref.name, ssec=ssec, version_id=ref.version_id)
    try:
        for chunk in resp.stream(1 << 20):
            digest.update(chunk)
    finally:
        resp.close()
        resp.release_conn()
    return digest.hexdigest()


class _Fail(Exception):
    """One object cannot be migrated safely; the run continues with the others."""
