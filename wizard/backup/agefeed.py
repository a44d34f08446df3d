"""Feeding plaintext to the ``age`` CLI while taking its SHA-256, with as few copies as possible.

Why this module: the manifest needs the plaintext's SHA-256, and the obvious way to get it — read
every chunk into this process, hash it, write it into ``age``'s stdin — costs two extra copies
and a Python loop per MiB, which on a 2-core host made a backup ~1.8x slower than ``age`` alone
(bench/bench_backup.py). So the bytes take the shortest road the source allows:

- **a regular file**: ``age`` reads it itself (it is ``age``'s stdin, at the source's offset) and
  this process hashes the same file in parallel with ``pread`` (from the page cache: the file is
  read from disk once). Both read through the same open file description, so ``age``'s final
  offset says exactly how many bytes it encrypted; if that differs from what was hashed (the
  file grew or shrank while we read it), the part is refused.
- **a pipe** (``neo4j-admin ... --to-stdout``, a bucket's tar stream), on Linux: ``tee(2)``
  duplicates what is in the source pipe into ``age``'s stdin pipe without copying it, then one
  ``read`` takes the same bytes out of the source for the hasher thread.
- **anything else** (a file object without a descriptor, a socket, a non-Linux host): a copy loop
  with 1 MiB buffers, the hashing in a parallel thread (OpenSSL's SHA-256 releases the GIL).

Whatever the road, only the age *recipient* is on ``age``'s command line; on any error or
interruption ``age`` is killed and waited for, the hasher thread joined, and the exception
propagates (the caller's ``.incomplete-`` directory, with the partial part file, is removed).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import queue
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import IO, Any

from wizard.errors import OperationFailed

#: Bytes moved per system call (and the pipe size asked for): few wake-ups, one chunk in flight.
CHUNK = 1 << 20
#: How often (bytes) progress callbacks fire.
PROGRESS_EVERY = 4 << 20
#: Chunks queued for the hasher thread at most (memory bound: QUEUE * CHUNK).
QUEUE = 4

Progress = Callable[[int], None]


def feed_age(argv: list[str], source: Any, out_fd: int, progress: Progress | None = None) -> tuple[int, str]:
    """Run ``argv`` (an ``age --encrypt`` command writing to ``out_fd``) on everything ``source``
    yields; returns (plaintext bytes, SHA-256 hex). Raises OperationFailed if age fails."""
    road, fd = _road(source)
    if road == "file":
        assert fd is not None
        return _feed_file(argv, source, fd, out_fd, progress)
    if road == "tee":
        assert fd is not None
        return _feed_tee(argv, source, fd, out_fd, progress)
    return _through_stdin(argv, out_fd, progress, lambda sink, hasher, ticker: _pump_copy(source, sink, hasher, ticker))


def path_of(source: Any) -> str:
    """Which road :func:`feed_age` takes for ``source`` ("file", "tee" or "copy"), for tests and docs."""
    return _road(source)[0]


def _road(source: Any) -> tuple[str, int | None]:
    fd = _fileno(source)
    mode = os.fstat(fd).st_mode if fd is not None else 0
    if fd is not None and stat.S_ISREG(mode):
        return "file", fd
    if fd is not None and stat.S_ISFIFO(mode) and _tee() is not None:
        return "tee", fd
    return "copy", fd


# --------------------------------------------------------------------------- helpers


def _fileno(source: Any) -> int | None:
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both of the last two
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


_TEE: list[Any] = []


def _tee() -> Any | None:
    """libc's ``tee(2)`` through ctypes (Python has ``os.splice`` but no ``os.tee``); None off Linux.

    ``ctypes.CDLL`` functions release the GIL while they run, so the hasher thread keeps going.
    """
    if not _TEE:
        func = None
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                func = libc.tee
                func.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint)
                func.restype = ctypes.c_ssize_t
            except (OSError, AttributeError):
                func = None
        _TEE.append(func)
    return _TEE[0]


def _widen_pipe(fd: int) -> None:
    """Ask for a 1 MiB pipe instead of 64 KiB: fewer wake-ups between us and age (Linux; else no-op)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
    except OSError:
        pass


def _start(argv: list[str], stdin: Any, out_fd: int, err: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdin=stdin, stdout=out_fd, stderr=err, close_fds=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill age and reap it (an interrupted backup leaves no process behind)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _close(proc: subprocess.Popen[bytes]) -> None:
    """Close age's stdin: end of the plaintext (or, after an error, of the attempt)."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except BrokenPipeError:
        pass


def _check_exit(proc: subprocess.Popen[bytes], err: IO[bytes]) -> None:
    code = proc.wait()
    if code != 0:
        err.seek(0)
        lines = [line.strip() for line in err.read().decode("utf-8", "replace").splitlines() if line.strip()]
        raise OperationFailed(f"age encryption failed: {lines[-1][:300] if lines else f'exit {code}'}")


class _Hasher:
    """SHA-256 of chunks handed over through a bounded queue, in its own thread."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE)
        self._thread = threading.Thread(target=self._run, name="stackseal-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self.digest.update(chunk)
            self.size += len(chunk)

    def put(self, chunk: bytes) -> None:
        self._chunks.put(chunk)

    def close(self) -> None:
        self._chunks.put(None)
        self._thread.join()


class _Ticker:
    """Calls ``progress`` with a running total every :data:`PROGRESS_EVERY` bytes."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._next = PROGRESS_EVERY

    def __call__(self, done: int) -> None:
        if self._progress is not None and done >= self._next:
            self._next = done + PROGRESS_EVERY
            self._progress(done)


# --------------------------------------------------------------------------- a regular file


def _feed_file(argv: list[str], source: Any, fd: int, out_fd: int, progress: Progress | None) -> tuple[int, str]:
    start = source.tell() if hasattr(source, "tell") else os.lseek(fd, 0, os.SEEK_CUR)
    os.lseek(fd, start, os.SEEK_SET)  # a buffered reader may have read ahead of its tell()
    try:
        os.posix_fadvise(fd, start, 0, os.POSIX_FADV_SEQUENTIAL)
    except (AttributeError, OSError):
        pass
    ticker = _Ticker(progress)
    failure: list[BaseException] = []
    digest = hashlib.sha256()
    hashed = [0]
    halt = threading.Event()

    def hash_file() -> None:
        try:
            offset = _hash_mapped(fd, start, digest, halt)
            offset = _hash_read(fd, offset, digest, halt)  # whatever is beyond the mapped size
            hashed[0] = offset - start
        except BaseException as err:  # reported after age is done
            failure.append(err)

    with tempfile.TemporaryFile() as err:
        proc = _start(argv, fd, out_fd, err)
        hasher = threading.Thread(target=hash_file, name="stackseal-sha256", daemon=True)
        hasher.start()
        try:
            while True:
                try:
                    proc.wait(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    ticker(os.lseek(fd, 0, os.SEEK_CUR) - start)  # age's own offset: what it has read
        except BaseException:
            halt.set()
            _stop(proc)
            raise
        finally:
            hasher.join()
        _check_exit(proc, err)
    encrypted = os.lseek(fd, 0, os.SEEK_CUR) - start
    if hasattr(source, "seek"):
        source.seek(start + encrypted)  # keep the file object's idea of its position true
    if failure:
        raise OperationFailed(f"reading the source to hash it failed: {failure[0]}")
    if encrypted != hashed[0]:
        raise OperationFailed(
            f"the source changed while it was encrypted ({encrypted} bytes encrypted, {hashed[0]} hashed); "
            "nothing was kept, run the backup again"
        )
    if progress is not None:
        progress(encrypted)
    return encrypted, digest.hexdigest()


#: Bytes of the source file mapped at a time for hashing (address space, not memory: page cache).
WINDOW = 16 << 20


def _hash_mapped(fd: int, offset: int, digest: Any, halt: threading.Event) -> int:
    """Hash the file from ``offset`` through read-only mappings of the page cache; returns the end.

    Why mmap: it hashes the pages age is reading without copying them (measured: a third of the
    system time of ``pread`` into a buffer). Each window is mapped only up to the size the file
    has at that moment; a file someone truncates *while* a window is hashed would end the
    process with SIGBUS, like a kill (the next backup operation removes the leftovers) — the
    sources a backup reads are its own.
    """
    import mmap

    while not halt.is_set():
        size = os.fstat(fd).st_size
        if offset >= size:
            return offset
        base = offset - offset % mmap.ALLOCATIONGRANULARITY
        length = min(WINDOW, size - base)
        try:
            window = mmap.mmap(fd, length, prot=mmap.PROT_READ, offset=base)
        except (OSError, ValueError):  # a file system without mmap: plain reads do the rest
            return offset
        with window:
            window.madvise(mmap.MADV_SEQUENTIAL)
            view = memoryview(window)
            try:
                digest.update(view[offset - base :])
            finally:
                view.release()
        offset = base + length
    return offset


def _hash_read(fd: int, offset: int, digest: Any, halt: threading.Event) -> int:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while not halt.is_set() and (n := os.preadv(fd, [buf], offset)):
        digest.update(view[:n])
        offset += n
    return offset


# --------------------------------------------------------------------------- a pipe, with tee(2)


def _buffered_head(source: Any) -> bytes:
    """What a Python buffered reader already pulled out of the pipe (it must reach age first)."""
    if not hasattr(source, "peek") or not hasattr(source, "read1"):
        return b""
    head = source.peek(1)  # at most one read(2) when the buffer is empty
    return source.read1(len(head)) if head else b""


def _feed_tee(argv: list[str], source: Any, fd: int, out_fd: int, progress: Progress | None) -> tuple[int, str]:
    tee = _tee()
    assert tee is not None  # feed_age chose this road because tee(2) is there
    head = _buffered_head(source)
    _widen_pipe(fd)

    def pump(sink: int, hasher: _Hasher, ticker: _Ticker) -> int:
        done = 0
        if head:
            hasher.put(head)
            _write_all(sink, head)
            done += len(head)
        while True:
            n = tee(fd, sink, CHUNK, 0)
            if n == 0:
                return done
            if n < 0:
                code = ctypes.get_errno()
                if code == errno.EINTR:
                    continue
                if code == errno.EPIPE:
                    return done  # age exited early: its exit status says why
                raise OperationFailed(f"feeding age through tee(2) failed: {os.strerror(code)}")
            hasher.put(_read_exactly(fd, n))  # the same bytes, now consumed from the source
            done += n
            ticker(done)

    return _through_stdin(argv, out_fd, progress, pump)


def _read_exactly(fd: int, n: int) -> bytes:
    """``n`` bytes that ``tee`` has just seen in the pipe (a pipe read may return them in pieces)."""
    data = os.read(fd, n)
    if len(data) == n:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = os.read(fd, n - got)
        if not more:  # cannot happen: tee saw them; refuse rather than hash something else
            raise OperationFailed("the source pipe lost bytes between tee and read")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# --------------------------------------------------------------------------- anything else


def _pump_copy(source: Any, sink: int, hasher: _Hasher, ticker: _Ticker) -> int:
    done = 0
    while chunk := source.read(CHUNK):
        hasher.put(chunk)
        _write_all(sink, chunk)
        done += len(chunk)
        ticker(done)
    return done


def _through_stdin(
    argv: list[str], out_fd: int, progress: Progress | None, pump: Callable[[int, _Hasher, _Ticker], int]
) -> tuple[int, str]:
    """age reading its stdin pipe, which ``pump`` fills (returning the bytes it wrote), hashed in a thread.

    One place for what both stdin roads need: a wide pipe, age exiting early (a broken pipe: its
    exit status says why), age killed and reaped on any error, the hasher joined either way.
    """
    ticker = _Ticker(progress)
    with tempfile.TemporaryFile() as err:
        proc = _start(argv, subprocess.PIPE, out_fd, err)
        assert proc.stdin is not None
        sink = proc.stdin.fileno()
        _widen_pipe(sink)
        hasher = _Hasher()
        done = 0
        try:
            try:
                done = pump(sink, hasher, ticker)
            except BrokenPipeError:
                pass  # age exited early: its exit status says why
            finally:
                hasher.close()
                _close(proc)
        except BaseException:
            _stop(proc)
            raise
        _check_exit(proc, err)
    if progress is not None:
        progress(done)
    return hasher.size, hasher.digest.hexdigest()
