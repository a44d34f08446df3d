"""Volumes: each compose-project volume on an encrypted, unlocked mount; none in the plain
Docker data root; the immutable mount-point guard in place; host disk encryption (host-fde).

Why per volume: a stack is only as encrypted as its least protected volume, and the dashboard
shows one tile per volume so the one that fails is named.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from wizard.layout import VolumeSpec, volume_specs
from wizard.verify.context import VerifyContext
from wizard.verify.model import Evidence, Result, Status
from wizard.verify.mounts import FsVerdict, classify, dm_crypt_uuids, mount_of, quote, read_mounts, run
from wizard.verify.stack import container_paths

GUARDED_BACKENDS = ("gocryptfs", "luks-file", "luks-device")


def volume_store(name: str) -> str:
    return f"volume:{name}"


def _expected(ctx: VerifyContext, spec: VolumeSpec, verdict: FsVerdict) -> tuple[bool, str]:
    """Is this verdict what the plan's backend promises for this volume?"""
    backend = ctx.plan.volumes.backend
    real = os.path.realpath(spec.mount_point)
    if backend == "none":
        return False, "volumes.backend is none: nothing encrypts this volume (development only)"
    if backend == "host-fde":
        return verdict.kind == "dm-crypt", (
            verdict.detail if verdict.kind == "dm-crypt" else f"host-fde, but {verdict.detail}"
        )
    if backend == "gocryptfs":
        mount = verdict.mount
        if verdict.kind != "gocryptfs" or mount is None or mount.target != real:
            return False, f"no gocryptfs mount at {real} ({verdict.detail})"
        if os.path.realpath(mount.source) != os.path.realpath(spec.backing):
            return False, f"gocryptfs mount at {real} comes from {mount.source}, not {spec.backing}"
        return True, f"gocryptfs {spec.backing} mounted at {real} (unlocked)"
    if backend == "fscrypt":
        if verdict.kind != "fscrypt":
            return False, f"{real} is not an fscrypt-encrypted directory ({verdict.detail})"
        if not verdict.unlocked:
            return False, f"{real} is fscrypt-encrypted but LOCKED: the service cannot read it"
        return True, f"{real} is fscrypt-encrypted and unlocked"
    # luks-file / luks-device
    if verdict.kind != "dm-crypt" or verdict.mount is None or verdict.mount.target != real:
        return False, f"no dm-crypt filesystem mounted at {real} ({verdict.detail})"
    return True, verdict.detail


def check_volumes_encrypted(ctx: VerifyContext) -> list[Result]:
    results: list[Result] = []
    mounts = read_mounts()
    docker = ctx.docker().client
    project = ctx.plan.project
    docker_root = ctx.docker_root() if docker is not None else ""
    specs = volume_specs(ctx.plan)
    for spec in specs:
        evidence: list[Evidence] = []
        problems: list[str] = []
        if not spec.mount_point.is_dir():
            problems.append(f"mount point {spec.mount_point} does not exist")
            evidence.append(
                Evidence("command", "mount point", f"ls -d {quote(spec.mount_point)}", "No such file or directory")
            )
            ok, detail = False, "not created"
        else:
            verdict = classify(spec.mount_point, mounts)
            evidence += verdict.evidence
            ok, detail = _expected(ctx, spec, verdict)
            if not ok:
                problems.append(detail)
        if docker is not None:
            vol_name = f"{project}_{spec.name}"
            try:
                attrs = docker.volumes.get(vol_name).attrs
            except Exception:
                attrs = None
            if attrs is not None:
                options = attrs.get("Options") or {}
                device = options.get("device")
                evidence.append(
                    Evidence(
                        "command",
                        f"docker volume {vol_name}",
                        f"docker volume inspect {vol_name} --format '{{{{json .Options}}}} {{{{.Mountpoint}}}}'",
                        f"{options} {attrs.get('Mountpoint', '')}",
                    )
                )
                if not device:
                    problems.append(f"docker volume {vol_name} is a plain volume in the Docker data root {docker_root}")
                elif os.path.realpath(device) != os.path.realpath(spec.mount_point):
                    problems.append(f"docker volume {vol_name} is bound to {device}, not to {spec.mount_point}")
            container, paths = container_paths(ctx, spec.service)
            for hp in paths:
                if hp.container_path != spec.container_path:
                    continue
                evidence.append(
                    Evidence(
                        "command",
                        f"{spec.service} {hp.container_path}",
                        f"docker inspect {getattr(container, 'name', spec.service)} --format '{{{{json .Mounts}}}}'",
                        f"{hp.container_path} <- {hp.host_path} ({hp.how})",
                    )
                )
                if hp.on_docker_root:
                    problems.append(f"{spec.service} {hp.container_path} uses {hp.how}")
                elif os.path.realpath(hp.host_path) != os.path.realpath(spec.mount_point):
                    used = classify(hp.host_path, mounts)
                    evidence += used.evidence
                    if not used.encrypted or not used.unlocked:
                        problems.append(
                            f"{spec.service} {hp.container_path} runs on {hp.host_path}, which is not encrypted "
                            f"({used.detail})"
                        )
        if problems:
            results.append(
                Result(
                    Status.FAIL,
                    f"volume {spec.name}: " + "; ".join(problems),
                    spec.name,
                    tuple(evidence),
                    volume_store(spec.name),
                )
            )
        else:
            results.append(
                Result(
                    Status.PASS, f"volume {spec.name}: {detail}", spec.name, tuple(evidence), volume_store(spec.name)
                )
            )
    if docker is not None:
        planned = {f"{project}_{s.name}" for s in specs}
        try:
            extra = docker.volumes.list(filters={"label": f"com.docker.compose.project={project}"})
        except Exception:
            extra = []
        for vol in extra:
            if vol.name in planned:
                continue
            options = vol.attrs.get("Options") or {}
            device = options.get("device")
            ev = (
                Evidence(
                    "command",
                    f"docker volume {vol.name}",
                    f"docker volume inspect {vol.name}",
                    f"{options} {vol.attrs.get('Mountpoint', '')}",
                ),
            )
            short = vol.name.removeprefix(project + "_")
            if not device:
                results.append(
                    Result(
                        Status.FAIL,
                        f"volume {short}: a plain Docker volume in {docker_root} (not encrypted)",
                        short,
                        ev,
                        volume_store(short),
                    )
                )
                continue
            verdict = classify(device, mounts)
            status = Status.PASS if verdict.encrypted and verdict.unlocked else Status.FAIL
            results.append(
                Result(
                    status,
                    f"volume {short}: bound to {device}: {verdict.detail}",
                    short,
                    ev + tuple(verdict.evidence),
                    volume_store(short),
                )
            )
    return results


def immutable_attr(path: Path, mounted: bool) -> tuple[bool | None, Evidence]:
    """Is the directory under the mount immutable? Looked at in a private mount namespace.

    Why a private namespace: while the volume is mounted, ``lsattr -d PATH`` shows the mounted
    filesystem's root, not the directory beneath. ``unshare -m`` gives a copy of the mount table
    in which the lazy unmount happens; the host's mounts are not touched.
    """
    if mounted:
        command = f"unshare -m sh -c 'umount -l {quote(path)} && lsattr -d {quote(path)}'"
        code, out = run(["unshare", "-m", "sh", "-c", f"umount -l {quote(path)} && lsattr -d {quote(path)}"])
    else:
        command = f"lsattr -d {quote(path)}"
        code, out = run(["lsattr", "-d", str(path)])
    ev = Evidence("command", "immutable flag of the mount point", command, out[-400:])
    if code != 0:
        return None, ev
    flags = out.split()[0] if out.split() else ""
    return "i" in flags, ev


def check_guard(ctx: VerifyContext) -> list[Result]:
    backend = ctx.plan.volumes.backend
    specs = volume_specs(ctx.plan)
    if backend not in GUARDED_BACKENDS:
        why = {
            "fscrypt": "fscrypt encrypts the directory itself: a write while it is locked is refused by the kernel",
            "host-fde": "host-fde: the directory is on the host's encrypted disk, there is no separate mount",
            "none": "volumes.backend is none: there is no encrypted mount to guard",
        }[backend]
        return [Result(Status.SKIP, why, s.name, (), volume_store(s.name)) for s in specs]
    mounts = read_mounts()
    results = []
    for spec in specs:
        if not spec.mount_point.is_dir():
            results.append(
                Result(
                    Status.SKIP,
                    f"mount point {spec.mount_point} does not exist (see volumes.encrypted)",
                    spec.name,
                    (),
                    volume_store(spec.name),
                )
            )
            continue
        mount = mount_of(spec.mount_point, mounts)
        mounted = mount is not None and mount.target == os.path.realpath(spec.mount_point)
        immutable, ev = immutable_attr(spec.mount_point, mounted)
        if immutable is None:
            results.append(
                Result(
                    Status.WARN,
                    f"cannot read the immutable flag of {spec.mount_point} (filesystem without attributes?)",
                    spec.name,
                    (ev,),
                    volume_store(spec.name),
                )
            )
        elif immutable:
            results.append(
                Result(
                    Status.PASS,
                    f"{spec.mount_point} is immutable underneath: nothing can write plaintext there while it is locked",
                    spec.name,
                    (ev,),
                    volume_store(spec.name),
                )
            )
        else:
            results.append(
                Result(
                    Status.FAIL,
                    f"{spec.mount_point} is NOT immutable: a container started before unlock would write plaintext onto the host disk",
                    spec.name,
                    (ev,),
                    volume_store(spec.name),
                )
            )
    return results


def check_host_fde(ctx: VerifyContext) -> list[Result]:
    backend = ctx.plan.volumes.backend
    if backend != "host-fde":
        return [
            Result(
                Status.SKIP,
                f"volumes.backend is {backend}: stackseal encrypts the volumes itself, the host disk is not relied on",
            )
        ]
    system = platform.system()
    if system == "Darwin":
        code, out = run(["fdesetup", "status"])
        ev = (Evidence("command", "FileVault", "fdesetup status", out),)
        ok = "FileVault is On" in out
        return [
            Result(
                Status.PASS if ok else Status.FAIL, out.splitlines()[0] if out else "fdesetup gave no answer", "", ev
            )
        ]
    if system == "Windows":
        code, out = run(["manage-bde", "-status", "C:"])
        ev = (Evidence("command", "BitLocker", "manage-bde -status C:", out[-1200:]),)
        ok = "Protection On" in out
        return [
            Result(
                Status.PASS if ok else Status.FAIL,
                "BitLocker protection on C:" if ok else "BitLocker protection is not on for C:",
                "",
                ev,
            )
        ]
    if system != "Linux":
        return [Result(Status.SKIP, f"no disk-encryption probe for {system}; check the host's disk encryption by hand")]
    results = []
    mounts = read_mounts()
    dm = dm_crypt_uuids()
    dm_ev = Evidence(
        "command",
        "device-mapper devices",
        "grep . /sys/block/dm-*/dm/uuid",
        "\n".join(f"{k}: {v}" for k, v in dm.items()) or "(none)",
    )
    places = {"Docker data root": ctx.docker_root(), "volumes.root": ctx.plan.volumes.root}
    for label, path in places.items():
        probe = path if os.path.exists(path) else str(Path(path).parent)
        verdict = classify(probe, mounts, try_fscrypt=False)
        found: tuple[Evidence, ...] = (*verdict.evidence, dm_ev)
        if verdict.kind == "dm-crypt":
            results.append(Result(Status.PASS, f"{label} {path}: {verdict.detail}", label, found))
        else:
            results.append(
                Result(
                    Status.FAIL, f"{label} {path}: no LUKS/dm-crypt device under it ({verdict.detail})", label, found
                )
            )
    return results
