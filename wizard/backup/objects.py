"""Object-store buckets as tar streams (minio SDK): out of the store, and back in.

Why tar: one bucket becomes one ordered, streamable file that any tool can list after
decryption (``age -d ... | tar -t``), each object a member named by its key with its size,
Content-Type and user metadata in PAX headers. Bodies stream from ``get_object`` into the tar
writer; the tar writer streams into a pipe that age reads, so memory stays flat.

On restore the tar is never extracted to a filesystem: each member is PUT under its name, so a
hostile key such as ``../../etc/passwd`` is only an object key. Members that are not regular
files are refused.
"""

from __future__ import annotations

import os
import tarfile
import threading
from collections.abc import Callable
from typing import IO, Any

from wizard.errors import OperationFailed

META_PREFIX = "STACKSEAL.meta."
CONTENT_TYPE = "STACKSEAL.content_type"
MAX_KEY = 1024


def s3_client(plan: Any) -> Any:
    """The plan's S3 client (one client module for the product: the buckets step's)."""
    from wizard.steps.buckets_step import s3_client as make
    from wizard.steps.context import Context

    client = make(Context.for_plan(plan))
    if client is None:
        raise OperationFailed(
            "object store credentials not found (object_store.access_key_file / secret_key_file or the "
            "rendered secrets); run 'stackseal apply' first"
        )
    return client


def reach(plan: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the store; connection and credential problems become one line."""
    from minio.error import S3Error
    from urllib3.exceptions import HTTPError

    endpoint = plan.object_store.endpoint
    try:
        return func(*args, **kwargs)
    except S3Error as err:
        raise OperationFailed(f"object store at {endpoint}: {err.code}: {err.message}") from None
    except (HTTPError, OSError) as err:
        raise OperationFailed(f"object store at {endpoint} is not reachable ({type(err).__name__})") from None


def write_bucket_tar(plan: Any, client: Any, bucket: str, sink: IO[bytes], counter: list[int]) -> None:
    """Stream every object of ``bucket`` into ``sink`` as a tar (``counter[0]`` counts objects)."""
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for listed in _listing(plan, client, bucket):
            if listed.is_dir:
                continue
            stat = reach(plan, client.stat_object, bucket, listed.object_name)
            info = tarfile.TarInfo(listed.object_name)
            info.size = int(stat.size)
            info.mode = 0o600
            info.mtime = int(stat.last_modified.timestamp()) if stat.last_modified else 0
            headers = {CONTENT_TYPE: stat.content_type or "application/octet-stream"}
            for key, value in (stat.metadata or {}).items():
                if key.lower().startswith("x-amz-meta-"):
                    headers[META_PREFIX + key[len("x-amz-meta-") :].lower()] = str(value)
            info.pax_headers = headers
            response = reach(plan, client.get_object, bucket, listed.object_name)
            try:
                tar.addfile(info, response)
            finally:
                response.close()
                response.release_conn()
            counter[0] += 1


def _listing(plan: Any, client: Any, bucket: str) -> Any:
    """The bucket's objects, fetched page by page (never the whole listing in memory)."""
    pages = reach(plan, client.list_objects, bucket, recursive=True)
    while True:
        item = reach(plan, next, pages, None)
        if item is None:
            return
        yield item


class TarPipe:
    """A bucket's tar produced in a thread into a pipe; ``reader`` is what age encrypts.

    Why a thread and a pipe: pyrage pulls (it reads from a file object) while tarfile pushes
    (it writes to one); a 64 KiB kernel pipe between them keeps memory flat.
    """

    def __init__(self, plan: Any, client: Any, bucket: str) -> None:
        read_fd, write_fd = os.pipe()
        self.reader = os.fdopen(read_fd, "rb")
        self._writer = os.fdopen(write_fd, "wb")
        self.count = [0]
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(plan, client, bucket), daemon=True)

    def _run(self, plan: Any, client: Any, bucket: str) -> None:
        try:
            write_bucket_tar(plan, client, bucket, self._writer, self.count)
        except BaseException as err:
            self.error = err
        finally:
            try:
                self._writer.close()
            except OSError:
                pass

    def __enter__(self) -> TarPipe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.reader.close()  # unblocks a writer still waiting on a full pipe
        self._thread.join()

    def finish(self) -> int:
        """Wait for the producer; its failure (e.g. the store went away) fails the part."""
        self._thread.join()
        if self.error is not None:
            if isinstance(self.error, OperationFailed):
                raise self.error
            raise OperationFailed(f"reading the bucket failed: {self.error}")
        return self.count[0]


def bucket_is_empty(plan: Any, client: Any, bucket: str) -> bool:
    if not reach(plan, client.bucket_exists, bucket):
        return True
    for _ in _listing(plan, client, bucket):
        return False
    return True


def check_tar(path: Any) -> int:
    """Walk a decrypted bucket tar; refuse anything but regular files with sane keys. Returns the count."""
    count = 0
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                _check_member(member)
                count += 1
    except tarfile.TarError as err:
        raise OperationFailed(f"a bucket archive is not a valid tar ({err})") from None
    return count


def _check_member(member: tarfile.TarInfo) -> None:
    if not member.isreg():
        raise OperationFailed(f"bucket archive member {member.name[:80]!r} is not a regular file; refused")
    if not member.name or len(member.name.encode()) > MAX_KEY or "\x00" in member.name:
        raise OperationFailed("bucket archive holds an invalid object key; refused")


def restore_bucket(plan: Any, client: Any, bucket: str, path: Any, progress: Callable[[int, int], None]) -> int:
    """PUT every member of the verified tar at ``path`` into ``bucket`` (created if missing)."""
    from minio.sseconfig import SSEConfig

    from wizard.steps.buckets_step import wanted_rule
    from wizard.steps.context import Context

    if not reach(plan, client.bucket_exists, bucket):
        reach(plan, client.make_bucket, bucket)
        rule = wanted_rule(Context.for_plan(plan))
        if rule is not None:
            reach(plan, client.set_bucket_encryption, bucket, SSEConfig(rule))
    count = 0
    done = 0
    with tarfile.open(path, mode="r:") as tar:
        for member in tar:
            _check_member(member)
            body = tar.extractfile(member)
            assert body is not None
            headers = member.pax_headers
            metadata = {k[len(META_PREFIX) :]: v for k, v in headers.items() if k.startswith(META_PREFIX)}
            reach(
                plan,
                client.put_object,
                bucket,
                member.name,
                body,
                member.size,
                content_type=headers.get(CONTENT_TYPE, "application/octet-stream"),
                metadata=metadata or None,
                part_size=8 << 20,
            )
            count += 1
            done += member.size
            progress(count, done)
    return count


def describe(bucket: str, count: int) -> dict[str, Any]:
    return {"format": "tar (pax)", "bucket": bucket, "objects": count}
