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

import base64
import binascii
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from wizard.errors import OperationFailed


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


# --------------------------------------------------------------------------- envelope encryption
#
# Why a second interface: a SecretStore answers "what is the value of N"; a KeyWrapper answers
# "encrypt these bytes with the KMS key that never leaves the KMS". Every key stackseal keeps on
# disk is a WrappedBlob (ciphertext + which key/version wrapped it), so a copied disk holds no
# usable key. Backends (wizard/kms/<backend>.py: local, vault, aws, azure, gcp) implement
# KeyWrapper; the backup data keys, rotation and escrow code only ever see this protocol.


@dataclass(frozen=True)
class WrappedBlob:
    """A key or secret as stored at rest: the KMS's ciphertext and what is needed to unwrap it.

    ``ciphertext`` is the backend's own opaque output (``vault:v3:...`` for transit, a KMS
    CiphertextBlob for AWS, ...); never the plaintext. ``key_version`` is the version that
    wrapped it (``None`` where the KMS does not expose versions). Times are ISO 8601 UTC.
    """

    backend: str
    key_id: str
    key_version: str | None
    ciphertext: bytes
    created: str
    rotated: str | None = None

    def __repr__(self) -> str:  # ciphertext is not secret, but it is long and useless in logs
        return f"WrappedBlob({self.backend}:{self.key_id}@{self.key_version}, {len(self.ciphertext)} bytes)"

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "key_id": self.key_id,
            "key_version": self.key_version,
            "ciphertext": base64.b64encode(self.ciphertext).decode("ascii"),
            "created": self.created,
            "rotated": self.rotated,
        }

    @classmethod
    def from_json(cls, data: Any) -> WrappedBlob:
        """Parse a stored blob; a malformed one is an OperationFailed naming no value."""
        try:
            return cls(
                backend=str(data["backend"]),
                key_id=str(data["key_id"]),
                key_version=None if data.get("key_version") is None else str(data["key_version"]),
                ciphertext=base64.b64decode(data["ciphertext"], validate=True),
                created=str(data["created"]),
                rotated=None if data.get("rotated") is None else str(data["rotated"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error):
            raise OperationFailed("a wrapped key blob is malformed (tampered or truncated)") from None


def utc_now() -> str:
    """The timestamp format of WrappedBlob.created / rotated."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@runtime_checkable
class KeyWrapper(Protocol):
    """Envelope encryption with a key that stays in the KMS.

    Contract: ``unwrap(wrap(x)) == x``; batch calls take and return dicts keyed by the caller's
    names (so a backend may batch: Vault transit ``batch_input``); a wrong credential, a sealed or
    unreachable KMS, a revoked key version or a tampered blob raises
    :class:`wizard.errors.OperationFailed` with one line that never contains a value.
    """

    backend: str

    def wrap_many(self, plaintexts: dict[str, bytes]) -> dict[str, WrappedBlob]:
        """Wrap each value with the current version of the plan's key."""

    def unwrap_many(self, blobs: dict[str, WrappedBlob]) -> dict[str, bytes]:
        """Unwrap each blob (any version the KMS still allows)."""


# --------------------------------------------------------------------------- one shape per backend


@dataclass(frozen=True)
class Health:
    """The answer of a connection test or a health probe: ``ok`` is None when it could not be told."""

    ok: bool | None
    detail: str


class KmsBackend(ABC):
    """One KMS (``wizard/kms/<backend>.py``): connection test, wrap/unwrap, rotate, health, secret store.

    Why one class per backend: the wizard's "test connection", render's secret store, ``unlock``,
    ``keys list``, rotation and backups all need the same few operations; each backend keeps its
    SDK calls and its error wording in one module, and everything else codes against this shape.
    """

    backend: str = ""
    #: False only for ``local`` without a passphrase: secrets are then plaintext files (dev only).
    envelope: bool = True

    def __init__(self, plan: Any) -> None:
        self.plan = plan

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key_id})"

    @property
    @abstractmethod
    def key_id(self) -> str:
        """The id of the key that wraps (transit key name, AWS key id/alias, Key Vault key URL, ...)."""

    @abstractmethod
    def connection_test(self, timeout: float = 5.0) -> Health:
        """The wizard's "test connection": reachable, credentials accepted, key present (reads only)."""

    def health(self, timeout: float = 5.0) -> Health:
        """Can keys be unwrapped right now? (Defaults to the connection test.)"""
        return self.connection_test(timeout)

    @abstractmethod
    def wrap_many(self, plaintexts: dict[str, bytes]) -> dict[str, WrappedBlob]:
        """See :class:`KeyWrapper`."""

    @abstractmethod
    def unwrap_many(self, blobs: dict[str, WrappedBlob]) -> dict[str, bytes]:
        """See :class:`KeyWrapper`."""

    @abstractmethod
    def rotate(self) -> str | None:
        """Make a new version of the wrapping key the current one; returns that version."""

    def ensure_key(self) -> str:
        """Make sure the wrapping key exists (creating it where stackseal may); returns a one-line result."""
        result = self.connection_test()
        if result.ok is False:
            raise OperationFailed(result.detail)
        return result.detail

    def wrap(self, name: str, value: bytes) -> WrappedBlob:
        return self.wrap_many({name: value})[name]

    def unwrap(self, name: str, blob: WrappedBlob) -> bytes:
        return self.unwrap_many({name: blob})[name]

    def check_blob(self, name: str, blob: WrappedBlob) -> None:
        """Refuse a blob another backend or key wrapped (one line, before asking the KMS)."""
        if blob.backend != self.backend:
            raise OperationFailed(
                f"secret {name} was wrapped by the {blob.backend} backend, but kms.backend is {self.backend}; "
                "set kms.backend back to the backend that wrapped it"
            )
