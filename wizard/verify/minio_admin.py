"""MinIO's KMS status through the admin API (``mc admin kms key status`` equivalent).

Why this matters: the MinIO image silently starts without a KMS when its key file is missing
(FACTS.md); bucket encryption then fails or, worse, the operator believes it is on. The admin
API endpoint ``/minio/admin/v3/kms/key/status?key-id=KEY`` makes MinIO encrypt and decrypt with
the key and answers ``{"key-id", "encryption-error", "decryption-error"}``. Built with the
minio SDK's ``MinioAdmin`` (signature V4 and all); tested by contract against an in-process HTTP
server answering MinIO's recorded shapes, since MinIO's server cannot run here.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from wizard.verify.context import VerifyContext
from wizard.verify.model import Evidence, Result, Status


def admin_client(ctx: VerifyContext) -> Any | None:
    import urllib3
    from minio.credentials import StaticProvider
    from minio.minioadmin import MinioAdmin

    from wizard.stores.s3 import credential

    store = ctx.plan.object_store
    access = credential(ctx.plan, ctx.plaintext_dir, store.access_key_file, "s3_access_key")
    secret = credential(ctx.plan, ctx.plaintext_dir, store.secret_key_file, "s3_secret_key")
    if not access or not secret:
        return None
    url = urlparse(store.endpoint)
    kwargs: dict[str, Any] = {"timeout": urllib3.Timeout(5, 15), "retries": urllib3.Retry(total=1)}
    ca = ctx.plaintext_dir / "store_ca.crt"
    if url.scheme == "https" and ca.exists():
        kwargs.update(cert_reqs="CERT_REQUIRED", ca_certs=str(ca))
    return MinioAdmin(
        endpoint=url.netloc,
        credentials=StaticProvider(access, secret),
        secure=url.scheme == "https",
        http_client=urllib3.PoolManager(**kwargs),
    )


def kms_key_status(ctx: VerifyContext) -> Result:
    from minio.error import MinioAdminException
    from urllib3.exceptions import HTTPError

    store = ctx.plan.object_store
    key = store.key_name
    command = f"mc admin kms key status ALIAS {key}"
    admin = admin_client(ctx)
    if admin is None:
        return Result(Status.FAIL, "no object store credentials to ask MinIO for its KMS status", key)
    try:
        text = admin.kms_key_status(key)
    except MinioAdminException as err:
        code, body = str(getattr(err, "_code", "")), str(getattr(err, "_body", ""))
        try:
            detail = json.loads(body)
        except (ValueError, RecursionError):
            detail = None
        if not isinstance(detail, dict):  # not JSON, or JSON of another shape (a list): the text is the message
            detail = {"Message": body[:200]}
        ev = (
            Evidence(
                "command",
                "KMS key status",
                command,
                f"HTTP {code}: {detail.get('Code', '')} {detail.get('Message', '')}".strip(),
            ),
        )
        if detail.get("Code") in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied") or code == "403":
            return Result(
                Status.FAIL,
                f"wrong credentials: MinIO refuses the admin request ({detail.get('Code', code)})",
                key,
                ev,
                remediation="the root credentials in object_store.access_key_file / secret_key_file are not MinIO's",
            )
        if "KMS is not configured" in str(detail.get("Message", "")) or code == "501":
            return Result(
                Status.FAIL,
                "MinIO runs WITHOUT a KMS: server-side encryption is off",
                key,
                ev,
                remediation="MinIO's KMS key file or KES settings are missing from the container; check "
                "'docker compose logs minio' and the secrets minio_kms_key / kes_* in the compose file",
            )
        return Result(Status.FAIL, f"MinIO's KMS status call failed (HTTP {code})", key, ev)
    except (HTTPError, OSError) as err:
        return Result(Status.FAIL, f"MinIO admin API at {store.endpoint} is not reachable ({type(err).__name__})", key)
    try:
        status = json.loads(text)
        shown = json.dumps(status, sort_keys=True)  # a document nested too deeply fails here or above
        if not isinstance(status, dict):  # a list or a bare value is no status answer either
            raise ValueError("not a JSON object")
    except (ValueError, RecursionError):
        return Result(
            Status.FAIL,
            "MinIO's KMS status answer is not JSON",
            key,
            (Evidence("command", "KMS key status", command, text[:300]),),
        )
    ev = (Evidence("command", "KMS key status", command, shown),)
    errors = [f"{k}: {status[k]}" for k in ("encryption-error", "decryption-error") if status.get(k)]
    if errors:
        return Result(Status.FAIL, f"MinIO's KMS cannot use key {key}: {'; '.join(errors)}", key, ev)
    return Result(Status.PASS, f"MinIO's KMS encrypts and decrypts with key {status.get('key-id', key)}", key, ev)
