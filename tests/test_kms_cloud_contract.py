"""Azure Key Vault and Google Cloud KMS at the SDKs' HTTP layer, with recorded request/response shapes.

No emulator of either service can be had here, so these ``*_contract`` tests run the real SDK
code paths (google-cloud-kms over its REST transport against an in-process HTTP server;
azure-keyvault-keys through an azure-core transport) and answer with the shapes the services
document. They prove the requests stackseal makes (fields, AAD, key versions) and the mapping of
service errors to one line; they do not prove the cloud services themselves (docs/kms.md has the
by-hand check).
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from wizard.errors import OperationFailed
from wizard.kms.base import WrappedBlob
from wizard.plan import plan_from_dict

# --------------------------------------------------------------------------- Google Cloud KMS


class _FakeCloudKms(BaseHTTPRequestHandler):
    """Answers like cloudkms.googleapis.com/v1 (encrypt, decrypt, get): recorded shapes."""

    requests: list[tuple[str, str, dict]] = []
    sealed: dict[str, tuple[bytes, bytes]] = {}
    deny = False
    primary = 3  # the key's primary version (createCryptoKeyVersion + updatePrimaryVersion move it)
    versions = 3
    encrypts_left: int | None = None  # refuse encrypt (403) once this many have been answered

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        name = self.path.split("?")[0].removeprefix("/v1/")
        self.requests.append(("GET", name, {}))
        self._answer(200, self._key(name))

    def _key(self, name: str) -> dict:
        return {
            "name": name,
            "purpose": "ENCRYPT_DECRYPT",
            "primary": {"name": f"{name}/cryptoKeyVersions/{self.primary}", "state": "ENABLED"},
        }

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?")[0].removeprefix("/v1/")
        name, _, verb = path.rpartition(":")
        self.requests.append(("POST", path, body))
        if path.endswith("/cryptoKeyVersions"):  # createCryptoKeyVersion
            type(self).versions += 1
            self._answer(200, {"name": f"{path}/{self.versions}", "state": "ENABLED"})
            return
        if verb == "updatePrimaryVersion":
            type(self).primary = int(body["cryptoKeyVersionId"])
            self._answer(200, self._key(name))
            return
        if verb == "encrypt" and self.encrypts_left is not None:
            if self.encrypts_left <= 0:
                self.deny = True
            type(self).encrypts_left = self.encrypts_left - 1
        if self.deny:
            self._answer(
                403,
                {
                    "error": {
                        "code": 403,
                        "message": f"Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource '{name}'",
                        "status": "PERMISSION_DENIED",
                    }
                },
            )
            return
        if verb == "encrypt":
            token = f"CT{len(self.sealed)}".encode() + b"\x00\x01"
            self.sealed[base64.b64encode(token).decode()] = (
                base64.b64decode(body["plaintext"]),
                base64.b64decode(body.get("additionalAuthenticatedData", "")),
            )
            self._answer(
                200,
                {
                    "name": f"{name}/cryptoKeyVersions/{self.primary}",
                    "ciphertext": base64.b64encode(token).decode(),
                    "verifiedPlaintextCrc32c": False,
                    "protectionLevel": "SOFTWARE",
                },
            )
        elif verb == "decrypt":
            stored = self.sealed.get(body["ciphertext"])
            aad = base64.b64decode(body.get("additionalAuthenticatedData", ""))
            if stored is None or stored[1] != aad:
                self._answer(
                    400,
                    {
                        "error": {
                            "code": 400,
                            "message": "Decryption failed: the ciphertext is invalid.",
                            "status": "INVALID_ARGUMENT",
                        }
                    },
                )
                return
            self._answer(200, {"plaintext": base64.b64encode(stored[0]).decode(), "usedPrimary": True})
        else:
            self._answer(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})


@pytest.fixture
def cloudkms() -> Iterator[type[_FakeCloudKms]]:
    handler = type(
        "Handler",
        (_FakeCloudKms,),
        {"requests": [], "sealed": {}, "deny": False, "primary": 3, "versions": 3, "encrypts_left": None},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.endpoint = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()


def _gcp_backend(tmp_path: Path, endpoint: str):
    from google.auth.credentials import AnonymousCredentials

    from wizard.kms.gcp import GcpBackend

    plan = plan_from_dict(
        {
            "version": 1,
            "project": "gc",
            "kms": {
                "backend": "gcp",
                "key_name": "kek",
                "gcp": {"project": "p1", "location": "europe-west1", "key_ring": "ring"},
            },
        },
        base_dir=tmp_path,
    )
    return GcpBackend(plan, credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint})


def test_gcp_encrypt_decrypt_contract(tmp_path: Path, cloudkms) -> None:
    backend = _gcp_backend(tmp_path, cloudkms.endpoint)
    key = "projects/p1/locations/europe-west1/keyRings/ring/cryptoKeys/kek"
    health = backend.connection_test()
    assert health.ok is True and "primary version 3 is ENABLED" in health.detail
    values = {"neo4j_auth": b"neo4j/secret-password", "volume-x.key": bytes(range(32))}
    blobs = backend.wrap_many(values)
    assert all(b.key_id == key and b.key_version == "3" and b.backend == "gcp" for b in blobs.values())
    posted = [b for m, p, b in cloudkms.requests if p == f"{key}:encrypt"]
    assert len(posted) == 2 and base64.b64decode(posted[0]["additionalAuthenticatedData"]) == b"neo4j_auth"
    assert backend.unwrap_many(blobs) == values
    # a blob renamed to another secret: the AAD differs, Cloud KMS refuses, one line
    with pytest.raises(OperationFailed) as err:
        backend.unwrap_many({"neo4j_auth": blobs["volume-x.key"]})
    assert "HTTP 400" in str(err.value) and "tampered" in str(err.value)


def test_gcp_permission_denied_contract(tmp_path: Path, cloudkms) -> None:
    cloudkms.deny = True
    backend = _gcp_backend(tmp_path, cloudkms.endpoint)
    with pytest.raises(OperationFailed) as err:
        backend.wrap_many({"a": b"VALUE-NEVER-SHOWN"})
    assert "HTTP 403" in str(err.value) and "may not use this key" in str(err.value)
    assert "VALUE-NEVER-SHOWN" not in str(err.value)
    assert "\n" not in str(err.value)


def test_gcp_rotate_kms_key_contract(tmp_path: Path, cloudkms) -> None:
    """A new version made primary, every blob re-wrapped with it; a KMS that refuses half-way ends in
    one line with each blob old or new and every one still opening; the re-run finishes without
    making another version."""
    from wizard.kms.store import read_blobs, write_blob
    from wizard.rotate.journal import RotationJournal
    from wizard.rotate.versioned_kms_key import rotate_versioned_key
    from wizard.steps.events import discard

    backend = _gcp_backend(tmp_path, cloudkms.endpoint)
    key = "projects/p1/locations/europe-west1/keyRings/ring/cryptoKeys/kek"
    secrets_dir, state = tmp_path / "secrets", tmp_path / "state"
    values = {f"k-{i:03d}": f"value-{i}".encode() for i in range(120)}
    for name, blob in backend.wrap_many(values).items():
        write_blob(secrets_dir, name, blob)
    before = read_blobs(secrets_dir)
    assert {b.key_version for b in before.values()} == {"3"}

    cloudkms.encrypts_left = 70  # the KMS refuses after 70 re-wraps (one batch of 50 is written)
    with pytest.raises(OperationFailed) as err:
        rotate_versioned_key(backend, secrets_dir, state, discard)
    assert "HTTP 403" in str(err.value) and "\n" not in str(err.value)
    mixed = read_blobs(secrets_dir)
    assert sorted(b.key_version for b in mixed.values()).count("4") == 50
    assert backend.unwrap_many(mixed) == values, "old and new blobs both open"

    cloudkms.encrypts_left, cloudkms.deny = None, False
    summary = rotate_versioned_key(backend, secrets_dir, state, discard)
    assert "now at version 4; 70 blobs re-wrapped" in summary
    created = [p for m, p, _ in cloudkms.requests if p.endswith("/cryptoKeyVersions")]
    assert created == [f"{key}/cryptoKeyVersions"], "the re-run made no second version"
    primary = [b for m, p, b in cloudkms.requests if p.endswith(":updatePrimaryVersion")]
    assert primary == [{"cryptoKeyVersionId": "4"}]
    after = read_blobs(secrets_dir)
    assert {b.key_version for b in after.values()} == {"4"} and all(b.rotated for b in after.values())
    assert all(after[n].created == before[n].created for n in after)
    assert backend.unwrap_many(after) == values
    journal = RotationJournal.load(state, "kms-key")
    assert journal is not None and journal.status == "done"


# --------------------------------------------------------------------------- Azure Key Vault

VAULT = "https://kv-contract.vault.azure.net"


class _Credential:
    """Stands in for Entra ID only (the token service is not the KMS under test)."""

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken("contract-token", int(time.time()) + 3600)


class _FakeKeyVault:
    """An azure-core transport answering like Key Vault (API 7.x): challenge, get key, wrap, unwrap."""

    def __init__(self, deny_unwrap: bool = False) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.keys = {"v7": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.current = "v7"  # POST /keys/kek/rotate makes a new version current
        self.requests: list[tuple[str, str, dict]] = []
        self.deny_unwrap = deny_unwrap
        self.unwraps_left: int | None = None  # refuse unwrapKey (403) once this many have been answered

    @property
    def private(self) -> Any:
        return self.keys[self.current]

    # HttpTransport protocol
    def __enter__(self) -> _FakeKeyVault:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request: Any, **kwargs: Any) -> Any:
        import requests
        from azure.core.rest._requests_basic import RestRequestsTransportResponse

        status, body, headers = self._route(request)
        response = requests.Response()
        response.status_code = status
        response.raw = io.BytesIO(json.dumps(body).encode() if body is not None else b"")
        response.headers.update({"Content-Type": "application/json", **headers})
        response.url = request.url
        response.request = requests.Request(request.method, request.url).prepare()
        answer = RestRequestsTransportResponse(request=request, internal_response=response)
        answer.read()
        return answer

    def _jwk(self, version: str | None = None) -> dict:
        version = version or self.current
        numbers = self.keys[version].public_key().public_numbers()

        def b64(n: int) -> str:
            return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode().rstrip("=")

        return {
            "kid": f"{VAULT}/keys/kek/{version}",
            "kty": "RSA",
            "key_ops": ["wrapKey", "unwrapKey"],
            "n": b64(numbers.n),
            "e": b64(numbers.e),
        }

    def _route(self, request: Any) -> tuple[int, dict | None, dict]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        body = json.loads(request.body) if request.body else {}
        path = request.url.split("?")[0].removeprefix(VAULT)
        self.requests.append((request.method, path, body))
        if "Authorization" not in request.headers:
            challenge = (
                'Bearer authorization="https://login.microsoftonline.com/tenant-1", resource="https://vault.azure.net"'
            )
            return 401, None, {"WWW-Authenticate": challenge}
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        parts = [p for p in path.split("/") if p]  # keys, kek[, version][, operation]
        version = parts[2] if len(parts) > 2 and parts[2] in self.keys else None
        attributes = {"enabled": True, "created": 1700000000, "updated": 1700000000}
        if request.method == "GET" and path.startswith("/keys/kek"):
            return 200, {"key": self._jwk(version), "attributes": attributes}, {}
        if request.method == "POST" and path == "/keys/kek/rotate":
            from cryptography.hazmat.primitives.asymmetric import rsa

            self.current = f"v{int(self.current[1:]) + 1}"
            self.keys[self.current] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return 200, {"key": self._jwk(), "attributes": attributes}, {}
        if path.endswith("/wrapkey"):
            version = version or self.current
            value = base64.urlsafe_b64decode(body["value"] + "==")
            wrapped = self.keys[version].public_key().encrypt(value, oaep)
            return (
                200,
                {"kid": f"{VAULT}/keys/kek/{version}", "value": base64.urlsafe_b64encode(wrapped).decode().rstrip("=")},
                {},
            )
        if path.endswith("/unwrapkey"):
            if self.unwraps_left is not None:
                self.deny_unwrap = self.unwraps_left <= 0
                self.unwraps_left -= 1
            if self.deny_unwrap:
                return (
                    403,
                    {"error": {"code": "Forbidden", "message": "The user does not have keys unwrap key permission"}},
                    {},
                )
            assert body["alg"] == "RSA-OAEP-256", body
            version = version or self.current
            try:
                plain = self.keys[version].decrypt(base64.urlsafe_b64decode(body["value"] + "=="), oaep)
            except ValueError:
                return 400, {"error": {"code": "BadParameter", "message": "Decryption failed"}}, {}
            return (
                200,
                {"kid": f"{VAULT}/keys/kek/{version}", "value": base64.urlsafe_b64encode(plain).decode().rstrip("=")},
                {},
            )
        return 404, {"error": {"code": "KeyNotFound", "message": "no such key"}}, {}


def _azure_backend(tmp_path: Path, transport: _FakeKeyVault):
    from wizard.kms.azure import AzureBackend

    plan = plan_from_dict(
        {"version": 1, "project": "az", "kms": {"backend": "azure", "key_name": "kek", "azure": {"vault_url": VAULT}}},
        base_dir=tmp_path,
    )
    return AzureBackend(plan, credential=_Credential(), transport=transport)


def test_azure_wrap_unwrap_contract(tmp_path: Path) -> None:
    transport = _FakeKeyVault()
    backend = _azure_backend(tmp_path, transport)
    health = backend.connection_test()
    assert health.ok is True and "v7" in health.detail
    values = {"tls.key": b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 1600, "s3_secret_key": b"short"}
    blobs = backend.wrap_many(values)  # a TLS key is longer than RSA-OAEP can wrap: a data key is wrapped
    assert all(
        b.backend == "azure" and b.key_id == f"{VAULT}/keys/kek" and b.key_version == "v7" for b in blobs.values()
    )
    assert b"AAAA" not in blobs["tls.key"].ciphertext
    assert backend.unwrap_many(blobs) == values
    unwraps = [p for m, p, _ in transport.requests if p.endswith("/unwrapkey")]
    assert unwraps and all(p == "/keys/kek/v7/unwrapkey" for p in unwraps), unwraps  # the version that wrapped
    renamed = {"s3_secret_key": blobs["tls.key"]}  # the name is the AES-GCM associated data
    with pytest.raises(OperationFailed) as err:
        backend.unwrap_many(renamed)
    assert "tampered" in str(err.value)
    cut = WrappedBlob(
        "azure", blobs["tls.key"].key_id, "v7", blobs["tls.key"].ciphertext[:40], blobs["tls.key"].created
    )
    with pytest.raises(OperationFailed):
        backend.unwrap_many({"tls.key": cut})


def test_azure_forbidden_contract(tmp_path: Path) -> None:
    transport = _FakeKeyVault()
    blobs = _azure_backend(tmp_path, transport).wrap_many({"x": b"SECRET-NEVER-SHOWN"})
    denied = _azure_backend(tmp_path, _FakeKeyVault(deny_unwrap=True))
    with pytest.raises(OperationFailed) as err:
        denied.unwrap_many(blobs)
    assert "HTTP 403" in str(err.value) and "unwrapKey" in str(err.value) and "SECRET" not in str(err.value)


def test_azure_rotate_kms_key_contract(tmp_path: Path) -> None:
    """rotate_key makes v8 current; every blob is unwrapped with the version that wrapped it and
    wrapped again with v8 (the SDK wraps locally with the public key, as with the real service); a
    vault that refuses unwrapKey half-way ends in one line with each blob old or new and all
    opening; the re-run finishes without rotating again."""
    from wizard.kms.store import read_blobs, write_blob
    from wizard.rotate.versioned_kms_key import rotate_versioned_key
    from wizard.steps.events import discard

    transport = _FakeKeyVault()
    backend = _azure_backend(tmp_path, transport)
    secrets_dir, state = tmp_path / "secrets", tmp_path / "state"
    values = {f"k-{i:03d}": f"value-{i}".encode() for i in range(60)}
    for name, blob in backend.wrap_many(values).items():
        write_blob(secrets_dir, name, blob)
    before = read_blobs(secrets_dir)
    assert {b.key_version for b in before.values()} == {"v7"}

    transport.unwraps_left = 50  # one batch of 50 is re-wrapped and written, the next is refused
    with pytest.raises(OperationFailed) as err:
        rotate_versioned_key(backend, secrets_dir, state, discard)
    assert "HTTP 403" in str(err.value) and "\n" not in str(err.value)
    transport.unwraps_left, transport.deny_unwrap = None, False
    mixed = read_blobs(secrets_dir)
    assert sorted(b.key_version for b in mixed.values()).count("v8") == 50
    assert backend.unwrap_many(mixed) == values, "old and new blobs both open"

    assert "now at version v8; 10 blobs re-wrapped" in rotate_versioned_key(backend, secrets_dir, state, discard)
    assert [p for m, p, _ in transport.requests if p == "/keys/kek/rotate" and m == "POST"] == ["/keys/kek/rotate"]
    after = read_blobs(secrets_dir)
    assert {b.key_version for b in after.values()} == {"v8"}
    assert backend.unwrap_many(after) == values
    unwraps = {p for m, p, _ in transport.requests if p.endswith("/unwrapkey")}
    assert unwraps == {"/keys/kek/v7/unwrapkey", "/keys/kek/v8/unwrapkey"}
