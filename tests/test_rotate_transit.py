"""Batched transit rewrap against the real OpenBao dev server (the ``openbao`` fixture)."""

from __future__ import annotations

import base64
import os
import secrets

import pytest

from wizard.errors import OperationFailed
from wizard.rotate.transit import MAX_BATCH, ciphertext_version, encrypt_batched, rewrap_batched


@pytest.fixture
def transit_key(openbao):
    client = openbao.client()
    if "transit/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine("transit", path="transit")
    name = "rw-" + secrets.token_hex(4)
    client.secrets.transit.create_key(name, mount_point="transit")
    return client, name


def test_rewrap_batched_moves_every_blob_to_the_new_version_in_order(transit_key):
    client, key = transit_key
    plain = [base64.b64encode(os.urandom(32)).decode() for _ in range(MAX_BATCH * 2 + 17)]
    blobs = encrypt_batched(client, "transit", key, plain)
    client.secrets.transit.rotate_key(key, mount_point="transit")
    seen: list[tuple[int, int]] = []
    new = rewrap_batched(client, "transit", key, blobs, progress=lambda d, t: seen.append((d, t)))
    assert [ciphertext_version(c) for c in new] == [2] * len(plain)
    assert seen == [(400, 817), (800, 817), (817, 817)]
    for index in (0, 400, 816):  # order is kept: each new ciphertext decrypts to its own value
        out = client.secrets.transit.decrypt_data(key, new[index], mount_point="transit")
        assert out["data"]["plaintext"] == plain[index]


def test_rewrap_pinned_version_and_refusals_are_one_line(transit_key):
    client, key = transit_key
    blobs = encrypt_batched(client, "transit", key, [base64.b64encode(b"x" * 32).decode()] * 3)
    client.secrets.transit.rotate_key(key, mount_point="transit")
    client.secrets.transit.rotate_key(key, mount_point="transit")
    pinned = rewrap_batched(client, "transit", key, blobs, key_version=2)
    assert {ciphertext_version(c) for c in pinned} == {2}
    tampered = blobs[:2] + [blobs[2][:-6] + "AAAAA="]
    with pytest.raises(OperationFailed) as err:
        rewrap_batched(client, "transit", key, tampered)
    assert "item 3 of 3" in str(err.value) and "\n" not in str(err.value)
    assert blobs[0] not in str(err.value)
    with pytest.raises(OperationFailed, match="out of range"):
        rewrap_batched(client, "transit", key, blobs, batch=500)
    with pytest.raises(OperationFailed, match="not a transit ciphertext"):
        ciphertext_version("garbage")
