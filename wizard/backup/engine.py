"""``backup create`` and ``backup verify``: parts streamed through age into a published backup.

Why the order in :func:`create`: the data key is generated and wrapped by the KMS *first*, so an
unreachable KMS fails before Neo4j is stopped or a byte is read; parts are written into an
``.incomplete-`` directory and the backup exists only once its manifest is written (see
:mod:`wizard.backup.repo`); retention runs only after a backup was published.
"""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from wizard.backup import history
from wizard.backup.manifest import MAC_DESCRIPTION, Manifest, Part, authenticate, seal
from wizard.backup.neo4j import Compose, counts
from wizard.backup.repo import Repo, new_id
from wizard.backup.scratchneo4j import load_and_count
from wizard.backup.stream import Sealed, decrypt_to, encrypt_to, new_data_key
from wizard.errors import OperationFailed, UsageError
from wizard.kms.base import KeyWrapper
from wizard.steps.events import Emit, ProgressMeter, StepDone, StepFailed, StepLog, StepStarted, discard

KINDS = ("neo4j", "objects", "keys")


def parse_what(text: str | None) -> tuple[str, ...]:
    """``--what neo4j,objects`` -> ('neo4j', 'objects'); None (no --what) means all three.

    An empty ``--what ""`` (a script's unset variable) is refused, not read as "all": for a
    Community plan "all" stops Neo4j for its dump, and a restore of everything overwrites.
    """
    if text is None:
        return KINDS
    wanted = tuple(dict.fromkeys(w.strip() for w in text.split(",") if w.strip()))
    bad = [w for w in wanted if w not in KINDS]
    if bad or not wanted:
        raise UsageError(f"--what: {', '.join(bad) or 'nothing'} is not one of {', '.join(KINDS)} (comma-separated)")
    return wanted


def repo_of(plan: Any) -> Repo:
    return Repo(plan.resolve(plan.backups.dir))


def key_name(backup_id: str) -> str:
    """The name the data key is wrapped under (Vault transit batch item / AWS context)."""
    return f"backup-{backup_id}"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Sources:
    """What a backup reads from (injected by tests; the CLI builds them from the plan)."""

    compose: Compose | None = None
    s3: Any = None
    #: Neo4j counts (nodes/relationships) before a dump; None = not reachable
    counts: Callable[[Any], dict[str, int] | None] = counts
    #: the drill's load of a decrypted dump into a scratch Neo4j: (plan, dump, scratch dir) -> counts
    scratch_neo4j: Callable[[Any, Path, Path], dict[str, int]] = field(default=load_and_count)
    extra: dict[str, Any] = field(default_factory=dict)

    def compose_for(self, plan: Any) -> Compose:
        if self.compose is None:
            self.compose = Compose.for_plan(plan)
        return self.compose

    def s3_for(self, plan: Any) -> Any:
        if self.s3 is None:
            from wizard.backup.objects import s3_client

            self.s3 = s3_client(plan)
        return self.s3


def byte_progress(meter: ProgressMeter, what: str) -> Callable[[int], None]:
    """A callback taking a running byte total (what age and pipes report) for ``meter``."""
    last = [0]

    def progress(done: int) -> None:
        meter.advance(0, done - last[0], what=what)
        last[0] = done

    return progress


def item_progress(meter: ProgressMeter, what: str) -> Callable[[int, int], None]:
    """A callback taking running (items, bytes) totals for ``meter``."""
    last = [0, 0]

    def progress(items: int, nbytes: int) -> None:
        meter.advance(items - last[0], nbytes - last[1], what=what)
        last[0], last[1] = items, nbytes

    return progress


def warner(emit: Emit, step_id: str) -> Callable[[str], None]:
    def warn(message: str) -> None:
        emit(StepLog(step_id, message, level="warning"))

    return warn


def _create_part_file(work: Path, name: str) -> IO[bytes]:
    fd = os.open(work / f"{name}.age", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "wb", buffering=1 << 20)


def _seal(work: Path, name: str, source: Any, data_key: bytes, meter: ProgressMeter) -> Sealed:
    progress = byte_progress(meter, name)
    with _create_part_file(work, name) as out:
        sealed = encrypt_to(source, out, data_key, progress)
        out.flush()
        os.fsync(out.fileno())
    progress(sealed.plaintext_bytes)
    return sealed


def _part(name: str, kind: str, sealed: Sealed, items: int, detail: dict[str, Any]) -> Part:
    return Part(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        file=f"{name}.age",
        plaintext_bytes=sealed.plaintext_bytes,
        plaintext_sha256=sealed.plaintext_sha256,
        ciphertext_bytes=sealed.ciphertext_bytes,
        items=items,
        detail=detail,
    )


def _neo4j_part(plan: Any, work: Path, key: bytes, sources: Sources, emit: Emit) -> tuple[Part, dict[str, Any]]:
    compose = sources.compose_for(plan)
    meter = ProgressMeter("neo4j", emit)
    warn = warner(emit, "neo4j")

    before = sources.counts(plan)
    if plan.neo4j.edition == "enterprise":
        result = subprocess.run(compose.backup_argv(), capture_output=True, text=True, timeout=24 * 3600)
        if result.returncode != 0:
            raise OperationFailed(f"neo4j-admin database backup failed: {result.stderr.strip()[-300:] or 'no output'}")
        try:
            with compose.producing(compose.stage_out_argv(), "streaming the Neo4j backup out") as stream:
                sealed = _seal(work, "neo4j", stream, key, meter)
        finally:
            subprocess.run(
                compose.exec_argv("rm", "-rf", "/backups/.stackseal-stage"), capture_output=True, timeout=600
            )
        detail = {"format": "neo4j-admin database backup (tar)", "database": "neo4j", "method": "online backup"}
    else:
        with compose.stopped(warn):
            with compose.producing(compose.dump_argv(), "neo4j-admin database dump") as stream:
                sealed = _seal(work, "neo4j", stream, key, meter)
        detail = {"format": "neo4j-admin database dump", "database": "neo4j", "method": "offline dump"}
    if sealed.plaintext_bytes == 0:
        raise OperationFailed("neo4j-admin wrote an empty dump; see 'docker compose logs neo4j'")
    return _part("neo4j", "neo4j", sealed, 1, detail), {"counts": before}


def _objects_parts(plan: Any, work: Path, key: bytes, sources: Sources, emit: Emit) -> list[Part]:
    from wizard.backup.objects import TarPipe, describe

    client = sources.s3_for(plan)
    parts = []
    for bucket in plan.object_store.buckets:
        name = f"objects-{bucket}"
        meter = ProgressMeter(name, emit)
        with TarPipe(plan, client, bucket) as pipe:
            sealed = _seal(work, name, pipe.reader, key, meter)
            count = pipe.finish()
        meter.advance(count, 0, what=f"{count} objects")
        parts.append(_part(name, "objects", sealed, count, describe(bucket, count)))
    return parts


def _keys_part(plan: Any, work: Path, key: bytes, emit: Emit) -> Part:
    from wizard.backup.keys import write_keys_tar

    buffer = io.BytesIO()  # key files are small (each at most 1 MiB, a handful of them)
    count = write_keys_tar(plan, buffer)
    buffer.seek(0)
    sealed = _seal(work, "keys", buffer, key, ProgressMeter("keys", emit))
    return _part("keys", "keys", sealed, count, {"format": "tar (pax)", "files": count})


def create(
    plan: Any,
    wrapper: KeyWrapper,
    what: Iterable[str] = KINDS,
    emit: Emit = discard,
    sources: Sources | None = None,
) -> Manifest:
    """Take one backup of ``what``; returns its published manifest. Prunes to ``backups.keep``."""
    repo = repo_of(plan)
    with repo.locked("backup create"):
        return _create(plan, wrapper, what, emit, sources)


def _create(
    plan: Any,
    wrapper: KeyWrapper,
    what: Iterable[str] = KINDS,
    emit: Emit = discard,
    sources: Sources | None = None,
) -> Manifest:
    sources = sources or Sources()
    what = tuple(what)
    repo = repo_of(plan)
    backup_id = new_id()
    created = now_iso()
    if getattr(wrapper, "envelope", True) is False:
        raise UsageError(
            "kms.backend local without kms.passphrase_file keeps keys in plaintext: a backup's data key would be "
            "stored readable beside the backup; set kms.passphrase_file or use a real KMS, then run again"
        )
    data_key = new_data_key()
    blob = wrapper.wrap_many({key_name(backup_id): data_key})[key_name(backup_id)]
    if data_key in blob.ciphertext:  # defence in depth: a "wrapper" that did not wrap
        raise OperationFailed(f"the {blob.backend} KMS returned the data key unwrapped; refusing to store it")
    history.record(repo, backup_id, "create", "running")
    parts: list[Part] = []
    neo_counts: dict[str, int] | None = None
    steps = [k for k in KINDS if k in what]
    try:
        with repo.writing(backup_id) as work:
            for index, kind in enumerate(steps, 1):
                started = time.monotonic()
                emit(StepStarted(kind, f"back up {kind}", index, len(steps)))
                try:
                    if kind == "neo4j":
                        part, extra = _neo4j_part(plan, work, data_key, sources, emit)
                        neo_counts = extra["counts"]
                        parts.append(part)
                        new = [part]
                    elif kind == "objects":
                        new = _objects_parts(plan, work, data_key, sources, emit)
                        parts.extend(new)
                    else:
                        new = [_keys_part(plan, work, data_key, emit)]
                        parts.extend(new)
                except OperationFailed as err:
                    emit(StepFailed(kind, str(err), time.monotonic() - started))
                    raise
                size = sum(p.plaintext_bytes for p in new)
                emit(StepDone(kind, True, f"{len(new)} part(s), {size} bytes encrypted", time.monotonic() - started))
            manifest = seal(
                Manifest(
                    id=backup_id,
                    project=plan.project,
                    created=created,
                    finished=now_iso(),
                    source=_source(plan),
                    encryption={
                        "format": "age",
                        "identity": "X25519",
                        "manifest_mac": MAC_DESCRIPTION,
                        "data_key": blob.to_json(),
                    },
                    parts=parts,
                    counts=neo_counts,
                ),
                data_key,
            )
            repo.publish(work, manifest)
    except BaseException as err:
        history.record(repo, backup_id, "create", "failed", str(err) if isinstance(err, OperationFailed) else "")
        raise
    history.record(repo, backup_id, "create", "done")
    for gone in repo.prune(plan.backups.keep):
        emit(StepLog("retention", f"removed backup {gone} (backups.keep: {plan.backups.keep})"))
    return manifest


def _source(plan: Any) -> dict[str, Any]:
    return {
        "project": plan.project,
        "neo4j": {"edition": plan.neo4j.edition, "bolt_url": plan.neo4j.bolt_url},
        "object_store": {
            "kind": plan.object_store.kind,
            "endpoint": plan.object_store.endpoint,
            "buckets": list(plan.object_store.buckets),
        },
        "kms": {"backend": plan.kms.backend, "key_name": plan.kms.key_name},
    }


# --------------------------------------------------------------------------- verify


def unwrap_data_key(wrapper: KeyWrapper, manifest: Manifest) -> bytes:
    """The backup's data key from the KMS, once the manifest authenticates under it.

    Every reader (verify, restore, the drill, key rotation) comes through here, so none of
    them acts on a manifest that was edited after the backup was taken.
    """
    name = key_name(manifest.id)
    data_key = wrapper.unwrap_many({name: manifest.data_key})[name]
    authenticate(manifest, data_key)
    return data_key


def check_ciphertext(repo: Repo, manifest: Manifest, part: Part, meter: ProgressMeter) -> None:
    """The encrypted file has the size the manifest records, before any KMS call.

    (Its content is authenticated by age itself, chunk by chunk and at the end, on decryption.)
    """
    with repo.open_part(manifest.id, part.file) as handle:
        size = os.fstat(handle.fileno()).st_size
    if size != part.ciphertext_bytes:
        raise OperationFailed(
            f"backup {manifest.id} part {part.name}: {size} bytes on disk, the manifest says "
            f"{part.ciphertext_bytes} (truncated or tampered); refused"
        )


def open_part_plaintext(
    repo: Repo, manifest: Manifest, part: Part, data_key: bytes, sink: IO[bytes] | None, meter: ProgressMeter
) -> None:
    """Decrypt one part into ``sink`` (or nowhere) and check size and SHA-256 against the manifest."""
    progress = byte_progress(meter, part.name)
    with repo.open_part(manifest.id, part.file) as handle:
        size, digest = decrypt_to(handle, sink, data_key, progress, limit=part.plaintext_bytes)
    if size != part.plaintext_bytes or digest != part.plaintext_sha256:
        raise OperationFailed(
            f"backup {manifest.id} part {part.name}: decrypted plaintext does not match the manifest's SHA-256; refused"
        )


def verify(plan: Any, wrapper: KeyWrapper, backup_id: str, emit: Emit = discard) -> Manifest:
    """Decrypt every part and compare with the manifest; restores nothing. Records the result."""
    repo = repo_of(plan)
    manifest = repo.manifest(backup_id)
    try:
        for part in manifest.parts:
            check_ciphertext(repo, manifest, part, ProgressMeter(part.name, emit))
        data_key = unwrap_data_key(wrapper, manifest)
        for index, part in enumerate(manifest.parts, 1):
            started = time.monotonic()
            emit(StepStarted(part.name, f"verify {part.name}", index, len(manifest.parts)))
            meter = ProgressMeter(part.name, emit, bytes_total=part.plaintext_bytes)
            open_part_plaintext(repo, manifest, part, data_key, None, meter)
            emit(
                StepDone(part.name, False, f"{part.plaintext_bytes} bytes, SHA-256 matches", time.monotonic() - started)
            )
    except OperationFailed as err:
        history.record(repo, backup_id, "verify", "failed", str(err))
        raise
    history.record(repo, backup_id, "verify", "done")
    return manifest
