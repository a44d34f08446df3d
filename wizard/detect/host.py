"""Host facts: OS, privileges, tools on PATH, FUSE, device-mapper, kernel fscrypt, disk encryption.

Local files and PATH only: each probe is instant and needs no network.
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Callable
from pathlib import Path

from wizard.detect.facts import Fact
from wizard.plan import Plan


def probe_os(plan: Plan, timeout: float) -> Fact:
    system = platform.system()
    release = platform.release()
    data = {"system": system, "release": release, "machine": platform.machine()}
    return Fact("os", "Operating system", True, f"{system} {release} ({platform.machine()})", data)


def probe_root(plan: Plan, timeout: float) -> Fact:
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    text = "running as root" if is_root else "not root: volume setup will need sudo"
    return Fact("root", "Privileges", is_root, text, {"root": is_root})


TOOLS = {
    "cryptsetup": "LUKS volumes",
    "gocryptfs": "gocryptfs volumes",
    "fscrypt": "fscrypt volumes",
    "docker": "Docker CLI",
}


def tool_probe(name: str, purpose: str) -> Callable[[Plan, float], Fact]:
    def probe(plan: Plan, timeout: float) -> Fact:
        path = shutil.which(name)
        if path:
            return Fact(f"tool.{name}", f"{name}", True, f"found at {path} ({purpose})", {"path": path})
        return Fact(f"tool.{name}", f"{name}", False, f"not on PATH (needed for {purpose})")

    return probe


def probe_fuse(plan: Plan, timeout: float) -> Fact:
    dev = Path("/dev/fuse").exists()
    fusermount = shutil.which("fusermount3") or shutil.which("fusermount")
    allow_other = False
    try:
        allow_other = any(
            line.strip() == "user_allow_other" for line in Path("/etc/fuse.conf").read_text().splitlines()
        )
    except OSError:
        pass
    data = {"dev": dev, "fusermount": fusermount, "user_allow_other": allow_other}
    if not dev:
        return Fact(
            "fuse",
            "FUSE",
            False,
            "/dev/fuse is missing (gocryptfs cannot mount): 'modprobe fuse', or run the container with --device /dev/fuse",
            data,
        )
    if not fusermount:
        return Fact("fuse", "FUSE", False, "fusermount is not installed (apt-get install fuse3)", data)
    note = "" if allow_other else "; user_allow_other is off in /etc/fuse.conf (fine as root)"
    return Fact("fuse", "FUSE", True, f"/dev/fuse and {Path(fusermount).name} present{note}", data)


def probe_device_mapper(plan: Plan, timeout: float) -> Fact:
    """The kernel's own word (/proc/misc, /sys/class/misc), not /dev/mapper/control.

    Why: cryptsetup and dmsetup create /dev/mapper/control with mknod even when the kernel has
    no device-mapper driver, so the node's existence proves nothing.
    """
    try:
        misc = Path("/proc/misc").read_text()
    except OSError:
        misc = None
    if misc is not None:
        present = any(line.split()[-1:] == ["device-mapper"] for line in misc.splitlines())
    else:
        present = Path("/sys/class/misc/device-mapper").exists()
    if present:
        return Fact("device_mapper", "Device-mapper", True, "available (LUKS volumes can be opened)")
    return Fact(
        "device_mapper", "Device-mapper", False, "this kernel has no device-mapper (LUKS volumes cannot be opened)"
    )


def probe_fscrypt_kernel(plan: Plan, timeout: float) -> Fact:
    if Path("/sys/fs/ext4/features/encryption").exists():
        return Fact("fscrypt_kernel", "Kernel fscrypt", True, "ext4 encryption supported by this kernel")
    return Fact("fscrypt_kernel", "Kernel fscrypt", False, "this kernel does not offer ext4 encryption")


def probe_disk_encryption(plan: Plan, timeout: float) -> Fact:
    """Whether the filesystem that will hold ``volumes.root`` sits on a dm-crypt (LUKS) device.

    Why this exact question: the volume-backend default may propose ``host-fde`` ("the host disk
    is already encrypted") only when detection saw it; an encrypted disk elsewhere on the host
    protects nothing under ``volumes.root``. The block device is followed through its stack
    (LVM on LUKS) in /sys. Filesystems with no block device of their own (overlay, tmpfs, btrfs
    subvolumes) are reported as unknown, never as encrypted.
    """
    title = "Disk encryption"
    where = Path(plan.volumes.root)
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        dev = os.stat(where).st_dev
    except OSError as err:
        return Fact("disk_encryption", title, None, f"cannot stat {where}: {err.strerror}")
    block = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if os.major(dev) == 0 or not block.exists():
        return Fact("disk_encryption", title, None, f"{where} has no block device of its own: cannot tell")
    crypt = _dm_crypt_below(block.resolve())
    if crypt:
        return Fact("disk_encryption", title, True, f"{where} is on dm-crypt device {crypt}", {"device": crypt})
    return Fact("disk_encryption", title, False, f"{where} is not on an encrypted device ({block.resolve().name})")


def _dm_crypt_below(device: Path, depth: int = 0) -> str | None:
    """The name of a dm-crypt device at or below ``device`` in the block stack, or None."""
    if depth > 8:
        return None
    try:
        if (device / "dm" / "uuid").read_text().startswith("CRYPT-"):
            return (device / "dm" / "name").read_text().strip() or device.name
    except OSError:
        pass
    slaves = device / "slaves"
    if not slaves.is_dir():
        return None
    for slave in sorted(slaves.iterdir()):
        found = _dm_crypt_below(slave.resolve(), depth + 1)
        if found:
            return found
    return None
