"""age encryption of a stream, with the plaintext's SHA-256 taken on the way.

Two implementations of the same format, both streaming (memory stays flat whatever the size):

- the ``age`` CLI (Debian ``age``, the reference Go implementation) when it is installed: it
  writes the part file itself and reads the plaintext by the shortest road the source allows
  (:mod:`wizard.backup.agefeed`: a regular file directly, a pipe through ``tee(2)``, else a copy
  loop), while this process hashes the same bytes in parallel. Only the *recipient* (the public
  half) is on its command line; the identity never leaves this process. Measured here it is the
  faster one (bench/bench_backup.py): pyrage's ``encrypt_io`` calls back into Python for every
  8 KiB, about twice the age CLI's time.
- PyPI ``pyrage`` (``encrypt_io``/``decrypt_io``, the Rust implementation) otherwise, and for
  every decryption (the identity stays in memory; no subprocess sees it).

Either way the output is the age v1 format the other reads; no construction of our own.

The data key of a backup is a fresh age X25519 identity (``AGE-SECRET-KEY-1...``); only its
KMS-wrapped form is stored. The recipient (public key) is never stored either: whoever holds it
could write a substitute part that our identity decrypts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from wizard.errors import OperationFailed

#: How often (bytes) progress callbacks fire: often enough for a live bar, rare enough to be free.
PROGRESS_EVERY = 4 << 20

Progress = Callable[[int], None]


def new_data_key() -> bytes:
    """A fresh age X25519 identity, as the bytes the KMS wraps."""
    import pyrage

    return str(pyrage.x25519.Identity.generate()).encode("ascii")


def _identity(data_key: bytes) -> Any:
    import pyrage

    try:
        return pyrage.x25519.Identity.from_str(data_key.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError, pyrage.IdentityError):
        raise OperationFailed("the backup's data key is not an age identity (wrong key or tampered manifest)") from None


def _recipient(data_key: bytes) -> Any:
    return _identity(data_key).to_public()


class HashingReader:
    """A file object for age to read from: counts and hashes what passes, reports progress."""

    def __init__(self, source: Any, progress: Progress | None = None) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.size = 0
        self._progress = progress
        self._next = PROGRESS_EVERY

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n)
        if data:
            self.digest.update(data)
            self.size += len(data)
            if self._progress is not None and self.size >= self._next:
                self._next = self.size + PROGRESS_EVERY
                self._progress(self.size)
        return data

    def readable(self) -> bool:
        return True


class HashingWriter:
    """A file object for age to write to: hashes and counts, then writes to ``sink`` (if any)."""

    def __init__(self, sink: Any | None, progress: Progress | None = None, limit: int | None = None) -> None:
        self.sink = sink
        self.digest = hashlib.sha256()
        self.size = 0
        self._progress = progress
        self._next = PROGRESS_EVERY
        self._limit = limit

    def write(self, data: Any) -> int:
        n = len(data)
        self.size += n
        if self._limit is not None and self.size > self._limit:
            # More plaintext than the manifest says: stop before filling a disk with it.
            raise OperationFailed("a backup part decrypts to more bytes than its manifest records (tampered)")
        self.digest.update(data)
        if self.sink is not None:
            self.sink.write(data)
        if self._progress is not None and self.size >= self._next:
            self._next = self.size + PROGRESS_EVERY
            self._progress(self.size)
        return n

    def flush(self) -> None:
        if self.sink is not None:
            self.sink.flush()

    def writable(self) -> bool:
        return True


@dataclass(frozen=True)
class Sealed:
    """What encrypting one part produced (the manifest's per-part numbers)."""

    plaintext_bytes: int
    plaintext_sha256: str
    ciphertext_bytes: int


def age_cli() -> str | None:
    """The ``age`` CLI if installed (tests patch this to exercise the pyrage path too)."""
    return shutil.which("age")


def encrypt_to(source: BinaryIO | Any, out: IO[bytes], data_key: bytes, progress: Progress | None = None) -> Sealed:
    """Encrypt everything ``source`` yields into ``out`` (a real file), hashing the plaintext."""
    cli = age_cli()
    if cli is not None:
        return _encrypt_cli(cli, source, out, data_key, progress)
    import pyrage

    reader = HashingReader(source, progress)
    writer = HashingWriter(out)
    try:
        pyrage.encrypt_io(reader, writer, [_recipient(data_key)])
    except pyrage.EncryptError as err:
        raise OperationFailed(f"age encryption failed: {err}") from None
    writer.flush()
    return Sealed(reader.size, reader.digest.hexdigest(), writer.size)


def _encrypt_cli(cli: str, source: Any, out: IO[bytes], data_key: bytes, progress: Progress | None) -> Sealed:
    """age writes the part file itself (at ``out``'s end); :mod:`wizard.backup.agefeed` feeds it."""
    from wizard.backup.agefeed import feed_age

    out.flush()
    start = out.tell()
    argv = [cli, "--encrypt", "--recipient", str(_recipient(data_key))]
    size, digest = feed_age(argv, source, out.fileno(), progress)
    out.seek(0, os.SEEK_END)
    return Sealed(size, digest, out.tell() - start)


def decrypt_to(
    source: BinaryIO,
    sink: IO[bytes] | None,
    data_key: bytes,
    progress: Progress | None = None,
    limit: int | None = None,
) -> tuple[int, str]:
    """Decrypt an age stream into ``sink`` (or only hash it when ``sink`` is None).

    Returns (plaintext bytes, SHA-256). Any tampering, truncation or wrong key is an
    OperationFailed; what was written to ``sink`` before that must be discarded by the caller
    (restore writes into a scratch file and only swaps after the hash matched).
    """
    import pyrage

    writer = HashingWriter(sink, progress, limit)
    try:
        pyrage.decrypt_io(source, writer, [_identity(data_key)])
    except pyrage.DecryptError as err:
        if "no matching keys" in str(err).lower():
            raise OperationFailed(
                "the data key does not open this backup (wrong key, a swapped manifest or a tampered header)"
            ) from None
        raise OperationFailed(f"the backup does not decrypt: {err} (tampered or truncated)") from None
    except OperationFailed:
        raise
    except (ValueError, OSError) as err:  # pyrage surfaces some stream errors as plain exceptions
        raise OperationFailed(f"the backup does not decrypt: {err} (tampered or truncated)") from None
    writer.flush()
    return writer.size, writer.digest.hexdigest()


def file_sha256(fd: int, progress: Progress | None = None) -> tuple[int, str]:
    """(size, SHA-256) of an open file descriptor's content, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return size, digest.hexdigest()
        digest.update(chunk)
        size += len(chunk)
        if progress is not None:
            progress(size)
