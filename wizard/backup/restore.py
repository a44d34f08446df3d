"""``backup restore``: everything checked against the manifest before anything is replaced.

Why in two phases: phase one reads only — the ciphertext sizes and hashes, the KMS unwrap of the
data key, every part decrypted into a private scratch directory on the backups' own filesystem
and its SHA-256 compared with the manifest, the archives walked, and the targets inspected
(non-empty targets are refused without ``--force``). Any tampering, truncation, wrong key or
unreachable KMS stops here with one line, and the targets have not been touched. Phase two
then loads Neo4j (``neo4j-admin database load``), PUTs the objects and writes the key files.

The scratch directory holds plaintext for the duration of the restore and is removed at the
end, whatever happens: put ``backups.dir`` on an encrypted volume (docs/backup.md).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from wizard.backup import history
from wizard.backup.engine import (
    KINDS,
    Sources,
    byte_progress,
    check_ciphertext,
    item_progress,
    open_part_plaintext,
    repo_of,
    unwrap_data_key,
    warner,
)
from wizard.backup.manifest import Manifest, Part
from wizard.errors import OperationFailed, Refused, StacksealError, UsageError
from wizard.kms.base import KeyWrapper
from wizard.steps.events import Emit, ProgressMeter, StepDone, StepLog, StepStarted, discard


def select(manifest: Manifest, what: Iterable[str]) -> list[Part]:
    what = tuple(what)
    parts = [p for p in manifest.parts if p.kind in what]
    missing = [k for k in what if k in KINDS and not any(p.kind == k for p in manifest.parts)]
    if missing and what != KINDS:
        raise UsageError(f"backup {manifest.id} holds no {', '.join(missing)} part; choose --what from what it holds")
    if not parts:
        raise UsageError(f"backup {manifest.id} holds nothing to restore for --what {','.join(what)}")
    return parts


def _decrypt_all(
    repo: Any, manifest: Manifest, parts: list[Part], wrapper: KeyWrapper, scratch: Path, emit: Emit
) -> None:
    for part in parts:
        check_ciphertext(repo, manifest, part, ProgressMeter(part.name, emit))
    data_key = unwrap_data_key(wrapper, manifest)
    for part in parts:
        emit(StepLog(part.name, f"decrypting {part.name} into a scratch area and checking its SHA-256"))
        meter = ProgressMeter(part.name, emit, bytes_total=part.plaintext_bytes)
        with open(scratch / part.name, "xb") as sink:
            open_part_plaintext(repo, manifest, part, data_key, sink, meter)


def _check_targets(plan: Any, parts: list[Part], scratch: Path, force: bool, sources: Sources, emit: Emit) -> None:
    from wizard.backup import keys, objects

    problems = []
    for part in parts:
        if part.kind == "objects":
            objects.check_tar(scratch / part.name)
            bucket = part.detail.get("bucket", part.name.removeprefix("objects-"))
            if bucket != part.name.removeprefix("objects-"):
                raise OperationFailed(f"part {part.name} names bucket {bucket!r}; the manifest is inconsistent")
            if not objects.bucket_is_empty(plan, sources.s3_for(plan), bucket):
                problems.append(f"bucket {bucket} is not empty")
        elif part.kind == "keys":
            clash = keys.conflicts(plan, scratch / part.name)
            if clash:
                problems.append(f"secrets/ already holds different {', '.join(clash[:3])}")
        elif part.kind == "neo4j":
            current = sources.counts(plan)
            if current is None:
                problems.append("Neo4j is not reachable, so it cannot be told empty")
            elif current["nodes"] or current["relationships"]:
                problems.append(f"Neo4j holds {current['nodes']} nodes and {current['relationships']} relationships")
    if problems and not force:
        raise Refused(f"restore target is not empty ({'; '.join(problems)}); pass --force to overwrite it")
    for problem in problems:
        emit(StepLog("restore", f"--force: overwriting although {problem}", level="warning"))


def _apply(
    plan: Any, manifest: Manifest, parts: list[Part], scratch: Path, force: bool, sources: Sources, emit: Emit
) -> None:
    from wizard.backup import keys, objects

    for index, part in enumerate(parts, 1):
        started = time.monotonic()
        emit(StepStarted(part.name, f"restore {part.name}", index, len(parts)))
        meter = ProgressMeter(part.name, emit, items_total=part.items, bytes_total=part.plaintext_bytes)
        path = scratch / part.name
        if part.kind == "neo4j":
            compose = sources.compose_for(plan)
            progress = byte_progress(meter, "neo4j-admin")
            warn = warner(emit, "neo4j")
            argv = compose.restore_argv() if plan.neo4j.edition == "enterprise" else compose.load_argv()
            with compose.stopped(warn), open(path, "rb") as source:
                compose.consume(argv, source, "neo4j-admin database load", progress)
            summary = f"Neo4j loaded from a {part.plaintext_bytes}-byte dump"
        elif part.kind == "objects":
            bucket = part.name.removeprefix("objects-")
            put_progress = item_progress(meter, bucket)
            n = objects.restore_bucket(plan, sources.s3_for(plan), bucket, path, put_progress)
            summary = f"{n} objects into bucket {bucket}"
        else:
            n = keys.restore_keys(plan, path, force)
            summary = f"{n} key files into {keys.secrets_dir(plan)}"
        emit(StepDone(part.name, True, summary, time.monotonic() - started))


def restore(
    plan: Any,
    wrapper: KeyWrapper,
    backup_id: str,
    what: Iterable[str] = KINDS,
    force: bool = False,
    emit: Emit = discard,
    sources: Sources | None = None,
) -> Manifest:
    """Restore ``what`` of a backup into the plan's own stores (see the module docstring)."""
    repo = repo_of(plan)
    with repo.locked("backup restore"):
        return _restore(plan, wrapper, backup_id, tuple(what), force, emit, sources or Sources())


def _restore(
    plan: Any, wrapper: KeyWrapper, backup_id: str, what: tuple[str, ...], force: bool, emit: Emit, sources: Sources
) -> Manifest:
    repo = repo_of(plan)
    manifest = repo.manifest(backup_id)
    parts = select(manifest, what)
    scratch = repo.scratch()
    history.record(repo, backup_id, "restore", "running")
    try:
        _decrypt_all(repo, manifest, parts, wrapper, scratch, emit)
        _check_targets(plan, parts, scratch, force, sources, emit)
        _apply(plan, manifest, parts, scratch, force, sources, emit)
    except OperationFailed as err:
        history.record(repo, backup_id, "restore", "failed", str(err))
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if any(p.kind == "neo4j" for p in parts) and manifest.counts is not None:
        after = sources.counts(plan)
        if after is not None and after != manifest.counts:
            emit(
                StepLog(
                    "neo4j", f"counts after load {after} differ from the backup's {manifest.counts}", level="warning"
                )
            )
        elif after is not None:
            emit(StepLog("neo4j", f"counts after load equal the backup's: {after}"))
    history.record(repo, backup_id, "restore", "done")
    return manifest


def rotate_keys(plan: Any, wrapper: KeyWrapper, emit: Emit = discard) -> list[tuple[str, str | None, str | None]]:
    """Re-wrap every backup's data key with the KMS key's current version; data is not touched.

    Each manifest is replaced atomically after its new blob came back, so an interrupted rotation
    leaves every backup readable (old or new wrapping) and running it again finishes the rest.
    A backup that cannot be re-wrapped (unreadable or unauthenticated manifest, a blob the KMS
    refuses) does not stop the others: each is reported, and :class:`RotationIncomplete` is
    raised at the end naming them, with the list of those that were re-wrapped.
    """

    repo = repo_of(plan)
    with repo.locked("rotate backup-keys"):
        return _rotate(repo, wrapper, emit)


class RotationIncomplete(OperationFailed):
    """Some backups were re-wrapped, others could not be (``changed`` holds the former)."""

    def __init__(self, message: str, changed: list[tuple[str, str | None, str | None]]) -> None:
        super().__init__(message)
        self.changed = changed


def _rotate(repo: Any, wrapper: KeyWrapper, emit: Emit) -> list[tuple[str, str | None, str | None]]:
    from wizard.backup.engine import key_name
    from wizard.kms.base import WrappedBlob, utc_now

    changed: list[tuple[str, str | None, str | None]] = []
    failed: list[tuple[str, str]] = []
    ids = repo.ids()
    meter = ProgressMeter("backup-keys", emit, items_total=len(ids))
    for backup_id in ids:
        try:
            manifest = repo.manifest(backup_id)
            old = manifest.data_key
            name = key_name(backup_id)
            plaintext = unwrap_data_key(wrapper, manifest)  # refuses an edited manifest
            new = wrapper.wrap_many({name: plaintext})[name]
            new = WrappedBlob(new.backend, new.key_id, new.key_version, new.ciphertext, old.created, utc_now())
            repo.rewrite_manifest(manifest.with_data_key(new))  # atomic: the old manifest or the new one
        except (StacksealError, OSError) as err:  # a write failing (disk full) is reported like the rest
            reason = str(err) if isinstance(err, StacksealError) else f"writing its manifest failed ({err.strerror})"
            failed.append((backup_id, reason))
            history.record(repo, backup_id, "rotate", "failed", reason)
            emit(StepLog("backup-keys", f"{backup_id}: not re-wrapped: {reason}", level="warning"))
            meter.advance(1, what=backup_id)
            continue
        history.record(repo, backup_id, "rotate", "done")
        changed.append((backup_id, old.key_version, new.key_version))
        meter.advance(1, what=backup_id)
    if failed:
        first_id, reason = failed[0]
        raise RotationIncomplete(
            f"{len(failed)} of {len(ids)} backups could not be re-wrapped (first: {first_id}: {reason}); "
            f"the other {len(changed)} were; they keep their old wrapping, so do not retire the old key version",
            changed,
        )
    return changed
