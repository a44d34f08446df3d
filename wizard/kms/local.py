"""``local`` secrets backend: one file per secret in a 0700 directory (development only).

Why files: this is what Docker Compose mounts (``secrets: {name: {file: ./secrets/name}}``), so
for the local backend the file *is* the authoritative copy. It protects against nothing an
attacker with the host's root (or a copy of the disk) cannot read: the runbook and the wizard
say so loudly. Mode 0400 files in a 0700 directory keep other local users out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from wizard.errors import OperationFailed, UsageError
from wizard.fsutil import MAX_SECRET_BYTES, atomic_write, read_below, read_secret_file

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

#: Mode of every secret file (owner read-only: rotation replaces the file, never edits it).
SECRET_FILE_MODE = 0o400
SECRET_DIR_MODE = 0o700


def check_name(name: str) -> None:
    """Secret names become file names and compose secret names: keep them boring."""
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid secret name {name!r}")


class LocalSecretStore:
    """Secrets as files in ``directory`` (``<out_dir>/secrets``)."""

    backend = "local"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._pending: dict[str, bytes] = {}

    def __repr__(self) -> str:  # never the values
        return f"LocalSecretStore({str(self.directory)!r}, pending={sorted(self._pending)})"

    def _path(self, name: str) -> Path:
        check_name(name)
        return self.directory / name

    def get(self, name: str) -> bytes | None:
        if name in self._pending:
            return self._pending[name]
        path = self._path(name)
        try:  # no symlink below the stack directory is followed (secrets/ itself included)
            return read_below(self.directory.parent, f"{self.directory.name}/{name}", MAX_SECRET_BYTES, "secret file")
        except (FileNotFoundError, NotADirectoryError):
            return None
        except PermissionError:
            raise UsageError(
                f"{path}: permission denied reading a secret; run stackseal as the user that rendered the stack"
            ) from None
        except IsADirectoryError:
            raise UsageError(f"{path}: is a directory, expected a secret file; move it away and run again") from None

    def get_or_create(self, name: str, factory: Callable[[], bytes]) -> bytes:
        value = self.get(name)
        if value is None:
            value = factory()
            self._pending[name] = value
        return value

    def read_external(self, path: str) -> bytes:
        return read_secret_file(path)  # regular file, bounded, never a FIFO or a device

    def pending(self) -> dict[str, bytes]:
        return dict(self._pending)

    def persist(self) -> list[str]:
        if not self._pending:
            return []
        self.ensure_directory()
        stored = []
        for name, value in sorted(self._pending.items()):
            path = self._path(name)
            if path.exists():  # someone created it meanwhile: keep theirs, never overwrite a key
                continue
            atomic_write(path, value, mode=SECRET_FILE_MODE)
            stored.append(name)
        self._pending.clear()
        return stored

    def ensure_directory(self) -> None:
        """Create the directory 0700 (and tighten it if it exists with a looser mode)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=SECRET_DIR_MODE)
            os.chmod(self.directory, SECRET_DIR_MODE)
        except PermissionError:
            raise UsageError(
                f"{self.directory}: not writable; choose another output directory or fix its permissions"
            ) from None
        except OSError as err:
            raise OperationFailed(f"{self.directory}: cannot create the secrets directory ({err.strerror})") from None

    def location(self, name: str) -> str:
        # relative to the stack directory: the runbook stays true wherever the stack is moved
        return f"file `{self.directory.name}/{name}` (mode 0400, directory 0700)"
