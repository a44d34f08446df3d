"""The whole ``migrate objects`` operation for a plan: buckets, inventory, copy, vacuum, summary.

Why separate from :mod:`wizard.stores.objects`: that module knows one object and a pool of them;
this one knows the plan (which buckets, which SSE, where the journal lives), the store kind (what
removes the plaintext remnants) and what to tell the user. The CLI and the TUI both call
:func:`migrate_objects` with their own ``emit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed
from wizard.plan import Plan
from wizard.steps.events import Emit, StepLog, StepStarted
from wizard.stores import s3
from wizard.stores.journal import OpJournal
from wizard.stores.objects import STEP_ID, ObjectMigrator, ObjectRef, Report

JOURNAL_NAME = "migrate-objects"

MINIO_REMNANTS = (
    "MinIO rewrites an object's data files on copy and deletes the old ones: no vacuum is needed, but the "
    "plaintext may survive in free blocks of the disk under MinIO unless that disk is itself encrypted "
    "(a stackseal volume), and versioned buckets keep older versions as they were"
)


@dataclass
class Outcome:
    report: Report
    missing_buckets: list[str] = field(default_factory=list)
    vacuum: str = ""
    plain: int = 0  # dry run: objects that would be copied
    plain_bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.report.failed and not self.missing_buckets and not self.vacuum.startswith("FAILED")


def journal_target(plan: Plan, secrets_dir: Path) -> dict[str, Any]:
    """What the journal is valid for: another endpoint, SSE mode or key starts a fresh journal."""
    store = plan.object_store
    key = store.key_name if store.sse == "sse-kms" else ""
    if store.sse == "sse-c":
        key = s3.key_fingerprint(s3.customer_key(plan, secrets_dir))
    return {"endpoint": store.endpoint, "sse": store.sse, "key": key}


def migrate_objects(
    plan: Plan,
    emit: Emit,
    *,
    buckets: list[str] | None = None,
    workers: int = 8,
    verify: str = "auto",
    dry_run: bool = False,
    all_versions: bool = False,
    vacuum: bool = True,
    client: Any = None,
) -> Outcome:
    out = plan.output_path
    from wizard.kms import plaintext_dir

    # the credentials and the SSE-C key are read where their plaintext lives (tmpfs with a KMS)
    secrets_dir, state_dir = plaintext_dir(plan), out / ".stackseal"
    store = plan.object_store
    client = client or s3.require_client(plan, secrets_dir, pool=workers + 2, read_timeout=600)
    sse = s3.write_sse(plan, secrets_dir)
    journal = OpJournal(state_dir, JOURNAL_NAME, journal_target(plan, secrets_dir))
    migrator = ObjectMigrator(
        client, sse, journal, emit, workers=workers, verify=verify, store_kind=store.kind, sse_mode=store.sse
    )
    emit(StepStarted(STEP_ID, f"re-encrypt existing objects ({store.sse}, {workers} workers)", 1, 1))
    if journal.resumed:
        emit(StepLog(STEP_ID, f"resuming from {journal.path} (finished objects are not copied again)"))
    refs: list[ObjectRef] = []
    missing: list[str] = []
    for bucket in buckets or store.buckets:
        if not s3.reach(store.endpoint, client.bucket_exists, bucket):
            emit(StepLog(STEP_ID, f"bucket {bucket} does not exist; skipped (run 'stackseal apply')", "warning"))
            missing.append(bucket)
            continue
        status = s3.reach(store.endpoint, migrator.versioning, bucket)
        if status != "Off" and not all_versions:
            emit(
                StepLog(
                    STEP_ID,
                    f"bucket {bucket} is versioned ({status}): each copy becomes a new encrypted current version and "
                    "older versions stay plaintext; re-run with --all-versions to re-encrypt them too (each old "
                    "version is copied and its plaintext version deleted once the copy is verified)",
                    "warning",
                )
            )
        refs.extend(s3.reach(store.endpoint, migrator.inventory, [bucket], all_versions))
    if dry_run:
        outcome = Outcome(Report(total=len(refs), total_bytes=sum(r.size for r in refs)), missing)
        for ref in refs:
            state, _ = s3.reach(store.endpoint, migrator._state, ref)
            if state == "plain":
                outcome.plain += 1
                outcome.plain_bytes += ref.size
        return outcome
    report = migrator.run(refs)
    outcome = Outcome(report, missing)
    if store.kind == "minio":
        outcome.vacuum = MINIO_REMNANTS
    elif vacuum and (report.copied or journal.meta.get("vacuum_pending")):
        journal.checkpoint(vacuum_pending=True)
        from wizard.stores.seaweed import vacuum as weed_vacuum

        emit(StepLog(STEP_ID, "vacuuming SeaweedFS so the plaintext copies leave the volume files"))
        try:
            outcome.vacuum = weed_vacuum(plan)
            journal.checkpoint(vacuum_pending=False)
        except OperationFailed as err:
            outcome.vacuum = f"FAILED: {err}"
    elif not vacuum and report.copied:
        outcome.vacuum = "vacuum skipped (--no-vacuum): the plaintext copies are still in SeaweedFS's volume files"
    return outcome
