"""Re-encrypt existing plaintext objects in place (``stackseal migrate objects``).

Why a server-side copy onto itself: the bytes never leave the store, so a bucket of thousands of
schemas re-encrypts at the store's speed, not the network's. Facts this code is built on (seen on
SeaweedFS 4.48 with minio-py 7.2.20, and MinIO's docs):

- a copy onto itself with ``metadata_directive=COPY`` is refused; ``REPLACE`` works but drops
  Content-Type and user metadata unless they are sent again, so both are sent from the object's
  own headers (:func:`wizard.stores.s3.replace_metadata`); tags are kept by the copy (checked);
- under SSE the ETag may stop being the content's MD5 (MinIO), so verification streams a
  SHA-256 before and after the copy where it must (``verify='sha256'``); SeaweedFS keeps the
  content MD5 as the ETag, so ``auto`` compares size + ETag there;
- a server that refuses the in-place copy gets a download + re-upload of that object, streamed
  (nothing is written to local disk), and the run says so.

Every object is journaled (:class:`wizard.stores.journal.OpJournal`): an ``intent`` with the
source's size, ETag and hash before the copy, ``done`` after the verification. A killed run
resumes: finished objects are skipped without a request, an in-flight one is checked against its
intent. Nothing is ever deleted.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from wizard.steps.events import Emit, StepLog
from wizard.stores import content_check, s3
from wizard.stores.journal import OpJournal
from wizard.stores.object_refs import ObjectRef, Report, _Fail, sha256_of
from wizard.stores.progress import SharedMeter

STEP_ID = "migrate-objects"
#: S3 error codes that mean "this server will not copy an object onto itself".
_REFUSED_COPY = {"NotImplemented", "InvalidRequest", "MethodNotAllowed"}


_clean_etag = content_check.clean_etag


class ObjectMigrator:
    """Plans and runs the re-encryption of the objects of some buckets."""

    def __init__(
        self,
        client: Any,
        sse: Any,
        journal: OpJournal,
        emit: Emit,
        *,
        workers: int = 8,
        verify: str = "auto",
        store_kind: str = "seaweedfs",
        sse_mode: str = "sse-s3",
        source_ssec: Any = None,
    ) -> None:
        self.client = client
        self.sse = sse
        self.journal = journal
        self.emit = emit
        self.workers = max(1, workers)
        self.verify = verify
        self.store_kind = store_kind
        self.sse_mode = sse_mode
        self.ssec = sse if sse_mode == "sse-c" else None
        #: SSE-C key rotation: objects readable with this key are copied to ``sse``
        self.source_ssec = source_ssec
        self._fallback_said: set[str] = set()
        self._lock = threading.Lock()
        #: SeaweedFS carries an object's ETag (the MD5 computed at upload) through a re-encrypting
        #: copy; MinIO computes a new one under SSE.
        self._etag_kept = store_kind == "seaweedfs"

    # -- inventory ----------------------------------------------------------------------------
    def versioning(self, bucket: str) -> str:
        """``Enabled`` / ``Suspended`` / ``Off``."""
        status = self.client.get_bucket_versioning(bucket).status
        return status or "Off"

    def inventory(self, buckets: list[str], all_versions: bool = False) -> list[ObjectRef]:
        refs: list[ObjectRef] = []
        for bucket in buckets:
            versioned = all_versions and self.versioning(bucket) != "Off"
            for obj in self.client.list_objects(bucket, recursive=True, include_version=versioned):
                if obj.is_dir or (versioned and obj.is_delete_marker):
                    continue
                version = obj.version_id if versioned and obj.version_id not in (None, "null") else None
                modified = obj.last_modified.timestamp() if obj.last_modified else 0.0
                latest = bool(obj.is_latest or not versioned)
                refs.append(ObjectRef(bucket, obj.object_name, int(obj.size or 0), version, latest, modified))
        refs.sort(key=lambda r: (r.bucket, r.name, r.is_latest, r.modified))
        return refs

    # -- one object ---------------------------------------------------------------------------
    def _stat(self, ref: ObjectRef, ssec: Any = None) -> Any:
        return self.client.stat_object(ref.bucket, ref.name, ssec=ssec, version_id=ref.version_id)

    def _state(self, ref: ObjectRef) -> tuple[str, Any]:
        """('plain'|'encrypted'|'foreign-key'|'gone', stat) of an object as it is now."""
        from minio.error import S3Error

        if self.source_ssec is not None:
            return self._rotation_state(ref)
        try:
            st = self._stat(ref)
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchVersion", "ResourceNotFound"):
                return "gone", None
            if err.code == "BadRequest" and self.ssec is not None:  # SSE-C object: HEAD needs its key
                try:
                    return "encrypted", self._stat(ref, self.ssec)
                except S3Error:
                    return "foreign-key", None
            if err.code == "BadRequest":
                return "foreign-key", None
            raise
        return ("encrypted" if s3.encryption_of(st.metadata) else "plain"), st

    def _rotation_state(self, ref: ObjectRef) -> tuple[str, Any]:
        """Key rotation: 'encrypted' = under the new key already, 'plain' = under the old one (to copy)."""
        from minio.error import S3Error

        for key, state in ((self.ssec, "encrypted"), (self.source_ssec, "plain")):
            try:
                return state, self._stat(ref, key)
            except S3Error as err:
                if err.code in ("NoSuchKey", "NoSuchVersion", "ResourceNotFound"):
                    return "gone", None
        try:
            st = self._stat(ref)
        except S3Error:
            return "foreign-key", None
        raise _Fail(
            f"not SSE-C ({s3.encryption_of(st.metadata) or 'plaintext'}); 'stackseal migrate objects' encrypts it"
        )

    def _check_for(self, etag: str) -> str:
        """How the copy of an object with this ETag will be proven: 'etag', 'auto' or 'sha256'.

        ``auto``: where the ETag is a content MD5 (single or multipart) the server computed at
        upload, nothing is read before the copy; after it, an unchanged ETag on a store that keeps
        it through the copy (SeaweedFS) is accepted, anything else is proven by one streamed read
        recomputing that ETag (:mod:`wizard.stores.content_check`). Other ETags: SHA-256 before
        and after.
        """
        if self.verify in ("sha256", "etag"):
            return self.verify
        return "auto" if content_check.is_content_etag(etag) else "sha256"

    def migrate_one(self, ref: ObjectRef, meter: SharedMeter, report: Report, force: bool = False) -> None:
        """One object (or version); ``force`` copies it even when encrypted (to make it current again)."""
        from minio.error import S3Error

        rec = self.journal.get(ref.key)
        if not force and rec and rec.get("status") in ("copied", "already"):
            with self._lock:
                report.done_before += 1
            meter.advance(1, ref.size)
            return
        try:
            state, st = self._state(ref)
            if state == "gone":
                self.journal.update(ref.key, status="gone")
                with self._lock:
                    report.gone.append(ref.key)
            elif state == "foreign-key":
                raise _Fail(
                    "encrypted with a customer key (SSE-C) that is not the plan's key (nor the old one); left as it is"
                )
            elif state == "encrypted" and force:
                self._copy(ref, st, report)
            elif state == "encrypted" and rec and (rec.get("status") == "intent" or rec.get("unproven")):
                # Copied by a run that was killed before it could record the verification, or
                # whose verification failed: proven against the intent now, never taken as done.
                self._verify(ref, rec, st)
                self.journal.update(ref.key, status="copied", copies=int(rec.get("copies", 0)) + 1, unproven=False)
                with self._lock:
                    report.copied += 1
                    report.copied_bytes += ref.size
            elif state == "encrypted":
                self.journal.update(ref.key, status="already")
                with self._lock:
                    report.already += 1
            else:
                self._copy(ref, st, report)
        except _Fail as err:
            self._fail(ref, str(err), report)
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchVersion"):
                self.journal.update(ref.key, status="gone")
                with self._lock:
                    report.gone.append(ref.key)
            else:
                self._fail(ref, f"{err.code}: {err.message}", report)
        except Exception as err:  # network and other faults: this object only, the run goes on
            self._fail(ref, f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}", report)
        meter.advance(1, ref.size, what=ref.key)

    def _fail(self, ref: ObjectRef, reason: str, report: Report) -> None:
        self.journal.update(ref.key, status="failed", error=reason)
        with self._lock:
            report.failed.append((ref.key, reason))

    def _copy(self, ref: ObjectRef, st: Any, report: Report) -> None:
        from minio.error import S3Error

        etag = _clean_etag(st.etag)
        tags = None
        if s3.header(st.metadata, "x-amz-tagging-count") not in (None, "0"):
            got = self.client.get_object_tags(ref.bucket, ref.name, version_id=ref.version_id)
            tags = dict(got) if got else None
        check = self._check_for(etag)
        intent: dict[str, Any] = {
            "status": "intent",
            "size": st.size,
            "etag": etag,
            "check": check,
            "content_type": st.content_type,
            "meta": s3.user_metadata(st.metadata),
            "tags": tags,
        }
        if check == "sha256":
            intent["sha256"] = sha256_of(self.client, ref, self.source_ssec)
        elif check == "auto" and content_check.part_count(etag) and not self._etag_kept:
            # a store that changes the ETag will need the part size to recompute it after the copy
            intent["part_size"] = content_check.first_part_size(
                self.client, ref.bucket, ref.name, version_id=ref.version_id, ssec=self.source_ssec
            )
        prior = self.journal.get(ref.key) or {}
        self.journal.update(ref.key, **intent)
        metadata = s3.replace_metadata(st.metadata)
        fallback = False
        try:
            s3.copy_in_place(
                self.client,
                ref.bucket,
                ref.name,
                size=int(st.size or 0),
                etag=etag,
                sse=self.sse,
                metadata=metadata,
                version_id=ref.version_id,
                source_ssec=self.source_ssec,
            )
        except S3Error as err:
            if err.code == "PreconditionFailed":
                raise _Fail(
                    "changed by someone else during the run (its ETag moved); run again to migrate it"
                ) from None
            if err.code not in _REFUSED_COPY:
                raise
            fallback = True
            self._say_fallback(ref.bucket, err.code)
            self._reupload(ref, st, metadata, tags)
        new_st = self._stat(ref if not ref.version_id else ObjectRef(ref.bucket, ref.name, ref.size), self.ssec)
        rec = dict(intent)
        try:
            self._verify(ref, rec, new_st)
        except _Fail:
            self.journal.update(ref.key, unproven=True)  # a re-run must prove it, not skip it as encrypted
            raise
        if ref.version_id:  # the copy is a new version; the plaintext one goes only once this one is verified
            self.client.remove_object(ref.bucket, ref.name, version_id=ref.version_id)
        self.journal.update(
            ref.key, status="copied", copies=int(prior.get("copies", 0)) + 1, fallback=fallback, unproven=False
        )
        with self._lock:
            report.copied += 1
            report.copied_bytes += ref.size
            report.fallbacks += fallback

    def _reupload(self, ref: ObjectRef, st: Any, metadata: dict[str, str], tags: dict[str, str] | None) -> None:
        """Download + re-upload, streamed (never on local disk), for servers that refuse the copy."""
        from minio.commonconfig import Tags

        content_type = metadata.pop("Content-Type", "application/octet-stream")
        tag_obj = None
        if tags:
            tag_obj = Tags.new_object_tags()
            tag_obj.update(tags)
        resp = self.client.get_object(ref.bucket, ref.name, version_id=ref.version_id, ssec=self.source_ssec)
        try:
            self.client.put_object(
                ref.bucket,
                ref.name,
                resp,
                st.size,
                content_type=content_type,
                metadata=metadata,
                sse=self.sse,
                tags=tag_obj,
            )
        finally:
            resp.close()
            resp.release_conn()

    def _say_fallback(self, bucket: str, code: str) -> None:
        with self._lock:
            if bucket in self._fallback_said:
                return
            self._fallback_said.add(bucket)
        self.emit(
            StepLog(
                STEP_ID,
                f"bucket {bucket}: the server refuses an in-place copy ({code}); falling back to download + "
                "re-upload (streamed, never written to local disk) for its objects",
                "warning",
            )
        )

    def _verify(self, ref: ObjectRef, rec: dict[str, Any], st: Any) -> None:
        """The copy holds the same bytes, headers and tags as recorded before it, encrypted."""
        if not s3.encryption_of(st.metadata):
            raise _Fail("the copy does not report server-side encryption")
        if st.size != rec["size"]:
            raise _Fail(f"size changed from {rec['size']} to {st.size}")
        if rec.get("content_type") and st.content_type != rec["content_type"]:
            raise _Fail(f"Content-Type changed from {rec['content_type']} to {st.content_type}")
        if s3.user_metadata(st.metadata) != rec.get("meta", {}):
            raise _Fail("user metadata changed")
        if rec.get("sha256"):
            current = ObjectRef(ref.bucket, ref.name, ref.size)
            if sha256_of(self.client, current, self.ssec) != rec["sha256"]:
                raise _Fail("SHA-256 of the content changed")
        else:
            self._check_etag(ref, rec, _clean_etag(st.etag))
        if rec.get("tags"):
            got = self.client.get_object_tags(ref.bucket, ref.name)
            if dict(got or {}) != rec["tags"]:
                raise _Fail("object tags changed")

    def _check_etag(self, ref: ObjectRef, rec: dict[str, Any], new_etag: str) -> None:
        """The content is proven by the ETag recorded before the copy (see :meth:`_check_for`)."""
        old = rec.get("etag", "")
        if new_etag == old and (rec.get("check") == "etag" or self._etag_kept):
            return
        if rec.get("check") == "etag":
            raise _Fail("ETag changed and no SHA-256 was recorded; re-run with --verify sha256")
        if not content_check.is_content_etag(old):
            raise _Fail("ETag changed and no SHA-256 was recorded; re-run with --verify sha256")
        if not content_check.read_matches(
            self.client, ref.bucket, ref.name, old, int(rec["size"]), part_size=rec.get("part_size"), ssec=self.ssec
        ):
            raise _Fail("the content read back does not hash to the ETag recorded before the copy")

    def _versions(self, group: list[ObjectRef], meter: SharedMeter, report: Report) -> None:
        """All versions of one key (``--all-versions``): old ones oldest first, then the one that
        was current is copied again so that it is current once more.

        Why the journal marker: each old version's copy becomes the current version for a
        moment, so after a kill the listing no longer says which version was current; the marker
        (written before the first copy) does, until that version has been made current again.
        """
        first = group[0]
        marker = f"{first.bucket}/{first.name}?current"
        rec = self.journal.get(marker) or {}
        latest = [r for r in group if r.is_latest]
        original = rec.get("version") or (latest[0].version_id if latest else None)
        if not rec and original:
            self.journal.update(marker, version=original, status="pending")
        by_id = {r.version_id: r for r in group}
        for ref in sorted((r for r in group if r.version_id != original), key=lambda r: r.modified):
            self.migrate_one(ref, meter, report)
        if original is None:
            return
        ref = by_id.get(original) or ObjectRef(first.bucket, first.name, first.size, original, False)
        current = self.client.stat_object(first.bucket, first.name, ssec=self.ssec).version_id
        self.migrate_one(ref, meter, report, force=current != original and rec.get("status") != "done")
        self.journal.update(marker, status="done")

    # -- the run ------------------------------------------------------------------------------
    def run(self, refs: list[ObjectRef]) -> Report:
        report = Report(total=len(refs), total_bytes=sum(r.size for r in refs))
        meter = SharedMeter(STEP_ID, self.emit, len(refs), report.total_bytes)
        start = time.monotonic()
        # The versions of one key go to one worker, oldest first: each copy becomes the current
        # version, so the one that was current must be copied last.
        groups: dict[tuple[str, str], list[ObjectRef]] = {}
        for ref in refs:
            groups.setdefault((ref.bucket, ref.name), []).append(ref)

        def work(group: list[ObjectRef]) -> None:
            if any(r.version_id for r in group):
                self._versions(group, meter, report)
                return
            for ref in group:
                self.migrate_one(ref, meter, report)

        if refs:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="migrate") as pool:
                for _ in pool.map(work, groups.values()):
                    pass
        meter.finish()
        report.seconds = time.monotonic() - start
        self.journal.close(finished_at=time.time(), failed=len(report.failed))
        return report
