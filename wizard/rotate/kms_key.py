"""``stackseal rotate kms-key``: a new transit key version, every stored blob re-wrapped, old version retired.

Steps (Vault / OpenBao transit), each resumable from what can be observed:

1. the key version before the rotation is journaled, then transit makes a new version — a re-run
   that finds the key already past the journaled version takes that as the target instead of
   rotating again;
2. every blob under ``<out>/secrets/`` whose version is below the target is re-wrapped with
   transit ``rewrap`` (batches of at most 400, pinned to the target version; the plaintext never
   leaves the KMS) and rewritten atomically — a kill leaves each blob old or new, never torn;
3. once every blob is at the target, ``min_decryption_version`` is raised to it: ciphertexts of
   older versions (copies in old backups of the host included) no longer decrypt.

AWS KMS: :mod:`wizard.rotate.aws_kms_key` (RotateKeyOnDemand, then ReEncrypt of every blob).
Azure Key Vault and GCP KMS: :mod:`wizard.rotate.versioned_kms_key` (a new version, then every
blob unwrapped and wrapped again with it).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed, UsageError
from wizard.kms.base import KmsBackend, WrappedBlob, utc_now
from wizard.kms.store import read_blobs, write_blob
from wizard.rotate.checkpoint import checkpoint
from wizard.rotate.journal import RotationJournal
from wizard.rotate.transit import MAX_BATCH, ciphertext_version, rewrap_batched
from wizard.steps.events import Emit, ProgressMeter, StepLog

STEP = "rotate-kms-key"


def _version(name: str, blob: WrappedBlob) -> int:
    try:
        return ciphertext_version(blob.ciphertext.decode("ascii"))
    except (UnicodeDecodeError, OperationFailed):
        raise OperationFailed(
            f"secrets/{name}: not a transit ciphertext (tampered); restore it from a backup"
        ) from None


def rotate_kms_key(backend: KmsBackend, secrets_dir: Path, state_dir: Path, emit: Emit) -> str:
    """Rotate the plan's transit key and move every stored blob to the new version; resumable."""
    if backend.backend == "aws":
        from wizard.rotate.aws_kms_key import rotate_aws_key

        return rotate_aws_key(backend, secrets_dir, state_dir, emit)
    if backend.backend in ("azure", "gcp"):
        from wizard.rotate.versioned_kms_key import rotate_versioned_key

        return rotate_versioned_key(backend, secrets_dir, state_dir, emit)
    if backend.backend != "vault":
        raise UsageError(f"rotate kms-key: kms.backend {backend.backend} has no key to rotate (docs/kms.md)")
    vault: Any = backend
    client = vault._need_token()
    key, mount = backend.plan.kms.key_name, vault.mount
    journal = RotationJournal.begin(state_dir, "kms-key")
    if journal.resuming:
        emit(StepLog(STEP, f"resuming the interrupted rotation {journal.run_id}"))
    try:
        _check_facts(journal)
        target = _target_version(vault, client, key, mount, journal)
        count = _rewrap_all(client, mount, key, backend, secrets_dir, target, journal, emit)
        checkpoint("kms-key-min-decryption")
        with vault.errors("raising min_decryption_version"):
            client.secrets.transit.update_key_configuration(name=key, min_decryption_version=target, mount_point=mount)
        journal.set_fact(min_decryption_version=target)
    except OperationFailed as err:
        journal.fail(str(err))
        raise
    journal.finish()
    return f"transit key {backend.key_id} now at version {target}; {count} blobs re-wrapped; versions below {target} retired"


#: Transit key versions are small positive integers; anything beyond this was not written by us.
_MAX_VERSION = 1 << 31


def _check_facts(journal: RotationJournal) -> None:
    """The journal is an output-dir file, so hostile: its facts must have the shapes this code wrote.

    Why before any KMS call: a string would end in a traceback, and a huge ``before_version``
    would make the KMS rotate and then refuse the new version as "not new" (a wasted version).
    """
    for fact in ("before_version", "target_version", "rewrapped"):
        value = journal.facts.get(fact, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_VERSION:
            raise OperationFailed(f"{journal.path}: damaged rotation journal; move it aside and run the rotation again")


def _latest(vault: Any, client: Any, key: str, mount: str) -> int:
    with vault.errors("reading the transit key"):
        data = client.secrets.transit.read_key(name=key, mount_point=mount)["data"]
    return int(data["latest_version"])


def _target_version(vault: Any, client: Any, key: str, mount: str, journal: RotationJournal) -> int:
    latest = _latest(vault, client, key, mount)
    if "target_version" in journal.facts:
        # someone rotated again since: follow the latest version (blobs only ever move forward)
        target = max(int(journal.facts["target_version"]), latest)
        journal.set_fact(target_version=target)
        return target
    if "before_version" not in journal.facts:
        journal.set_fact(before_version=latest)
    before = int(journal.facts["before_version"])
    if latest > before:
        target = latest  # the rotation happened just before a kill: never rotate twice
    else:
        checkpoint("kms-key-rotate")
        target = int(vault.rotate() or 0)
        if target <= before:
            raise OperationFailed(f"transit key {vault.key_id}: the KMS did not make a new version (still {before})")
    journal.set_fact(target_version=target)
    return target


def _rewrap_all(
    client: Any,
    mount: str,
    key: str,
    backend: KmsBackend,
    secrets_dir: Path,
    target: int,
    journal: RotationJournal,
    emit: Emit,
) -> int:
    blobs = read_blobs(secrets_dir)
    for name, blob in blobs.items():
        backend.check_blob(name, blob)
    todo = sorted(name for name, blob in blobs.items() if _version(name, blob) < target)
    meter = ProgressMeter(STEP, emit, items_total=len(todo))
    emit(StepLog(STEP, f"{len(todo)} of {len(blobs)} blobs to re-wrap to version {target}"))
    for start in range(0, len(todo), MAX_BATCH):
        names = todo[start : start + MAX_BATCH]
        # Not pinned (a pinned item costs OpenBao's JSON limits a third of the batch): rewrap goes
        # to the latest version, which _target_version made the target.
        fresh = rewrap_batched(client, mount, key, [blobs[n].ciphertext.decode("ascii") for n in names])
        if any(ciphertext_version(text) != target for text in fresh):
            raise OperationFailed(
                f"transit key {backend.key_id} was rotated again during this rotation; run it again to finish"
            )
        now = utc_now()
        for name, text in zip(names, fresh, strict=True):
            blob = replace(blobs[name], ciphertext=text.encode("ascii"), key_version=str(target), rotated=now)
            write_blob(secrets_dir, name, blob, replace=True)
        journal.set_fact(rewrapped=int(journal.facts.get("rewrapped", 0)) + len(names))
        meter.advance(len(names), what=f"{start + len(names)} of {len(todo)}")
        checkpoint("kms-key-rewrap")
    left = [n for n, b in read_blobs(secrets_dir).items() if _version(n, b) < target]
    if left:
        raise OperationFailed(f"{len(left)} blobs are still below version {target} (e.g. {left[0]}); run again")
    return len(todo)


def run_kind(plan: Any, emit: Emit) -> str:
    """Entry point of ``stackseal rotate kms-key`` (the dispatch table in rotate_cmd)."""
    from wizard import kms

    if not kms.envelope(plan):  # the request does not fit the plan: bad input, exit 2
        raise UsageError(
            f"kms.backend {plan.kms.backend}{' with vault.deploy' if plan.kms.vault.deploy else ''} stores no "
            "wrapped keys, so there is no KMS key to rotate (choose a KMS backend: docs/kms.md)"
        )
    out = plan.output_path
    return rotate_kms_key(kms.get_backend(plan), out / "secrets", out / ".stackseal", emit)
