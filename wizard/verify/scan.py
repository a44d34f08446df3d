"""Raw-byte scan for a canary marker: files, directory trees, block devices.

Why this shape (measured in bench/bench_canary.py): one page-aligned buffer from an anonymous
``mmap`` is filled with ``readinto`` from an unbuffered file and searched in place with
``mmap.find`` — no per-chunk ``bytes`` objects, no copies, memory bounded by the buffer
whatever the file size. The last ``len(needle) - 1`` bytes of each fill are moved to the front
before the next read, so a marker split across two reads is still found. Files are never read
whole into memory.

Hostile trees: symbolic links are not followed, FIFOs, sockets and devices inside a tree are
skipped (reading a FIFO would hang), files are opened with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import mmap
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: 1 MiB: large enough to amortise syscalls, small enough to stay in L2/L3 cache.
DEFAULT_BUFFER = 1 << 20

Progress = Callable[[int, int], None]  # (bytes scanned so far, files scanned so far)


class ScanStopped(Exception):
    """The scan was told to stop (its check ran out of time)."""


@dataclass
class ScanResult:
    """Where the needle was found, and how much was read (the evidence's byte count)."""

    hits: list[Path] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.hits)


class Scanner:
    """A reusable scan buffer. Not thread-safe: one per thread (or per scan)."""

    def __init__(self, needles: list[bytes], buffer_size: int = DEFAULT_BUFFER) -> None:
        if not needles or any(not n for n in needles):
            raise ValueError("needles must be non-empty byte strings")
        self.needles = needles
        self.keep = max(len(n) for n in needles) - 1
        page = mmap.PAGESIZE
        size = max(buffer_size, page, self.keep * 2 + page)
        size = (size + page - 1) // page * page
        if size <= self.keep:
            raise ValueError("buffer too small for the needle")
        self.size = size
        self._buf = mmap.mmap(-1, size)
        self._view = memoryview(self._buf)

    def close(self) -> None:
        self._view.release()
        self._buf.close()

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def scan_fd(self, fd: int, progress: Callable[[int], None] | None = None) -> tuple[bool, int]:
        """(found, bytes read) for an open file descriptor, reading to the end or the first hit."""
        buf, view, keep = self._buf, self._view, self.keep
        carried = 0
        total = 0
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except (AttributeError, OSError):
            pass
        while True:
            n = os.readv(fd, [view[carried:]])
            if n <= 0:
                return False, total
            total += n
            filled = carried + n
            for needle in self.needles:
                if buf.find(needle, 0, filled) != -1:
                    return True, total
            if progress is not None:
                progress(n)
            carried = min(keep, filled)
            if carried:
                buf.move(0, filled - carried, carried)

    def scan_file(self, path: Path, progress: Callable[[int], None] | None = None) -> tuple[bool, int]:
        """Scan one regular file or block device (symlinks refused)."""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        try:
            return self.scan_fd(fd, progress)
        finally:
            os.close(fd)


def _walk(root: Path, skipped: list[str]) -> Iterator[Path]:
    """Regular files under ``root`` (or ``root`` itself), never following links."""
    try:
        st = os.lstat(root)
    except OSError as err:
        skipped.append(f"{root}: {err.strerror}")
        return
    if stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode):
        yield root
        return
    if not stat.S_ISDIR(st.st_mode):
        skipped.append(f"{root}: not a regular file, block device or directory")
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=lambda e: skipped.append(str(e))):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode):
                yield path


def scan_paths(
    roots: list[Path],
    needles: list[bytes],
    progress: Progress | None = None,
    buffer_size: int = DEFAULT_BUFFER,
    stop_at_first: bool = False,
    stop: threading.Event | None = None,
) -> ScanResult:
    """Scan every regular file under ``roots`` (and block devices named directly) for ``needles``.

    ``stop``: when set (the check timed out), the scan raises :class:`ScanStopped` at the next
    buffer instead of reading a large device to its end in an abandoned thread.
    """
    result = ScanResult()
    with Scanner(needles, buffer_size) as scanner:

        def tick(n: int) -> None:
            if stop is not None and stop.is_set():
                raise ScanStopped(f"stopped after {result.bytes} bytes")
            result.bytes += n
            if progress is not None:
                progress(result.bytes, result.files)

        for root in roots:
            for path in _walk(Path(root), result.skipped):
                before = result.bytes
                try:
                    found, nbytes = scanner.scan_file(path, tick)
                except OSError as err:
                    result.skipped.append(f"{path}: {err.strerror}")
                    continue
                # tick() saw every chunk but the last one (the hit, or the final short read)
                result.bytes = before + nbytes
                result.files += 1
                if found:
                    result.hits.append(path)
                    if stop_at_first:
                        return result
    return result
