"""luks-file: a LUKS2 container in a file per volume, opened with cryptsetup, mounted as ext4/xfs.

Why: LUKS is the standard Linux disk encryption (audited, hardware-accelerated AES-XTS, keys in
up to 32 slots, online re-encryption). A file container needs no spare disk. Opening one needs
the kernel's device-mapper (dm-crypt); where it is missing (some containers, minimal kernels)
``unlock`` stops with a clear line instead of half-working. Format, key changes and header
backups work on the file without device-mapper.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from wizard.errors import OperationFailed
from wizard.layout import VolumeSpec
from wizard.rotate.checkpoint import checkpoint
from wizard.volumes.base import (
    Requirement,
    VolumeBackend,
    VolumeState,
    ensure_empty_mount_point,
    guard_mount_point,
    mount_entry,
    run_tool,
)

INSTALL = "apt-get install cryptsetup-bin e2fsprogs"
DM_CONTROL = Path("/dev/mapper/control")


def device_mapper_available() -> bool:
    """dm-crypt needs /dev/mapper/control (the device-mapper kernel driver)."""
    return DM_CONTROL.exists()


def is_luks(path: Path) -> bool:
    """``cryptsetup isLuks``: the file starts with a LUKS header."""
    try:
        return subprocess.run(["cryptsetup", "isLuks", str(path)], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def needs_filesystem(device: Path, what: str) -> bool:
    """True only when ``blkid`` positively finds no signature at all on ``device`` (exit code 2).

    Why so strict: the answer decides whether ``mkfs`` runs on an opened container that may hold
    a database. ``blkid`` without ``-p`` answers from its cache, and an empty answer also comes
    with exit codes that mean "error" or "ambivalent (several signatures)"; treating those as
    "empty" would format a volume full of data. Anything but a clear "nothing here" stops.
    """
    if not device.exists():
        raise OperationFailed(f"volume {what}: {device} does not exist; nothing was formatted")
    probe = subprocess.run(
        ["blkid", "-p", "-o", "value", "-s", "TYPE", str(device)], capture_output=True, text=True, timeout=60
    )
    if probe.returncode == 0 and probe.stdout.strip():
        return False
    if probe.returncode == 2 and not probe.stdout.strip():
        return True
    reason = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or [f"exit code {probe.returncode}"]
    raise OperationFailed(
        f"volume {what}: cannot tell whether {device} already holds a filesystem (blkid: {reason[0]}); "
        "nothing was formatted: check it with 'blkid -p' and run again"
    )


class LuksFileBackend(VolumeBackend):
    name = "luks-file"
    tools = (("cryptsetup", INSTALL), ("mkfs.ext4", INSTALL), ("blkid", "apt-get install util-linux"))
    requires = (
        Requirement("tool.cryptsetup", "cryptsetup is not installed (apt-get install cryptsetup-bin)"),
        Requirement("device_mapper", "this kernel has no device-mapper, so LUKS volumes cannot be opened"),
        Requirement("root", "opening LUKS volumes needs root"),
    )

    def __init__(self, project: str, size_mb: int = 1024, filesystem: str = "ext4") -> None:
        self.project = project
        self.size_mb = size_mb
        self.filesystem = filesystem

    def mapper_name(self, spec: VolumeSpec) -> str:
        return f"stackseal-{self.project}-{spec.name}"

    def status(self, spec: VolumeSpec) -> VolumeState:
        entry = mount_entry(spec.mount_point)
        mapper = f"/dev/mapper/{self.mapper_name(spec)}"
        if entry is not None and os.path.realpath(entry[1]) == os.path.realpath(mapper):
            return VolumeState("unlocked", f"{mapper} mounted at {spec.mount_point}")
        if spec.backing.exists():
            if not is_luks(spec.backing):
                raise OperationFailed(
                    f"volume {spec.name}: {spec.backing} exists but is not a LUKS container; "
                    "move it away or change volumes.root"
                )
            return VolumeState("locked", f"LUKS2 container {spec.backing} exists, not open")
        return VolumeState("absent", f"no LUKS container at {spec.backing}")

    def create(self, spec: VolumeSpec, key_file: Path) -> None:
        if spec.backing.exists():
            return
        spec.backing.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = spec.backing.with_name(f".{spec.backing.name}.init")
        staging.unlink(missing_ok=True)  # our own half-made file, never user data
        try:
            with open(staging, "wb") as handle:
                os.posix_fallocate(handle.fileno(), 0, self.size_mb * 1024 * 1024)
        except OSError as err:
            staging.unlink(missing_ok=True)
            raise OperationFailed(
                f"volume {spec.name}: cannot allocate {self.size_mb} MB at {staging} ({err.strerror})"
            ) from None
        os.chmod(staging, 0o600)
        run_tool(
            ["cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--key-file", str(key_file), str(staging)],
            f"volume {spec.name}",
            timeout=300,
        )
        os.replace(staging, spec.backing)

    def unlock(self, spec: VolumeSpec, key_file: Path) -> None:
        if self.status(spec).state == "unlocked":
            return
        if not device_mapper_available():
            raise OperationFailed(
                f"volume {spec.name}: this kernel has no device-mapper ({DM_CONTROL} is missing; try 'modprobe dm_crypt'), "
                "so LUKS containers cannot be opened here; choose volumes.backend: gocryptfs"
            )
        ensure_empty_mount_point(spec)
        name = self.mapper_name(spec)
        mapper = Path("/dev/mapper") / name
        if not mapper.exists():
            run_tool(
                ["cryptsetup", "open", "--type", "luks2", "--key-file", str(key_file), str(spec.backing), name],
                f"volume {spec.name}",
            )
        guard_mount_point(spec.mount_point)
        if needs_filesystem(mapper, spec.name):  # freshly formatted container: no filesystem yet
            run_tool([f"mkfs.{self.filesystem}", "-q", str(mapper)], f"volume {spec.name}", timeout=600)
        run_tool(["mount", str(mapper), str(spec.mount_point)], f"volume {spec.name}")
        os.chmod(spec.mount_point, 0o755)

    def lock(self, spec: VolumeSpec) -> None:
        name = self.mapper_name(spec)
        if mount_entry(spec.mount_point) is not None:
            run_tool(["umount", str(spec.mount_point)], f"volume {spec.name}")
        if (Path("/dev/mapper") / name).exists():
            run_tool(["cryptsetup", "close", name], f"volume {spec.name}")

    def key_slot(self, spec: VolumeSpec, key_file: Path, exclude: tuple[int, ...] = ()) -> int | None:
        """A key slot ``key_file`` opens (not in ``exclude``), or None; read-only, needs no device-mapper.

        ``cryptsetup open --test-passphrase -v`` tries the slots and names the one that opened.
        """
        for slot in [None, *range(32)] if exclude else [None]:
            if slot is not None and slot in exclude:
                continue
            argv = ["cryptsetup", "open", "--test-passphrase", "-v", "--key-file", str(key_file), str(spec.backing)]
            if slot is not None:
                argv[3:3] = ["--key-slot", str(slot)]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
            if proc.returncode == 0:
                found = re.search(r"Key slot (\d+) unlocked", proc.stdout + proc.stderr)
                if found is None:
                    raise OperationFailed(f"volume {spec.name}: cryptsetup did not say which key slot opened")
                if int(found.group(1)) not in exclude:
                    return int(found.group(1))
            elif proc.returncode not in (1, 2):  # 2: bad passphrase; 1: slot empty/invalid
                raise OperationFailed(f"volume {spec.name}: cryptsetup cannot test the keys of {spec.backing}")
            elif slot is None:
                return None  # opens no slot at all
        return None

    def opens(self, spec: VolumeSpec, key_file: Path) -> bool:
        return self.key_slot(spec, key_file) is not None

    def rotate(self, spec: VolumeSpec, old_key_file: Path, new_key_file: Path) -> None:
        """luksAddKey (new) -> check the new key opens the header -> luksKillSlot (old); safe to re-run.

        Each step starts from which slots each key opens now, so a kill at any instant leaves a
        header that the old or the new key (or both) opens, and a re-run finishes the job. The
        volume key itself is unchanged (``cryptsetup reencrypt`` would change it; after a leak of
        the header *and* a key, use that). Take a header backup afterwards (the caller does).
        """
        what = f"volume {spec.name}"
        new_slot = self.key_slot(spec, new_key_file)
        if new_slot is None:
            if self.key_slot(spec, old_key_file) is None:
                raise OperationFailed(
                    f"{what}: neither the current nor the new key opens {spec.backing}; restore the header or the "
                    "key from your escrow bundle (nothing was changed)"
                )
            checkpoint("luks-add-key")
            run_tool(
                [
                    "cryptsetup",
                    "luksAddKey",
                    "--batch-mode",
                    "--key-file",
                    str(old_key_file),
                    str(spec.backing),
                    str(new_key_file),
                ],
                what,
                timeout=300,
            )
            new_slot = self.key_slot(spec, new_key_file)
            if new_slot is None:
                raise OperationFailed(f"{what}: luksAddKey finished but the new key does not open {spec.backing}")
        while (old_slot := self.key_slot(spec, old_key_file, exclude=(new_slot,))) is not None:
            checkpoint("luks-kill-slot")
            run_tool(
                [
                    "cryptsetup",
                    "luksKillSlot",
                    "--batch-mode",
                    "--key-file",
                    str(new_key_file),
                    str(spec.backing),
                    str(old_slot),
                ],
                what,
                timeout=300,
            )

    def header_backup(self, spec: VolumeSpec, dest: Path) -> None:
        """Save the LUKS header (key slots): without it a damaged header loses the whole volume."""
        run_tool(
            ["cryptsetup", "luksHeaderBackup", str(spec.backing), "--header-backup-file", str(dest)],
            f"volume {spec.name}",
        )
