"""Where a volume's current and next key live during a rotation.

Why an interface: the rotation must write the NEW key durably *before* the volume's slot or
protector changes (otherwise a crash after the change loses the only key that opens it), and
remove the OLD key only after the new one is verified. How a key is stored (a plaintext file in
``<out>/secrets/`` for the ``local`` backend today, a KMS-wrapped blob with the KMS backends)
must not change that order, so the orchestrator only talks to :class:`VolumeKeys`.

The volume tools read keys from files (``-passfile``, ``--key-file``, ``--key=``), so a store
hands out file paths; a wrapped store writes the plaintext into a private, memory-backed
directory for the duration of the call.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from wizard.errors import OperationFailed
from wizard.fsutil import atomic_write
from wizard.volumes.keys import key_path


class VolumeKeys(Protocol):
    """Current and pending ("next") key of each volume."""

    def current_file(self, volume: str) -> Path:
        """A file holding the volume's current key (raises if it is missing)."""

    def pending_file(self, volume: str) -> Path | None:
        """A file holding the key a rotation is moving to, or None."""

    def put_pending(self, volume: str, key: bytes) -> Path:
        """Store the next key durably (before anything else changes) and return its file."""

    def promote(self, volume: str) -> None:
        """The next key becomes the current one; the old key is gone afterwards."""


class FileVolumeKeys:
    """Keys as files next to each other in ``<out>/secrets/``: ``volume-V.key`` and ``volume-V.key.next``."""

    def __init__(self, secrets_dir: Path) -> None:
        self.secrets_dir = secrets_dir

    def _safe(self, path: Path) -> Path:
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise OperationFailed(f"{path}: not a regular file (a symlink or special file); remove it and run again")
        if path.exists() and path.stat().st_size > 4096:
            raise OperationFailed(f"{path}: too large to be a volume key; restore it from your escrow bundle")
        return path

    def current_file(self, volume: str) -> Path:
        path = self._safe(key_path(self.secrets_dir, volume))
        if not path.exists():
            raise OperationFailed(
                f"volume {volume}: its key {path} is missing; restore it from your escrow bundle "
                "(stackseal keys import) and run the rotation again"
            )
        return path

    def pending_file(self, volume: str) -> Path | None:
        path = self._safe(key_path(self.secrets_dir, volume).with_name(f"volume-{volume}.key.next"))
        return path if path.exists() else None

    def put_pending(self, volume: str, key: bytes) -> Path:
        path = key_path(self.secrets_dir, volume).with_name(f"volume-{volume}.key.next")
        atomic_write(path, key, mode=0o400)
        return path

    def promote(self, volume: str) -> None:
        pending = self.pending_file(volume)
        if pending is None:
            raise OperationFailed(f"volume {volume}: no next key to promote")
        os.replace(pending, key_path(self.secrets_dir, volume))
        fd = os.open(self.secrets_dir, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself must survive a power cut
        finally:
            os.close(fd)
