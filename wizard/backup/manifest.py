"""The manifest of one backup: what was backed up, how big, its SHA-256, and the wrapped data key.

Why JSON with a format version and strict parsing: a manifest is read back by a later stackseal
(``FORMAT_VERSION`` says which), by scripts (``backup list --json``) and by a restore that must
not trust it blindly — a backup directory is hostile input. Parsing refuses unknown fields, part
files outside the backup directory and absurd sizes, so a tampered manifest stops with one line.

The manifest is not secret and not encrypted: it holds hashes of the plaintext (SHA-256 of data
with at least a 64-bit random key inside, never guessable) and the data key only as the KMS's
ciphertext (a :class:`wizard.kms.base.WrappedBlob`: backend, key id, key version).

It is **authenticated** (format 2): ``mac`` is an HMAC-SHA256 of the manifest's canonical JSON
under a key derived from the backup's data key (HKDF-SHA256). Why: age authenticates each part
file, and the manifest's SHA-256s bind part contents to names, but without a MAC whoever can
write the backup directory could remove a part from both the manifest and the directory (or
change the recorded counts, sizes or source) and ``verify`` would still pass. Editing an existing
backup's manifest now needs its data key, i.e. a KMS caller allowed to *decrypt*. What the MAC
does not stop: someone who can write the directory *and* get a data key of their own wrapped
(a Vault token allowed to encrypt, an Azure key's public half: RSA-OAEP needs no secret) can
write a whole new, self-consistent backup; protect who can write ``backups.dir``. The wrapped data key itself is left out of
the MACed bytes: the KMS authenticates its own ciphertext, and key rotation re-wraps it without
touching anything the MAC covers. A manifest without a MAC (format 1) is refused: accepting it
would let an attacker strip the MAC by rewriting the version.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any, Literal

import msgspec

from wizard.errors import OperationFailed
from wizard.kms.base import WrappedBlob

FORMAT = "stackseal-backup"
FORMAT_VERSION = 2
#: The first format whose manifests carry a MAC; older ones are refused (see the module docstring).
FIRST_AUTHENTICATED = 2
#: A manifest is a few KB; refuse to parse anything far bigger (hostile backup directory).
MAX_MANIFEST_BYTES = 1 << 20

ID_RE = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}$")
PART_RE = re.compile(r"^(neo4j|keys|objects-[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")

PartKind = Literal["neo4j", "objects", "keys"]


class Part(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One encrypted file of the backup."""

    name: str  # neo4j | keys | objects-<bucket>
    kind: PartKind
    file: str  # <name>.age, inside the backup directory
    plaintext_bytes: int
    plaintext_sha256: str
    ciphertext_bytes: int
    items: int = 1  # objects in a bucket, files in keys, 1 for a dump
    #: what the part holds (format of the plaintext, database, bucket, method); never a secret
    detail: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not PART_RE.match(self.name) or self.file != f"{self.name}.age":
            raise ValueError(f"part {self.name!r}: not a part name stackseal writes")
        if not self.name.startswith(self.kind):
            raise ValueError(f"part {self.name!r}: kind {self.kind!r} does not match")
        for number in (self.plaintext_bytes, self.ciphertext_bytes, self.items):
            if number < 0 or number > 1 << 50:
                raise ValueError(f"part {self.name!r}: size out of range")
        if not _SHA_RE.match(self.plaintext_sha256):
            raise ValueError(f"part {self.name!r}: not a SHA-256")


class Manifest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole manifest (``manifest.json``)."""

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    id: str
    project: str
    created: str  # ISO 8601 UTC, when the backup started
    finished: str
    #: where the data came from: neo4j edition/image/method, object store endpoint/kind
    source: dict[str, Any]
    #: {"format": "age", "identity": "X25519", "data_key": WrappedBlob JSON}
    encryption: dict[str, Any]
    parts: list[Part]
    #: Neo4j node/relationship counts when the backup was taken (None: not reachable)
    counts: dict[str, int] | None = None
    #: HMAC-SHA256 (hex) of :func:`signed_bytes` under :func:`mac_key`; "" until :func:`seal`
    mac: str = ""

    def __post_init__(self) -> None:
        if self.format != FORMAT:
            raise ValueError(f"not a stackseal backup manifest (format {self.format!r})")
        if self.format_version > FORMAT_VERSION:
            raise ValueError(
                f"format_version {self.format_version} was written by a newer stackseal; upgrade stackseal"
            )
        if self.format_version < FIRST_AUTHENTICATED:
            raise ValueError(
                f"format_version {self.format_version} has no manifest MAC, so it cannot be trusted; "
                "take a new backup with this stackseal"
            )
        if not ID_RE.match(self.id):
            raise ValueError(f"id {self.id!r} is not a backup id")
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ValueError("a part is listed twice")
        if self.counts is not None and (
            set(self.counts) != {"nodes", "relationships"} or any(v < 0 for v in self.counts.values())
        ):
            raise ValueError("counts must be {nodes, relationships}, each >= 0")

    @property
    def data_key(self) -> WrappedBlob:
        return WrappedBlob.from_json(self.encryption.get("data_key"))

    def with_data_key(self, blob: WrappedBlob) -> Manifest:
        """A copy whose data key is ``blob`` (key rotation re-wraps, data stays as it is)."""
        return msgspec.structs.replace(self, encryption={**self.encryption, "data_key": blob.to_json()})

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)

    @property
    def plaintext_bytes(self) -> int:
        return sum(p.plaintext_bytes for p in self.parts)

    @property
    def ciphertext_bytes(self) -> int:
        return sum(p.ciphertext_bytes for p in self.parts)


def dumps(manifest: Manifest) -> bytes:
    """Deterministic, human-readable JSON (of a sealed manifest: an unsealed one is never written)."""
    if not _SHA_RE.match(manifest.mac):
        raise OperationFailed(f"backup {manifest.id}: refusing to write a manifest without its MAC")
    return json.dumps(msgspec.to_builtins(manifest), indent=2, sort_keys=True).encode("utf-8") + b"\n"


# --------------------------------------------------------------------------- authentication

#: HKDF "info": names what the derived key is for, so it can never equal a key used elsewhere.
_MAC_INFO = b"stackseal-backup/manifest-mac/v1"
#: Recorded in ``encryption`` so an auditor can see how the manifest is protected.
MAC_DESCRIPTION = "HMAC-SHA256, key HKDF-SHA256(data key, info 'stackseal-backup/manifest-mac/v1')"


def mac_key(data_key: bytes) -> bytes:
    """The manifest's MAC key: HKDF-SHA256 of the backup's data key (an age identity)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_MAC_INFO).derive(data_key)


def signed_bytes(manifest: Manifest) -> bytes:
    """What the MAC covers: every field but ``mac`` and ``encryption.data_key``, as canonical JSON."""
    doc = msgspec.to_builtins(manifest)
    doc.pop("mac", None)
    doc["encryption"] = {k: v for k, v in doc["encryption"].items() if k != "data_key"}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _mac(manifest: Manifest, data_key: bytes) -> str:
    return hmac.new(mac_key(data_key), signed_bytes(manifest), hashlib.sha256).hexdigest()


def seal(manifest: Manifest, data_key: bytes) -> Manifest:
    """A copy of ``manifest`` carrying its MAC (``backup create``, just before publishing)."""
    return msgspec.structs.replace(manifest, mac=_mac(manifest, data_key))


def authenticate(manifest: Manifest, data_key: bytes) -> None:
    """Refuse a manifest whose MAC does not verify under ``data_key`` (edited, or its key swapped)."""
    if not hmac.compare_digest(_mac(manifest, data_key), manifest.mac):
        raise OperationFailed(
            f"backup {manifest.id}: the manifest does not authenticate under the backup's data key "
            "(edited after the backup was taken, or its wrapped key swapped); refused"
        )


def loads(data: bytes, where: str) -> Manifest:
    """Parse a manifest; anything malformed is one line naming ``where``."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise OperationFailed(f"{where}: manifest too large; not a stackseal backup")
    try:
        manifest = msgspec.json.decode(data, type=Manifest, strict=True)
        manifest.data_key  # noqa: B018 - parse the wrapped key now, not halfway through a restore
        if not manifest.parts:
            # create never publishes a backup without a part: an empty list would "verify" in no time
            raise OperationFailed("manifest lists no part; the backup cannot be trusted")
        if not _SHA_RE.match(manifest.mac):
            raise OperationFailed("manifest carries no MAC; the backup cannot be trusted")
        signed_bytes(manifest)  # what authenticate() will hash must be computable: fail here, in one line
        return manifest
    except (msgspec.ValidationError, msgspec.DecodeError) as err:
        raise OperationFailed(f"{where}: manifest is malformed ({_short(err)}); the backup cannot be trusted") from None
    except (RecursionError, ValueError):  # a hostile document nested thousands deep
        raise OperationFailed(
            f"{where}: manifest is malformed (nested too deeply); the backup cannot be trusted"
        ) from None
    except OperationFailed as err:
        raise OperationFailed(f"{where}: {err}") from None


def _short(err: Exception) -> str:
    text = str(err).replace("`", "")
    return text if len(text) < 160 else text[:157] + "..."
