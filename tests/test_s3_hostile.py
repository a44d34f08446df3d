"""Hostile S3 settings at the CLI: credential files that are not credentials, an endpoint that is not S3.

Why these cases: ``migrate objects``, ``verify`` and ``rotate object-keys`` read the credentials
through ``wizard.stores.s3`` (not through render, which already checked their shape). A file
named by the answers file may be any host file; its content must never reach an HTTP header
(the HTTP library quotes a bad header in its exception) nor a message. An endpoint may point at
another service (OpenBao on the neighbouring port, a proxy's error page): one line, exit 1.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

STACKSEAL = [sys.executable, "-m", "wizard.cli"]
CANARY = "CANARY-7f3a9c-not-a-key"


def answers(tmp_path: Path, endpoint: str, access: Path, secret: Path) -> Path:
    path = tmp_path / "stackseal.yaml"
    doc = {
        "version": 1,
        "project": "hostiles3",
        "output_dir": str(tmp_path / "stack"),
        "object_store": {
            "kind": "seaweedfs",
            "sse": "sse-s3",
            "endpoint": endpoint,
            "access_key_file": str(access),
            "secret_key_file": str(secret),
        },
        "volumes": {"backend": "host-fde"},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def migrate_dry_run(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*STACKSEAL, "migrate", "objects", "-c", str(config), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("stackseal: error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("which", "content"),
    [
        ("access", f"root:{CANARY}:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\n"),  # /etc/shadow-like
        ("access", f"{CANARY} with spaces\n"),
        ("secret", f"{CANARY}\nsecond line\n"),
    ],
)
def test_a_credential_file_that_is_not_a_credential_is_refused_unquoted(
    tmp_path: Path, which: str, content: str
) -> None:
    access, secret = tmp_path / "ak", tmp_path / "sk"
    access.write_text("AKIDEXAMPLE\n")
    secret.write_text("wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\n")
    (access if which == "access" else secret).write_text(content)
    result = migrate_dry_run(answers(tmp_path, "http://127.0.0.1:9", access, secret))
    line = one_error_line(result)
    assert result.returncode == 2, result.stderr
    assert f"object_store.{which}_key_file" in line
    assert CANARY not in result.stderr + result.stdout


class _NotS3(BaseHTTPRequestHandler):
    """Answers every request like a JSON API that is not S3 (OpenBao's 404 for an unknown path)."""

    def _answer(self) -> None:
        body = f'{{"errors":["{CANARY}"]}}'.encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def not_s3() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_endpoint_that_is_not_s3_ends_in_one_line(tmp_path: Path, not_s3: str) -> None:
    access, secret = tmp_path / "ak", tmp_path / "sk"
    access.write_text("AKIDEXAMPLE\n")
    secret.write_text("wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\n")
    result = migrate_dry_run(answers(tmp_path, not_s3, access, secret))
    line = one_error_line(result)
    assert result.returncode == 1, result.stderr
    assert "HTTP 404" in line and "object_store.endpoint" in line
    assert CANARY not in result.stderr + result.stdout
