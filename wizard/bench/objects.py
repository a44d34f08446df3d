"""Object store PUT/GET throughput on the plan's store: a bucket without SSE and one with SSE-S3.

Two scratch buckets (``bench-plain-*``, ``bench-sse-*``) are created, filled, read and removed.
On SeaweedFS and MinIO, SSE-S3 is the bucket default-encryption rule; the figures compare the
same objects with and without it.
"""

from __future__ import annotations

import io
import os
import secrets
import time
from typing import Any

from wizard.bench.common import MIB, Result, rate


def _round(client: Any, bucket: str, count: int, body: bytes) -> tuple[float, float]:
    start = time.monotonic()
    for i in range(count):
        client.put_object(bucket, f"o{i}", io.BytesIO(body), len(body))
    put = time.monotonic() - start
    start = time.monotonic()
    for i in range(count):
        response = client.get_object(bucket, f"o{i}")
        try:
            while response.read(MIB):
                pass
        finally:
            response.close()
            response.release_conn()
    return put, time.monotonic() - start


def _drop(client: Any, bucket: str) -> None:
    try:
        for obj in list(client.list_objects(bucket, recursive=True)):
            client.remove_object(bucket, obj.object_name)
        client.remove_bucket(bucket)
    except Exception:
        pass


def measure(plan: Any, size_mb: int) -> list[Result]:
    from minio.sseconfig import Rule, SSEConfig

    from wizard.backup.objects import s3_client

    try:
        client = s3_client(plan)
        client.list_buckets()
    except Exception as err:
        note = f"unavailable: {str(err)[:100] or type(err).__name__}"
        return [Result("objects", "PUT (no SSE)", None, "MB/s", note)]
    count = max(size_mb // 4, 1)
    body = os.urandom(4 * MIB)
    total = count * len(body)
    results = []
    for label, sse in (("no SSE", False), ("SSE-S3", True)):
        bucket = f"bench-{'sse' if sse else 'plain'}-{secrets.token_hex(4)}"
        try:
            client.make_bucket(bucket)
            if sse:
                client.set_bucket_encryption(bucket, SSEConfig(Rule.new_sse_s3_rule()))
            put, get = _round(client, bucket, count, body)
        except Exception as err:
            results.append(Result("objects", f"PUT ({label})", None, "MB/s", f"unavailable: {str(err)[:100]}"))
            continue
        finally:
            _drop(client, bucket)
        base = None if not sse else "PUT (no SSE)"
        results.append(Result("objects", f"PUT ({label})", rate(total, put), "MB/s", f"{count} x 4 MiB", base))
        results.append(
            Result(
                "objects",
                f"GET ({label})",
                rate(total, get),
                "MB/s",
                f"{count} x 4 MiB",
                "GET (no SSE)" if sse else None,
            )
        )
    return results
