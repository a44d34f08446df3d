"""Where backups live (``backups.dir``): publish atomically, list, read safely, keep N.

Why a directory per backup, published by a rename: a backup being written lives in
``.incomplete-<ID>/`` and becomes ``<ID>/`` only after its manifest is on disk, so an
interrupted backup is never listed, verified or restored, and retention never counts it. Every
read treats the directory as hostile: no symlinks are followed, only regular files are opened,
and a backup id must look like one before it becomes a path.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from wizard.backup.manifest import ID_RE, Manifest, dumps, loads
from wizard.errors import OperationFailed, UsageError
from wizard.fsutil import atomic_write

MANIFEST = "manifest.json"
INCOMPLETE = ".incomplete-"
SCRATCH = ".restore-"


def new_id(now: datetime | None = None) -> str:
    """``20261201T052500.123456Z-1a2b3c``: sorts by creation time (microseconds), never collides."""
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%S.%f')}Z-{secrets.token_hex(3)}"


def open_regular(path: Path, flags: int = os.O_RDONLY) -> int:
    """Open ``path`` without following a symlink; refuse anything but a regular file."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OperationFailed(f"{path}: missing; the backup is incomplete") from None
    except OSError as err:
        raise OperationFailed(f"{path}: cannot be opened safely ({err.strerror}); is it a symlink?") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OperationFailed(f"{path}: not a regular file; the backup directory was tampered with")
    os.set_blocking(fd, True)
    return fd


@dataclass
class Repo:
    """The backups directory of one plan."""

    root: Path

    def _refuse_symlink(self) -> None:
        # every command, not only create/restore: verify and list also write .history.json here
        if self.root.is_symlink():
            raise UsageError(f"backups.dir {self.root} is a symlink; point backups.dir at the real directory")

    def ensure(self) -> Path:
        """Create the directory (0700: backups are ciphertext, but their names and sizes are not)."""
        self._refuse_symlink()
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"backups.dir {self.root} is not a directory; fix backups.dir")
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as err:
            raise UsageError(f"backups.dir {self.root}: cannot create it ({err.strerror}); fix backups.dir") from None
        return self.root

    # -- one writer at a time ---------------------------------------------------------------
    @contextmanager
    def locked(self, what: str) -> Iterator[None]:
        """Hold ``<dir>/.lock`` (flock) for a create / restore / rotate / drill.

        Why: retention must not remove a backup a restore is reading, and two scheduled runs
        must not interleave. Under the lock, leftovers of an interrupted run (``.incomplete-*``,
        ``.restore-*``: the latter may hold plaintext) are removed first.
        """
        import fcntl

        self.ensure()
        try:
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise OperationFailed(
                f"{self.root / '.lock'}: cannot be opened safely ({err.strerror}); remove it if it is a symlink"
            ) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OperationFailed(
                    f"another stackseal backup operation is running on {self.root}; wait for it and run {what} again"
                ) from None
            for entry in os.scandir(self.root):
                if entry.name.startswith((INCOMPLETE, SCRATCH)) and entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
            yield
        finally:
            os.close(fd)

    # -- writing ----------------------------------------------------------------------------
    @contextmanager
    def writing(self, backup_id: str) -> Iterator[Path]:
        """A fresh ``.incomplete-<ID>`` directory; removed again unless :meth:`publish` ran."""
        self.ensure()
        work = self.root / f"{INCOMPLETE}{backup_id}"
        work.mkdir(mode=0o700)
        try:
            yield work
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)

    def publish(self, work: Path, manifest: Manifest) -> Path:
        """Write the manifest last, fsync, then rename the directory to its id."""
        atomic_write(work / MANIFEST, dumps(manifest), mode=0o600)
        final = self.root / manifest.id
        os.rename(work, final)
        _fsync_dir(self.root)
        return final

    def rewrite_manifest(self, manifest: Manifest) -> None:
        """Replace a published manifest atomically (key rotation)."""
        atomic_write(self.dir_of(manifest.id) / MANIFEST, dumps(manifest), mode=0o600)

    # -- reading ----------------------------------------------------------------------------
    def dir_of(self, backup_id: str) -> Path:
        if not ID_RE.match(backup_id):
            raise UsageError(f"{backup_id!r} is not a backup id (see 'stackseal backup list')")
        self._refuse_symlink()
        path = self.root / backup_id
        if path.is_symlink() or not path.is_dir():
            raise UsageError(f"no backup {backup_id} in {self.root} (see 'stackseal backup list')")
        return path

    def ids(self) -> list[str]:
        """Published backups, oldest first."""
        self._refuse_symlink()
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for entry in os.scandir(self.root)
            if ID_RE.match(entry.name) and entry.is_dir(follow_symlinks=False)
        )

    def latest(self) -> str:
        ids = self.ids()
        if not ids:
            raise UsageError(f"no backup in {self.root} yet; take one with 'stackseal backup create'")
        return ids[-1]

    def manifest(self, backup_id: str) -> Manifest:
        path = self.dir_of(backup_id) / MANIFEST
        fd = open_regular(path)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(2 << 20)
        manifest = loads(data, str(path))
        if manifest.id != backup_id:
            raise OperationFailed(f"{path}: manifest names backup {manifest.id}, not {backup_id} (moved or swapped)")
        return manifest

    def manifests(self) -> list[tuple[str, Manifest | OperationFailed]]:
        """Every published backup with its manifest, or the reason it cannot be read."""
        out: list[tuple[str, Manifest | OperationFailed]] = []
        for backup_id in self.ids():
            try:
                out.append((backup_id, self.manifest(backup_id)))
            except OperationFailed as err:
                out.append((backup_id, err))
        return out

    def open_part(self, backup_id: str, file: str) -> BinaryIO:
        fd = open_regular(self.dir_of(backup_id) / file)
        return os.fdopen(fd, "rb")

    # -- retention --------------------------------------------------------------------------
    def prune(self, keep: int) -> list[str]:
        """Delete the oldest published backups beyond ``keep``; returns their ids."""
        ids = self.ids()
        doomed = ids[: max(len(ids) - keep, 0)]
        for backup_id in doomed:
            path = self.root / backup_id
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
        return doomed

    def scratch(self) -> Path:
        """A private scratch directory on the backups' filesystem (restore decrypts into it)."""
        self.ensure()
        path = self.root / f"{SCRATCH}{secrets.token_hex(4)}"
        path.mkdir(mode=0o700)
        return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
