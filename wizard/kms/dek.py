"""Envelope encryption with a per-secret data key, for KMS keys that can only wrap short values.

Why: an Azure Key Vault RSA key wraps at most ~190 bytes (RSA-OAEP-256), less than a TLS
private key. So each secret gets a fresh random 256-bit data key; the data key is wrapped by the
KMS and the secret is sealed with AES-GCM under it (cryptography's AESGCM, random 96-bit nonce,
the secret's name as associated data, so a blob renamed to another secret does not open). This
is the standard envelope construction KMS vendors document; nothing here is a new cipher.

Layout of ``WrappedBlob.ciphertext``: 2-byte big-endian length of the wrapped data key, the
wrapped data key, the 12-byte nonce, the AES-GCM ciphertext with its tag.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from wizard.errors import OperationFailed


def seal(name: str, value: bytes, wrap_key: Callable[[bytes], bytes]) -> bytes:
    """Seal ``value`` under a fresh data key that ``wrap_key`` (the KMS) wraps."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data_key = AESGCM.generate_key(bit_length=256)
    wrapped = wrap_key(data_key)
    if len(wrapped) > 0xFFFF:
        raise OperationFailed(f"wrapping {name}: the KMS returned an oversized wrapped key")
    nonce = os.urandom(12)
    return len(wrapped).to_bytes(2, "big") + wrapped + nonce + AESGCM(data_key).encrypt(nonce, value, name.encode())


def open_sealed(name: str, blob: bytes, unwrap_key: Callable[[bytes], bytes]) -> bytes:
    """Inverse of :func:`seal`; a tampered blob is one line naming the secret, never a value."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    size = int.from_bytes(blob[:2], "big") if len(blob) >= 2 else -1
    if size <= 0 or len(blob) < 2 + size + 12 + 16:
        raise OperationFailed(f"secret {name}: its blob is truncated or tampered; restore it from a backup")
    wrapped, nonce, sealed = blob[2 : 2 + size], blob[2 + size : 14 + size], blob[14 + size :]
    data_key = unwrap_key(wrapped)
    try:
        return AESGCM(data_key).decrypt(nonce, sealed, name.encode())
    except (InvalidTag, ValueError):
        raise OperationFailed(
            f"secret {name}: its blob is tampered (authentication failed); restore it from a backup"
        ) from None
