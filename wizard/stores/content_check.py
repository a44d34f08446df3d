"""Prove an object's content from the ETag the store computed at upload, with one streamed read.

Why: the S3 ETag of a plaintext object uploaded in one request is the MD5 of its content, and of
a multipart upload ``md5(md5(part 1) + ... + md5(part N)) + "-N"``. Both are computed by the server
from the bytes it received, before any migration. Where a server changes the ETag when it
re-encrypts (MinIO under SSE), reading the copy once and recomputing that value proves the copy
holds the same bytes as the original — half the reads of a SHA-256 before and after the copy,
and nothing has to be read before it. Where the ETag is not such a value (SSE-C uploads on
MinIO, unknown part sizes), the caller falls back to SHA-256 before and after.

The part size of a multipart upload is not part of the ETag. It is asked for once before the copy
(``HEAD ?partNumber=1`` answers with the first part's length, on MinIO, AWS and SeaweedFS) and
kept in the journal's intent; when the server does not say, the sizes clients commonly use that
fit the object's size and part count are all tried in the same read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")
MULTIPART_ETAG = re.compile(r"^[0-9a-f]{32}-([1-9][0-9]{0,4})$")
MIB = 1 << 20
#: Part sizes the usual clients pick (minio-py/mc 5 and 16 MiB, AWS CLI/boto3 8 MiB, others).
_COMMON_PART_SIZES = (5, 8, 10, 15, 16, 25, 32, 50, 64, 100, 128, 256, 512)
#: Most candidate part sizes hashed side by side in one read (each costs one MD5 of the content).
MAX_CANDIDATES = 6


def clean_etag(value: str | None) -> str:
    """An ETag as the server computed it: quotes stripped, lower case."""
    return (value or "").strip().strip('"').lower()


def is_content_etag(etag: str) -> bool:
    """True when ``etag`` has the form of a content MD5 (single or multipart)."""
    return bool(MD5_ETAG.match(etag) or MULTIPART_ETAG.match(etag))


def part_count(etag: str) -> int:
    """Parts of a multipart ETag; 0 for a single-part one."""
    m = MULTIPART_ETAG.match(etag)
    return int(m.group(1)) if m else 0


def part_size_candidates(size: int, parts: int, known: int | None = None) -> list[int]:
    """Part sizes that could have produced ``parts`` parts for ``size`` bytes, likeliest first.

    A part size ``p`` fits when ``(parts - 1) * p < size <= parts * p`` (every part but the last
    is full). ``known`` (from ``HEAD ?partNumber=1``) is tried first.
    """
    if parts <= 0 or size <= 0:
        return []

    def fits(p: int) -> bool:
        return p > 0 and (parts - 1) * p < size <= parts * p

    out: list[int] = []
    for p in [known or 0, *(n * MIB for n in _COMMON_PART_SIZES), -(-size // parts)]:
        if fits(p) and p not in out:
            out.append(p)
    low, high = -(-size // parts), (size - 1) // (parts - 1) if parts > 1 else size
    for n in range(-(-low // MIB), high // MIB + 1):  # any whole number of MiB that fits
        if len(out) >= MAX_CANDIDATES:
            break
        if fits(n * MIB) and n * MIB not in out:
            out.append(n * MIB)
    return out[:MAX_CANDIDATES]


class EtagDigest:
    """Feeds bytes once; tells whether they hash to a given single-part or multipart ETag."""

    def __init__(self, etag: str, size: int, part_size: int | None = None) -> None:
        self.etag = clean_etag(etag)
        self.parts = part_count(self.etag)
        self.whole = hashlib.md5(usedforsecurity=False)
        self.sizes = part_size_candidates(size, self.parts, part_size) if self.parts else []
        # per candidate: running MD5 of the current part, bytes in it, concatenated part digests
        self._cur = [hashlib.md5(usedforsecurity=False) for _ in self.sizes]
        self._fill = [0 for _ in self.sizes]
        self._digests = [bytearray() for _ in self.sizes]
        self.count = 0

    def update(self, chunk: bytes) -> None:
        self.count += len(chunk)
        if not self.parts:
            self.whole.update(chunk)
            return
        view = memoryview(chunk)
        for i, psize in enumerate(self.sizes):
            pos = 0
            while pos < len(view):
                take = min(psize - self._fill[i], len(view) - pos)
                self._cur[i].update(view[pos : pos + take])
                self._fill[i] += take
                pos += take
                if self._fill[i] == psize:
                    self._digests[i] += self._cur[i].digest()
                    self._cur[i] = hashlib.md5(usedforsecurity=False)
                    self._fill[i] = 0

    def matches(self) -> bool:
        if not self.parts:
            return self.whole.hexdigest() == self.etag
        for i in range(len(self.sizes)):
            digests = bytes(self._digests[i]) + (self._cur[i].digest() if self._fill[i] else b"")
            if len(digests) // 16 == self.parts:
                combined = hashlib.md5(digests, usedforsecurity=False).hexdigest() + f"-{self.parts}"
                if combined == self.etag:
                    return True
        return False


def chunks_match(chunks: Iterable[bytes], etag: str, size: int, part_size: int | None = None) -> bool:
    """True when ``chunks`` (the whole content, in order) are ``size`` bytes hashing to ``etag``."""
    digest = EtagDigest(etag, size, part_size)
    for chunk in chunks:
        digest.update(chunk)
    return digest.count == size and digest.matches()


def read_matches(
    client: Any, bucket: str, name: str, etag: str, size: int, *, part_size: int | None = None, ssec: Any = None
) -> bool:
    """Stream the object's current content (1 MiB reads, nothing kept) and check it against ``etag``."""
    resp = client.get_object(bucket, name, ssec=ssec)
    try:
        return chunks_match(resp.stream(MIB), etag, size, part_size)
    finally:
        resp.close()
        resp.release_conn()


def first_part_size(
    client: Any, bucket: str, name: str, *, version_id: str | None = None, ssec: Any = None
) -> int | None:
    """The length of part 1 of a multipart object (``HEAD ?partNumber=1``); None when not said."""
    from minio.error import S3Error

    try:
        st = client.stat_object(bucket, name, ssec=ssec, version_id=version_id, extra_query_params={"partNumber": "1"})
    except S3Error:
        return None
    size = int(st.size or 0)
    return size or None
