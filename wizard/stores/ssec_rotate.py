"""``stackseal rotate object-keys``: move every SSE-C object from the old customer key to a new one.

Why this order (crash-safe): the new key is written first, next to the old one
(``secrets/sse_c_key.new``, 0400); every object is copied onto itself from the old key to the new
one and verified (journaled in ``.stackseal/rotate-object-keys.json``, so a killed run resumes);
only when every object of every bucket reads under the new key does the new key replace the old
one (atomic rename). Until then both keys exist, and a re-run continues with the same new key.

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
    secrets_dir, state_dir = out / "secrets", out / ".stackseal"
    old = s3.customer_key(plan, secrets_dir, KEY)
    ensure_new_key(secrets_dir)
    new = s3.customer_key(plan, secrets_dir, NEW_KEY)
    client = client or s3.require_client(plan, secrets_dir, pool=workers + 2, read_timeout=600)
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
        os.replace(secrets_dir / NEW_KEY, secrets_dir / KEY)
        emit(StepLog(STEP_ID, f"{secrets_dir / KEY} now holds the new key; the old key was removed"))
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
