"""Volume keys: kept like every other secret, through the plan's KMS secret store.

Why through the store: a volume key on the same disk as the volume opens it for whoever copies
that disk. With a KMS the key is stored only wrapped (``secrets/volume-<name>.key.wrapped.json``)
and its plaintext exists in the tmpfs runtime directory while the stack is unlocked, which is
where gocryptfs (``-passfile``), cryptsetup (``--key-file``) and fscrypt (``--key``) read it: the
key never appears on a command line, in the environment or in a log. With the development-only
local backend without a passphrase it is a plaintext 0400 file in ``secrets/``.

A key is generated only when its volume does not exist yet; if the volume exists and its key is
gone, stackseal stops with a clear line instead of making a new key (a new key could never open
the old data).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed


def key_name(volume: str) -> str:
    """The secret name of a volume's key (its file name in the runtime directory)."""
    return f"volume-{volume}.key"


def key_path(secrets_dir: Path, volume: str) -> Path:
    return Path(secrets_dir) / key_name(volume)


def new_key(raw: bool = False) -> bytes:
    """256 bits: ``raw`` keys are 32 random bytes (fscrypt ``raw_key``), others URL-safe text
    (gocryptfs and cryptsetup read a passphrase line)."""
    return secrets.token_bytes(32) if raw else secrets.token_urlsafe(32).encode("ascii")


def ensure_key(secrets_dir: Path, volume: str, raw: bool = False) -> Path:
    """A plaintext key file in ``secrets_dir`` (local store), generated if absent (tools, tests, bench)."""
    from wizard.kms.local import LocalSecretStore

    store = LocalSecretStore(Path(secrets_dir))
    store.get_or_create(key_name(volume), lambda: new_key(raw))
    store.persist()
    return key_path(secrets_dir, volume)


def existing_key(secrets_dir: Path, volume: str) -> Path:
    """The plaintext key file of a volume that already exists; a clear error if it is missing."""
    path = key_path(secrets_dir, volume)
    if not path.exists():
        raise OperationFailed(
            f"volume {volume}: its key {path} is missing, so the existing encrypted volume cannot be opened; "
            "restore the key file from your backup (a new key would not open the old data)"
        )
    return path


def provide_key(plan: Any, volume: str, raw: bool, create: bool, store: Any = None) -> Path:
    """The file holding the volume's plaintext key, where the volume tools read it.

    ``create``: generate (and store wrapped) a key if there is none (a volume that does not
    exist yet). Otherwise a missing key is an error. With a KMS the file is in the tmpfs runtime
    directory; an already unlocked runtime file is used as it is (no KMS call).
    """
    from wizard import kms
    from wizard.kms import runtime

    directory = kms.plaintext_dir(plan)
    name = key_name(volume)
    if not kms.envelope(plan):
        return ensure_key(directory, volume, raw) if create else existing_key(directory, volume)
    target = directory / name
    if target.is_file() and runtime.is_memory_backed(directory):
        return target
    store = store or kms.secret_store(plan)
    value = store.get_or_create(name, lambda: new_key(raw)) if create else store.get(name)
    if value is None:
        raise OperationFailed(
            f"volume {volume}: its wrapped key secrets/{name}.wrapped.json is missing, so the existing encrypted "
            "volume cannot be opened; restore it from your backup (a new key would not open the old data)"
        )
    store.persist()  # wrapped on disk before the volume is made with it
    runtime.prepare(directory)
    runtime.write(directory, {name: value})
    return target
