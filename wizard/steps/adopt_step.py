"""Step ``adopt``: take over a stack that already runs, moving only the data that must move.

Why: stackseal is pointed at stacks that already hold production data. A running compose
project is found by its labels (``com.docker.compose.project``). For each persistent volume the
service's data is either already at the encrypted mount point (nothing to do), or it lives in a
plain Docker volume or bind directory: then only the services using such data are stopped, the
data is copied (ownership and modes kept, progress in bytes with ETA) into the encrypted volume,
and ``compose-up`` starts them again on the encrypted storage.

Safety: the old copy is never deleted, with one exception the operator must allow with
``--allow-destroy``: a plain Docker volume with the very name Compose needs for the encrypted
one (Compose cannot reuse the name with a different definition). The plan lists it, and its
data is copied and checked before the volume is removed.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from wizard.detect.docker import PROJECT_LABEL, SERVICE_LABEL
from wizard.errors import OperationFailed
from wizard.layout import VolumeSpec, volume_specs
from wizard.steps.base import Facts, Step, StepCheck
from wizard.steps.context import Context
from wizard.steps.events import Emit, ProgressMeter, StepLog


@dataclass(frozen=True)
class Move:
    """One volume whose data lives outside its encrypted mount point."""

    spec: VolumeSpec
    source: Path  # where the data is now (host path)
    containers: tuple[str, ...]  # containers (ids) using it, to stop and remove (compose recreates them)
    old_volume: str | None  # a same-named plain docker volume that must go (needs --allow-destroy)


def _bound_to(volume_attrs: dict, mount_point: Path) -> bool:
    options = volume_attrs.get("Options") or {}
    return options.get("device") == str(mount_point) and "bind" in str(options.get("o", ""))


def find_moves(ctx: Context) -> list[Move]:
    """Read the running project's containers and volumes; list the data that must move."""
    from docker.errors import NotFound

    client = ctx.docker()
    project = ctx.plan.project
    containers = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    moves: list[Move] = []
    for spec in volume_specs(ctx.plan):
        users = [c for c in containers if c.labels.get(SERVICE_LABEL) == spec.service]
        source: Path | None = None
        old_volume: str | None = None
        volume_name = f"{project}_{spec.name}"
        try:
            existing = client.volumes.get(volume_name).attrs
        except NotFound:
            existing = None
        if existing is not None and not _bound_to(existing, spec.mount_point):
            old_volume, source = volume_name, Path(existing["Mountpoint"])
        for container in users:
            for mount in container.attrs.get("Mounts", []):
                if mount.get("Destination") != spec.container_path:
                    continue
                if mount.get("Type") == "bind" and Path(mount["Source"]) != spec.mount_point:
                    source = source or Path(mount["Source"])
                elif mount.get("Type") == "volume" and mount.get("Name") != volume_name:
                    try:
                        attrs = client.volumes.get(mount["Name"]).attrs
                    except NotFound:
                        continue
                    if not _bound_to(attrs, spec.mount_point):
                        source = source or Path(attrs["Mountpoint"])
        if source is not None:
            moves.append(Move(spec, source, tuple(c.id for c in users), old_volume))
    return moves


def copy_tree(source: Path, dest: Path, meter: ProgressMeter) -> tuple[int, int]:
    """Copy ``source`` into ``dest`` keeping modes, times and owners; skip files already copied.

    Why skip identical files (same size and mtime): an interrupted copy resumes instead of
    starting over. Returns (files, bytes) copied.
    """
    meter.items_total, meter.bytes_total = _tree_summary(source)
    copied = copied_bytes = 0
    for root, dirs, files in os.walk(source):
        rel = Path(root).relative_to(source)
        target_dir = dest / rel
        target_dir.mkdir(parents=True, exist_ok=True)
        _copy_meta(Path(root), target_dir)
        for name in dirs:
            src = Path(root) / name
            if src.is_symlink():
                _copy_link(src, target_dir / name)
        for name in files:
            src, dst = Path(root) / name, target_dir / name
            if src.is_symlink():
                _copy_link(src, dst)
                continue
            st = src.stat()
            if dst.exists() and dst.stat().st_size == st.st_size and int(dst.stat().st_mtime) == int(st.st_mtime):
                meter.advance(1, st.st_size, what=str(rel / name))
                continue
            shutil.copy2(src, dst)
            _copy_meta(src, dst)
            copied += 1
            copied_bytes += st.st_size
            meter.advance(1, st.st_size, what=str(rel / name))
    return copied, copied_bytes


def _copy_meta(src: Path, dst: Path) -> None:
    st = src.lstat()
    try:
        os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    except PermissionError:
        pass
    if not dst.is_symlink():
        os.chmod(dst, st.st_mode & 0o7777)


def _copy_link(src: Path, dst: Path) -> None:
    if dst.is_symlink() or dst.exists():
        return
    os.symlink(os.readlink(src), dst)


def copy_mismatches(source: Path, dest: Path, limit: int = 20) -> list[str]:
    """Relative paths of regular files of ``source`` missing from ``dest`` or different in content.

    Why byte for byte: the old volume is removed after this check (with --allow-destroy), so
    equal totals are not enough — one truncated file and one grown file would balance out.
    """
    bad: list[str] = []
    for root, _dirs, names in os.walk(source):
        for name in names:
            src = Path(root) / name
            if not src.is_file() or src.is_symlink():
                continue
            rel = src.relative_to(source)
            dst = dest / rel
            if not dst.is_file() or not filecmp.cmp(src, dst, shallow=False):
                bad.append(str(rel))
                if len(bad) >= limit:
                    return bad
    return bad


def _tree_summary(path: Path) -> tuple[int, int]:
    files = size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            p = Path(root) / name
            if p.is_file() and not p.is_symlink():
                files += 1
                size += p.stat().st_size
    return files, size


class AdoptStep(Step):
    id = "adopt"
    title = "Adopt the running stack (move data into encrypted volumes)"

    def read_facts(self, ctx: Context) -> Facts:
        moves = [
            {
                "volume": m.spec.name,
                "service": m.spec.service,
                "mount_point": str(m.spec.mount_point),
                "source": str(m.source),
                "old_volume": m.old_volume,
            }
            for m in find_moves(ctx)
        ]
        return {"moves": moves}

    def decide(self, facts: Facts) -> StepCheck:
        moves = facts["moves"]
        if not moves:
            return StepCheck("=", "no data outside the encrypted volumes")
        destroys = tuple(
            f"docker volume {m['old_volume']} (old unencrypted copy, removed after its data is copied and checked)"
            for m in moves
            if m["old_volume"]
        )
        services = sorted({m["service"] for m in moves})
        lines = []
        for m in moves:
            where = f"docker volume {m['old_volume']}" if m["old_volume"] else m["source"]
            lines.append(
                f"~ {m['volume']}: copy {where} into encrypted {m['mount_point']} (service {m['service']} stopped meanwhile)"
            )
        return StepCheck(
            "~",
            f"move {len(moves)} volumes of {', '.join(services)} into encrypted storage",
            tuple(lines),
            destroys=destroys,
        )

    def apply(self, ctx: Context, emit: Emit) -> str:
        client = ctx.docker()
        moves = find_moves(ctx)
        stopped: set[str] = set()
        for move in moves:
            for cid in move.containers:
                if cid not in stopped:
                    container = client.containers.get(cid)
                    emit(StepLog(self.id, f"stopping {container.name} (its data moves)"))
                    container.stop(timeout=60)
                    stopped.add(cid)
        total_bytes = 0
        for move in moves:
            if not move.source.is_dir():
                raise OperationFailed(f"volume {move.spec.name}: data source {move.source} is not a directory")
            meter = ProgressMeter(self.id, emit)
            files, nbytes = copy_tree(move.source, move.spec.mount_point, meter)
            total_bytes += nbytes
            src_files, _src_size = _tree_summary(move.source)
            mismatched = copy_mismatches(move.source, move.spec.mount_point)
            if mismatched:
                raise OperationFailed(
                    f"volume {move.spec.name}: copy check failed for {len(mismatched)} file(s), e.g. "
                    f"{mismatched[0]}; the original at {move.source} is untouched"
                )
            emit(
                StepLog(
                    self.id,
                    f"copied {move.spec.name}: {files} files, {nbytes} bytes "
                    f"(checked: all {src_files} files identical byte for byte)",
                )
            )
        # Containers are not data: remove the stopped ones so compose-up recreates them on the new volumes.
        for cid in stopped:
            client.containers.get(cid).remove()
        for move in moves:
            if move.old_volume:
                client.volumes.get(move.old_volume).remove()
                emit(
                    StepLog(
                        self.id, f"removed old docker volume {move.old_volume} (its data is in {move.spec.mount_point})"
                    )
                )
        return f"moved {len(moves)} volumes ({total_bytes} bytes); compose-up starts the services again"
