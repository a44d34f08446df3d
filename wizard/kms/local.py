"""``local`` backend: secrets as files in a 0700 directory, plaintext (development only) or passphrase-wrapped.

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
from typing import Any

from wizard.errors import OperationFailed, UsageError
from wizard.fsutil import atomic_write
from wizard.kms.base import Health, KmsBackend, WrappedBlob, utc_now

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

#: Mode of every secret file (owner read-only: rotation replaces the file, never edits it).
SECRET_FILE_MODE = 0o400
SECRET_DIR_MODE = 0o700


def check_name(name: str) -> None:
    """Secret names become file names and compose secret names: keep them boring."""
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid secret name {name!r}")


def read_secret_file(path: str) -> bytes:
    """A secret file the user points to in the answers file (``*_file`` keys), stripped."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: secret file not found; create it or set the key to null to generate one") from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied reading a secret file; fix its owner or mode") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, expected a secret file") from None
    if not data.strip():
        raise UsageError(f"{path}: secret file is empty; put the secret in it or set the key to null to generate one")
    return data.strip()


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
        try:
            return path.read_bytes()
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
        return read_secret_file(path)

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


# --------------------------------------------------------------------------- the local backend

PASSPHRASE_ENV = "STACKSEAL_LOCAL_PASSPHRASE"
#: scrypt cost: 2**15 x 8 x 1 (~32 MiB, ~0.1 s) per unlock; the derived key is cached per salt.
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
_AAD = b"stackseal local key file"


class LocalBackend(KmsBackend):
    """``local``: key files wrapped by a key derived from a passphrase (scrypt + AES-GCM), else plaintext.

    Why these primitives: both come from ``cryptography`` (Scrypt KDF with a random 16-byte salt,
    AESGCM with a random 96-bit nonce), an established construction; nothing is invented here.
    The salt is the blob's ``key_version``, so each blob says which derivation opens it and a
    "rotation" is a new salt. Without a passphrase (``kms.passphrase_file`` unset) the wrap is
    the identity: secrets stay plaintext files, development only, as the wizard warns loudly.
    """

    backend = "local"

    def __init__(self, plan: Any) -> None:
        super().__init__(plan)
        self.envelope = plan.kms.passphrase_file is not None
        self._keys: dict[str, bytes] = {}
        self._salt: str | None = None

    @property
    def key_id(self) -> str:
        return "passphrase (scrypt)" if self.envelope else "none (plaintext, development only)"

    # -- the passphrase ------------------------------------------------------------------------
    def _passphrase(self) -> bytes:
        """From STACKSEAL_LOCAL_PASSPHRASE, else ``kms.passphrase_file``, else a prompt on a terminal."""
        env = os.environ.get(PASSPHRASE_ENV)
        if env:
            return env.encode()
        file = self.plan.kms.passphrase_file
        path = self.plan.resolve(file)
        if path.exists():
            value = read_secret_file(str(path))
            if len(value) < 12:
                raise UsageError(f"kms.passphrase_file: {file} holds fewer than 12 characters; use a longer passphrase")
            return value
        import sys

        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass("stackseal local key passphrase: ").encode()
            if len(value) < 12:
                raise UsageError("the passphrase must be at least 12 characters")
            return value
        raise UsageError(
            f"kms.passphrase_file: {file} does not exist and no terminal to ask; create it, or set {PASSPHRASE_ENV}"
        )

    def _key(self, salt_hex: str) -> bytes:
        if salt_hex not in self._keys:
            from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

            try:
                salt = bytes.fromhex(salt_hex)
            except ValueError:
                raise OperationFailed("a wrapped key blob names a malformed salt (tampered)") from None
            self._keys[salt_hex] = Scrypt(salt=salt, length=32, **_SCRYPT).derive(self._passphrase())
        return self._keys[salt_hex]

    def _current_salt(self) -> str:
        """The salt new blobs use: the one existing blobs use (so one passphrase prompt), else a new one."""
        if self._salt is None:
            from wizard.kms.store import read_blobs

            versions = sorted(
                {b.key_version for b in read_blobs(self.plan.output_path / "secrets").values() if b.key_version}
            )
            self._salt = versions[-1] if versions else os.urandom(16).hex()
        return self._salt

    # -- KmsBackend ----------------------------------------------------------------------------
    def connection_test(self, timeout: float = 5.0) -> Health:
        if not self.envelope:
            return Health(True, "local keys need no connection; they stay plaintext files (development only)")
        try:
            self._passphrase()
        except UsageError as err:
            return Health(False, str(err))
        return Health(True, "passphrase available; key files are wrapped with scrypt + AES-GCM")

    def ensure_key(self) -> str:
        return self.connection_test().detail

    def wrap_many(self, plaintexts: dict[str, bytes]) -> dict[str, WrappedBlob]:
        now = utc_now()
        if not self.envelope:
            return {n: WrappedBlob("local", "none", None, v, now) for n, v in plaintexts.items()}
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        salt = self._current_salt()
        aead = AESGCM(self._key(salt))
        out = {}
        for name, value in plaintexts.items():
            nonce = os.urandom(12)
            out[name] = WrappedBlob("local", "passphrase", salt, nonce + aead.encrypt(nonce, value, _AAD), now)
        return out

    def unwrap_many(self, blobs: dict[str, WrappedBlob]) -> dict[str, bytes]:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        out = {}
        for name, blob in blobs.items():
            self.check_blob(name, blob)
            if blob.key_id == "none":
                out[name] = blob.ciphertext
                continue
            if not blob.key_version:
                raise OperationFailed(f"secret {name}: its blob names no salt (tampered); restore it from a backup")
            try:
                out[name] = AESGCM(self._key(blob.key_version)).decrypt(
                    blob.ciphertext[:12], blob.ciphertext[12:], _AAD
                )
            except (InvalidTag, ValueError):
                raise OperationFailed(
                    f"secret {name} cannot be unwrapped: wrong passphrase or a tampered blob; "
                    f"check {PASSPHRASE_ENV} / kms.passphrase_file"
                ) from None
        return out

    def rotate(self) -> str | None:
        """A new salt (so a new derived key) for blobs wrapped from now on; re-wrapping old blobs is the rotation command's job."""
        self._salt = os.urandom(16).hex()
        return self._salt
