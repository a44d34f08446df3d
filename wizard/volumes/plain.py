"""``host-fde`` and ``none``: the volume is a plain host directory.

Why a backend at all: the steps and checks treat every volume the same way. With ``host-fde``
the directory sits on a disk the host already encrypts (LUKS, FileVault, BitLocker): stackseal
neither holds nor rotates that key. With ``none`` nothing is encrypted (development only; the
plan says so loudly).
"""

from __future__ import annotations

import os
from pathlib import Path

from wizard.errors import OperationFailed
from wizard.layout import VolumeSpec
from wizard.volumes.base import VolumeBackend, VolumeState


class PlainBackend(VolumeBackend):
    tools = ()
    uses_key = False

    def __init__(self, name: str = "none") -> None:
        self.name = name

    def status(self, spec: VolumeSpec) -> VolumeState:
        if spec.mount_point.is_dir():
            how = "on the host's encrypted disk" if self.name == "host-fde" else "NOT encrypted"
            return VolumeState("unlocked", f"directory {spec.mount_point} ({how})")
        return VolumeState("absent", f"no directory at {spec.mount_point}")

    def create(self, spec: VolumeSpec, key_file: Path) -> None:
        spec.mount_point.mkdir(parents=True, exist_ok=True)
        os.chmod(spec.mount_point, 0o755)

    def unlock(self, spec: VolumeSpec, key_file: Path) -> None:
        self.create(spec, key_file)

    def lock(self, spec: VolumeSpec) -> None:
        """Nothing to lock: the host's disk encryption (if any) locks at shutdown."""

    def rotate(self, spec: VolumeSpec, old_key_file: Path, new_key_file: Path) -> None:
        raise OperationFailed(
            f"volume {spec.name}: backend {self.name} has no stackseal key to rotate; "
            "rotate the host disk's key with its own tool (cryptsetup luksChangeKey, fdesetup, manage-bde)"
        )
