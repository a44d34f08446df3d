"""The canary: write a unique marker through each service's own API, look for it in the raw
bytes that back the service's data (cipher directory, image, block device, data directory),
FAIL if it is there, then remove the canary.

Why: every other check reads configuration and state; this one proves the end result. A stack
that writes plaintext somewhere nobody looked (a container started before its volume was
unlocked, a bucket without default encryption, a plain Docker volume) shows the marker.
Markers are long and sit in random bytes: SeaweedFS compresses compressible uploads and Neo4j
encodes short strings, either of which would hide a plaintext marker and pass falsely.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path

from wizard.layout import volume_specs
from wizard.verify.context import VerifyContext
from wizard.verify.model import Evidence, Result, Status
from wizard.verify.mounts import mount_of, quote, read_mounts
from wizard.verify.scan import scan_paths
from wizard.verify.stack import container_paths

CANARY_PREFIX = ".stackseal-verify/canary-"


def new_marker() -> bytes:
    return f"STACKSEAL-CANARY-{secrets.token_hex(16)}".encode()


def raw_targets(ctx: VerifyContext, service: str, container_path: str, data_dir: str | None) -> tuple[list[Path], str]:
    """Which raw bytes back ``service``'s ``container_path`` on this host, and how we know."""
    if data_dir:
        path = ctx.plan.resolve(data_dir)
        return [path], f"{path} (data_dir in the answers file)"
    _, paths = container_paths(ctx, service)
    host = next((hp for hp in paths if hp.container_path == container_path), None)
    candidates = [s for s in volume_specs(ctx.plan) if s.service == service and s.container_path == container_path]
    spec = candidates[0] if candidates else None
    if host is None and spec is None:
        return [], "unknown"
    host_path = Path(host.host_path) if host is not None else spec.mount_point  # type: ignore[union-attr]
    if spec is not None and os.path.realpath(host_path) == os.path.realpath(spec.mount_point):
        backend = ctx.plan.volumes.backend
        if backend in ("gocryptfs", "luks-file", "luks-device"):
            return [spec.backing], f"{spec.backing} ({backend} backing of {spec.mount_point})"
        if backend == "fscrypt":
            mount = mount_of(spec.mount_point, read_mounts())
            if mount is not None and mount.source.startswith("/dev/"):
                return [
                    Path(mount.source)
                ], f"{mount.source} (block device under the fscrypt directory {spec.mount_point})"
    how = host.how if host is not None else "planned mount point"
    return [host_path], f"{host_path} ({how}, plain directory)"


def scan_result(ctx: VerifyContext, check_id: str, marker: bytes, targets: list[Path], where: str) -> Result:
    if any(str(t).startswith("/dev/") for t in targets):
        os.sync()  # the page cache of a block device is written back only on sync
    meter = ctx.meter(check_id)
    last = [0, 0]

    def progress(nbytes: int, files: int) -> None:
        meter.advance(files - last[1], nbytes - last[0], what=f"raw scan of {where}")
        last[:] = [nbytes, files]

    result = scan_paths(targets, [marker], progress=progress, stop=ctx.cancel)
    command = f"LC_ALL=C grep -rlaF {marker.decode()} {' '.join(quote(t) for t in targets)}"
    shown = f"{result.files} files, {result.bytes} bytes scanned; " + (
        "FOUND in " + ", ".join(str(p) for p in result.hits[:5]) if result.found else "marker not found"
    )
    if result.skipped:
        shown += f"; skipped {len(result.skipped)}: {'; '.join(result.skipped[:3])}"
    ev = Evidence("bytes", f"raw scan of {where}", command, shown)
    if result.found:
        return Result(Status.FAIL, f"the canary is readable in the raw bytes of {where}", "", (ev,))
    if result.bytes == 0:
        return Result(Status.FAIL, f"nothing could be scanned at {where}", "", (ev,))
    return Result(Status.PASS, f"the canary is not in {result.bytes} raw bytes of {where}", "", (ev,))


def check_object_store_canary(ctx: VerifyContext) -> list[Result]:
    from minio.error import S3Error

    access = ctx.s3()
    if access.client is None:
        return [Result(Status.SKIP, f"depends on store.access: {access.reason}")]
    client = access.client
    store = ctx.plan.object_store
    targets, where = raw_targets(ctx, store.kind, "/data", store.data_dir)
    if not targets:
        return [
            Result(
                Status.SKIP,
                "the store's raw data location is unknown: set object_store.data_dir, or run the stack with stackseal's compose file",
            )
        ]
    bucket = next((b for b in store.buckets if client.bucket_exists(b)), None)
    if bucket is None:
        return [Result(Status.SKIP, "no planned bucket exists to hold the canary (see store.bucket_encryption)")]
    marker = new_marker()
    # random bytes around the marker: incompressible, so the store cannot hide it by compressing
    body = secrets.token_bytes(32 << 10) + marker + secrets.token_bytes(32 << 10)
    name = f"{CANARY_PREFIX}{secrets.token_hex(8)}"
    sse = None
    if store.sse == "sse-c":
        from minio.sse import SseCustomerKey

        sse = SseCustomerKey(secrets.token_bytes(32))
    try:
        client.put_object(bucket, name, io.BytesIO(body), len(body), sse=sse)
    except S3Error as err:
        return [Result(Status.FAIL, f"cannot write the canary object: {err.code}")]
    try:
        result = scan_result(ctx, "canary.object_store", marker, targets, where)
        evidence = (
            Evidence(
                "text",
                "canary object",
                f"mc stat s/{bucket}/{name}",
                f"{len(body)} bytes written to {bucket}/{name} (bucket default encryption), removed after the scan",
            ),
        ) + result.evidence
        return [Result(result.status, result.summary, bucket, evidence)]
    finally:
        try:
            client.remove_object(bucket, name)
        except S3Error:
            pass


def check_neo4j_canary(ctx: VerifyContext) -> list[Result]:
    from neo4j.exceptions import ClientError

    access = ctx.neo4j()
    if access.client is None:
        return [Result(Status.SKIP, f"Neo4j not usable: {access.reason}")]
    targets, where = raw_targets(ctx, "neo4j", "/data", ctx.plan.neo4j.data_dir)
    if not targets:
        return [
            Result(
                Status.SKIP,
                "Neo4j's raw data location is unknown: set neo4j.data_dir, or run the stack with stackseal's compose file",
            )
        ]
    driver = access.client
    marker = new_marker()
    # long: short strings are stored in an encoded inline form and would not show in a raw scan
    value = (marker.decode() + "-") * 4
    driver.execute_query("CREATE (:StacksealCanary {marker: $v})", v=value)
    notes = []
    try:
        try:
            driver.execute_query("CALL db.checkpoint()")
            notes.append("CALL db.checkpoint(): forced to the store files")
        except ClientError as err:
            notes.append(
                f"CALL db.checkpoint() not available ({err.code}); committed data is already in the transaction "
                "log under /data/transactions, which the scan includes"
            )
        result = scan_result(ctx, "canary.neo4j", marker, targets, where)
        evidence = (
            Evidence(
                "command", "canary node", "cypher-shell 'CREATE (:StacksealCanary {marker: ...})'", "; ".join(notes)
            ),
        ) + result.evidence
        return [Result(result.status, result.summary, "", evidence)]
    finally:
        driver.execute_query("MATCH (c:StacksealCanary {marker: $v}) DELETE c", v=value)
