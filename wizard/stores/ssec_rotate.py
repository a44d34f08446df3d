"""``stackseal rotate object-keys``: move every SSE-C object from the old customer key to a new one.

Why this order (crash-safe): the new key is written first, next to the old one
(``secrets/sse_c_key.new``, 0400); every object is copied onto itself from the old key to the new
one and verified (journaled in ``.stackseal/rotate-object-keys.json``, so a killed run resumes);
only when every object of every bucket reads under the new key does the new key replace the old
one (atomic rename). Until then both keys exist, and a re-run continues with the same new key.

With a KMS (keys stored wrapped, plaintext only in the tmpfs runtime directory while unlocked) the
same order holds one level down: the new key is stored wrapped first (``secrets/sse_c_key.new``
blob) and materialised in the runtime directory; at the end the new blob replaces the old one
before the ``.new`` blob is removed, so a kill at any instant leaves a stored key for every object.

SSE-S3 and SSE-KMS keys are not rotated by copying objects: SeaweedFS's SSE-S3 KEK and MinIO's
static key cannot be rotated in place, and SSE-KMS rotates in the KMS (RUNBOOK section 4).
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.errors import UsageError
from wizard.fsutil import atomic_write
from wizard.plan import Plan
from wizard.steps.events import Emit, StepLog, StepStarted
from wizard.stores import s3
from wizard.stores.journal import OpJournal
from wizard.stores.objects import ObjectMigrator, Report

STEP_ID = "rotate-object-keys"
KEY, NEW_KEY = "sse_c_key", "sse_c_key.new"


@dataclass
class RotationOutcome:
    report: Report
    rotated: bool
    missing_buckets: list[str] = field(default_factory=list)


def ensure_new_key(secrets_dir: Path) -> None:
    """Write ``sse_c_key.new`` once (a re-run keeps the one objects may already use)."""
    path = secrets_dir / NEW_KEY
    if path.is_symlink():
        raise UsageError(f"{path}: is a symbolic link; remove it (stackseal writes keys only to real files)")
    if not path.exists():
        atomic_write(path, base64.b64encode(secrets.token_bytes(32)) + b"\n", mode=0o400)


class _KeyFiles:
    """Where the old and new SSE-C keys are read, and how the new one becomes *the* key.

    Without a KMS both are plaintext files in ``secrets/``; with one, the authoritative copies are
    wrapped blobs in ``secrets/`` and the plaintext lives in the runtime directory (``unlock``).
    """

    def __init__(self, plan: Plan) -> None:
        from wizard import kms

        self.plan = plan
        self.secrets_dir = plan.output_path / "secrets"
        self.wrapped = kms.envelope(plan)
        self.plain = kms.plaintext_dir(plan) if self.wrapped else self.secrets_dir

    def prepare_new(self) -> None:
        """Create the new key once (a re-run keeps the one objects may already use)."""
        if not self.wrapped:
            ensure_new_key(self.secrets_dir)
            return
        from wizard import kms
        from wizard.kms.store import read_blobs, write_blob

        if not (self.plain / KEY).exists():
            raise UsageError(
                f"the stack is locked: {self.plain / KEY} does not exist; run 'stackseal unlock -c FILE' first"
            )
        backend = kms.get_backend(self.plan)
        blob = read_blobs(self.secrets_dir).get(NEW_KEY)
        if blob is None:
            value = base64.b64encode(secrets.token_bytes(32)) + b"\n"
            blob = backend.wrap_many({NEW_KEY: value})[NEW_KEY]
            write_blob(self.secrets_dir, NEW_KEY, blob)  # stored (wrapped) before any object uses it
        else:
            value = backend.unwrap_many({NEW_KEY: blob})[NEW_KEY]
        target = self.plain / NEW_KEY
        if target.is_symlink():
            raise UsageError(f"{target}: is a symbolic link; remove it (stackseal writes keys only to real files)")
        atomic_write(target, value, mode=0o400)

    def promote(self) -> str:
        """The new key becomes the key; returns where it now lives (for the log line)."""
        if self.wrapped:
            from wizard.kms.store import blob_path, read_blobs, write_blob

            blob = read_blobs(self.secrets_dir)[NEW_KEY]
            write_blob(self.secrets_dir, KEY, blob, replace=True)  # first the stored key ...
            blob_path(self.secrets_dir, NEW_KEY).unlink()  # ... then the pending one is dropped
        os.replace(self.plain / NEW_KEY, self.plain / KEY)
        return str(self.plain / KEY) + (" (and its wrapped blob in secrets/)" if self.wrapped else "")


def rotate_object_keys(
    plan: Plan, emit: Emit, *, workers: int = 8, verify: str = "auto", client: Any = None
) -> RotationOutcome:
    store = plan.object_store
    if store.sse != "sse-c":
        raise UsageError(
            f"object_store.sse is {store.sse}: only SSE-C object keys are rotated by copying objects; "
            + (
                "rotate the KMS key instead (RUNBOOK section 4)"
                if store.sse == "sse-kms"
                else "an SSE-S3 server key cannot be rotated in place (RUNBOOK section 4 says what can be done)"
            )
        )
    out = plan.output_path
    state_dir = out / ".stackseal"
    keys = _KeyFiles(plan)
    if keys.wrapped and not (keys.plain / KEY).exists():
        raise UsageError(
            f"the stack is locked: {keys.plain / KEY} does not exist; run 'stackseal unlock -c FILE' first"
        )
    old = s3.customer_key(plan, keys.plain, KEY)
    keys.prepare_new()
    new = s3.customer_key(plan, keys.plain, NEW_KEY)
    client = client or s3.require_client(plan, keys.plain, pool=workers + 2, read_timeout=600)
    target = {"endpoint": store.endpoint, "from": s3.key_fingerprint(old), "to": s3.key_fingerprint(new)}
    journal = OpJournal(state_dir, STEP_ID, target)
    migrator = ObjectMigrator(
        client,
        new,
        journal,
        emit,
        workers=workers,
        verify=verify,
        store_kind=store.kind,
        sse_mode="sse-c",
        source_ssec=old,
    )
    emit(StepStarted(STEP_ID, f"copy every object from the old SSE-C key to the new one ({workers} workers)", 1, 1))
    if journal.resumed:
        emit(StepLog(STEP_ID, f"resuming from {journal.path} (objects already under the new key are not copied)"))
    refs, missing = [], []
    for bucket in store.buckets:
        if not s3.reach(store.endpoint, client.bucket_exists, bucket):
            emit(StepLog(STEP_ID, f"bucket {bucket} does not exist; skipped", "warning"))
            missing.append(bucket)
            continue
        refs.extend(s3.reach(store.endpoint, migrator.inventory, [bucket]))
    report = migrator.run(refs)
    rotated = not report.failed
    if rotated:
        # Every object reads under the new key: it becomes the key, the old one is gone.
        where = keys.promote()
        emit(StepLog(STEP_ID, f"{where} now holds the new key; the old key was removed"))
    else:
        emit(
            StepLog(
                STEP_ID,
                f"{len(report.failed)} objects are not under the new key yet: both keys are kept "
                f"({KEY}, {NEW_KEY}); fix the cause and run again",
                "warning",
            )
        )
    return RotationOutcome(report, rotated, missing)
