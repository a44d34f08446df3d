"""The stack's key material as a backup part: the wrapped key blobs and their metadata.

Why only what exists on disk: with a KMS every secret in ``<output_dir>/secrets`` is a
``*.wrapped.json`` blob (ciphertext of the KMS); with the development-only ``local`` backend
they are the key files themselves. Either way the part is one more layer of age encryption under
the backup's data key. (A portable escrow bundle for another host is the keys export command (planned).)

Restore writes files back into ``<output_dir>/secrets`` only under plain names (no path
separators), mode 0400, refusing to replace a different existing file without ``--force``.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
from pathlib import Path
from typing import IO, Any

from wizard.backup.repo import open_regular
from wizard.errors import OperationFailed, Refused
from wizard.fsutil import atomic_write

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
#: A secret or blob is small; anything larger in secrets/ is not ours and is skipped.
MAX_FILE = 1 << 20


def secrets_dir(plan: Any) -> Path:
    return plan.output_path / "secrets"


def key_files(plan: Any) -> list[Path]:
    """Regular files with plain names in secrets/ (symlinks and special files are skipped)."""
    directory = secrets_dir(plan)
    if not directory.is_dir() or directory.is_symlink():
        return []
    files = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if _NAME_RE.match(entry.name) and entry.is_file(follow_symlinks=False):
            if entry.stat(follow_symlinks=False).st_size <= MAX_FILE:
                files.append(Path(entry.path))
    return files


def write_keys_tar(plan: Any, sink: IO[bytes]) -> int:
    """The key files as a tar (names only, mode kept); returns how many."""
    files = key_files(plan)
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            fd = open_regular(path)
            with os.fdopen(fd, "rb") as handle:
                data = handle.read(MAX_FILE + 1)
                info = tarfile.TarInfo(f"secrets/{path.name}")
                info.size = len(data)
                info.mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode) & 0o600 or 0o400
                tar.addfile(info, io.BytesIO(data))
    return len(files)


def _members(path: Path) -> list[tuple[str, bytes]]:
    out = []
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                name = member.name.removeprefix("secrets/")
                if not member.isreg() or not _NAME_RE.match(name) or member.size > MAX_FILE:
                    raise OperationFailed(f"keys archive member {member.name[:80]!r} is not a plain key file; refused")
                handle = tar.extractfile(member)
                assert handle is not None
                out.append((name, handle.read()))
    except tarfile.TarError as err:
        raise OperationFailed(f"the keys archive is not a valid tar ({err})") from None
    return out


def check_keys_tar(path: Path) -> int:
    return len(_members(path))


def conflicts(plan: Any, path: Path) -> list[str]:
    """Names whose existing file differs from the backup's (what --force would replace)."""
    directory = secrets_dir(plan)
    out = []
    for name, data in _members(path):
        target = directory / name
        if target.is_symlink() or (target.exists() and target.read_bytes() != data):
            out.append(name)
    return out


def restore_keys(plan: Any, path: Path, force: bool) -> int:
    directory = secrets_dir(plan)
    members = _members(path)
    clash = conflicts(plan, path)
    if clash and not force:
        raise Refused(f"{directory} already holds different {', '.join(clash[:5])}; pass --force to replace them")
    if directory.is_symlink():
        raise OperationFailed(f"{directory} is a symlink; refused")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, data in members:
        target = directory / name
        if target.is_symlink():
            target.unlink()
        atomic_write(target, data, mode=0o400)
    return len(members)
