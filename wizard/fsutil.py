"""Small filesystem helpers shared by render, the journal and the answers file.

Why: a crash or a full disk must never leave a half-written file where a good one stood, so
every file stackseal writes goes through :func:`atomic_write` (temp file in the same directory,
fsync, rename).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from wizard.errors import OperationFailed, UsageError


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (the manifest's file hash)."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new content, never a mix.

    The temp file is created with ``mode`` already applied, so a secret is never readable by
    others even for an instant.
    """
    path = Path(path)
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except PermissionError:
        raise UsageError(f"{directory}: not writable; choose another output directory or fix its permissions") from None
    except OSError as err:
        raise OperationFailed(f"{directory}: cannot create a file there ({err.strerror})") from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as err:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if err.errno == 28:  # ENOSPC
            raise OperationFailed(
                f"{path}: disk full while writing; free space and run again (nothing was changed)"
            ) from None
        raise OperationFailed(f"{path}: cannot write ({err.strerror})") from None
