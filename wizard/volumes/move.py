"""``stackseal migrate volume``: move one volume's data into its encrypted volume, with proof.

The adopt logic of ``apply`` as a command of its own, in phases recorded in the volume's journal
(``.stackseal/migrate-volume-<name>.json``) so a killed run continues where it stopped:

1. ``counted`` — for Neo4j's data volume, node / relationship / per-label / per-type counts over
   Bolt while the service still runs on the old data;
2. ``stopped`` — only the containers that use this volume are stopped (never the whole stack);
3. ``copied`` — :func:`wizard.volumes.treecopy.copy_tree` (resumable per file);
4. ``verified`` — every file read back and compared, manifest written next to the journal
   (``migrate-volume-<name>.sha256``, ``sha256sum -c`` format);
5. ``switched`` — the old containers are removed and ``docker compose up -d --wait SERVICE``
   starts the service on the rendered compose file, whose mount is the encrypted volume; a plain
   Docker volume that holds the very name Compose needs is first re-homed (its data directory
   renamed, same filesystem, no copy) into a volume called ``stackseal-plaintext-<name>``, so the
   original is kept;
6. ``done`` — the service is healthy, and for Neo4j the counts over Bolt equal the ones before.

The plaintext original is removed only by ``--remove-plaintext``, and only for a volume whose
copy was verified.
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from wizard.errors import OperationFailed, UsageError
from wizard.kms import plaintext_dir
from wizard.layout import VolumeSpec, volume_specs
from wizard.steps.context import Context
from wizard.steps.events import Emit, StepLog, StepStarted
from wizard.stores.journal import OpJournal
from wizard.stores.progress import SharedMeter
from wizard.volumes.treecopy import copy_tree, tree_summary, verify_tree

PHASES = ("counted", "stopped", "copied", "verified", "switched", "done")
PLAINTEXT_PREFIX = "stackseal-plaintext-"
NOT_A_GUARANTEE = (
    "overwriting files is no guarantee on SSDs (wear levelling keeps old blocks) and on copy-on-write "
    "filesystems (btrfs, ZFS, overlay snapshots keep old extents); only an encrypted disk under the old data, "
    "or destroying the device, is"
)


@dataclass
class VolumeOutcome:
    name: str
    summary: str
    counts_before: dict | None = None
    counts_after: dict | None = None
    warnings: list[str] = field(default_factory=list)


def _spec(ctx: Context, name: str) -> VolumeSpec:
    specs = {s.name: s for s in volume_specs(ctx.plan)}
    if name not in specs:
        raise UsageError(f"volume '{name}' is not one of this plan's volumes ({', '.join(specs)})")
    return specs[name]


#: what :func:`migrate_volume` keeps in its journal's meta, and the type each must have
_META_TYPES: dict[str, type | tuple[type, ...]] = {
    "phase": str,
    "source": str,
    "old_volume": (str, type(None)),
    "kept_as": str,
    "containers": list,
    "files": int,
    "bytes": int,
    "counts_before": dict,
    "counts_after": dict,
    "manifest": str,
    "plaintext_removed": bool,
}


def _counts_shape(counts: dict) -> bool:
    """What :meth:`GraphCounts.from_json` and its comparison need (JSON object keys are strings)."""
    fields = (("nodes", int), ("relationships", int), ("labels", dict), ("types", dict))
    return all(isinstance(counts.get(k), t) for k, t in fields)


def journal_for(ctx: Context, name: str) -> OpJournal:
    """The volume's journal, its meta checked before any of it is used.

    Why: the journal sits in the output directory; a phase this module does not know, a path
    that is a number or counts of another shape would otherwise fail deep inside the move (a
    traceback, possibly after containers were stopped). Such a journal is damaged: one line.
    """
    journal = OpJournal(ctx.state_dir, f"migrate-volume-{name}", {"project": ctx.plan.project, "volume": name})
    meta = journal.meta
    ok = (
        all(isinstance(meta[k], t) for k, t in _META_TYPES.items() if k in meta)
        and not any(isinstance(meta.get(k), bool) for k in ("files", "bytes"))
        and meta.get("phase", PHASES[0]) in PHASES
        and ("phase" not in meta or "source" in meta)  # the source is recorded before the first phase
        and all(isinstance(c, str) for c in meta.get("containers", []))
        and ("counts_before" not in meta or _counts_shape(meta["counts_before"]))
    )
    if not ok:
        raise OperationFailed(
            f"{journal.path}: damaged journal (a recorded field of the wrong type); move it aside to start over "
            "(finished work is then re-checked, never lost)"
        )
    return journal


def _phase(journal: OpJournal) -> str:
    return str(journal.meta.get("phase", ""))


def _reached(journal: OpJournal, phase: str) -> bool:
    have = _phase(journal)
    return bool(have) and PHASES.index(have) >= PHASES.index(phase)


def _is_neo4j_store(spec: VolumeSpec) -> bool:
    return spec.service == "neo4j" and spec.container_path == "/data"


def _require_unlocked(ctx: Context, spec: VolumeSpec) -> None:
    from wizard.volumes import get_backend

    state = get_backend(ctx.plan).status(spec)
    if state.state != "unlocked":
        raise OperationFailed(
            f"volume {spec.name}: the encrypted volume is {state.state} ({state.detail}); run 'stackseal apply' "
            "(it creates and unlocks it) and then this command again"
        )


def _counts(ctx: Context, timeout: float) -> dict:
    from wizard.stores import neo4j

    auth = neo4j.auth_of(ctx.plan, plaintext_dir(ctx.plan))
    return neo4j.counts_when_ready(ctx.plan.neo4j.bolt_url, auth, timeout=timeout).to_json()


def _stop(ctx: Context, container_ids: tuple[str, ...], emit: Emit, step: str) -> None:
    client = ctx.docker()
    for cid in container_ids:
        container = client.containers.get(cid)
        if container.status == "running":
            emit(StepLog(step, f"stopping {container.name} (only the services that use this volume)"))
            container.stop(timeout=120)
            container.reload()
            if container.status == "running":
                raise OperationFailed(
                    f"{container.name} did not stop within 120s; stop it by hand ('docker stop {container.name}') "
                    "and run again (nothing was copied yet)"
                )


def _rehome_old_volume(ctx: Context, old_volume: str, emit: Emit, step: str) -> str:
    """Keep a same-named plain volume's data under a new volume name (rename, no copy)."""
    client = ctx.docker()
    keep_name = f"{PLAINTEXT_PREFIX}{old_volume}"
    old = client.volumes.get(old_volume)
    keep = client.volumes.create(keep_name, labels={"stackseal.plaintext-of": old_volume})
    old_data, keep_data = Path(old.attrs["Mountpoint"]), Path(keep.attrs["Mountpoint"])
    if keep_data.is_dir() and not any(keep_data.iterdir()):
        keep_data.rmdir()
    os.rename(old_data, keep_data)  # same filesystem (both under Docker's volumes directory)
    old_data.mkdir()
    old.remove()
    emit(StepLog(step, f"the plaintext original of {old_volume} is kept as docker volume {keep_name}"))
    return keep_name


def migrate_volume(ctx: Context, name: str, emit: Emit) -> VolumeOutcome:
    """Run (or continue) the migration of one volume; raises OperationFailed on what cannot be done."""
    from wizard.steps.adopt_step import find_moves

    spec = _spec(ctx, name)
    step = f"migrate-volume-{name}"
    journal = journal_for(ctx, name)
    emit(StepStarted(step, f"move {name} ({spec.service}:{spec.container_path}) into its encrypted volume", 1, 1))
    if _reached(journal, "done"):
        return VolumeOutcome(name, "already migrated (see the manifest next to the journal)")
    moves = {m.spec.name: m for m in find_moves(ctx)}
    move = moves.get(name)
    if move is None and not _reached(journal, "stopped"):
        return VolumeOutcome(name, "no data outside its encrypted volume: nothing to move")
    _require_unlocked(ctx, spec)
    source = Path(journal.meta["source"]) if "source" in journal.meta else move.source  # type: ignore[union-attr]
    if move is not None:
        journal.checkpoint(source=str(source), old_volume=move.old_volume, containers=list(move.containers))
    if _is_neo4j_store(spec) and "counts_before" not in journal.meta:
        emit(StepLog(step, f"counting the graph over Bolt at {ctx.plan.neo4j.bolt_url} before the move"))
        try:
            before = _counts(ctx, timeout=30)
        except OperationFailed as err:
            raise OperationFailed(
                f"{err}; Neo4j must run on its old data so its graph can be counted before the move "
                "(the proof that nothing was lost); start the stack and run again (nothing was changed)"
            ) from None
        journal.checkpoint(counts_before=before, phase="counted")
    if not _reached(journal, "stopped"):
        _stop(ctx, tuple(journal.meta.get("containers", [])), emit, step)
        journal.checkpoint(phase="stopped")
    if not _reached(journal, "verified"):
        if not source.is_dir() or source.is_symlink():
            raise OperationFailed(f"volume {name}: data source {source} is not a directory")
        files, nbytes = tree_summary(source)
        journal.checkpoint(files=files, bytes=nbytes)
    files, nbytes = int(journal.meta.get("files", 0)), int(journal.meta.get("bytes", 0))
    manifest = ctx.state_dir / f"migrate-volume-{name}.sha256"
    if not _reached(journal, "verified"):
        if not _reached(journal, "copied"):
            copy_and_prove(source, spec.mount_point, journal, manifest, step, emit)
        else:
            _prove(source, spec.mount_point, journal, manifest, step, emit, files, nbytes)
        journal.checkpoint(phase="verified", manifest=str(manifest))
    if not _reached(journal, "switched"):
        _switch(ctx, spec, journal, emit, step)
        journal.checkpoint(phase="switched")
    outcome = VolumeOutcome(name, "", journal.meta.get("counts_before"))
    if _is_neo4j_store(spec):
        after = _counts(ctx, timeout=ctx.wait_timeout)
        from wizard.stores.neo4j import GraphCounts

        diffs = GraphCounts.from_json(journal.meta["counts_before"]).differences(GraphCounts.from_json(after))
        if diffs:
            raise OperationFailed(
                f"volume {name}: Neo4j on the encrypted volume does not hold the same graph ({'; '.join(diffs[:3])}); "
                f"the original is kept at {source}"
            )
        outcome.counts_after = after
        journal.checkpoint(counts_after=after)
    journal.close(phase="done")
    outcome.summary = (
        f"moved {files} files ({nbytes} bytes), all verified by SHA-256 ({manifest}); {spec.service} runs on the "
        f"encrypted volume" + (" with the same node, relationship and label counts" if outcome.counts_after else "")
    )
    return outcome


def copy_and_prove(source: Path, dest: Path, journal: OpJournal, manifest: Path, step: str, emit: Emit) -> int:
    """Copy ``source`` into ``dest`` (resumable through ``journal``), then prove it: every file read
    back (beside the copy, or afterwards for files a killed run copied) and compared by SHA-256,
    manifest written. Returns the bytes copied by this run.

    Shared by ``migrate volume`` and ``apply``'s adopt step, so both keep the same metadata and
    give the same proof. Raises OperationFailed (the original untouched) when the copy differs.
    """
    files, nbytes = tree_summary(source)
    meter = SharedMeter(step, emit, files, nbytes)
    result = copy_tree(source, dest, journal, meter)
    meter.finish()
    for warning in result.warnings[:20]:
        emit(StepLog(step, warning, "warning"))
    journal.checkpoint(phase="copied", warnings=result.warnings[:200])
    _prove(source, dest, journal, manifest, step, emit, files, nbytes)
    return result.copied_bytes


def _prove(
    source: Path, dest: Path, journal: OpJournal, manifest: Path, step: str, emit: Emit, files: int, nbytes: int
) -> None:
    emit(StepLog(step, "comparing every copied file's SHA-256, read back from the copy, with the original's"))
    meter = SharedMeter(step, emit, files, nbytes)
    problems = verify_tree(source, dest, journal, meter, manifest)
    meter.finish()
    if problems:
        journal.checkpoint(phase="stopped")  # the next run copies again what differs
        raise OperationFailed(
            f"the copy of {source} differs from the original ({len(problems)} problems, e.g. {problems[0]}); "
            "the original is untouched; run again"
        )


def _switch(ctx: Context, spec: VolumeSpec, journal: OpJournal, emit: Emit, step: str) -> None:
    from docker.errors import NotFound

    client = ctx.docker()
    for cid in journal.meta.get("containers", []):
        try:
            client.containers.get(cid).remove()
        except NotFound:
            pass
    old_volume = journal.meta.get("old_volume")
    if old_volume:
        try:
            client.volumes.get(old_volume)
            journal.checkpoint(kept_as=_rehome_old_volume(ctx, old_volume, emit, step))
        except NotFound:
            pass
    emit(StepLog(step, f"starting {spec.service} on the encrypted volume (docker compose up -d --wait)"))
    proc = subprocess.run(
        ctx.compose_cmd() + ["up", "-d", "--wait", "--wait-timeout", str(ctx.wait_timeout), spec.service],
        capture_output=True,
        text=True,
        cwd=ctx.out_dir,
        timeout=ctx.wait_timeout + 120,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise OperationFailed(
            f"{spec.service} did not come up healthy on the encrypted volume ({tail}); the original data is kept; "
            "see 'docker compose logs'"
        )


def remove_plaintext(ctx: Context, name: str, emit: Emit) -> str:
    """Overwrite and delete the plaintext original of a migrated, verified volume."""
    journal = journal_for(ctx, name)
    if not _reached(journal, "verified"):
        raise UsageError(
            f"volume {name}: its copy has not been verified yet; run 'stackseal migrate volume {name}' first "
            "(nothing is deleted before its copy is verified)"
        )
    step = f"migrate-volume-{name}"
    emit(StepLog(step, f"warning: {NOT_A_GUARANTEE}", "warning"))
    kept = journal.meta.get("kept_as")
    source = Path(journal.meta["source"])
    if kept:
        from docker.errors import NotFound

        try:
            volume = ctx.docker().volumes.get(kept)
        except NotFound:
            return f"{kept}: already removed"
        _overwrite_tree(Path(volume.attrs["Mountpoint"]))
        volume.remove()
        journal.checkpoint(plaintext_removed=True)
        return f"overwrote and removed docker volume {kept} (the plaintext original of {name})"
    if source.resolve() == Path(ctx.plan.volumes.root).resolve() or not source.is_dir():
        return f"{source}: nothing to remove"
    _overwrite_tree(source)
    import shutil

    shutil.rmtree(source)
    journal.checkpoint(plaintext_removed=True)
    return f"overwrote and removed {source} (the plaintext original of {name})"


def _overwrite_tree(root: Path) -> None:
    """One pass of zeros over every regular file (never following symlinks), then fsync."""
    zeros = bytes(1 << 20)
    for dirpath, _dirs, names in os.walk(root):
        for fname in names:
            path = os.path.join(dirpath, fname)
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                continue
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
            try:
                left = st.st_size
                while left > 0:
                    left -= os.write(fd, zeros[: min(left, len(zeros))])
                os.fsync(fd)
            finally:
                os.close(fd)
