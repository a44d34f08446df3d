"""fscrypt protector changes without a terminal: the pieces of a raw-key rotation.

Why this module: fscrypt has no "change raw key" command, and its CLI prompts for keys. The
non-interactive path, checked against fscrypt 0.3.3's source (cmd/fscrypt) and on a real ext4
image:

- ``fscrypt metadata create protector MNT --source=raw_key --name=N --key=NEW --quiet``;
- ``fscrypt metadata add-protector-to-policy --protector=MNT:NEW --policy=MNT:POL --quiet`` needs
  TWO raw keys (the new protector's, then the policy's current protector's) and ``--key`` names
  only one file. Without ``--key`` and with stdin not a terminal, fscrypt reads each raw key as
  32 bytes from stdin through a fresh ``bufio.Reader`` per key — which would swallow both keys at
  once if they were in the pipe together. So the second key is written only after the first has
  been consumed (``FIONREAD`` on the pipe reaches 0), which makes the exchange deterministic;
- ``fscrypt metadata remove-protector-from-policy ... --force --quiet`` (no key needed);
- ``fscrypt metadata destroy --protector=MNT:ID --force --quiet``.

What a rotation does not do: the files keep their per-file keys derived from the policy's master
key; only the wrapping of that master key changes (like ``gocryptfs -passwd``).
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import struct
import subprocess
import termios
import time
from dataclasses import dataclass
from pathlib import Path

from wizard.errors import OperationFailed

_PROTECTOR_ROW = re.compile(r'^([0-9a-f]{16})\s+(?:Yes|No)\s+raw key protector "(.*)"\s*$', re.M)
_POLICY_ROW = re.compile(r"^[0-9a-f]{32}\s+(?:Yes|No)\s+(.*)$", re.M)


@dataclass(frozen=True)
class DirPolicy:
    """An encrypted directory's policy and the raw-key protectors (id -> name) that protect it."""

    mountpoint: str
    policy: str
    protectors: dict[str, str]
    unlocked: bool


def key_fingerprint(key: bytes) -> str:
    """A short public name for a 256-bit random key (its SHA-256 prefix reveals nothing usable)."""
    return hashlib.sha256(key).hexdigest()[:12]


def protector_name(base: str, key: bytes) -> str:
    """Protector names carry the key's fingerprint, so a re-run finds the protector a key made."""
    return f"{base}-{key_fingerprint(key)}"


def mountpoint_of(path: Path) -> str:
    proc = subprocess.run(["findmnt", "-n", "-o", "TARGET", "--target", str(path)], capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise OperationFailed(f"{path}: cannot find the filesystem it is on (findmnt failed)")
    return proc.stdout.strip().splitlines()[0]


def _fscrypt(args: list[str], what: str, stdin: bytes | None = None) -> str:
    try:
        proc = subprocess.run(["fscrypt", *args], capture_output=True, input=stdin, timeout=60)
    except FileNotFoundError:
        raise OperationFailed(f"{what}: 'fscrypt' is not installed (apt-get install fscrypt)") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
        raise OperationFailed(f"{what}: fscrypt {args[0]} failed: {lines[0] if lines else proc.returncode}")
    return proc.stdout.decode(errors="replace")


def read_policy(directory: Path, what: str) -> DirPolicy:
    """Parse ``fscrypt status DIR`` (policy id, unlocked, protectors of that policy)."""
    out = _fscrypt(["status", str(directory)], what)
    policy = re.search(r"^Policy:\s+([0-9a-f]+)", out, re.M)
    if policy is None:
        raise OperationFailed(f"{what}: {directory} is not an fscrypt-encrypted directory")
    unlocked = re.search(r"^Unlocked:\s+(\w+)", out, re.M)
    return DirPolicy(
        mountpoint=mountpoint_of(directory),
        policy=policy.group(1),
        protectors={m.group(1): m.group(2) for m in _PROTECTOR_ROW.finditer(out)},
        unlocked=bool(unlocked and unlocked.group(1) == "Yes"),
    )


def filesystem_protectors(mountpoint: str, what: str) -> dict[str, str]:
    """Every raw-key protector on the filesystem (id -> name), linked to a policy or not."""
    return {m.group(1): m.group(2) for m in _PROTECTOR_ROW.finditer(_fscrypt(["status", mountpoint], what))}


def protectors_in_use(mountpoint: str, what: str) -> set[str]:
    """Protector ids that protect at least one policy on the filesystem (the POLICY table)."""
    used: set[str] = set()
    for match in _POLICY_ROW.finditer(_fscrypt(["status", mountpoint], what)):
        used.update(re.findall(r"[0-9a-f]{16}", match.group(1)))
    return used


def create_protector(mountpoint: str, name: str, key_file: Path, what: str) -> None:
    _fscrypt(
        [
            "metadata",
            "create",
            "protector",
            mountpoint,
            "--source=raw_key",
            f"--name={name}",
            f"--key={key_file}",
            "--quiet",
        ],
        what,
    )


def add_protector(mountpoint: str, protector: str, policy: str, new_key: bytes, old_key: bytes, what: str) -> None:
    """Link ``protector`` (opened by ``new_key``) to ``policy`` (opened via ``old_key``)."""
    if len(new_key) != 32 or len(old_key) != 32:
        raise OperationFailed(f"{what}: fscrypt raw keys must be exactly 32 bytes")
    proc = subprocess.Popen(
        [
            "fscrypt",
            "metadata",
            "add-protector-to-policy",
            f"--protector={mountpoint}:{protector}",
            f"--policy={mountpoint}:{policy}",
            "--quiet",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stderr is not None
    try:
        for key in (new_key, old_key):
            proc.stdin.write(key)
            proc.stdin.flush()
            deadline = time.monotonic() + 30
            while _pipe_pending(proc.stdin.fileno()) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # fscrypt exited early (e.g. a wrong key): its stderr says why
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait(timeout=60) != 0:
        lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
        raise OperationFailed(f"{what}: fscrypt add-protector-to-policy failed: {lines[0] if lines else 'no output'}")


def _pipe_pending(fd: int) -> int:
    """Bytes written to the pipe and not yet read by the other side."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


def remove_protector(mountpoint: str, protector: str, policy: str, what: str) -> None:
    _fscrypt(
        [
            "metadata",
            "remove-protector-from-policy",
            f"--protector={mountpoint}:{protector}",
            f"--policy={mountpoint}:{policy}",
            "--force",
            "--quiet",
        ],
        what,
    )


def destroy_protector(mountpoint: str, protector: str, what: str) -> None:
    _fscrypt(["metadata", "destroy", f"--protector={mountpoint}:{protector}", "--force", "--quiet"], what)


def test_unlock(directory: Path, mountpoint: str, protector: str, key_file: Path, what: str) -> bool:
    """Unlock the LOCKED directory with exactly this protector, then lock it again; True if it opened."""
    proc = subprocess.run(
        [
            "fscrypt",
            "unlock",
            str(directory),
            f"--key={key_file}",
            f"--unlock-with={mountpoint}:{protector}",
            "--quiet",
        ],
        capture_output=True,
        timeout=60,
    )
    if proc.returncode != 0:
        return False
    _fscrypt(["lock", str(directory), "--quiet"], what)
    return True
