"""One S3 client for every part of stackseal (buckets, migration, rotation, verification).

Why the minio SDK and one constructor: MinIO and SeaweedFS speak the same S3 API; credentials
come from files (never from the answers file itself), TLS trusts the CA stackseal rendered, and
every connection or credential problem becomes the same one line wherever it happens.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from wizard.errors import OperationFailed, UsageError
from wizard.fsutil import check_secret_shape
from wizard.plan import Plan

T = TypeVar("T")

#: Response headers that say an object is encrypted at rest (any SSE mode).
SSE_HEADER = "x-amz-server-side-encryption"
SSEC_HEADER = "x-amz-server-side-encryption-customer-algorithm"
#: Largest credential / key file we read: they are a few dozen bytes; anything bigger is not one.
_MAX_SECRET_FILE = 4096


def read_secret_file(path: Path, what: str) -> str | None:
    """The stripped content of a small secret file; None when absent. Never echoes the content.

    Why the checks: the answers file and the output directory are treated as hostile, so a
    symlink to a device, a FIFO or a huge file is refused instead of being read.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except PermissionError:
        raise OperationFailed(f"{path}: permission denied reading {what}; run as the user that owns it") from None
    import stat as _stat

    if not _stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path}: {what} must be a regular file")
    if st.st_size > _MAX_SECRET_FILE:
        raise UsageError(f"{path}: {what} is {st.st_size} bytes, too big for a credential file")
    try:
        return path.read_text(encoding="utf-8").strip()
    except PermissionError:
        raise OperationFailed(f"{path}: permission denied reading {what}; run as the user that owns it") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: {what} is not text") from None


def credential(plan: Plan, secrets_dir: Path, user_file: str | None, name: str) -> str | None:
    """One S3 credential (``name`` is ``s3_access_key`` or ``s3_secret_key``); None when absent.

    Why the shape check: the file is named by the answers file, so it may be any host file
    (``/etc/shadow``); without the check its content would reach an HTTP header and come back
    inside the HTTP library's error message. It is refused in one line that never quotes it.
    """
    path = Path(plan.resolve(user_file) if user_file else secrets_dir / name)
    text = read_secret_file(path, "the object store credentials")
    if text is None:
        return None
    key = f"object_store.{name.removeprefix('s3_')}_file" if user_file else None
    return check_secret_shape(name, text.encode("utf-8"), str(path), key).decode("utf-8")


def connect(plan: Plan, secrets_dir: Path, pool: int = 10, read_timeout: float = 30) -> Any | None:
    """A minio SDK client for the plan's endpoint; None while the credentials are not written yet.

    ``pool`` sizes the connection pool (one connection per worker thread, or urllib3 discards
    and reopens connections); ``read_timeout`` must cover a server-side copy of the largest object.
    """
    import urllib3
    from minio import Minio

    store = plan.object_store
    access = credential(plan, secrets_dir, store.access_key_file, "s3_access_key")
    secret = credential(plan, secrets_dir, store.secret_key_file, "s3_secret_key")
    if not access or not secret:
        return None
    url = urlparse(store.endpoint)
    common: dict[str, Any] = {
        "timeout": urllib3.Timeout(10, read_timeout),
        "retries": urllib3.Retry(total=2, backoff_factor=0.5),
        "maxsize": max(pool, 1),
    }
    ca = secrets_dir / "store_ca.crt"
    if url.scheme == "https" and ca.exists():
        http_client = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(ca), **common)
    else:
        http_client = urllib3.PoolManager(**common)
    return Minio(
        url.netloc, access_key=access, secret_key=secret, secure=url.scheme == "https", http_client=http_client
    )


def require_client(plan: Plan, secrets_dir: Path, **kwargs: Any) -> Any:
    """:func:`connect`, or one line saying where the credentials were looked for."""
    client = connect(plan, secrets_dir, **kwargs)
    if client is None:
        raise OperationFailed(
            f"object store credentials not found (object_store.access_key_file / secret_key_file, or "
            f"{secrets_dir}/s3_access_key and s3_secret_key); run 'stackseal render' first"
        )
    return client


class StoreUnreachable(OperationFailed):
    """Nothing answers at the endpoint (on a first apply: the store is not started yet)."""


def reach(endpoint: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the store; connection and credential problems become one line (OperationFailed)."""
    from minio.error import InvalidResponseError, S3Error, ServerError
    from urllib3.exceptions import HTTPError

    try:
        return func(*args, **kwargs)
    except S3Error as err:
        if err.code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
            raise OperationFailed(
                f"object store at {endpoint} refuses the credentials ({err.code}); "
                "check object_store.access_key_file / secret_key_file"
            ) from None
        if err.code == "NoSuchBucket":
            raise OperationFailed(
                f"object store at {endpoint}: bucket {err.bucket_name or '?'} does not exist; "
                "run 'stackseal apply' (it creates the buckets) or fix object_store.buckets"
            ) from None
        raise OperationFailed(f"object store at {endpoint}: {err.code}: {err.message}") from None
    except (InvalidResponseError, ServerError) as err:
        # Something answers, but not as S3 (another service on that port, a proxy's error page):
        # one line with the HTTP status; the body is the other service's text, never repeated.
        status = err.status_code if isinstance(err, ServerError) else getattr(err, "_code", "?")
        raise OperationFailed(
            f"object store at {endpoint} answered HTTP {status} without an S3 response; is object_store.endpoint "
            "the S3 API of the stack's store?"
        ) from None
    except (HTTPError, OSError) as err:
        raise StoreUnreachable(
            f"object store at {endpoint} is not reachable ({type(err).__name__}); is the stack running? "
            "('docker compose ps')"
        ) from None


def customer_key(plan: Plan, secrets_dir: Path, name: str = "sse_c_key") -> Any:
    """The SSE-C customer key (``secrets/<name>``, base64 of 32 bytes) as a minio ``SseCustomerKey``."""
    from minio.sse import SseCustomerKey

    path = secrets_dir / name
    text = read_secret_file(path, "the SSE-C key")
    if text is None:
        raise OperationFailed(f"{path}: SSE-C key not found; run 'stackseal render' first")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise UsageError(f"{path}: the SSE-C key is not base64") from None
    if len(raw) != 32:
        raise UsageError(f"{path}: the SSE-C key must be 32 bytes (base64), found {len(raw)}")
    return SseCustomerKey(raw)


def key_fingerprint(ssec: Any) -> str:
    """A short, non-secret id of an SSE-C key (from the key MD5 the S3 protocol already sends)."""
    import hashlib

    md5 = ssec.headers()["X-Amz-Server-Side-Encryption-Customer-Key-MD5"]
    return hashlib.sha256(md5.encode()).hexdigest()[:16]


def write_sse(plan: Plan, secrets_dir: Path) -> Any:
    """The SSE the plan asks for on every write (``SseS3``, ``SseKMS`` or ``SseCustomerKey``)."""
    from minio.sse import SseKMS, SseS3

    store = plan.object_store
    if store.sse == "sse-s3":
        return SseS3()
    if store.sse == "sse-kms":
        return SseKMS(store.key_name, {})
    return customer_key(plan, secrets_dir)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A response header by case-insensitive name."""
    lname = name.lower()
    for key, value in headers.items():
        if key.lower() == lname:
            return value
    return None


def encryption_of(headers: Mapping[str, str]) -> str | None:
    """``AES256`` / ``aws:kms`` / ``SSE-C`` from an object's headers; None for plaintext."""
    if header(headers, SSEC_HEADER):
        return "SSE-C"
    return header(headers, SSE_HEADER)


def user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """``x-amz-meta-*`` headers, names lower-cased (what a REPLACE copy must send again)."""
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-amz-meta-")}


#: Headers a REPLACE copy drops unless they are sent again (Content-Type and user metadata are
#: always carried; these others only when the object had them).
KEPT_HEADERS = (
    "Content-Type",
    "Content-Encoding",
    "Content-Disposition",
    "Content-Language",
    "Cache-Control",
    "Expires",
)


def replace_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """The metadata dict for ``copy_object(..., metadata_directive=REPLACE)`` that keeps everything."""
    out: dict[str, str] = {}
    for name in KEPT_HEADERS:
        value = header(headers, name)
        if value:
            out[name] = value
    out.setdefault("Content-Type", "binary/octet-stream")
    out.update(user_metadata(headers))
    return out


#: Largest object one CopyObject request may copy (S3 limit); bigger ones need a multipart copy.
MAX_SINGLE_COPY = 5 << 30


def copy_in_place(
    client: Any,
    bucket: str,
    name: str,
    *,
    size: int,
    etag: str,
    sse: Any,
    metadata: dict[str, str],
    version_id: str | None = None,
    source_ssec: Any = None,
) -> str:
    """Copy an object onto itself with ``sse`` in ONE request; returns the new ETag.

    Why not ``Minio.copy_object`` alone: it first HEADs the source to learn its size (to choose
    a multipart copy above 5 GiB) — a request per object the caller has already made. The size
    is known here, so the request is built from the SDK's own pieces (its header builder and
    ``CopySource``) and sent with its signing ``_execute``; above 5 GiB the SDK's path is used.
    ``x-amz-copy-source-if-match`` carries the ETag seen before: an object changed since then is
    refused (``PreconditionFailed``) instead of being overwritten with the old content.
    """
    from minio.commonconfig import REPLACE, CopySource
    from minio.datatypes import parse_copy_object
    from minio.helpers import genheaders

    source = CopySource(bucket, name, version_id=version_id, ssec=source_ssec, match_etag=etag or None)
    if size > MAX_SINGLE_COPY:
        result = client.copy_object(bucket, name, source, sse=sse, metadata=metadata, metadata_directive=REPLACE)
        return str(result.etag or "")
    headers = genheaders(dict(metadata), sse, None, None, False)
    headers["x-amz-metadata-directive"] = REPLACE
    headers.update(source.gen_copy_headers())
    response = client._execute("PUT", bucket, object_name=name, headers=headers)
    new_etag, _ = parse_copy_object(response)
    return str(new_etag)
