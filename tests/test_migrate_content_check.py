"""Proving a re-encrypted object's content from the ETag the store computed at upload (real SeaweedFS).

``wizard.stores.content_check`` recomputes a single-part MD5 or a multipart ``md5-of-md5s-N``
ETag from one streamed read; ``s3.copy_in_place`` re-encrypts in one request guarded by
``x-amz-copy-source-if-match``. These tests use the ETags SeaweedFS itself computed, and show
that a wrong body, a wrong size or a moved object is caught.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from pathlib import Path

import pytest

from wizard.stores import content_check as cc

MIB = 1 << 20


def _put(client, bucket: str, name: str, body: bytes, part_size: int = 0) -> str:
    return client.put_object(bucket, name, io.BytesIO(body), len(body), part_size=part_size).etag


def test_store_etags_are_recomputed_from_one_read_single_and_multipart(s3) -> None:
    client = s3.client()
    bucket = "cc-" + secrets.token_hex(4)
    client.make_bucket(bucket)
    cases = [
        ("single", os.urandom(3000), 0),
        ("mp-5", os.urandom(16 * MIB), 0),
        ("mp-6", os.urandom(20 * MIB), 6 * MIB),
    ]
    for name, body, part_size in cases:
        etag = _put(client, bucket, name, body, part_size)
        parts = cc.part_count(cc.clean_etag(etag))
        assert parts == (0 if name == "single" else 4), etag
        known = cc.first_part_size(client, bucket, name) if parts else None
        if parts:
            assert known == (part_size or 5 * MIB)  # HEAD ?partNumber=1 answers on SeaweedFS
        assert cc.read_matches(client, bucket, name, etag, len(body), part_size=known)
        # Without the part size, the candidates tried in the same read still find it.
        assert cc.read_matches(client, bucket, name, etag, len(body))
        # Another body of the same size does not match that ETag.
        _put(client, bucket, name + "-other", os.urandom(len(body)), part_size)
        assert not cc.read_matches(client, bucket, name + "-other", etag, len(body), part_size=known)


def test_hostile_etags_and_bodies_never_match() -> None:
    body = os.urandom(12 * MIB + 5)
    md5 = hashlib.md5(body).hexdigest()
    chunks = [body[i : i + MIB] for i in range(0, len(body), MIB)]
    assert cc.chunks_match(chunks, f'"{md5.upper()}"', len(body))  # quoted, upper case: the same value
    assert not cc.chunks_match(chunks[:-1], md5, len(body))  # truncated
    assert not cc.chunks_match([*chunks, b"x"], md5, len(body))  # one byte more
    for etag in ("", "not-an-etag", md5 + "-0", md5 + "-999999", "g" * 32, md5[:31], "../" + md5):
        assert not cc.chunks_match(chunks, etag, len(body)), etag
    # A multipart ETag whose part count cannot produce this size matches no candidate.
    assert cc.part_size_candidates(len(body), 9000) == []
    assert cc.part_size_candidates(0, 3) == [] and cc.part_size_candidates(10, 0) == []
    assert len(cc.part_size_candidates(10 << 30, 2)) <= cc.MAX_CANDIDATES


def test_copy_in_place_is_one_guarded_request(s3) -> None:
    from minio.error import S3Error
    from minio.sse import SseS3

    from wizard.stores import s3 as stores_s3

    client = s3.client()
    bucket = "cip-" + secrets.token_hex(4)
    client.make_bucket(bucket)
    body = os.urandom(5000)
    etag = client.put_object(
        bucket, "x.xsd", io.BytesIO(body), len(body), content_type="application/xml", metadata={"x-amz-meta-a": "1"}
    ).etag
    meta = {"Content-Type": "application/xml", "x-amz-meta-a": "1"}
    # Stale ETag: the copy is refused and the object is left as it was (plaintext).
    with pytest.raises(S3Error) as err:
        stores_s3.copy_in_place(client, bucket, "x.xsd", size=len(body), etag="0" * 32, sse=SseS3(), metadata=meta)
    assert err.value.code == "PreconditionFailed"
    assert not stores_s3.encryption_of(client.stat_object(bucket, "x.xsd").metadata)
    # Current ETag: encrypted, same content and headers.
    stores_s3.copy_in_place(client, bucket, "x.xsd", size=len(body), etag=etag, sse=SseS3(), metadata=meta)
    st = client.stat_object(bucket, "x.xsd")
    assert stores_s3.encryption_of(st.metadata) == "AES256" and st.content_type == "application/xml"
    assert stores_s3.user_metadata(st.metadata) == {"x-amz-meta-a": "1"}
    assert client.get_object(bucket, "x.xsd").read() == body


def test_a_store_that_changes_etags_is_proven_by_a_read_back(tmp_path: Path, s3) -> None:
    """``store_kind='minio'`` makes the migrator distrust an unchanged ETag (MinIO recomputes it
    under SSE), so each copy is proven by recomputing the upload's ETag from one read; a record
    whose ETag does not belong to the content fails that object, not the run."""
    from minio.sse import SseS3

    from wizard.stores.journal import OpJournal
    from wizard.stores.objects import ObjectMigrator, ObjectRef, _Fail

    client = s3.client()
    bucket = "rb-" + secrets.token_hex(4)
    client.make_bucket(bucket)
    bodies = {"small": os.urandom(4000), "big": os.urandom(11 * MIB)}
    for name, body in bodies.items():
        _put(client, bucket, name, body)
    reads: list[str] = []
    real_get = client.get_object

    def counting_get(b, n, *a, **k):
        reads.append(n)
        return real_get(b, n, *a, **k)

    client.get_object = counting_get  # type: ignore[method-assign]
    journal = OpJournal(tmp_path / "state", "m", {"t": 1})
    migrator = ObjectMigrator(client, SseS3(), journal, lambda e: None, store_kind="minio")
    report = migrator.run(migrator.inventory([bucket]))
    assert report.copied == 2 and not report.failed, report.failed
    assert sorted(reads) == ["big", "small"]  # one read each, after the copy; none before
    assert journal.get(f"{bucket}/big")["part_size"] == 5 * MIB
    for name, body in bodies.items():
        assert real_get(bucket, name).read() == body
    rec = {"etag": hashlib.md5(b"something else").hexdigest(), "size": 4000, "check": "auto"}
    with pytest.raises(_Fail, match="does not hash to the ETag"):
        migrator._check_etag(ObjectRef(bucket, "small", 4000), rec, "")


def test_a_copy_whose_verification_failed_is_proven_by_the_next_run_not_skipped(tmp_path: Path, s3) -> None:
    """A failed verification leaves an encrypted object behind; the next run must not count it as
    'already encrypted' but prove it against the intent recorded before the copy."""
    from minio.sse import SseS3

    from wizard.stores.journal import OpJournal
    from wizard.stores.objects import ObjectMigrator

    client = s3.client()
    bucket = "unp-" + secrets.token_hex(4)
    client.make_bucket(bucket)
    for name in ("good", "bad"):
        _put(client, bucket, name, os.urandom(3000))
    journal = OpJournal(tmp_path / "state", "m", {"t": 1})
    migrator = ObjectMigrator(client, SseS3(), journal, lambda e: None, verify="sha256")
    first = migrator.run(migrator.inventory([bucket]))
    assert first.copied == 2 and not first.failed
    # The journal as a run whose verification failed leaves it (the intent kept, marked unproven):
    # "good" holds the content its intent recorded, "bad" does not.
    journal = OpJournal(tmp_path / "state", "m", {"t": 1})
    journal.update(f"{bucket}/good", status="failed", unproven=True)
    journal.update(f"{bucket}/bad", status="failed", unproven=True, sha256="0" * 64)
    migrator = ObjectMigrator(client, SseS3(), journal, lambda e: None, verify="sha256")
    second = migrator.run(migrator.inventory([bucket]))
    assert second.already == 0 and second.copied == 1
    assert [k for k, _ in second.failed] == [f"{bucket}/bad"] and "SHA-256" in second.failed[0][1]
    assert journal.get(f"{bucket}/good")["status"] == "copied"
