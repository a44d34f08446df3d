"""A restore drill: prove the latest backup restores, without touching the live stores.

Why a drill and not only ``verify``: verify proves the bytes decrypt to what was backed up; a
drill also proves they go back *in*. Every part is decrypted into a scratch directory and
checked against the manifest (exactly as a restore does), each bucket is restored into a
scratch bucket (``drill-<hex>``) on the plan's object store and read back object by object
against the archive, the key files are extracted and compared, and Neo4j's dump is loaded by
``neo4j-admin`` into a scratch store served by a throw-away container of the plan's Neo4j image
(:mod:`wizard.backup.scratchneo4j`; the live database is neither stopped nor touched), whose
node and relationship counts must equal those recorded at backup time. Everything scratch —
decrypted parts, the scratch store, its containers, the scratch buckets — is removed at the end,
also when a step fails.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any

from wizard.backup import history
from wizard.backup.engine import Sources, check_ciphertext, open_part_plaintext, repo_of, unwrap_data_key
from wizard.errors import OperationFailed
from wizard.kms.base import KeyWrapper
from wizard.steps.events import Emit, ProgressMeter, StepDone, StepStarted, discard


@dataclass
class DrillResult:
    backup_id: str
    checked: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _read_back(plan: Any, client: Any, bucket: str, archive: Any) -> int:
    from wizard.backup.objects import reach

    count = 0
    with tarfile.open(archive, mode="r:") as tar:
        for member in tar:
            body = tar.extractfile(member)
            assert body is not None
            want = hashlib.sha256(body.read()).hexdigest()
            response = reach(plan, client.get_object, bucket, member.name)
            try:
                got = hashlib.sha256(response.read()).hexdigest()
            finally:
                response.close()
                response.release_conn()
            if got != want:
                raise OperationFailed(f"drill: object {member.name[:80]!r} read back differs from the backup")
            count += 1
    return count


def _drop_bucket(plan: Any, client: Any, bucket: str) -> None:
    from wizard.backup.objects import reach

    if not reach(plan, client.bucket_exists, bucket):
        return
    for obj in list(client.list_objects(bucket, recursive=True)):
        reach(plan, client.remove_object, bucket, obj.object_name)
    reach(plan, client.remove_bucket, bucket)


def _drill_neo4j(plan: Any, manifest: Any, dump: Any, scratch: Any, sources: Sources) -> str:
    """Load the dump into a scratch Neo4j and compare its counts with the backup's."""
    got = sources.scratch_neo4j(plan, dump, scratch)
    loaded = f"{got['nodes']} nodes, {got['relationships']} relationships"
    want = manifest.counts
    if want is None:
        return f"dump loaded into a scratch Neo4j ({loaded}); no counts were recorded at backup time to compare"
    if got != want:
        raise OperationFailed(
            f"drill: the dump loaded into a scratch Neo4j holds {loaded}; the backup recorded "
            f"{want['nodes']} nodes, {want['relationships']} relationships"
        )
    return f"dump loaded into a scratch Neo4j: {loaded}, as recorded at backup time; scratch store removed"


def drill(
    plan: Any, wrapper: KeyWrapper, backup_id: str, emit: Emit = discard, sources: Sources | None = None
) -> DrillResult:
    """Run the drill on ``backup_id`` (see the module docstring); raises OperationFailed on any mismatch."""
    repo = repo_of(plan)
    with repo.locked("restore drill"):
        return _drill(plan, wrapper, backup_id, emit, sources or Sources())


def _drill(plan: Any, wrapper: KeyWrapper, backup_id: str, emit: Emit, sources: Sources) -> DrillResult:
    from wizard.backup import keys, objects

    repo = repo_of(plan)
    manifest = repo.manifest(backup_id)
    scratch = repo.scratch()
    result = DrillResult(backup_id)
    started = time.monotonic()
    try:
        for part in manifest.parts:
            check_ciphertext(repo, manifest, part, ProgressMeter(part.name, emit))
        data_key = unwrap_data_key(wrapper, manifest)
        for index, part in enumerate(manifest.parts, 1):
            t0 = time.monotonic()
            emit(StepStarted(part.name, f"drill {part.name}", index, len(manifest.parts)))
            meter = ProgressMeter(part.name, emit, bytes_total=part.plaintext_bytes)
            path = scratch / part.name
            with open(path, "xb") as sink:
                open_part_plaintext(repo, manifest, part, data_key, sink, meter)
            if part.kind == "objects":
                objects.check_tar(path)
                client = sources.s3_for(plan)
                bucket = f"drill-{secrets.token_hex(6)}"
                try:
                    objects.restore_bucket(plan, client, bucket, path, lambda n, b: None)
                    count = _read_back(plan, client, bucket, path)
                finally:
                    _drop_bucket(plan, client, bucket)
                summary = f"{count} objects restored into scratch bucket {bucket}, read back identical, removed"
            elif part.kind == "keys":
                count = keys.check_keys_tar(path)
                summary = f"{count} key files extracted and checked"
            else:
                summary = _drill_neo4j(plan, manifest, path, scratch, sources)
            result.checked.append(f"{part.name}: {summary}")
            emit(StepDone(part.name, False, summary, time.monotonic() - t0))
    except OperationFailed as err:
        history.record(repo, backup_id, "drill", "failed", str(err))
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.seconds = time.monotonic() - started
    history.record(repo, backup_id, "drill", "done")
    history.record(repo, backup_id, "verify", "done")
    return result
