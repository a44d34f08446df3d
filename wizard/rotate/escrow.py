"""The escrow bundle: everything needed to open the stack's data on a new host, in one age file.

Why age (PyPI ``pyrage``, the Rust implementation; the ``age`` CLI reads the same files): a
well-reviewed format with a MAC over the whole payload, X25519 recipients or a scrypt
passphrase — no cipher construction of our own. A flipped byte or a truncation makes decryption
fail as a whole, so a damaged bundle is refused before anything is written.

What the bundle holds (a JSON document inside the age encryption):
- ``blobs``: every ``secrets/*.wrapped.json`` (KMS-wrapped: they still need the KMS to open);
- ``plain_secrets``: with the development-only local backend without a passphrase, the secret
  files themselves (there is no KMS copy to fall back on);
- ``kms``: backend, key id, address — which KMS key the blobs need;
- ``luks_headers``: a fresh ``luksHeaderBackup`` of each LUKS volume (zlib, base64);
- ``gocryptfs``: each volume's ``gocryptfs.conf`` and master key (``gocryptfs-xray
  -dumpmasterkey``): the master key opens the data even if the conf and the KMS are both lost;
- ``openbao``: a deployed OpenBao's init file (unseal shares, already age-encrypted by apply);
- ``recovery``: the instructions (docs/recovery-drill.md, short form).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed, UsageError
from wizard.kms.base import utc_now

FORMAT = "stackseal-escrow"
VERSION = 1
MAX_BUNDLE = 512 << 20
MAX_SECRET_FILE = 1 << 20

RECOVERY = """\
stackseal escrow bundle: recovery on a new host
1. Install stackseal and the volume tools; put the answers file (stackseal.yaml) in place.
2. Make the KMS reachable: the same Vault/OpenBao (unsealed) or cloud KMS key named under "kms".
   A deployed OpenBao: restore its data, then unseal it with the shares in "openbao".
3. stackseal keys import -c stackseal.yaml --from BUNDLE --identity IDENTITY_FILE (or --passphrase)
   restores the wrapped keys (secrets/*.wrapped.json), gocryptfs.conf files and LUKS header backups.
4. stackseal unlock -c stackseal.yaml, then start the stack (stackseal apply -c stackseal.yaml --yes).
If the KMS key itself is lost: gocryptfs volumes still open with their master key
(gocryptfs -masterkey HEX CIPHERDIR MOUNTPOINT); LUKS and fscrypt volumes do not.
"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _read_small(path: Path, limit: int = MAX_SECRET_FILE) -> bytes:
    """A regular file we wrote, never through a symlink, never huge."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not (info.st_mode & 0o170000 == 0o100000) or info.st_size > limit:
            raise OperationFailed(f"{path}: not a regular file of at most {limit} bytes; move it away and run again")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(limit + 1)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------- collect


def collect(plan: Any) -> dict[str, Any]:
    """Gather the bundle's content for ``plan`` (unwraps gocryptfs keys through the KMS)."""
    from wizard import kms
    from wizard.kms.store import read_blobs

    out = plan.output_path
    secrets_dir = out / "secrets"
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created": utc_now(),
        "project": plan.project,
        "kms": {"backend": plan.kms.backend, "key_name": plan.kms.key_name},
        "blobs": {},
        "plain_secrets": {},
        "luks_headers": {},
        "gocryptfs": {},
        "openbao": {},
        "recovery": RECOVERY,
    }
    envelope = kms.envelope(plan)
    backend = kms.get_backend(plan) if envelope else None
    if backend is not None:
        doc["kms"]["key_id"] = backend.key_id
        if plan.kms.backend == "vault":
            doc["kms"]["address"] = plan.kms.vault.address
        doc["blobs"] = {name: blob.to_json() for name, blob in read_blobs(secrets_dir).items()}
    elif secrets_dir.is_dir():
        for entry in sorted(secrets_dir.iterdir()):
            if entry.is_file() and not entry.is_symlink() and not entry.name.startswith("."):
                doc["plain_secrets"][entry.name] = _b64(_read_small(entry))
    for init in (secrets_dir / "openbao_init.json", secrets_dir / "openbao_init.age"):
        if init.is_file() and not init.is_symlink():
            doc["openbao"][init.name] = _b64(_read_small(init))
    _collect_volumes(plan, doc, backend)
    return doc


def _volume_key_file(plan: Any, volume: str, backend: Any, scratch: Path) -> Path | None:
    """A file with the volume's plaintext key (unwrapped into ``scratch``), or None if there is none."""
    from wizard.kms.store import read_blobs

    name = f"volume-{volume}.key"
    if backend is None:
        path = plan.output_path / "secrets" / name
        return path if path.is_file() and not path.is_symlink() else None
    blob = read_blobs(plan.output_path / "secrets").get(name)
    if blob is None:
        return None
    target = scratch / name
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as handle:
        handle.write(backend.unwrap_many({name: blob})[name])
    return target


def _collect_volumes(plan: Any, doc: dict[str, Any], backend: Any) -> None:
    from wizard.layout import volume_specs
    from wizard.volumes import get_backend as volume_backend

    kind = plan.volumes.backend
    if kind not in ("gocryptfs", "luks-file"):
        return
    vol = volume_backend(plan)
    scratch = Path(tempfile.mkdtemp(prefix=f"stackseal-escrow-{os.getpid()}-", dir="/dev/shm"))
    try:
        for spec in volume_specs(plan):
            if vol.status(spec).state == "absent":
                continue
            if kind == "luks-file":
                header = scratch / f"{spec.name}.header"
                vol.header_backup(spec, header)  # type: ignore[attr-defined]
                doc["luks_headers"][spec.name] = _b64(zlib.compress(header.read_bytes(), 9))
                header.unlink()
                continue
            key_file = _volume_key_file(plan, spec.name, backend, scratch)
            entry: dict[str, str] = {"conf": _b64(_read_small(spec.backing / "gocryptfs.conf"))}
            if key_file is not None:
                entry["master_key"] = vol.master_key(spec, key_file)  # type: ignore[attr-defined]
            doc["gocryptfs"][spec.name] = entry
    finally:
        for leftover in scratch.iterdir():
            leftover.unlink()
        scratch.rmdir()


# ------------------------------------------------------------------------------- encrypt / decrypt


def seal(doc: dict[str, Any], recipient: str | None = None, passphrase: str | None = None) -> bytes:
    """The age file for ``doc``: to an X25519 recipient (``age1...``) or a passphrase."""
    import pyrage

    payload = json.dumps(doc, sort_keys=True).encode("utf-8")
    if recipient is not None:
        try:
            target = pyrage.x25519.Recipient.from_str(recipient.strip())
        except Exception:
            raise UsageError("--recipient: not an age X25519 recipient (age1...); see 'age-keygen -y'") from None
        return bytes(pyrage.encrypt(payload, [target]))
    if not passphrase:
        raise UsageError("give --recipient AGE_RECIPIENT or --passphrase")
    return bytes(pyrage.passphrase.encrypt(payload, passphrase))


def read_identity(path: Path) -> Any:
    """An age identity file (``age-keygen`` output: comments and one AGE-SECRET-KEY-1... line)."""
    import pyrage

    try:
        text = _read_small(path, 64 << 10).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        raise UsageError(f"{path}: cannot read it as an age identity file") from None
    keys = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("AGE-SECRET-KEY-")]
    if len(keys) != 1:
        raise UsageError(f"{path}: expected one AGE-SECRET-KEY-1... line (an age-keygen identity file)")
    try:
        return pyrage.x25519.Identity.from_str(keys[0])
    except Exception:
        raise UsageError(f"{path}: the AGE-SECRET-KEY line is not a valid age identity") from None


def open_bundle(path: Path, identity: Any = None, passphrase: str | None = None) -> dict[str, Any]:
    """Decrypt and validate a bundle; any damage, a wrong identity or passphrase is one line, exit 1."""
    import pyrage

    try:
        data = _read_small(path, MAX_BUNDLE)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such bundle") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read the bundle ({err.strerror})") from None
    try:
        if identity is not None:
            payload = pyrage.decrypt(data, [identity])
        else:
            payload = pyrage.passphrase.decrypt(data, passphrase or "")
    except Exception:
        raise OperationFailed(
            f"{path}: cannot decrypt the bundle: wrong identity or passphrase, or the file is truncated or "
            "tampered (age checks every byte); nothing was changed"
        ) from None
    try:
        doc = json.loads(payload)
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise ValueError
        for section in ("blobs", "plain_secrets", "luks_headers", "gocryptfs", "openbao"):
            if not isinstance(doc.get(section), dict):
                raise ValueError
    except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        raise OperationFailed(f"{path}: decrypted, but not a stackseal escrow bundle of version {VERSION}") from None
    return doc
