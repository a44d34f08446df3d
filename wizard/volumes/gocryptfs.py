"""gocryptfs: an encrypted directory (FUSE) per volume.

Why gocryptfs first: it needs no block device and no device-mapper (it works on this test
machine, in VMs and in most containers' hosts), encrypts file contents and names with AES-GCM,
and leaves ciphertext a backup tool can copy. It is mounted with ``-allow_other`` because the
Docker daemon and the containers' users (e.g. neo4j, uid 7474) must read the plaintext view;
as root that needs no ``user_allow_other`` in /etc/fuse.conf.

What it does not hide: file sizes, counts and directory structure (see docs/provisioning.md).
"""

from __future__ import annotations

import os
import re
import shutil
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

INSTALL = "apt-get install gocryptfs fuse3"


class GocryptfsBackend(VolumeBackend):
    name = "gocryptfs"
    tools = (("gocryptfs", INSTALL), ("fusermount", INSTALL))
    requires = (
        Requirement("tool.gocryptfs", f"gocryptfs is not installed ({INSTALL})"),
        Requirement("fuse", None, before_apply=True),
    )

    def status(self, spec: VolumeSpec) -> VolumeState:
        entry = mount_entry(spec.mount_point)
        configured = (spec.backing / "gocryptfs.conf").exists()
        if entry is not None:
            fstype, source = entry
            if fstype == "fuse.gocryptfs" and os.path.realpath(source) == os.path.realpath(spec.backing):
                return VolumeState("unlocked", f"mounted at {spec.mount_point}")
            raise OperationFailed(
                f"volume {spec.name}: {spec.mount_point} is already a {fstype} mount of {source}, not this volume's "
                f"gocryptfs directory {spec.backing}; unmount it or change volumes.root"
            )
        if configured:
            return VolumeState("locked", f"encrypted directory {spec.backing} exists, not mounted")
        return VolumeState("absent", f"no encrypted directory at {spec.backing}")

    def create(self, spec: VolumeSpec, key_file: Path) -> None:
        backing = spec.backing
        if backing.exists() and any(backing.iterdir()) and not (backing / "gocryptfs.conf").exists():
            raise OperationFailed(
                f"volume {spec.name}: {backing} holds files but is not a gocryptfs directory; move them away "
                "or change volumes.root (nothing was changed)"
            )
        if (backing / "gocryptfs.conf").exists():
            return
        if spec.mount_point.exists() and any(spec.mount_point.iterdir()):
            ensure_empty_mount_point(spec)  # raises with the explanation
        # Initialise next to the target and rename: a crash leaves either nothing or a whole volume.
        staging = backing.with_name(f".{backing.name}.init")
        if staging.exists():
            shutil.rmtree(staging)  # our own half-made staging dir, never user data
        staging.mkdir(parents=True, mode=0o700)
        run_tool(["gocryptfs", "-init", "-q", "-passfile", str(key_file), str(staging)], f"volume {spec.name}")
        if backing.exists():
            backing.rmdir()  # empty (checked above)
        os.replace(staging, backing)

    def unlock(self, spec: VolumeSpec, key_file: Path) -> None:
        if self.status(spec).state == "unlocked":
            return
        ensure_empty_mount_point(spec)
        guard_mount_point(spec.mount_point)
        try:
            run_tool(
                [
                    "gocryptfs",
                    "-q",
                    "-allow_other",
                    "-passfile",
                    str(key_file),
                    str(spec.backing),
                    str(spec.mount_point),
                ],
                f"volume {spec.name}",
            )
        except OperationFailed as err:
            if "Password incorrect" in str(err):
                raise OperationFailed(
                    f"volume {spec.name}: the key {key_file} does not open {spec.backing}; "
                    "restore the right key file from your backup"
                ) from None
            if "fuse" in str(err).lower():
                raise OperationFailed(
                    f"volume {spec.name}: FUSE mount failed ({err}); check that /dev/fuse exists "
                    f"and fuse3 is installed ({INSTALL})"
                ) from None
            raise

    def lock(self, spec: VolumeSpec) -> None:
        if self.status(spec).state != "unlocked":
            return
        try:
            run_tool(["fusermount", "-u", str(spec.mount_point)], f"volume {spec.name}")
        except OperationFailed as err:
            if "busy" in str(err).lower():
                raise OperationFailed(
                    f"volume {spec.name}: {spec.mount_point} is in use; stop the services that use it "
                    "('docker compose stop') and lock again"
                ) from None
            raise

    def opens(self, spec: VolumeSpec, key_file: Path) -> bool:
        """True if ``key_file`` decrypts this volume's master key (nothing is mounted or changed)."""
        return self._master_key(spec, key_file) is not None

    def master_key(self, spec: VolumeSpec, key_file: Path) -> str:
        """The volume's master key (hex), for the escrow bundle; it opens the data even without the conf.

        ``gocryptfs -init`` prints it only once; ``gocryptfs-xray -dumpmasterkey`` recovers it from
        gocryptfs.conf and the password (Debian's gocryptfs 2.3 ships both).
        """
        key = self._master_key(spec, key_file)
        if key is None:
            raise OperationFailed(f"volume {spec.name}: the key {key_file} does not open {spec.backing}")
        return key

    def _master_key(self, spec: VolumeSpec, key_file: Path) -> str | None:
        conf = spec.backing / "gocryptfs.conf"
        if not conf.is_file() or conf.is_symlink():
            raise OperationFailed(f"volume {spec.name}: {conf} is missing or not a regular file")
        password = key_file.read_bytes().strip()
        try:
            proc = subprocess.run(
                ["gocryptfs-xray", "-dumpmasterkey", str(conf)], input=password + b"\n", capture_output=True, timeout=60
            )
        except FileNotFoundError:
            raise OperationFailed(f"volume {spec.name}: 'gocryptfs-xray' is not installed ({INSTALL})") from None
        except subprocess.TimeoutExpired:
            raise OperationFailed(f"volume {spec.name}: gocryptfs-xray did not finish within 60s") from None
        if proc.returncode != 0:
            return None
        key = proc.stdout.decode("ascii", "replace").strip()
        return key if re.fullmatch(r"[0-9a-f]{64}", key) else None

    def rotate(self, spec: VolumeSpec, old_key_file: Path, new_key_file: Path) -> None:
        """Re-wrap the master key under the new passphrase (``gocryptfs -passwd``); safe to re-run.

        The file contents are NOT re-encrypted: they keep the master key, which ``-passwd`` only
        re-wraps, so an old gocryptfs.conf copy plus the old key still opens the data. Destroy old
        copies of gocryptfs.conf (and re-escrow the master key) after rotating.

        Re-run safety: gocryptfs writes the new conf to a temporary file and renames it, so a kill
        leaves the old or the new conf. We look first whether the new key already opens it (done),
        then whether the old one does (do it); the mount, if any, keeps working throughout.
        """
        if self.opens(spec, new_key_file):
            return
        if not self.opens(spec, old_key_file):
            raise OperationFailed(
                f"volume {spec.name}: neither the current nor the new key opens {spec.backing}; "
                "restore the key file (or gocryptfs.conf) from your escrow bundle (nothing was changed)"
            )
        checkpoint("gocryptfs-passwd")
        old = old_key_file.read_text(encoding="utf-8").strip()
        new = new_key_file.read_text(encoding="utf-8").strip()
        run_tool(["gocryptfs", "-passwd", "-q", str(spec.backing)], f"volume {spec.name}", input_text=f"{old}\n{new}\n")
        if not self.opens(spec, new_key_file) or self.opens(spec, old_key_file):
            raise OperationFailed(f"volume {spec.name}: gocryptfs -passwd finished but the new key does not open it")
