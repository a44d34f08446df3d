"""The runtime directory: the only place unwrapped keys exist on the host, in memory, while unlocked.

Why tmpfs: a key written to a disk-backed directory survives on that disk (and in its backups)
after the file is deleted. ``/run`` is memory-backed on most distributions but not everywhere
(not on our test machines), so stackseal checks the filesystem type (``stat -f``) and, where it
is not tmpfs/ramfs, mounts a small tmpfs there itself (root only). The directory is 0700, each
file 0400; ``wipe`` overwrites each file, removes it, unmounts the tmpfs stackseal mounted and
removes the directory, so after ``lock`` (or a reboot) nothing is left.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from wizard.errors import OperationFailed, UsageError
from wizard.fsutil import atomic_write
from wizard.kms.local import check_name

MEMORY_FS = ("tmpfs", "ramfs")
TMPFS_SIZE = "16m"
DIR_MODE = 0o700
FILE_MODE = 0o400
#: Written by :func:`prepare`; :func:`wipe` removes files only from a directory that holds it.
#: Why: ``kms.runtime_dir`` comes from the answers file (hostile); pointed at a directory of the
#: user's (or ``/dev/shm``, ``/run``), ``lock`` would otherwise overwrite and delete its files.
MARKER = ".stackseal-runtime"


def fs_type(path: Path) -> str:
    """Filesystem type of ``path`` as ``stat -f -c %T`` names it (``tmpfs``, ``ext2/ext3``, ...)."""
    try:
        proc = subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def is_memory_backed(path: Path) -> bool:
    return fs_type(path) in MEMORY_FS


def is_mount_point(path: Path) -> bool:
    from wizard.volumes.base import mount_entry

    return mount_entry(path) is not None


def _refuse_symlinks(path: Path) -> None:
    """Every existing component of the runtime path must be a real directory (no symlink games)."""
    probe = Path("/")
    for part in path.parts[1:]:
        probe = probe / part
        if probe.is_symlink():
            raise UsageError(f"{probe}: is a symbolic link; kms.runtime_dir must be a real path")
        if probe.exists() and not probe.is_dir():
            raise UsageError(f"{probe}: exists and is not a directory; choose another kms.runtime_dir")


def prepare(path: Path) -> bool:
    """Make ``path`` a 0700 memory-backed directory; returns True when stackseal mounted a tmpfs there."""
    path = Path(path)
    _refuse_symlinks(path)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    except OSError as err:
        raise UsageError(f"{path}: cannot create the runtime directory ({err.strerror}); run as root") from None
    mounted = False
    if _foreign_entries(path):
        raise UsageError(
            f"{path} holds files stackseal did not put there (no {MARKER}); set kms.runtime_dir to a new or "
            "empty directory (nothing was unwrapped)"
        )
    if not is_memory_backed(path):
        if os.geteuid() != 0:
            raise UsageError(
                f"{path} is on {fs_type(path)}, not memory-backed, and only root can mount a tmpfs there; "
                "run stackseal unlock as root or set kms.runtime_dir to a tmpfs path"
            )
        if any(path.iterdir()):
            raise OperationFailed(
                f"{path} holds files on a disk-backed filesystem; remove them (they may be keys) and run again"
            )
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700,nosuid,nodev,noexec", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise OperationFailed(f"{path}: cannot mount a tmpfs ({proc.stderr.strip()[:120]}); nothing was unwrapped")
        mounted = True
        if not is_memory_backed(path):
            raise OperationFailed(f"{path}: still not memory-backed after mounting a tmpfs; nothing was unwrapped")
    os.chmod(path, DIR_MODE)
    if not _has_marker(path):
        atomic_write(path / MARKER, b"stackseal runtime directory: 'stackseal lock' wipes it\n", mode=FILE_MODE)
    return mounted


def _has_marker(path: Path) -> bool:
    try:
        return (path / MARKER).lstat().st_mode & 0o170000 == 0o100000  # a regular file, not a symlink
    except OSError:
        return False


def _foreign_entries(path: Path) -> bool:
    """True when ``path`` holds entries but not the marker: a directory stackseal did not prepare."""
    try:
        with os.scandir(path) as entries:
            if not any(True for _ in entries):
                return False
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        raise UsageError(f"{path}: exists and is not a directory; choose another kms.runtime_dir") from None
    return not _has_marker(path)


def write(path: Path, values: dict[str, bytes]) -> list[Path]:
    """Write each value as ``path/<name>`` (0400) on the memory-backed directory; returns the files."""
    if not is_memory_backed(path):
        raise OperationFailed(f"{path} is not memory-backed; refusing to write keys there")
    files = []
    for name, value in sorted(values.items()):
        check_name(name)
        target = path / name
        if target.exists() and target.read_bytes() == value:
            files.append(target)
            continue
        if target.exists():
            os.chmod(target, 0o600)
        atomic_write(target, value, mode=FILE_MODE)
        files.append(target)
    return files


def present(path: Path, names: list[str]) -> list[str]:
    """The names whose plaintext file is in the runtime directory now."""
    if not path.is_dir() or not is_memory_backed(path):
        return []
    return [n for n in names if (path / n).is_file()]


def wipe(path: Path) -> None:
    """Overwrite and remove every file, unmount the tmpfs, remove the directory. Idempotent."""
    path = Path(path)
    if not path.exists():
        return
    _refuse_symlinks(path)
    if _foreign_entries(path):
        raise UsageError(
            f"{path}: not a runtime directory stackseal prepared (no {MARKER}); nothing was removed: check "
            "kms.runtime_dir, and remove the files by hand if they are stackseal's keys"
        )
    with os.scandir(path) as listing:
        entries = sorted(listing, key=lambda e: e.name == MARKER)  # the marker last: a re-run can finish
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            raise OperationFailed(f"{entry.path}: a directory inside the runtime directory; remove it by hand")
    for entry in entries:
        target = Path(entry.path)
        if entry.is_file(follow_symlinks=False):
            try:
                size = entry.stat(follow_symlinks=False).st_size
                os.chmod(target, 0o600)
                with open(target, "r+b") as handle:
                    handle.write(b"\0" * size)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError:
                pass
        target.unlink()
    if is_mount_point(path):
        proc = subprocess.run(["umount", str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise OperationFailed(f"{path}: cannot unmount the runtime tmpfs ({proc.stderr.strip()[:120]})")
    try:
        path.rmdir()
    except OSError as err:
        raise OperationFailed(f"{path}: cannot remove the runtime directory ({err.strerror})") from None
