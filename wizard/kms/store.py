"""The secret store of every KMS-backed plan: each secret on disk only as a wrapped JSON blob.

Why: a copied disk (or a backup of the host) must hold no usable key. Each secret render
generates or is given is kept as ``<out_dir>/secrets/<name>.wrapped.json`` (mode 0400): a
:class:`wizard.kms.base.WrappedBlob` with the backend, key id and version that wrapped it,
created and last-rotated times. The plaintext only exists in memory here, and in the tmpfs
runtime directory once ``stackseal unlock`` has run (:mod:`wizard.kms.runtime`).

Contract (on top of :class:`wizard.kms.base.SecretStore`):
- every existing blob is unwrapped in one batch the first time a value is needed (one KMS
  round trip, and a wrong credential fails before anything else happens);
- ``persist`` wraps every pending value in one batch *before* writing any file, so a KMS that
  refuses leaves the disk unchanged; an existing blob is never overwritten;
- plaintext secret files left by an earlier stackseal (before envelope encryption) are adopted:
  wrapped on the next persist, then removed.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

from wizard.errors import OperationFailed, UsageError
from wizard.fsutil import atomic_write
from wizard.kms.base import KmsBackend, WrappedBlob
from wizard.kms.local import SECRET_DIR_MODE, SECRET_FILE_MODE, check_name, read_secret_file

SUFFIX = ".wrapped.json"
#: A blob is a few hundred bytes; anything much larger is not ours (refused before parsing).
MAX_BLOB_BYTES = 256 * 1024
#: Files in secrets/ that are not secrets of the plan.
_NOT_SECRETS = {".gitignore"}


def blob_path(directory: Path, name: str) -> Path:
    check_name(name)
    return Path(directory) / f"{name}{SUFFIX}"


def _read_regular(path: Path, limit: int) -> bytes:
    """Read a file we own, refusing symlinks, special files and oversized files (hostile output dirs)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        raise UsageError(
            f"{path}: cannot be read safely ({err.strerror}); it must be a regular file stackseal wrote"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{path}: not a regular file; move it away and run again")
        if info.st_size > limit:
            raise UsageError(f"{path}: {info.st_size} bytes is too large for a stackseal secret; move it away")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(limit + 1)
    finally:
        os.close(fd)


def read_blobs(directory: Path) -> dict[str, WrappedBlob]:
    """Every ``<name>.wrapped.json`` in ``directory`` (none when it does not exist)."""
    blobs: dict[str, WrappedBlob] = {}
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return blobs
    except PermissionError:
        raise UsageError(f"{directory}: permission denied; run stackseal as the user that rendered the stack") from None
    for entry in entries:
        if not entry.name.endswith(SUFFIX):
            continue
        name = entry.name[: -len(SUFFIX)]
        try:
            check_name(name)
        except ValueError:
            raise UsageError(f"{entry.path}: not a name stackseal writes; move it away and run again") from None
        raw = _read_regular(Path(entry.path), MAX_BLOB_BYTES)
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise OperationFailed(
                f"{entry.path}: not a wrapped key blob (tampered or truncated); restore it from a backup"
            ) from None
        try:
            blobs[name] = WrappedBlob.from_json(data)
        except OperationFailed:
            raise OperationFailed(
                f"{entry.path}: a wrapped key blob is malformed (tampered or truncated); restore it from a backup"
            ) from None
    return blobs


def write_blob(directory: Path, name: str, blob: WrappedBlob, replace: bool = False) -> bool:
    """Store one blob (0400, atomic). Without ``replace`` an existing blob is kept: returns False."""
    path = blob_path(directory, name)
    if path.exists() and not replace:
        return False
    atomic_write(path, (json.dumps(blob.to_json(), indent=2, sort_keys=True) + "\n").encode(), mode=SECRET_FILE_MODE)
    return True


def ensure_directory(directory: Path) -> None:
    if directory.is_symlink():
        raise UsageError(f"{directory}: is a symbolic link; the secrets directory must be a real directory")
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=SECRET_DIR_MODE)
        os.chmod(directory, SECRET_DIR_MODE)
    except PermissionError:
        raise UsageError(f"{directory}: not writable; choose another output directory or fix its permissions") from None


class WrappedSecretStore:
    """Secrets wrapped by ``backend`` in ``directory`` (``<out_dir>/secrets``)."""

    def __init__(self, directory: Path, backend: KmsBackend, plaintext_dir: Path | None = None) -> None:
        self.directory = Path(directory)
        self.backend = backend
        self.plaintext_dir = plaintext_dir
        self._pending: dict[str, bytes] = {}
        self._values: dict[str, bytes] | None = None
        self._legacy: list[Path] = []
        self._wrapped: dict[str, WrappedBlob] = {}

    def __repr__(self) -> str:  # never the values
        return f"WrappedSecretStore({str(self.directory)!r}, {self.backend!r}, pending={sorted(self._pending)})"

    # -- reading ------------------------------------------------------------------------------
    def blobs(self) -> dict[str, WrappedBlob]:
        """The stored blobs (no KMS call): for ``keys list``, rotation and backups."""
        return read_blobs(self.directory)

    def _legacy_plaintext(self, known: set[str]) -> dict[str, bytes]:
        """Plaintext secret files an earlier stackseal wrote here: adopted, wrapped on persist, removed."""
        found: dict[str, bytes] = {}
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return found
        for entry in entries:
            name = entry.name
            if name in _NOT_SECRETS or name.endswith(SUFFIX) or name.startswith(".") or name in known:
                continue
            try:
                check_name(name)
            except ValueError:
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            found[name] = _read_regular(Path(entry.path), MAX_BLOB_BYTES)
            self._legacy.append(Path(entry.path))
        return found

    def _load(self) -> dict[str, bytes]:
        if self._values is None:
            blobs = self.blobs()
            values = self._unwrap_all(blobs)
            legacy = self._legacy_plaintext(set(blobs))
            self._pending.update(legacy)
            self._values = values
        return self._values

    def _unwrap_all(self, blobs: dict[str, WrappedBlob]) -> dict[str, bytes]:
        for name, blob in blobs.items():
            self.backend.check_blob(name, blob)
        return self.backend.unwrap_many(blobs) if blobs else {}

    def values(self) -> dict[str, bytes]:
        """Every stored value, unwrapped (one KMS batch), plus pending ones."""
        return {**self._load(), **self._pending}

    def get(self, name: str) -> bytes | None:
        check_name(name)
        if name in self._pending:
            return self._pending[name]
        return self._load().get(name) or self._pending.get(name)

    def get_or_create(self, name: str, factory: Callable[[], bytes]) -> bytes:
        value = self.get(name)
        if value is None:
            value = factory()
            self._pending[name] = value
        return value

    def read_external(self, path: str) -> bytes:
        return read_secret_file(path)

    def pending(self) -> dict[str, bytes]:
        return dict(self._pending)

    # -- writing ------------------------------------------------------------------------------
    def wrap_pending(self) -> None:
        """Wrap every pending value now (the KMS call, no disk change): a refusal happens before any write."""
        todo = {n: v for n, v in sorted(self._pending.items()) if n not in self._wrapped}
        if todo:
            self._wrapped.update(self.backend.wrap_many(todo))

    def persist(self) -> list[str]:
        if not self._pending:
            return []
        self.wrap_pending()  # KMS first: a refusal changes nothing
        wrapped = {n: self._wrapped[n] for n in self._pending}
        ensure_directory(self.directory)
        stored = [name for name in sorted(wrapped) if write_blob(self.directory, name, wrapped[name])]
        for legacy in self._legacy:
            try:
                legacy.unlink()
            except FileNotFoundError:
                pass
        self._legacy.clear()
        if self._values is not None:
            self._values.update(self._pending)
        self._pending.clear()
        self._wrapped.clear()
        return stored

    def location(self, name: str) -> str:
        where = f" `{self.plaintext_dir}/{name}`" if self.plaintext_dir else " the runtime directory"
        return (
            f"`{self.directory.name}/{name}{SUFFIX}` wrapped by {self.backend.backend} key `{self.backend.key_id}`; "
            f"plaintext only in{where} (tmpfs) while unlocked"
        )


class PreviewStore(WrappedSecretStore):
    """What a render *would* do, without the KMS: ``plan``, ``render --dry-run``, the review screen.

    Existing secrets answer an opaque placeholder (their value is not needed to compare the
    public files: those only name secrets), new ones are generated in memory and never stored.
    """

    preview = True

    def _unwrap_all(self, blobs: dict[str, WrappedBlob]) -> dict[str, bytes]:
        return {name: f"<wrapped {name}>".encode() for name in blobs}

    def persist(self) -> list[str]:
        raise OperationFailed("internal: a preview store never persists")
