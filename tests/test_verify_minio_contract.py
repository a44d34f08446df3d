"""MinIO's KMS status by contract (MinIO's server cannot run here): the request is built by the
minio SDK's MinioAdmin and answered by an in-process HTTP server with MinIO's recorded shapes.

Shapes (madmin-go ``KMSKeyStatus`` and MinIO's admin error JSON):
- 200 ``{"key-id":"KEY","encryption-error":"","decryption-error":""}``
- 501 ``{"Code":"NotImplemented","Message":"Server side encryption specified but KMS is not configured",...}``
- 403 ``{"Code":"InvalidAccessKeyId","Message":"The Access Key Id you provided does not exist in our records.",...}``
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from wizard.plan import plan_from_dict
from wizard.verify.context import VerifyContext
from wizard.verify.model import Status
from wizard.verify.registry import check_by_id

ACCESS, SECRET = "minioadmin-test", "s3cr3t-value-never-shown"


class FakeMinio(ThreadingHTTPServer):
    reply: tuple[int, dict]
    seen: list[dict]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        self.server.seen.append(  # type: ignore[attr-defined]
            {"path": url.path, "query": parse_qs(url.query), "auth": self.headers.get("Authorization", "")}
        )
        status, body = self.server.reply  # type: ignore[attr-defined]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_minio() -> Iterator[FakeMinio]:
    server = FakeMinio(("127.0.0.1", 0), Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()


def ctx_for(server: FakeMinio, tmp_path: Path) -> VerifyContext:
    access, secret = tmp_path / "ak", tmp_path / "sk"
    access.write_text(ACCESS)
    secret.write_text(SECRET)
    plan = plan_from_dict(
        {
            "version": 1,
            "project": "minio-contract",
            "object_store": {
                "kind": "minio",
                "endpoint": f"http://127.0.0.1:{server.server_address[1]}",
                "sse": "sse-kms",
                "key_name": "stackseal-objects",
                "access_key_file": str(access),
                "secret_key_file": str(secret),
            },
            "kms": {"backend": "vault"},
        },
        base_dir=tmp_path,
    )
    return VerifyContext(plan)


def run_kms_check(ctx: VerifyContext):
    check = check_by_id("store.kms")
    (result,) = check.func(ctx)
    return check.finding(result, 0.0)


def test_kms_key_status_request_and_pass_contract(fake_minio: FakeMinio, tmp_path: Path) -> None:
    fake_minio.reply = (200, {"key-id": "stackseal-objects", "encryption-error": "", "decryption-error": ""})
    finding = run_kms_check(ctx_for(fake_minio, tmp_path))
    (request,) = fake_minio.seen
    assert request["path"] == "/minio/admin/v3/kms/key/status"
    assert request["query"] == {"key-id": ["stackseal-objects"]}
    assert request["auth"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS}/")  # signed with the store's credentials
    assert finding.status is Status.PASS and "stackseal-objects" in finding.summary
    assert "mc admin kms key status" in finding.evidence[0].command
    assert SECRET not in json.dumps(finding.to_json())


def test_minio_without_kms_fails_loudly(fake_minio: FakeMinio, tmp_path: Path) -> None:
    fake_minio.reply = (
        501,
        {
            "Code": "NotImplemented",
            "Message": "Server side encryption specified but KMS is not configured",
            "Resource": "/minio/admin/v3/kms/key/status",
            "RequestId": "1800F3E4C0D2E4B1",
            "HostId": "",
        },
    )
    finding = run_kms_check(ctx_for(fake_minio, tmp_path))
    assert finding.status is Status.FAIL and "WITHOUT a KMS" in finding.summary
    assert "KMS is not configured" in finding.evidence[0].output and finding.remediation


def test_key_errors_are_failures(fake_minio: FakeMinio, tmp_path: Path) -> None:
    fake_minio.reply = (
        200,
        {"key-id": "stackseal-objects", "encryption-error": "key not found", "decryption-error": ""},
    )
    finding = run_kms_check(ctx_for(fake_minio, tmp_path))
    assert finding.status is Status.FAIL and "key not found" in finding.summary


def test_wrong_credentials_are_named_as_such(fake_minio: FakeMinio, tmp_path: Path) -> None:
    fake_minio.reply = (
        403,
        {
            "Code": "InvalidAccessKeyId",
            "Message": "The Access Key Id you provided does not exist in our records.",
            "Resource": "/minio/admin/v3/kms/key/status",
            "RequestId": "1800F3E4C0D2E4B2",
            "HostId": "",
        },
    )
    finding = run_kms_check(ctx_for(fake_minio, tmp_path))
    assert finding.status is Status.FAIL and finding.summary.startswith("wrong credentials")
