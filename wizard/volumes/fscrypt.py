"""fscrypt: native ext4/f2fs directory encryption (the kernel's fscrypt, policy v2) per volume.

Why: no FUSE daemon and no device-mapper; the kernel encrypts file contents and names
(AES-256-XTS / AES-256-CTS) in place, so the volume's directory *is* its backing storage
(``layout`` gives ``backing == mount_point``). Needs a filesystem created with the ``encrypt``
feature and prepared once by the administrator (``fscrypt setup`` and ``fscrypt setup MNT``);
stackseal does not change filesystem-wide settings itself and names the commands instead.

Limits: directory structure and file sizes stay visible; when unlocked, every process on the
host (root included) reads plaintext; on this project's test kernel without AES-NI XTS it is
slow (~66 MB/s measured there).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from wizard.errors import OperationFailed
from wizard.layout import VolumeSpec
from wizard.volumes.base import Requirement, VolumeBackend, VolumeState, run_tool

INSTALL = "apt-get install fscrypt e2fsprogs"


def _status(path: Path) -> tuple[int, str]:
    proc = subprocess.run(["fscrypt", "status", str(path)], capture_output=True, text=True, timeout=30)
    return proc.returncode, proc.stdout + proc.stderr


class FscryptBackend(VolumeBackend):
    name = "fscrypt"
    tools = (("fscrypt", INSTALL),)
    requires = (
        Requirement("tool.fscrypt", "fscrypt is not installed (apt-get install fscrypt)"),
        Requirement("fscrypt_kernel", "this kernel does not offer ext4 encryption"),
        Requirement("root", "fscrypt volumes are loop-mounted ext4 images: needs root"),
    )
    raw_key = True

    def __init__(self, project: str) -> None:
        self.project = project

    def protector_name(self, spec: VolumeSpec) -> str:
        return f"stackseal-{self.project}-{spec.name}"

    def status(self, spec: VolumeSpec) -> VolumeState:
        directory = spec.mount_point
        if not directory.is_dir():
            return VolumeState("absent", f"no directory at {directory}")
        code, out = _status(directory)
        if code != 0:
            if "not encrypted" in out:
                if any(directory.iterdir()):
                    raise OperationFailed(
                        f"volume {spec.name}: {directory} holds unencrypted files; fscrypt can only encrypt an empty "
                        f"directory: move them out, run again, then copy them into the unlocked volume"
                    )
                return VolumeState("absent", f"{directory} exists, not encrypted yet (empty)")
            raise OperationFailed(f"volume {spec.name}: fscrypt status {directory} failed: {_last(out)}")
        unlocked = re.search(r"^Unlocked:\s+(\w+)", out, re.M)
        if unlocked and unlocked.group(1) == "Yes":
            return VolumeState("unlocked", f"fscrypt directory {directory} unlocked")
        return VolumeState("locked", f"fscrypt directory {directory} locked")

    def create(self, spec: VolumeSpec, key_file: Path) -> None:
        if self.status(spec).state != "absent":
            return
        spec.mount_point.mkdir(parents=True, exist_ok=True, mode=0o755)
        if not Path("/etc/fscrypt.conf").exists():
            raise OperationFailed("fscrypt is not set up on this host; run once as root: fscrypt setup")
        try:
            run_tool(
                [
                    "fscrypt",
                    "encrypt",
                    str(spec.mount_point),
                    "--source=raw_key",
                    f"--key={key_file}",
                    f"--name={self.protector_name(spec)}",
                    "--quiet",
                ],
                f"volume {spec.name}",
            )
        except OperationFailed as err:
            text = str(err)
            if "not setup" in text or "not set up" in text or "fscrypt setup" in text:
                raise OperationFailed(
                    f"volume {spec.name}: the filesystem under {spec.mount_point} is not set up for fscrypt; "
                    "run once as root: fscrypt setup MOUNTPOINT_OF_THAT_FILESYSTEM"
                ) from None
            if "encryption not enabled" in text.lower() or "not supported" in text.lower():
                raise OperationFailed(
                    f"volume {spec.name}: the filesystem under {spec.mount_point} has no encryption "
                    "support; enable it (tune2fs -O encrypt DEVICE) or choose volumes.backend gocryptfs"
                ) from None
            raise

    def unlock(self, spec: VolumeSpec, key_file: Path) -> None:
        if self.status(spec).state == "unlocked":
            return
        try:
            run_tool(
                ["fscrypt", "unlock", str(spec.mount_point), f"--key={key_file}", "--quiet"], f"volume {spec.name}"
            )
        except OperationFailed as err:
            if "incorrect" in str(err).lower() or "wrong" in str(err).lower():
                raise OperationFailed(
                    f"volume {spec.name}: the key {key_file} does not unlock {spec.mount_point}; "
                    "restore the right key file from your backup"
                ) from None
            raise

    def lock(self, spec: VolumeSpec) -> None:
        if self.status(spec).state != "unlocked":
            return
        run_tool(["fscrypt", "lock", str(spec.mount_point), "--quiet"], f"volume {spec.name}")

    def rotate(self, spec: VolumeSpec, old_key_file: Path, new_key_file: Path) -> None:
        raise OperationFailed(
            f"volume {spec.name}: fscrypt key rotation is not automated yet (fscrypt asks for both raw keys interactively "
            "and never re-encrypts data); re-encrypt by copying the data into a new volume with a new key"
        )


def _last(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
