"""Bounded reads of regular files, secret-file shapes, hashes and atomic writes by path.

Part of :mod:`wizard.fsutil` (see there for why).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import os
import re
import stat
import tempfile
from pathlib import Path

from wizard.errors import OperationFailed, UsageError

TEMP_SUFFIX = ".stackseal-tmp"
#: Temp names of older stackseal versions (``tempfile.mkstemp(prefix=".NAME.", suffix=".tmp")``).
_OLD_TEMP = re.compile(r"\.[^/]+\.[A-Za-z0-9_]{8}\.tmp")
#: Largest secret file read (a service-account JSON is about 2.5 KB).
MAX_SECRET_BYTES = 64 * 1024
#: Largest file read back from the output directory (the runbook is about 40 KB).
MAX_STACK_FILE_BYTES = 16 * 1024 * 1024
#: How long a second run waits for the output directory's lock (seconds; env STACKSEAL_LOCK_WAIT).
LOCK_WAIT = 10.0

_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class DiskFull(OperationFailed):
    """ENOSPC while writing: the caller reports what was and was not written (exit 1)."""


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (public files' manifest hash)."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def keyed_hash(key: bytes, data: bytes) -> str:
    """HMAC-SHA256: a secret file's manifest hash that cannot be used to test guesses offline."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def _read_fd(fd: int, shown: str, max_bytes: int, what: str, inside: bool = False) -> bytes:
    """Read a whole regular file from an open descriptor, refusing anything else or too much."""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            if inside:  # a file of the stack directory: the user moves it away
                raise UsageError(f"{shown}: is {_kind(info.st_mode)}, expected a {what}; move it away and run again")
            raise UsageError(f"{shown}: is {_kind(info.st_mode)}, not a regular file; point the {what} at a file")
        if info.st_size > max_bytes:
            raise UsageError(f"{shown}: {what} too large ({info.st_size} bytes; at most {max_bytes})")
        chunks, total = [], 0
        while True:  # st_size can lie (/proc, a growing file): bound what is really read
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise UsageError(f"{shown}: {what} too large (more than {max_bytes} bytes)")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _open_error(err: OSError, shown: str, what: str, missing_hint: str | None) -> UsageError:
    if err.errno == errno.ENOENT:
        missing = f"no such {what}" if what == "answers file" else f"{what} not found"
        return UsageError(f"{shown}: {missing}" + (f"; {missing_hint}" if missing_hint else ""))
    if err.errno in (errno.EACCES, errno.EPERM):
        return UsageError(f"{shown}: permission denied reading the {what}; fix its owner or mode")
    if err.errno == errno.ELOOP:
        return UsageError(
            f"{shown}: is a symbolic link; stackseal never follows symlinks in the output directory, replace it by a file"
        )
    if err.errno == errno.ENOTDIR:
        return UsageError(f"{shown}: a parent is not a directory")
    if err.errno == errno.EISDIR:
        return UsageError(f"{shown}: is a directory, not a regular file; point the {what} at a file")
    return UsageError(f"{shown}: cannot read the {what} ({err.strerror})")


def read_regular_file(
    path: str | Path, max_bytes: int, *, what: str = "file", missing_hint: str | None = None
) -> bytes:
    """The bytes of a regular file the user named (``-c``, a ``*_file`` key); one-line UsageError otherwise.

    Symlinks are followed here (the user chose the path); devices, FIFOs, sockets, directories
    and files over ``max_bytes`` are refused without blocking.
    """
    shown = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        raise _open_error(err, shown, what, missing_hint) from None
    return _read_fd(fd, shown, max_bytes, what)


# -- shapes of user-provided secret files -----------------------------------------------------------

_ONE_LINE = re.compile(r"[\x21-\x7e]+")
SECRET_SHAPES: dict[str, tuple[re.Pattern[str] | None, str]] = {
    "s3_access_key": (re.compile(r"[A-Za-z0-9+/=_.-]{3,128}"), "one line: an S3 access key id (3-128 letters/digits)"),
    "s3_secret_key": (re.compile(r"[\x21-\x7e]{8,128}"), "one line: an S3 secret key (8-128 printable characters)"),
    "vault_token": (re.compile(r"[A-Za-z0-9_.+/=-]{8,512}"), "one line: a Vault/OpenBao token (e.g. hvs.XXXX)"),
    "approle_id": (re.compile(r"[A-Za-z0-9_.-]{1,256}"), "one line: an AppRole role_id or secret_id"),
    "azure_client_secret": (re.compile(r"[\x21-\x7e]{8,512}"), "one line: an Azure client secret"),
    "gcp_credentials": (None, 'a Google service-account JSON key (a JSON object with "type")'),
}


def check_secret_shape(kind: str, data: bytes, shown: str, key: str | None = None) -> bytes:
    """Refuse content that is not a ``kind`` secret; return it stripped. Never quotes the content."""
    pattern, expected = SECRET_SHAPES[kind]
    label = shown
    for_key = f" (set by {key})" if key else ""
    bad = UsageError(f"{label}: does not look like {expected}{for_key}; point the key at the right file")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UsageError(f"{label}: not UTF-8 text; this secret must be a text file{for_key}") from None
    if not text:
        raise UsageError(f"{label}: secret file is empty; put the secret in it or set the key to null to generate one")
    if pattern is None:  # JSON credentials
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            raise bad from None
        if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
            raise bad
        return text.encode()
    if not pattern.fullmatch(text):
        raise bad
    return text.encode()


def read_secret_file(path: str | Path, kind: str | None = None, key: str | None = None) -> bytes:
    """A user's secret file (``*_file``): regular, at most 64 KiB, stripped, and of the expected shape."""
    data = read_regular_file(
        path, MAX_SECRET_BYTES, what="secret file", missing_hint="create it or set the key to null to generate one"
    )
    if kind is not None:
        return check_secret_shape(kind, data, str(path), key)
    if not data.strip():
        raise UsageError(f"{path}: secret file is empty; put the secret in it or set the key to null to generate one")
    return data.strip()


# -- writing ------------------------------------------------------------------------------------------


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new content, never a mix.

    The temp file is created with ``mode`` already applied, so a secret is never readable by
    others even for an instant. For files inside a stack directory use :class:`OutputDir`.
    """
    path = Path(path)
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=directory)
    except PermissionError:
        raise UsageError(f"{directory}: not writable; choose another output directory or fix its permissions") from None
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise DiskFull(f"{path}: disk full; free space and run again (nothing was changed)") from None
        raise OperationFailed(f"{directory}: cannot create a file there ({err.strerror})") from None
    try:
        os.fchmod(fd, mode)
        try:
            _write_fd(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp_name, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if err.errno == errno.ENOSPC:
            raise DiskFull(f"{path}: disk full while writing; free space and run again (nothing was changed)") from None
        raise OperationFailed(f"{path}: cannot write ({err.strerror})") from None
