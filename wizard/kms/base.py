"""The secrets provider interface that render uses and every KMS backend implements.

Why an interface: render must stay pure (Plan + secrets -> files) while the secrets themselves
live somewhere that depends on the KMS backend: files in a 0700 directory for ``local`` today,
Vault/OpenBao KV, AWS Secrets Manager, Azure Key Vault or GCP Secret Manager later. Render only
asks "give me the value named N, creating it with this generator if it does not exist yet" and
never knows where it is kept. Docker Compose still needs every secret a container reads as a
file (``secrets: {name: {file: ...}}``), so render materialises the values under
``<out_dir>/secrets/``; a remote backend keeps the authoritative copy and can re-materialise
them after a host is rebuilt.

Contract for implementations:
- ``get_or_create`` is idempotent: once a name has a value it is returned unchanged forever
  (re-rendering never regenerates a secret). New values stay *pending* (in memory) until
  ``persist()``, so a preview or a refused render leaves no trace.
- Values never appear in ``repr``, exceptions or logs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class SecretStore(Protocol):
    """Where generated secrets (and generated-once public material such as certificates) live."""

    def get(self, name: str) -> bytes | None:
        """The value of ``name`` (persisted or pending), or ``None`` if it does not exist yet."""

    def get_or_create(self, name: str, factory: Callable[[], bytes]) -> bytes:
        """The value of ``name``; if absent, ``factory()`` creates it (kept pending until persisted)."""

    def read_external(self, path: str) -> bytes:
        """Read a secret file the user points to in the answers file (``*_file`` keys)."""

    def pending(self) -> dict[str, bytes]:
        """Values created in this session and not yet persisted (what a write would add)."""

    def persist(self) -> list[str]:
        """Store every pending value durably; returns the names that were stored."""

    def location(self, name: str) -> str:
        """Human description of where ``name`` is kept (for the runbook; never the value)."""
