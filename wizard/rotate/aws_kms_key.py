"""``stackseal rotate kms-key`` with AWS KMS: new key material on demand, every stored blob re-encrypted.

Why this shape: AWS KMS keeps every older key material of a key and decrypts with it forever (there
is no ``min_decryption_version``), and it exposes no version in a ciphertext. So rotating means:
``RotateKeyOnDemand`` (new material for everything wrapped from now on), then ``ReEncrypt`` of
every blob under ``<out>/secrets/`` — inside KMS, the plaintext never leaves it — each blob
rewritten atomically. A copy of an old blob (an old host backup) still decrypts: say so, and
retire such copies by deleting them, not by rotating.

Resumable, each step from what the journal (``.stackseal/rotate-kms-key.json``) and AWS show:

1. the names to re-encrypt and the number of rotations the key had are journaled first;
2. the key is rotated only if AWS still lists that many rotations (a kill right after the call is
   not followed by a second rotation: AWS allows few on-demand rotations per key);
3. blobs are re-encrypted in batches; after each batch the done names are journaled. A kill
   leaves each blob old or new (atomic writes); a re-run re-encrypts only what is not journaled
   as done (a blob done but not yet journaled is re-encrypted once more, which is harmless).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed
from wizard.kms.base import KmsBackend, utc_now
from wizard.kms.store import read_blobs, write_blob
from wizard.rotate.checkpoint import checkpoint
from wizard.rotate.journal import RotationJournal
from wizard.steps.events import Emit, ProgressMeter, StepLog

STEP = "rotate-kms-key"
BATCH = 50  # blobs re-encrypted between two journal writes (one ReEncrypt call each: AWS has no batch)


def _rotations(backend: Any, client: Any, key_id: str) -> int:
    """How many rotations AWS lists for the key (automatic and on demand)."""
    count, marker = 0, None
    while True:
        with backend.errors("listing the key's rotations"):
            page = client.list_key_rotations(KeyId=key_id, **({"Marker": marker} if marker else {}))
        count += len(page.get("Rotations", []))
        marker = page.get("NextMarker")
        if not page.get("Truncated") or not marker:
            return count


def _check_facts(journal: RotationJournal) -> None:
    """The journal is an output-dir file, so hostile: its facts must have the shapes this code wrote."""
    facts = journal.facts

    def names(key: str) -> bool:
        value = facts.get(key, [])
        return isinstance(value, list) and all(isinstance(n, str) for n in value)

    count = facts.get("before_rotations", 0)
    if not (names("todo") and names("done") and isinstance(count, int) and not isinstance(count, bool)):
        raise OperationFailed(f"{journal.path}: damaged rotation journal; move it aside and run the rotation again")


def rotate_aws_key(backend: KmsBackend, secrets_dir: Path, state_dir: Path, emit: Emit) -> str:
    """Rotate the plan's AWS KMS key on demand and re-encrypt every stored blob with it; resumable."""
    aws: Any = backend
    client = aws.client()
    with aws.errors("describing the key"):
        key_id = client.describe_key(KeyId=backend.key_id)["KeyMetadata"]["KeyId"]  # rotation takes no alias
    journal = RotationJournal.begin(state_dir, "kms-key")
    if journal.resuming:
        emit(StepLog(STEP, f"resuming the interrupted rotation {journal.run_id}"))
    try:
        _check_facts(journal)
        blobs = read_blobs(secrets_dir)
        for name, blob in blobs.items():
            backend.check_blob(name, blob)
        if "todo" not in journal.facts:
            journal.set_fact(todo=sorted(blobs), done=[], before_rotations=_rotations(aws, client, key_id))
        if _rotations(aws, client, key_id) <= int(journal.facts["before_rotations"]):
            checkpoint("kms-key-rotate")
            aws.rotate()
            emit(StepLog(STEP, f"AWS KMS key {backend.key_id}: new key material (RotateKeyOnDemand)"))
        count = _reencrypt_all(aws, client, secrets_dir, journal, emit)
    except OperationFailed as err:
        journal.fail(str(err))
        raise
    journal.finish()
    return (
        f"AWS KMS key {backend.key_id} rotated; {count} blobs re-encrypted with its new material "
        "(AWS keeps older material able to decrypt: delete old copies of secrets/ to retire them)"
    )


def _reencrypt_all(aws: Any, client: Any, secrets_dir: Path, journal: RotationJournal, emit: Emit) -> int:
    done = set(journal.facts.get("done", []))
    blobs = read_blobs(secrets_dir)
    todo = [n for n in journal.facts["todo"] if n not in done and n in blobs]
    meter = ProgressMeter(STEP, emit, items_total=len(todo))
    emit(StepLog(STEP, f"{len(todo)} of {len(blobs)} blobs to re-encrypt"))
    for start in range(0, len(todo), BATCH):
        names = todo[start : start + BATCH]
        for name in names:
            context = {"stackseal": name}  # the same binding wrap/unwrap use: a renamed blob is refused
            with aws.errors(f"re-encrypting {name}"):
                answer = client.re_encrypt(
                    CiphertextBlob=blobs[name].ciphertext,
                    SourceEncryptionContext=context,
                    SourceKeyId=aws.key_id,
                    DestinationKeyId=aws.key_id,
                    DestinationEncryptionContext=context,
                )
            blob = replace(
                blobs[name], ciphertext=answer["CiphertextBlob"], key_version=answer.get("KeyId"), rotated=utc_now()
            )
            write_blob(secrets_dir, name, blob, replace=True)
        done.update(names)
        journal.set_fact(done=sorted(done))
        meter.advance(len(names), what=f"{start + len(names)} of {len(todo)}")
        checkpoint("kms-key-rewrap")
    return len(todo)
