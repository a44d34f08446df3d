"""Restoring an escrow bundle on a (new) host: check everything first, then write atomically.

Why two phases: a bundle is hostile input until proven otherwise (names become paths), and a
half-restored host is worse than none. :func:`plan_restore` validates every entry against the
answers file (known volume names, secret names stackseal writes, parseable blobs) and compares
with what is on disk; only if nothing conflicts does :func:`apply_restore` write, each file
atomically. Existing identical files are left alone, so importing twice changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed, UsageError
from wizard.fsutil import atomic_write
from wizard.kms.base import WrappedBlob
from wizard.kms.local import check_name
from wizard.kms.store import blob_path, ensure_directory

OPENBAO_FILES = ("openbao_init.json", "openbao_init.age")
MAX_HEADER = 64 << 20


@dataclass(frozen=True)
class Write:
    path: Path
    data: bytes
    mode: int
    what: str


def _decode(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise OperationFailed(f"bundle: {what} is not valid base64 (damaged bundle)") from None


def _name(name: str, what: str) -> str:
    try:
        check_name(name)
    except ValueError:
        raise OperationFailed(f"bundle: {what} {name!r} is not a name stackseal writes (refused)") from None
    return name


def plan_restore(plan: Any, doc: dict[str, Any]) -> list[Write]:
    """Every file the bundle would restore for ``plan``; raises on anything that does not fit."""
    from wizard.layout import volume_specs
    from wizard.rotate.volume_keys import header_backup_path

    if doc.get("project") != plan.project:
        raise UsageError(f"the bundle is for project '{doc.get('project')}', the answers file for '{plan.project}'")
    if doc.get("kms", {}).get("backend") != plan.kms.backend:
        raise UsageError(
            f"the bundle's keys are wrapped by kms.backend '{doc.get('kms', {}).get('backend')}', the answers file "
            f"uses '{plan.kms.backend}'; use the answers file the bundle was made with"
        )
    secrets_dir = plan.output_path / "secrets"
    state_dir = plan.output_path / ".stackseal"
    writes: list[Write] = []
    for name, data in sorted(doc["blobs"].items()):
        blob = WrappedBlob.from_json(data)
        text = json.dumps(blob.to_json(), indent=2, sort_keys=True) + "\n"
        writes.append(Write(blob_path(secrets_dir, _name(name, "secret")), text.encode(), 0o400, f"wrapped {name}"))
    for name, data in sorted(doc["plain_secrets"].items()):
        writes.append(Write(secrets_dir / _name(name, "secret"), _decode(data, name), 0o400, f"secret {name}"))
    for name, data in sorted(doc["openbao"].items()):
        if name not in OPENBAO_FILES:
            raise OperationFailed(f"bundle: unexpected OpenBao file {name!r} (refused)")
        writes.append(Write(secrets_dir / name, _decode(data, name), 0o400, f"OpenBao {name}"))
    specs = {spec.name: spec for spec in volume_specs(plan)}
    for volume, data in sorted(doc["luks_headers"].items()):
        if volume not in specs:
            raise OperationFailed(f"bundle: LUKS header of unknown volume {volume!r} (not in the answers file)")
        try:
            header = zlib.decompressobj().decompress(_decode(data, volume), MAX_HEADER)
        except zlib.error:
            raise OperationFailed(f"bundle: the LUKS header of {volume} is damaged") from None
        writes.append(Write(header_backup_path(state_dir, volume), header, 0o600, f"LUKS header of {volume}"))
    for volume, entry in sorted(doc["gocryptfs"].items()):
        if volume not in specs or not isinstance(entry, dict):
            raise OperationFailed(f"bundle: gocryptfs entry of unknown volume {volume!r} (not in the answers file)")
        backing = specs[volume].backing
        if backing.is_dir() and not backing.is_symlink():  # the data is back; its conf may not be
            conf = _decode(entry.get("conf", ""), f"gocryptfs.conf of {volume}")
            writes.append(Write(backing / "gocryptfs.conf", conf, 0o400, f"gocryptfs.conf of {volume}"))
    return writes


def conflicts(writes: list[Write]) -> list[Write]:
    """Writes whose target exists with other content (or is not a regular file)."""
    found = []
    for write in writes:
        if write.path.is_symlink() or (write.path.exists() and not write.path.is_file()):
            found.append(write)
        elif write.path.exists() and write.path.read_bytes() != write.data:
            found.append(write)
    return found


def apply_restore(writes: list[Write], force: bool = False) -> list[Write]:
    """Write what is missing; refuse (exit 2, nothing written) on a conflict unless ``force``."""
    clash = conflicts(writes)
    if clash and not force:
        raise UsageError(
            f"{clash[0].path} exists and differs from the bundle's {clash[0].what} ({len(clash)} such files); "
            "nothing was changed: move them away or import with --force"
        )
    todo = [w for w in writes if not (w.path.is_file() and not w.path.is_symlink() and w.path.read_bytes() == w.data)]
    for write in todo:
        if write.path.parent.name == "secrets":
            ensure_directory(write.path.parent)
        if write.path.is_symlink():
            write.path.unlink()
        atomic_write(write.path, write.data, mode=write.mode)
    return todo
