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
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from wizard.errors import OperationFailed
from wizard.fsutil import atomic_write
from wizard.kms.base import KmsBackend, utc_now
from wizard.kms.store import SUFFIX, blob_path, ensure_directory, read_blobs, write_blob
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


class WrappedVolumeKeys:
    """Volume keys stored only wrapped by the KMS: ``secrets/volume-V.key.wrapped.json`` and, during
    a rotation, ``secrets/volume-V.key.next.wrapped.json`` next to it.

    The tools get the plaintext in a private directory on a memory-backed filesystem
    (``/dev/shm``), removed when the rotation ends (:meth:`close`). If the stack is unlocked, the
    runtime directory's copy of a promoted key is replaced too, so the next unlock uses the new key.
    """

    def __init__(self, secrets_dir: Path, backend: KmsBackend, runtime_dir: Path | None = None) -> None:
        self.secrets_dir = secrets_dir
        self.backend = backend
        self.runtime_dir = runtime_dir
        self._tmp: Path | None = None

    @staticmethod
    def name(volume: str, pending: bool = False) -> str:
        return f"volume-{volume}.key" + (".next" if pending else "")

    def _scratch(self) -> Path:
        if self._tmp is None:
            base = Path("/dev/shm")
            if not base.is_dir():
                raise OperationFailed("/dev/shm is missing: no memory-backed place for the keys during a rotation")
            _sweep_stale(base)
            self._tmp = Path(tempfile.mkdtemp(prefix=f"stackseal-rotate-{os.getpid()}-", dir=base))
            os.chmod(self._tmp, 0o700)
        return self._tmp

    def _materialise(self, name: str) -> Path | None:
        blob = read_blobs(self.secrets_dir).get(name)
        if blob is None:
            return None
        value = self.backend.unwrap_many({name: blob})[name]
        path = self._scratch() / name
        atomic_write(path, value, mode=0o400)
        return path

    def current_file(self, volume: str) -> Path:
        path = self._materialise(self.name(volume))
        if path is None:
            raise OperationFailed(
                f"volume {volume}: its wrapped key secrets/{self.name(volume)}{SUFFIX} is missing; restore it from "
                "your escrow bundle (stackseal keys import) and run the rotation again"
            )
        return path

    def pending_file(self, volume: str) -> Path | None:
        return self._materialise(self.name(volume, pending=True))

    def put_pending(self, volume: str, key: bytes) -> Path:
        name = self.name(volume, pending=True)
        blob = self.backend.wrap_many({name: key})[name]  # the KMS first: a refusal changes nothing
        ensure_directory(self.secrets_dir)
        write_blob(self.secrets_dir, name, blob, replace=True)
        path = self._scratch() / name
        atomic_write(path, key, mode=0o400)
        return path

    def promote(self, volume: str) -> None:
        pending = self.name(volume, pending=True)
        blob = read_blobs(self.secrets_dir).get(pending)
        if blob is None:
            raise OperationFailed(f"volume {volume}: no next key to promote")
        current = self.name(volume)
        write_blob(self.secrets_dir, current, replace(blob, rotated=utc_now()), replace=True)
        value = (self._scratch() / pending).read_bytes() if (self._scratch() / pending).exists() else None
        if self.runtime_dir is not None and value is not None and (self.runtime_dir / current).is_file():
            atomic_write(self.runtime_dir / current, value, mode=0o400)  # an unlocked stack's copy
        blob_path(self.secrets_dir, pending).unlink(missing_ok=True)

    def close(self) -> None:
        """Overwrite and remove the plaintext copies made for the tools."""
        if self._tmp is not None:
            _wipe_dir(self._tmp)
            self._tmp = None


def _wipe_dir(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_file() and not path.is_symlink():
            try:
                size = path.stat().st_size
                with open(path, "r+b") as handle:
                    handle.write(b"\0" * size)
            except OSError:
                pass
        path.unlink(missing_ok=True)
    directory.rmdir()


def _sweep_stale(base: Path) -> None:
    """Remove the plaintext scratch directories of rotations that were killed (their pid is gone).

    Why: a SIGKILL gives no chance to clean up, and /dev/shm keeps files until a reboot.
    """
    for candidate in base.glob("stackseal-rotate-*"):
        parts = candidate.name.split("-")
        if len(parts) < 4 or not parts[2].isdigit() or candidate.is_symlink() or not candidate.is_dir():
            continue
        if candidate.stat().st_uid != os.geteuid() or Path(f"/proc/{parts[2]}").exists():
            continue
        try:
            _wipe_dir(candidate)
        except OSError:
            pass
