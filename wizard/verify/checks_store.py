"""Object store: credentials, server-side encryption really active, bucket default encryption,
unencrypted objects (sampled, or all with --deep), TLS where SSE-C is used, MinIO's KMS.

Why "an object written now": a store can accept SSE configuration and still not encrypt (MinIO
starts without a KMS when its key file is missing, FACTS.md); the only proof is an object whose
response headers say it is encrypted.
"""

from __future__ import annotations

import io
import secrets
from typing import Any

from wizard.verify.context import VerifyContext
from wizard.verify.model import Evidence, Result, Status

SSE_HEADER = "x-amz-server-side-encryption"
SSEC_HEADER = "x-amz-server-side-encryption-customer-algorithm"
PROBE_PREFIX = ".stackseal-verify/"


def _mc(ctx: VerifyContext) -> str:
    return f"mc --insecure alias set s {ctx.plan.object_store.endpoint} $ACCESS $SECRET;"


def _client_or_skip(ctx: VerifyContext) -> tuple[Any, list[Result]]:
    access = ctx.s3()
    if access.client is None:
        return None, [Result(Status.SKIP, f"depends on store.access: {access.reason}")]
    return access.client, []


def check_access(ctx: VerifyContext) -> list[Result]:
    access = ctx.s3()
    endpoint = ctx.plan.object_store.endpoint
    if access.client is None:
        if access.wrong_credentials:
            return [
                Result(
                    Status.FAIL,
                    f"wrong credentials: {access.reason}",
                    remediation="the store does not accept the access key in object_store.access_key_file / "
                    "secret_key_file (or secrets/s3_access_key, s3_secret_key): fix the files, or the store's users",
                )
            ]
        return [Result(Status.FAIL, access.reason)]
    names = [b.name for b in access.client.list_buckets()]
    ev = (Evidence("command", "ListBuckets", f"{_mc(ctx)} mc ls s", ", ".join(names) or "(no buckets)"),)
    return [Result(Status.PASS, f"{endpoint} accepts the credentials ({len(names)} buckets)", "", ev)]


def _sse_for_plan(ctx: VerifyContext) -> tuple[Any, str]:
    from minio.sse import SseCustomerKey, SseKMS, SseS3

    sse = ctx.plan.object_store.sse
    if sse == "sse-c":
        return SseCustomerKey(secrets.token_bytes(32)), "SSE-C (a throw-away customer key)"
    if sse == "sse-kms":
        return SseKMS(ctx.plan.object_store.key_name, {}), f"SSE-KMS key {ctx.plan.object_store.key_name}"
    return SseS3(), "SSE-S3"


def check_sse_active(ctx: VerifyContext) -> list[Result]:
    """Write a probe object with the plan's SSE mode, read its headers back, remove it."""
    from minio.error import S3Error

    client, skip = _client_or_skip(ctx)
    if skip:
        return skip
    store = ctx.plan.object_store
    buckets = [b for b in store.buckets if client.bucket_exists(b)]
    if not buckets:
        return [
            Result(
                Status.FAIL,
                f"none of the planned buckets exists ({', '.join(store.buckets)})",
                remediation="run 'stackseal apply'",
            )
        ]
    bucket, name = buckets[0], f"{PROBE_PREFIX}sse-probe-{secrets.token_hex(6)}"
    sse, label = _sse_for_plan(ctx)
    marker = f"STACKSEAL-SSE-PROBE-{secrets.token_hex(16)}".encode()
    body = secrets.token_bytes(8192) + marker + secrets.token_bytes(8192)
    try:
        put = client.put_object(bucket, name, io.BytesIO(body), len(body), sse=sse)
    except S3Error as err:
        return [
            Result(
                Status.FAIL,
                f"the store refuses an {label} write: {err.code}: {err.message}",
                bucket,
                (
                    Evidence(
                        "header",
                        "PutObject",
                        f"{_mc(ctx)} mc cp --enc-... FILE s/{bucket}/",
                        f"{err.code}: {err.message}",
                    ),
                ),
            )
        ]
    try:
        headers = {k.lower(): v for k, v in (put.http_headers or {}).items()}
        value = headers.get(SSEC_HEADER) if store.sse == "sse-c" else headers.get(SSE_HEADER)
        shown = f"{SSEC_HEADER if store.sse == 'sse-c' else SSE_HEADER}: {value}"
        ev: tuple[Evidence, ...] = (
            Evidence("header", f"PutObject {bucket}/{name} response", f"{_mc(ctx)} mc stat s/{bucket}/OBJECT", shown),
        )
        if not value:
            return [
                Result(Status.FAIL, f"an {label} write succeeded but the response has no encryption header", bucket, ev)
            ]
        if store.data_dir:  # the raw store is named: the probe's bytes must not be readable there
            from wizard.verify.checks_canary import scan_result

            raw = scan_result(ctx, "store.sse", marker, [ctx.plan.resolve(store.data_dir)], "object_store.data_dir")
            if raw.status is Status.FAIL:
                return [
                    Result(
                        Status.FAIL,
                        f"the store reports {label}, but the raw data check fails: {raw.summary}",
                        bucket,
                        ev + raw.evidence,
                    )
                ]
            ev = ev + raw.evidence
        return [Result(Status.PASS, f"an object written now is encrypted ({label}: {value})", bucket, ev)]
    finally:
        try:
            client.remove_object(bucket, name)
        except S3Error:
            pass


def check_bucket_encryption(ctx: VerifyContext) -> list[Result]:
    from wizard.steps.buckets_step import wanted_rule

    client, skip = _client_or_skip(ctx)
    if skip:
        return skip
    store = ctx.plan.object_store
    rule = wanted_rule(ctx.steps_ctx)
    results = []
    for bucket in store.buckets:
        cmd = f"{_mc(ctx)} mc encrypt info s/{bucket}"
        if not client.bucket_exists(bucket):
            results.append(
                Result(
                    Status.FAIL,
                    f"bucket {bucket} does not exist",
                    bucket,
                    (Evidence("command", "HeadBucket", f"{_mc(ctx)} mc ls s/{bucket}", "NoSuchBucket"),),
                )
            )
            continue
        if rule is None:
            results.append(
                Result(
                    Status.SKIP,
                    f"bucket {bucket}: SSE-C has no bucket default (the client sends the key with each object)",
                    bucket,
                )
            )
            continue
        config = client.get_bucket_encryption(bucket)
        if config is None:
            results.append(
                Result(
                    Status.FAIL,
                    f"bucket {bucket} has NO default encryption: new objects are stored in plaintext",
                    bucket,
                    (
                        Evidence(
                            "command", "GetBucketEncryption", cmd, "ServerSideEncryptionConfigurationNotFoundError"
                        ),
                    ),
                )
            )
            continue
        have = config.rule
        shown = f"{have.sse_algorithm}" + (f" key {have.kms_master_key_id}" if have.kms_master_key_id else "")
        ev = (Evidence("command", "GetBucketEncryption", cmd, shown),)
        if have.sse_algorithm == rule.sse_algorithm and (have.kms_master_key_id or None) == (
            rule.kms_master_key_id or None
        ):
            results.append(Result(Status.PASS, f"bucket {bucket}: default encryption {shown}", bucket, ev))
        else:
            results.append(
                Result(
                    Status.FAIL,
                    f"bucket {bucket}: default encryption {shown}, the plan asks for {store.sse}",
                    bucket,
                    ev,
                )
            )
    return results


def _object_encrypted(client: Any, bucket: str, name: str) -> bool | None:
    """True/False from the object's headers; SSE-C objects refuse a plain HEAD (that means encrypted)."""
    from minio.error import S3Error

    try:
        stat = client.stat_object(bucket, name)
    except S3Error as err:
        if "customer" in (err.message or "").lower() or err.code in ("InvalidRequest", "BadRequest"):
            return True
        return None
    headers = {k.lower(): v for k, v in (stat.metadata or {}).items()}
    return bool(headers.get(SSE_HEADER) or headers.get(SSEC_HEADER))


def check_unencrypted_objects(ctx: VerifyContext) -> list[Result]:
    client, skip = _client_or_skip(ctx)
    if skip:
        return skip
    results = []
    for bucket in ctx.plan.object_store.buckets:
        if not client.bucket_exists(bucket):
            results.append(Result(Status.SKIP, f"bucket {bucket} does not exist (see store.bucket_encryption)", bucket))
            continue
        seen = plain = unknown = 0
        examples: list[str] = []
        complete = True
        meter = ctx.meter("store.unencrypted_objects")
        for obj in client.list_objects(bucket, recursive=True):
            if obj.is_dir or obj.object_name.startswith(PROBE_PREFIX):
                continue
            if (not ctx.deep and seen >= ctx.sample) or ctx.cancel.is_set():
                complete = False
                break
            seen += 1
            state = _object_encrypted(client, bucket, obj.object_name)
            if state is False:
                plain += 1
                if len(examples) < 3:
                    examples.append(obj.object_name)
            elif state is None:
                unknown += 1
            meter.advance(1, what=f"objects of {bucket}")
        how = "all" if complete else f"a sample of the first {seen}"
        out = f"{seen} objects checked ({how}), {plain} without an encryption header"
        ev = (
            Evidence(
                "bytes",
                f"objects of {bucket}",
                f"{_mc(ctx)} mc ls --recursive s/{bucket} ; mc stat s/{bucket}/OBJECT",
                out + (f"; e.g. {', '.join(examples)}" if examples else ""),
            ),
        )
        if plain:
            qualifier = "" if complete else f" in a sample of {seen} (run with --deep for the full count)"
            results.append(Result(Status.FAIL, f"bucket {bucket}: {plain} unencrypted objects{qualifier}", bucket, ev))
        elif unknown:
            results.append(
                Result(Status.WARN, f"bucket {bucket}: {unknown} of {seen} objects could not be read", bucket, ev)
            )
        else:
            results.append(
                Result(Status.PASS, f"bucket {bucket}: 0 unencrypted objects ({seen} checked, {how})", bucket, ev)
            )
    return results


def check_tls(ctx: VerifyContext) -> list[Result]:
    store = ctx.plan.object_store
    https = store.endpoint.startswith("https://")
    ev = (Evidence("text", "endpoint", "grep endpoint stackseal.yaml", store.endpoint),)
    if store.sse != "sse-c":
        return [
            Result(
                Status.SKIP if not https else Status.PASS,
                f"{store.sse}: keys never travel with requests" + (" (TLS on)" if https else ""),
                "",
                ev,
            )
        ]
    if https:
        return [Result(Status.PASS, "SSE-C keys travel over TLS (https endpoint)", "", ev)]
    status = Status.FAIL if store.kind == "minio" else Status.WARN
    return [
        Result(
            status,
            f"SSE-C over plain HTTP: every object key crosses the network in clear ({store.endpoint})",
            "",
            ev,
            remediation="use an https:// endpoint (render writes TLS certificates for the object store when SSE-C is chosen)",
        )
    ]


def check_kms_status(ctx: VerifyContext) -> list[Result]:
    """MinIO: ``mc admin kms key status`` through the admin API; SeaweedFS has no such API."""
    store = ctx.plan.object_store
    if store.kind != "minio":
        return [
            Result(
                Status.SKIP, "SeaweedFS has no KMS status API; store.sse proves encryption with an object written now"
            )
        ]
    if store.sse == "sse-c":
        return [Result(Status.SKIP, "SSE-C: the client holds the keys, MinIO's KMS is not used")]
    from wizard.verify.minio_admin import kms_key_status

    return [kms_key_status(ctx)]
