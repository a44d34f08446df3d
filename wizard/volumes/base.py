"""The interface every volume-encryption backend implements.

Why one small interface (create, unlock, lock, status, rotate): the provisioning steps, the
rotation command and the verification checks must treat gocryptfs, LUKS, fscrypt and host disk
encryption alike. Each backend works on one :class:`wizard.layout.VolumeSpec` at a time: it makes
the encrypted storage at ``spec.backing`` and exposes its plaintext view at ``spec.mount_point``
(the directory the compose volume binds). Keys are files (``key_file``) the caller owns; a
backend never prints or logs them.

Safety rules every backend keeps: ``create`` refuses to hide or overwrite existing files,
``unlock`` refuses to mount over a non-empty directory, nothing here deletes user data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wizard.errors import OperationFailed
from wizard.layout import VolumeSpec

State = Literal["absent", "locked", "unlocked"]


@dataclass(frozen=True)
class Requirement:
    """One thing a backend needs from the host, named by its detection fact (:mod:`wizard.detect`).

    Declared once, on the backend class, and read by everything that asks "can this host run
    it": detection (a choice offered disabled, with ``missing`` as the reason), the
    volume-backend default (proposed only when every requirement is met) and the host
    precondition before apply (the ones marked ``before_apply``; tools are always checked).
    """

    #: the detection fact that must not be False (``tool.gocryptfs``, ``fuse``, ``root`` …)
    fact: str
    #: why the backend cannot run when the fact is False, with the fix; None: the fact's own summary
    missing: str | None
    #: also refuse apply when it is missing (otherwise only the wizard's offer depends on it)
    before_apply: bool = False


@dataclass(frozen=True)
class VolumeState:
    """What a volume is now: not created, created but closed, or open at its mount point."""

    state: State
    detail: str


class VolumeBackend(ABC):
    """One way of encrypting a volume's host directory."""

    name: str = ""
    #: (executable, command that installs it)
    tools: tuple[tuple[str, str], ...] = ()
    #: what the host must offer, as detection facts (see :class:`Requirement`)
    requires: tuple[Requirement, ...] = ()
    #: False when the backend needs no stackseal key file (host-fde, none)
    uses_key: bool = True
    #: True when the key file must hold 32 raw bytes (fscrypt) instead of a passphrase line
    raw_key: bool = False

    def missing_tools(self) -> list[str]:
        """One line per missing tool, each with the command that installs it."""
        return [f"{tool} (install: {install})" for tool, install in self.tools if shutil.which(tool) is None]

    @abstractmethod
    def status(self, spec: VolumeSpec) -> VolumeState:
        """Read-only: absent, locked or unlocked."""

    @abstractmethod
    def create(self, spec: VolumeSpec, key_file: Path) -> None:
        """Make the encrypted storage (left locked). Must be atomic: a crash leaves it absent."""

    @abstractmethod
    def unlock(self, spec: VolumeSpec, key_file: Path) -> None:
        """Open it so ``spec.mount_point`` shows the plaintext view."""

    @abstractmethod
    def lock(self, spec: VolumeSpec) -> None:
        """Close it: the plaintext view disappears (the services using it must be stopped)."""

    @abstractmethod
    def rotate(self, spec: VolumeSpec, old_key_file: Path, new_key_file: Path) -> None:
        """Make ``new_key_file`` open the volume and ``old_key_file`` no longer open it."""


# ---- helpers shared by backends -----------------------------------------------------------


def mount_entry(path: Path) -> tuple[str, str] | None:
    """(fstype, source) of the mount at exactly ``path``, from /proc/self/mountinfo; None if none."""
    target = os.path.realpath(path)
    found = None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            for line in handle:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) >= 5 and _unescape(fields[4]) == target:
                    rparts = right.split()
                    found = (rparts[0], _unescape(rparts[1]) if len(rparts) > 1 else "")
    except OSError:
        return None
    return found  # the last entry wins (stacked mounts)


def _unescape(text: str) -> str:
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def ensure_empty_mount_point(spec: VolumeSpec) -> None:
    """Create the mount point; refuse if it already holds files (they would be hidden)."""
    mount_point = spec.mount_point
    mount_point.mkdir(parents=True, exist_ok=True)
    try:
        entries = list(os.scandir(mount_point))
    except OSError as err:
        raise OperationFailed(f"volume {spec.name}: cannot read {mount_point} ({err.strerror})") from None
    if entries:
        raise OperationFailed(
            f"volume {spec.name}: {mount_point} already holds {len(entries)} unencrypted entries that the encrypted "
            f"volume would hide; move them out, run again, then copy them into the unlocked volume (nothing was changed)"
        )


def guard_mount_point(path: Path) -> bool:
    """Make the (empty) mount point immutable, so nothing can write into it while it is locked.

    Why: after a reboot the encrypted volume is not mounted yet, but Docker may already restart
    the stack's containers (``restart: unless-stopped``); they would bind the bare directory and
    write *plaintext* onto the host disk. An immutable directory refuses those writes (the
    service fails to start instead), while the encrypted mount on top of it works normally.
    Returns False where the filesystem has no such attribute (the plan then warns in the docs).
    """
    if shutil.which("chattr") is None:
        os.chmod(path, 0o755)
        return False
    subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    os.chmod(path, 0o755)  # containers' users must be able to enter the mounted volume
    proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    return proc.returncode == 0


def run_tool(
    argv: list[str], what: str, input_text: str | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """Run a backend tool; on failure one line with its last stderr line (tools never echo keys)."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, input=input_text, timeout=timeout)
    except FileNotFoundError:
        raise OperationFailed(f"{what}: '{argv[0]}' is not installed") from None
    except subprocess.TimeoutExpired:
        raise OperationFailed(f"{what}: '{argv[0]}' did not finish within {timeout}s") from None
    if proc.returncode != 0:
        lines = [
            ln.strip()
            for ln in (proc.stderr or proc.stdout or "").splitlines()
            if ln.strip() and "syslog" not in ln.lower()
        ]
        reason = lines[-1] if lines else f"exit code {proc.returncode}"
        raise OperationFailed(f"{what}: {argv[0]} failed: {reason}")
    return proc
