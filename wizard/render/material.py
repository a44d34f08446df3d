"""Generators for secret material, each in the exact format its consumer expects.

Why one module: a wrong format fails late and obscurely (MinIO ignores a malformed KMS key and
starts without a KMS; Neo4j refuses a password shorter than 8 characters), so each format is
written once, here, with the consumer it is for.
"""

from __future__ import annotations

import base64
import secrets
import string
import uuid

_ALNUM = string.ascii_letters + string.digits


def password(length: int = 32) -> str:
    """Letters and digits only: safe in URLs, YAML, env files and ``neo4j/password``."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def neo4j_auth() -> bytes:
    """``NEO4J_AUTH_FILE`` content: ``neo4j/<password>`` (slash, no newline)."""
    return f"neo4j/{password(32)}".encode()


def access_key() -> bytes:
    """S3 access key id (20 upper-case letters/digits, like AWS's)."""
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20)).encode()


def secret_key() -> bytes:
    """S3 secret access key (40 characters)."""
    return password(40).encode()


def minio_static_key(key_id: str) -> bytes:
    """``MINIO_KMS_SECRET_KEY_FILE`` content: ``<key-id>:<base64 of exactly 32 bytes>``."""
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}".encode()


def hex_key_256() -> bytes:
    """A 256-bit key as 64 lowercase hex characters (SeaweedFS ``[s3.sse] kek``)."""
    return secrets.token_hex(32).encode()


def sse_c_key() -> bytes:
    """SSE-C customer key: 32 random bytes, stored base64 (what S3 clients send, base64)."""
    return base64.b64encode(secrets.token_bytes(32))


def approle_role_id() -> bytes:
    """A Vault/OpenBao AppRole role_id (UUID); apply registers it with ``role/NAME/role-id``."""
    return str(uuid.uuid4()).encode()


def approle_secret_id() -> bytes:
    """An AppRole secret_id; apply registers it with ``role/NAME/custom-secret-id``."""
    return str(uuid.uuid4()).encode()
