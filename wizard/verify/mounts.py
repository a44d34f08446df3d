"""Is a host path on an encrypted, unlocked filesystem? Read from /proc/mounts and the tools.

Why several sources: each encryption technique shows itself differently. gocryptfs is a FUSE
mount (``fuse.gocryptfs`` in /proc/mounts); fscrypt encrypts directories of an ext4/f2fs
filesystem in place (``fscrypt status PATH``); LUKS/dm-crypt is a device-mapper device under
the filesystem (``lsblk -s``, ``cryptsetup status``, ``/sys/block/dm-*/dm/uuid`` starting with
``CRYPT-``). Each answer carries the command a user runs to see the same thing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from wizard.verify.model import Evidence

MOUNTS = Path("/proc/self/mounts")


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    fstype: str
    options: str


@dataclass
class FsVerdict:
    """What protects ``path``: ``kind`` gocryptfs | fscrypt | dm-crypt | none; ``unlocked`` for the first three."""

    path: str
    mount: Mount | None
    kind: str
    unlocked: bool
    detail: str
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def encrypted(self) -> bool:
        return self.kind != "none"


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def read_mounts(path: Path = MOUNTS) -> list[Mount]:
    mounts = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            mounts.append(Mount(_unescape(parts[0]), _unescape(parts[1]), parts[2], parts[3]))
    return mounts


def mount_of(path: str | Path, mounts: list[Mount] | None = None) -> Mount | None:
    """The mount that holds ``path`` (longest matching target; the last one wins when stacked)."""
    target = os.path.realpath(path)
    best: Mount | None = None
    for mount in mounts if mounts is not None else read_mounts():
        t = mount.target.rstrip("/") or "/"
        if target == t or target.startswith(t + "/") or t == "/":
            if best is None or len(t) >= len(best.target.rstrip("/") or "/"):
                best = mount
    return best


def mounts_line(mount: Mount) -> str:
    return f"{mount.source} {mount.target} {mount.fstype} {mount.options}"


def run(argv: list[str], timeout: float = 20) -> tuple[int, str]:
    """Run a read-only tool; (exit code, stdout+stderr). Missing tools give (127, reason)."""
    if shutil.which(argv[0]) is None:
        return 127, f"{argv[0]}: not installed"
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return 124, f"{argv[0]}: no answer within {timeout:.0f}s"
    except OSError as err:
        return 126, f"{argv[0]}: {err.strerror}"
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def quote(path: str | Path) -> str:
    import shlex

    return shlex.quote(str(path))


def fscrypt_state(path: str | Path) -> tuple[bool | None, bool, str]:
    """(encrypted?, unlocked?, output) from ``fscrypt status PATH``; None when fscrypt cannot tell."""
    code, out = run(["fscrypt", "status", str(path)])
    if code == 127:
        return None, False, out
    if code != 0:
        if "not encrypted" in out:
            return False, False, out
        return None, False, out
    unlocked = re.search(r"^Unlocked:\s+(\w+)", out, re.M)
    return True, bool(unlocked and unlocked.group(1) == "Yes"), out


def crypt_ancestry(device: str) -> tuple[bool, str]:
    """Is ``device`` (or a device under it) a dm-crypt mapping? From ``lsblk -s`` (inverse tree)."""
    code, out = run(["lsblk", "-s", "-n", "-o", "NAME,TYPE", device])
    if code != 0:
        return False, out
    return any(line.split()[-1:] == ["crypt"] for line in out.splitlines()), out


def dm_crypt_uuids() -> dict[str, str]:
    """dm device name -> uuid for every device-mapper device (``CRYPT-...`` is dm-crypt)."""
    found = {}
    for dm in Path("/sys/block").glob("dm-*"):
        try:
            name = (dm / "dm" / "name").read_text().strip()
            uuid = (dm / "dm" / "uuid").read_text().strip()
        except OSError:
            continue
        found[name] = uuid
    return found


def classify(path: str | Path, mounts: list[Mount] | None = None, try_fscrypt: bool = True) -> FsVerdict:
    """Say what, if anything, encrypts the filesystem under ``path``, with re-runnable evidence."""
    real = os.path.realpath(path)
    mount = mount_of(real, mounts)
    if mount is None:
        return FsVerdict(real, None, "none", False, f"no mount found for {real}")
    ev = [Evidence("command", f"filesystem of {real}", f"findmnt -T {quote(real)}", mounts_line(mount))]
    if mount.fstype == "fuse.gocryptfs":
        return FsVerdict(real, mount, "gocryptfs", True, f"gocryptfs mount at {mount.target} (unlocked)", ev)
    if mount.source.startswith("/dev/"):
        is_crypt, tree = crypt_ancestry(mount.source)
        if is_crypt:
            name = Path(mount.source).name
            _, status = run(["cryptsetup", "status", name])
            ev.append(Evidence("command", "device stack", f"lsblk -s {quote(mount.source)}", tree))
            ev.append(Evidence("command", "dm-crypt mapping", f"cryptsetup status {quote(name)}", status[:800]))
            return FsVerdict(real, mount, "dm-crypt", True, f"{mount.source} is a dm-crypt device (open)", ev)
    if try_fscrypt and mount.fstype in ("ext4", "f2fs", "ubifs") and os.path.isdir(real):
        encrypted, unlocked, out = fscrypt_state(real)
        if encrypted is not None:
            ev.append(Evidence("command", "fscrypt policy", f"fscrypt status {quote(real)}", out[:800]))
        if encrypted:
            state = "unlocked" if unlocked else "LOCKED"
            return FsVerdict(real, mount, "fscrypt", unlocked, f"fscrypt-encrypted directory ({state})", ev)
    return FsVerdict(
        real, mount, "none", False, f"on {mount.fstype} {mount.source} at {mount.target}: not encrypted", ev
    )
