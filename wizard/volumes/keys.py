"""Volume keys as files in ``<out_dir>/secrets/`` (0400 files in a 0700 directory).

Why files: gocryptfs (``-passfile``) and cryptsetup (``--key-file``) read keys from files, so
the key never appears on a command line, in the environment or in a log. A key is generated
only when its volume does not exist yet; if the volume exists and its key is gone, stackseal
stops with a clear line instead of making a new key (a new key could never open the old data).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from wizard.errors import OperationFailed
from wizard.fsutil import atomic_write


def key_path(secrets_dir: Path, volume: str) -> Path:
    return secrets_dir / f"volume-{volume}.key"


def ensure_key(secrets_dir: Path, volume: str, raw: bool = False) -> Path:
    """The volume's key file, generating it (256 bits) if it does not exist.

    ``raw`` keys are exactly 32 random bytes (fscrypt's ``raw_key`` source); the others are
    URL-safe text, since gocryptfs and cryptsetup read a passphrase line.
    """
    path = key_path(secrets_dir, volume)
    if path.exists():
        return path
    secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    value = secrets.token_bytes(32) if raw else secrets.token_urlsafe(32).encode("ascii")
    atomic_write(path, value, mode=0o400)
    return path


def existing_key(secrets_dir: Path, volume: str) -> Path:
    """The key file of a volume that already exists; a clear error if it is missing."""
    path = key_path(secrets_dir, volume)
    if not path.exists():
        raise OperationFailed(
            f"volume {volume}: its key {path} is missing, so the existing encrypted volume cannot be opened; "
            "restore the key file from your backup (a new key would not open the old data)"
        )
    return path
