"""THE safe-file module: every file stackseal reads from the user or writes into a stack goes through here.

Why (stackseal runs as root): the output directory can hold symlinks (git commits them), a
``*_file`` key can point at a FIFO, ``/dev/zero`` or ``/etc/shadow``, and two runs can race.
So:

- :func:`read_regular_file` reads only regular files, of bounded size, opened ``O_NONBLOCK`` and
  checked with ``fstat`` on the open descriptor (a FIFO never blocks, a device is refused);
- :func:`read_secret_file` adds a shape check per kind of secret, so pointing a key at an
  unrelated host file is refused; messages never quote a file's content;
- :class:`OutputDir` does every read and write *inside* the output directory relative to a
  directory file descriptor, one component at a time with ``O_NOFOLLOW``: a symlink there is
  never followed, it is refused with one line;
- :func:`atomic_write` / :meth:`OutputDir.write` write a temp file already carrying its final
  mode, fsync, then rename, so readers see the old or the new content; temp files are named
  ``*.stackseal-tmp`` and :meth:`OutputDir.sweep_temp` removes the leftovers of a killed run;
- :func:`output_lock` is an exclusive ``flock`` on ``<out>/.stackseal/lock`` for render and apply.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
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


class OutputDir:
    """A stack directory opened once; every path below it is walked without following symlinks.

    Why descriptors: a path string is re-resolved by the kernel at every call, so a symlink
    swapped in between a check and a write would redirect a root write anywhere. Opening each
    component with ``O_NOFOLLOW`` relative to its parent's descriptor cannot be redirected.
    The directory itself is the one the user named (``-o``/``output_dir``) and may be a symlink.
    """

    def __init__(self, root: Path, create: bool = False) -> None:
        self.root = Path(root)
        if create:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise UsageError(
                    f"{self.root}: not writable ({err.strerror}); choose another output directory (-o DIR)"
                ) from None
        try:
            self.fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            if err.errno == errno.ENOENT and not create:
                self.fd = -1
                return
            raise UsageError(f"{self.root}: cannot open the output directory ({err.strerror})") from None

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _shown(self, rel: str) -> str:
        return str(self.root / rel)

    def _parent(self, rel: str, create_mode: int | None = None) -> tuple[int, str]:
        """(descriptor of ``rel``'s directory, its last component); the caller closes the descriptor.

        Each directory component is opened with ``O_NOFOLLOW``; with ``create_mode`` missing
        ones are made (that mode). Raises FileNotFoundError when a component is missing.
        """
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise UsageError(f"{self._shown(rel)}: not a plain relative path")
        if self.fd < 0:
            raise FileNotFoundError(errno.ENOENT, "missing", str(self.root))
        fd = os.dup(self.fd)
        try:
            for i, part in enumerate(parts[:-1]):
                try:
                    new = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
                except FileNotFoundError:
                    if create_mode is None:
                        raise
                    os.mkdir(part, create_mode, dir_fd=fd)
                    new = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
                except OSError as err:
                    if err.errno in (errno.ELOOP, errno.ENOTDIR):
                        sub = "/".join(parts[: i + 1])
                        raise UsageError(
                            f"{self._shown(sub)}: is a symbolic link or not a directory; stackseal never writes "
                            "through symlinks in the output directory; replace it by a real directory"
                        ) from None
                    raise
                os.close(fd)
                fd = new
            return fd, parts[-1]
        except BaseException:
            os.close(fd)
            raise

    def lstat(self, rel: str) -> os.stat_result | None:
        """``lstat`` of ``rel`` (``None`` when missing); a symlinked parent is refused."""
        try:
            fd, name = self._parent(rel)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(fd)

    def read(self, rel: str, max_bytes: int = MAX_STACK_FILE_BYTES, what: str = "file") -> bytes | None:
        """Content of the regular file ``rel`` (``None`` when missing); symlinks and special files are refused."""
        try:
            fd, name = self._parent(rel)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            try:
                file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                return None
            except OSError as err:
                raise _open_error(err, self._shown(rel), what, None) from None
        finally:
            os.close(fd)
        return _read_fd(file_fd, self._shown(rel), max_bytes, what, inside=True)

    def ensure_dir(self, rel: str, mode: int) -> None:
        """Create directory ``rel`` (and parents) if missing; tighten its mode through its descriptor."""
        fd, name = self._parent(rel + "/x", create_mode=mode)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def chmod(self, rel: str, mode: int) -> bool:
        """Set ``rel``'s mode without following a symlink; True when it changed."""
        fd, name = self._parent(rel)
        try:
            file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        except OSError as err:
            raise _open_error(err, self._shown(rel), "file", None) from None
        finally:
            os.close(fd)
        try:
            if stat.S_IMODE(os.fstat(file_fd).st_mode) == mode:
                return False
            os.fchmod(file_fd, mode)
            return True
        finally:
            os.close(file_fd)

    def write(self, rel: str, data: bytes, mode: int, dir_mode: int = 0o755) -> None:
        """Atomically replace ``rel`` (temp file with its final mode, fsync, rename, fsync of the directory)."""
        try:
            fd, name = self._parent(rel, create_mode=dir_mode)
        except OSError as err:
            raise self._write_error(rel, err) from None
        tmp = f".{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            file_fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode & 0o600, dir_fd=fd
            )
            try:
                os.fchmod(file_fd, mode)
                _write_fd(file_fd, data)
            finally:
                os.close(file_fd)
            os.rename(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            os.fsync(fd)
        except OSError as err:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=fd)
            raise self._write_error(rel, err) from None
        finally:
            os.close(fd)

    def _write_error(self, rel: str, err: OSError) -> Exception:
        if err.errno == errno.ENOSPC:
            return DiskFull(f"{self._shown(rel)}: disk full")
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return UsageError(f"{self._shown(rel)}: not writable ({err.strerror}); choose another output directory")
        return OperationFailed(f"{self._shown(rel)}: cannot write ({err.strerror})")

    def sweep_temp(
        self, dirs: tuple[str, ...] = ("", "secrets", "vault/policies", "openbao", ".stackseal")
    ) -> list[str]:
        """Remove temp files a killed run left (they may hold secrets); returns their relative paths."""
        removed = []
        for sub in dirs:
            try:
                fd, _ = self._parent(f"{sub}/x" if sub else "x")
            except (FileNotFoundError, NotADirectoryError, UsageError):
                continue
            try:
                for name in os.listdir(fd):
                    if not (
                        name.endswith(TEMP_SUFFIX) or _OLD_TEMP.fullmatch(name) or name.startswith(".stackseal-probe-")
                    ):
                        continue
                    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISDIR(info.st_mode):
                        continue
                    os.unlink(name, dir_fd=fd)
                    removed.append(f"{sub}/{name}" if sub else name)
            finally:
                os.close(fd)
        return removed


def read_below(root: Path, rel: str, max_bytes: int = MAX_STACK_FILE_BYTES, what: str = "file") -> bytes | None:
    """Read ``root/rel`` without following any symlink below ``root`` (``None`` when missing)."""
    with OutputDir(root) as out:
        return out.read(rel, max_bytes, what)


_held: dict[str, tuple[int, int]] = {}
_held_guard = threading.Lock()


@contextlib.contextmanager
def output_lock(out_dir: Path, wait: float | None = None) -> Iterator[None]:
    """Exclusive lock on a stack directory (``<out>/.stackseal/lock``) for render and apply.

    Why: two renders at once would each generate secrets and leave files that disagree. A second
    run waits up to ``wait`` seconds (``STACKSEAL_LOCK_WAIT``), then stops with one line. The lock
    is re-entrant within a process (apply renders under its own lock).
    """
    if wait is None:
        wait = float(os.environ.get("STACKSEAL_LOCK_WAIT", LOCK_WAIT))
    with OutputDir(out_dir, create=True) as out:
        out.ensure_dir(".stackseal", 0o700)
        key = f"{os.stat(out.fd).st_dev}:{os.stat(out.fd).st_ino}"
        with _held_guard:
            if key in _held:
                fd, count = _held[key]
                _held[key] = (fd, count + 1)
                reentered = True
            else:
                reentered = False
        if not reentered:
            parent, name = out._parent(".stackseal/lock")
            try:
                fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent)
            except OSError as err:
                raise _open_error(err, str(Path(out_dir) / ".stackseal/lock"), "lock file", None) from None
            finally:
                os.close(parent)
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        os.close(fd)
                        raise OperationFailed(
                            f"another stackseal run holds {out_dir}; wait for it to finish and run again"
                        ) from None
                    time.sleep(0.1)
            with _held_guard:
                _held[key] = (fd, 1)
    try:
        yield
    finally:
        with _held_guard:
            fd, count = _held[key]
            if count > 1:
                _held[key] = (fd, count - 1)
            else:
                del _held[key]
                os.close(fd)  # closing the descriptor releases the flock
