"""Reads and writes inside a stack directory that never follow a symlink (directory descriptors).

Part of :mod:`wizard.fsutil` (see there for why).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from wizard.errors import OperationFailed, UsageError
from wizard.fsutil.files import (
    _NOFOLLOW_DIR,
    _OLD_TEMP,
    MAX_STACK_FILE_BYTES,
    TEMP_SUFFIX,
    DiskFull,
    _kind,
    _open_error,
    _read_fd,
    _write_fd,
)


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
        try:
            fd, name = self._parent(rel + "/x", create_mode=mode)
        except OSError as err:
            raise self._write_error(rel, err) from None
        try:
            os.fchmod(fd, mode)
        except OSError as err:
            raise self._write_error(rel, err) from None
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
            info = os.fstat(file_fd)
            if not stat.S_ISREG(info.st_mode):
                raise UsageError(f"{self._shown(rel)}: is {_kind(info.st_mode)}, expected a file; move it away")
            if stat.S_IMODE(info.st_mode) == mode:
                return False
            os.fchmod(file_fd, mode)
            return True
        except OSError as err:  # a read-only mount, a file owned by someone else: say how to fix it
            raise UsageError(
                f"{self._shown(rel)}: its mode must be {oct(mode)[2:].zfill(4)} and cannot be set "
                f"({err.strerror}); run: chmod {oct(mode)[2:].zfill(4)} {self._shown(rel)}"
            ) from None
        finally:
            os.close(file_fd)

    def listdir(self, rel: str) -> list[str]:
        """Names in directory ``rel`` (empty when missing); a symlinked directory is refused."""
        try:
            fd, _ = self._parent(f"{rel}/x")
        except (FileNotFoundError, NotADirectoryError):
            return []
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

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
                    try:
                        os.unlink(name, dir_fd=fd)
                    except OSError as err:
                        raise self._write_error(f"{sub}/{name}" if sub else name, err) from None
                    removed.append(f"{sub}/{name}" if sub else name)
            finally:
                os.close(fd)
        return removed


def read_below(root: Path, rel: str, max_bytes: int = MAX_STACK_FILE_BYTES, what: str = "file") -> bytes | None:
    """Read ``root/rel`` without following any symlink below ``root`` (``None`` when missing)."""
    with OutputDir(root) as out:
        return out.read(rel, max_bytes, what)
