"""``stackseal rotate volume-keys``: a new key for every encrypted volume, resumable after a kill.

Order per volume, each step safe to repeat (the backend's ``rotate`` first looks at which key
opens the volume now):

1. a new random key is stored next to the current one (``put_pending``) and its fingerprint
   journaled — before the volume changes, so the key that will open it is already durable;
2. the backend makes the new key open the volume and the old one not (gocryptfs ``-passwd``,
   fscrypt protector swap, LUKS add slot -> test -> kill old slot);
3. the new key is verified to open the volume (LUKS: then a header backup is written);
4. only then the new key replaces the old one (``promote``).

A kill between 3 and 4 leaves both keys stored and the new one opening the volume; a kill after 4
is recognised by the journal's fingerprint. What a rotation does not do: re-encrypt data (file
contents keep their keys; see docs/rotation.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from wizard.errors import OperationFailed
from wizard.kms.base import utc_now
from wizard.layout import VolumeSpec, volume_specs
from wizard.plan import Plan
from wizard.rotate.checkpoint import checkpoint
from wizard.rotate.fscrypt_meta import key_fingerprint
from wizard.rotate.journal import RotationJournal
from wizard.rotate.keystore import VolumeKeys
from wizard.steps.events import Emit, ProgressMeter, StepLog
from wizard.volumes import get_backend
from wizard.volumes.base import VolumeBackend
from wizard.volumes.keys import new_key

STEP = "rotate-volume-keys"


def header_backup_path(state_dir: Path, volume: str) -> Path:
    """Where the LUKS header backup of a volume is kept (the escrow bundle carries it)."""
    return state_dir / "luks-headers" / f"{volume}.img"


def rotate_volume_keys(
    plan: Plan,
    keys: VolumeKeys,
    state_dir: Path,
    emit: Emit,
    backend: VolumeBackend | None = None,
    specs: list[VolumeSpec] | None = None,
) -> str:
    """Rotate every volume's key; returns a one-line summary. Resumes an interrupted run."""
    backend = backend or get_backend(plan)
    if not backend.uses_key:  # host-fde, none: stackseal holds no key to rotate
        return f"nothing to rotate: volumes.backend {backend.name} has no stackseal key"
    specs = volume_specs(plan) if specs is None else specs
    journal = RotationJournal.begin(state_dir, "volume-keys")
    if journal.resuming:
        emit(StepLog(STEP, f"resuming the interrupted rotation {journal.run_id}"))
    meter = ProgressMeter(STEP, emit, items_total=len(specs))
    rotated = skipped = 0
    try:
        for spec in specs:
            outcome = _rotate_one(backend, spec, keys, state_dir, journal, emit)
            rotated += outcome == "rotated"
            skipped += outcome != "rotated"
            meter.advance(1, what=spec.name)
    except OperationFailed as err:
        journal.fail(str(err))
        raise
    journal.finish()
    return f"rotated the keys of {rotated} {backend.name} volumes ({skipped} skipped: absent or done)"


def _rotate_one(
    backend: VolumeBackend,
    spec: VolumeSpec,
    keys: VolumeKeys,
    state_dir: Path,
    journal: RotationJournal,
    emit: Emit,
) -> str:
    record = journal.items.get(spec.name, {})
    if record.get("state") == "done":
        return "done"
    if backend.status(spec).state == "absent":
        journal.set_item(spec.name, state="done", note="absent")
        return "absent"
    current = keys.current_file(spec.name)
    pending = keys.pending_file(spec.name)
    if pending is None:
        if record.get("state") == "rotating" and record.get("new") == key_fingerprint(current.read_bytes()):
            journal.set_item(spec.name, state="done", rotated=utc_now())  # promoted just before a kill
            return "rotated"
        key = new_key(raw=backend.raw_key)  # the same generator apply uses
        journal.set_item(spec.name, state="rotating", new=key_fingerprint(key), started=utc_now())
        checkpoint("volume-keys-next-key")
        pending = keys.put_pending(spec.name, key)
    checkpoint("volume-keys-backend")
    emit(StepLog(STEP, f"{spec.name}: {backend.name} now opens with the new key"))
    backend.rotate(spec, current, pending)
    if not backend.opens(spec, pending):  # type: ignore[attr-defined]
        raise OperationFailed(f"volume {spec.name}: the new key does not open it after rotating; the old key is kept")
    if backend.name == "luks-file":
        _header_backup(backend, spec, state_dir)
    checkpoint("volume-keys-promote")
    keys.promote(spec.name)
    journal.set_item(spec.name, state="done", rotated=utc_now())
    emit(StepLog(STEP, f"{spec.name}: new key stored, old key removed"))
    return "rotated"


def _header_backup(backend: VolumeBackend, spec: VolumeSpec, state_dir: Path) -> None:
    """Replace the header backup atomically (cryptsetup refuses to overwrite, so: temp, then rename)."""
    dest = header_backup_path(state_dir, spec.name)
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = dest.with_name(f".{dest.name}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    backend.header_backup(spec, tmp)  # type: ignore[attr-defined]
    os.chmod(tmp, 0o600)
    os.replace(tmp, dest)


def run_kind(plan: Plan, emit: Emit) -> str:
    """Entry point of ``stackseal rotate volume-keys``: keys wrapped by the KMS, or local files."""
    from wizard import kms
    from wizard.rotate.keystore import FileVolumeKeys, WrappedVolumeKeys

    out = plan.output_path
    if not kms.envelope(plan):
        return rotate_volume_keys(plan, FileVolumeKeys(out / "secrets"), out / ".stackseal", emit)
    keys = WrappedVolumeKeys(out / "secrets", kms.get_backend(plan), kms.runtime_dir(plan))
    try:
        return rotate_volume_keys(plan, keys, out / ".stackseal", emit)
    finally:
        keys.close()
