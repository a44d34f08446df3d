"""``stackseal rotate kms-key`` with Azure Key Vault or Google Cloud KMS: a new key version, every blob re-wrapped.

Why unwrap + wrap: neither service has a re-encrypt call (Vault has ``rewrap``, AWS ``ReEncrypt``),
so each stored blob is unwrapped with the version that wrapped it and wrapped again with the new
primary version, through the backend's own ``unwrap_many`` / ``wrap_many``. The plaintext passes
through stackseal's memory for that moment (as it does at every unlock), never to disk.

Resumable from what the journal (``.stackseal/rotate-kms-key.json``) and the blobs show:

1. the new version is made (``rotate``: Azure ``rotate_key``, GCP a new version made primary) and
   journaled as the target; a run killed between the call and the journal write makes one more
   version when re-run (harmless: older versions stay enabled);
2. every blob whose ``key_version`` is not the target is re-wrapped in batches and rewritten
   atomically (``created`` kept, ``rotated`` set) — a kill leaves each blob old or new.

Old versions are never disabled: disable them in the KMS once no backup needs them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from wizard.errors import OperationFailed
from wizard.kms.base import KmsBackend, utc_now
from wizard.kms.store import read_blobs, write_blob
from wizard.rotate.checkpoint import checkpoint
from wizard.rotate.journal import RotationJournal
from wizard.steps.events import Emit, ProgressMeter, StepLog

STEP = "rotate-kms-key"
BATCH = 50


def rotate_versioned_key(backend: KmsBackend, secrets_dir: Path, state_dir: Path, emit: Emit) -> str:
    """Make a new version of the plan's key and re-wrap every stored blob with it; resumable."""
    journal = RotationJournal.begin(state_dir, "kms-key")
    if journal.resuming:
        emit(StepLog(STEP, f"resuming the interrupted rotation {journal.run_id}"))
    try:
        target_fact, rewrapped = journal.facts.get("target_version", ""), journal.facts.get("rewrapped", 0)
        if not isinstance(target_fact, str) or not isinstance(rewrapped, int) or isinstance(rewrapped, bool):
            # an output-dir file, so hostile: only the shapes this code writes are accepted
            raise OperationFailed(f"{journal.path}: damaged rotation journal; move it aside and run the rotation again")
        blobs = read_blobs(secrets_dir)
        for name, blob in blobs.items():
            backend.check_blob(name, blob)
        if "target_version" not in journal.facts:
            checkpoint("kms-key-rotate")
            made = backend.rotate()
            if not made:
                raise OperationFailed(f"{backend.backend} key {backend.key_id}: the KMS made no new version")
            journal.set_fact(target_version=str(made))
            emit(StepLog(STEP, f"{backend.backend} key {backend.key_id}: new version {made}"))
        target = str(journal.facts["target_version"])
        count = _rewrap_all(backend, secrets_dir, target, journal, emit)
    except OperationFailed as err:
        journal.fail(str(err))
        raise
    journal.finish()
    return (
        f"{backend.backend} key {backend.key_id} now at version {target}; {count} blobs re-wrapped "
        "(older versions stay enabled: disable them in the KMS once no backup needs them)"
    )


def _rewrap_all(backend: KmsBackend, secrets_dir: Path, target: str, journal: RotationJournal, emit: Emit) -> int:
    blobs = read_blobs(secrets_dir)
    todo = sorted(n for n, b in blobs.items() if b.key_version != target)
    meter = ProgressMeter(STEP, emit, items_total=len(todo))
    emit(StepLog(STEP, f"{len(todo)} of {len(blobs)} blobs to re-wrap to version {target}"))
    for start in range(0, len(todo), BATCH):
        names = todo[start : start + BATCH]
        fresh = backend.wrap_many(backend.unwrap_many({n: blobs[n] for n in names}))
        if any(b.key_version != target for b in fresh.values()):
            raise OperationFailed(
                f"{backend.backend} key {backend.key_id} got another primary version during this rotation; "
                "run it again to finish"
            )
        now = utc_now()
        for name in names:
            write_blob(secrets_dir, name, replace(fresh[name], created=blobs[name].created, rotated=now), replace=True)
        journal.set_fact(rewrapped=int(journal.facts.get("rewrapped", 0)) + len(names))
        meter.advance(len(names), what=f"{start + len(names)} of {len(todo)}")
        checkpoint("kms-key-rewrap")
    return len(todo)
