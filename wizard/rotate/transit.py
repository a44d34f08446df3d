"""Re-wrapping Vault/OpenBao transit ciphertexts in batches.

Why batches: transit's ``rewrap`` endpoint turns a ciphertext made with an older key version
into one made with a newer version *without ever returning the plaintext*, so it is the safe way
to move every stored key to a new KMS key version. One HTTP call per blob is bound by round trips
(a few hundred calls/s); ``batch_input`` carries many items per call. OpenBao refuses a batch of
500 items ("batch size exceeds the maximum"), so batches are capped at :data:`MAX_BATCH`.

The functions here know nothing about where blobs are stored: callers pass ciphertext strings
(``vault:vN:...``) and get the new ones back in the same order. Errors are one line that never
contains a ciphertext or a token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from wizard.errors import OperationFailed

#: OpenBao 2.7 refuses 500 items per batch; 400 is accepted and still amortises the round trip.
MAX_BATCH = 400
#: OpenBao also caps the strings in one JSON body (about 1,000: "refused JSON input due to high
#: complexity"); an item that pins ``key_version`` carries one more key, so such batches are smaller.
PINNED_MAX_BATCH = 300

_VERSION = re.compile(r"^vault:v(\d+):")

#: called after each batch with (items done so far, items total)
Progress = Callable[[int, int], None]


def ciphertext_version(ciphertext: str) -> int:
    """The key version a transit ciphertext was made with (``vault:v3:...`` -> 3)."""
    match = _VERSION.match(ciphertext)
    if not match:
        raise OperationFailed("a stored ciphertext is not a transit ciphertext (vault:vN:...); it may be tampered")
    return int(match.group(1))


def _describe(err: Exception) -> str:
    """The first line of an hvac error, without request bodies (they could carry ciphertexts)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"vault:v\d+:[A-Za-z0-9+/=]+", "vault:v?:...", text)
    return text[:200]


def rewrap_batched(
    client: Any,
    mount: str,
    key: str,
    ciphertexts: Sequence[str],
    batch: int = MAX_BATCH,
    key_version: int | None = None,
    progress: Progress | None = None,
) -> list[str]:
    """Re-wrap every ciphertext with ``key_version`` (default: the key's latest), in batches.

    Returns the new ciphertexts in input order. Pinning ``key_version`` makes a resumed rotation
    converge on one version even if someone rotated the key again meanwhile. Any item refused by
    the KMS (tampered ciphertext, version below ``min_decryption_version``) fails the whole call
    with one line naming the item's position; nothing is returned half-done.
    """
    if not 1 <= batch <= MAX_BATCH:
        raise OperationFailed(f"rewrap batch size {batch} is out of range 1..{MAX_BATCH} (OpenBao refuses more)")
    if key_version is not None:
        batch = min(batch, PINNED_MAX_BATCH)
    out: list[str] = []
    total = len(ciphertexts)
    for start in range(0, total, batch):
        chunk = list(ciphertexts[start : start + batch])
        try:
            response = client.secrets.transit.rewrap_data(
                name=key,
                ciphertext=None,
                # a top-level key_version is ignored when batch_input is set: pin it per item
                batch_input=[{"ciphertext": c, **({"key_version": key_version} if key_version else {})} for c in chunk],
                mount_point=mount,
            )
        except Exception as err:  # hvac raises many types (Forbidden, InvalidRequest, ConnectionError, ...)
            raise OperationFailed(
                f"transit rewrap with key '{key}' on mount '{mount}' failed: {_describe(err)}"
            ) from None
        results = (response or {}).get("data", {}).get("batch_results") or []
        if len(results) != len(chunk):
            raise OperationFailed(
                f"transit rewrap with key '{key}' returned {len(results)} results for {len(chunk)} items"
            )
        for offset, item in enumerate(results):
            if item.get("error") or not item.get("ciphertext"):
                raise OperationFailed(
                    f"transit rewrap refused item {start + offset + 1} of {total} with key '{key}': "
                    f"{_describe(Exception(item.get('error') or 'no ciphertext'))}"
                )
            out.append(str(item["ciphertext"]))
        if progress is not None:
            progress(len(out), total)
    return out


def rewrap_one_by_one(client: Any, mount: str, key: str, ciphertexts: Sequence[str]) -> list[str]:
    """The unbatched baseline (one call per blob); kept only so the benchmark measures both ways."""
    out = []
    for ciphertext in ciphertexts:
        response = client.secrets.transit.rewrap_data(name=key, ciphertext=ciphertext, mount_point=mount)
        out.append(str(response["data"]["ciphertext"]))
    return out


def encrypt_batched(
    client: Any, mount: str, key: str, plaintexts_b64: Sequence[str], batch: int = MAX_BATCH
) -> list[str]:
    """Encrypt base64 plaintexts in batches (used to make test and benchmark data)."""
    out: list[str] = []
    for start in range(0, len(plaintexts_b64), batch):
        chunk = plaintexts_b64[start : start + batch]
        try:
            response = client.secrets.transit.encrypt_data(
                name=key, plaintext=None, batch_input=[{"plaintext": p} for p in chunk], mount_point=mount
            )
        except Exception as err:
            raise OperationFailed(f"transit encrypt with key '{key}' failed: {_describe(err)}") from None
        out.extend(str(item["ciphertext"]) for item in response["data"]["batch_results"])
    return out
