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
from wizard.rotate import fscrypt_meta as fmeta
from wizard.rotate.checkpoint import checkpoint
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
        argv = ["fscrypt", "unlock", str(spec.mount_point), f"--key={key_file}", "--quiet"]
        state = fmeta.read_policy(spec.mount_point, f"volume {spec.name}")
        if len(state.protectors) > 1:  # a key rotation stopped between its steps: pick this key's protector
            mine = self._protectors_for(spec, state.protectors, key_file.read_bytes()) or [
                pid for pid, name in state.protectors.items() if name == self.protector_name(spec)
            ]
            if mine:
                argv.append(f"--unlock-with={state.mountpoint}:{mine[0]}")
        try:
            run_tool(argv, f"volume {spec.name}")
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

    def opens(self, spec: VolumeSpec, key_file: Path) -> bool:
        """True if a protector of this volume's policy is the one made for ``key_file``'s key."""
        state = fmeta.read_policy(spec.mount_point, f"volume {spec.name}")
        return bool(self._protectors_for(spec, state.protectors, key_file.read_bytes()))

    def _protectors_for(self, spec: VolumeSpec, protectors: dict[str, str], key: bytes) -> list[str]:
        names = {fmeta.protector_name(self.protector_name(spec), key)}
        return [pid for pid, name in protectors.items() if name in names]

    def rotate(self, spec: VolumeSpec, old_key_file: Path, new_key_file: Path) -> None:
        """New raw-key protector linked to the policy, verified, then every other protector removed.

        The files keep their encryption keys: only the wrapping of the policy's master key changes.
        Each step first looks at what fscrypt reports (protectors are named after a fingerprint of
        their key), so a re-run after a kill at any instant continues where it stopped and the
        policy always has at least one protector that a key we hold opens.
        """
        what = f"volume {spec.name}"
        directory = spec.mount_point
        base = self.protector_name(spec)
        old_key, new_key = old_key_file.read_bytes(), new_key_file.read_bytes()
        new_name = fmeta.protector_name(base, new_key)
        old_names = {fmeta.protector_name(base, old_key), base}  # ``base``: the name create() gives
        state = fmeta.read_policy(directory, what)
        mnt = state.mountpoint
        new_ids = [pid for pid, name in fmeta.filesystem_protectors(mnt, what).items() if name == new_name]
        if not new_ids:
            checkpoint("fscrypt-create-protector")
            fmeta.create_protector(mnt, new_name, new_key_file, what)
            new_ids = [pid for pid, name in fmeta.filesystem_protectors(mnt, what).items() if name == new_name]
            if not new_ids:
                raise OperationFailed(f"{what}: fscrypt created no protector named {new_name}")
        new_id = new_ids[0]
        if new_id not in state.protectors:
            if not any(name in old_names for name in state.protectors.values()):
                raise OperationFailed(
                    f"{what}: no protector of {directory} belongs to the current key; restore it from your escrow "
                    "bundle (nothing was changed)"
                )
            checkpoint("fscrypt-add-protector")
            # fscrypt unlocks the new protector with new_key and the policy with old_key: a wrong
            # key fails here, before anything is removed.
            fmeta.add_protector(mnt, new_id, state.policy, new_key, old_key, what)
            state = fmeta.read_policy(directory, what)
            if new_id not in state.protectors:
                raise OperationFailed(f"{what}: the new protector is not linked to {directory}'s policy")
        if not state.unlocked and not fmeta.test_unlock(directory, mnt, new_id, new_key_file, what):
            raise OperationFailed(f"{what}: the new key does not unlock {directory}; the current key still does")
        for pid in [p for p in state.protectors if p != new_id]:
            checkpoint("fscrypt-remove-protector")
            fmeta.remove_protector(mnt, pid, state.policy, what)
        # Destroy our own protectors that no longer protect anything (from this or an earlier,
        # interrupted rotation of this volume); never one that still protects a policy.
        ours = re.compile(re.escape(base) + r"(-[0-9a-f]{12})?")
        in_use = fmeta.protectors_in_use(mnt, what)
        for pid, name in fmeta.filesystem_protectors(mnt, what).items():
            if pid != new_id and pid not in in_use and ours.fullmatch(name):
                fmeta.destroy_protector(mnt, pid, what)


def _last(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
