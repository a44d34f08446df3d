"""Least privilege, applied and proven on real OpenBao: each consumer's AppRole gets 403 on every
key that is not its own (issue 10, part 3)."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import hvac
import hvac.exceptions as hx
import pytest
import yaml

from wizard.kms import get_backend, plaintext_dir
from wizard.plan import plan_from_dict
from wizard.steps.context import Context
from wizard.steps.events import discard
from wizard.steps.kms_step import VaultAppRolesStep

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the runtime tmpfs needs root")


@pytest.fixture(autouse=True)
def _wipe_runtime(tmp_path: Path) -> Iterator[None]:
    """Every test leaves no tmpfs behind."""
    yield
    from wizard.kms import runtime

    runtime.wipe(tmp_path / "run")


def _setup(tmp_path: Path, openbao, object_store: dict) -> tuple:
    token_file = tmp_path / "token"
    token_file.write_text(openbao.token)
    data = {
        "version": 1,
        "project": f"lp{secrets.token_hex(3)}",
        "object_store": object_store,
        "kms": {
            "backend": "vault",
            "key_name": f"m{secrets.token_hex(3)}",
            "vault": {"address": openbao.address, "token_file": str(token_file)},
            "runtime_dir": str(tmp_path / "run"),
        },
        "volumes": {"backend": "none", "root": str(tmp_path / "vol")},
    }
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(yaml.safe_dump(data))
    plan = plan_from_dict(data, base_dir=tmp_path)
    get_backend(plan).ensure_key()
    bin_ = str(Path(sys.executable).parent / "stackseal")
    for args in (["render", "-c", str(answers)], ["unlock", "-c", str(answers), "--no-start"]):
        result = subprocess.run([bin_, *args], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
    return plan, answers


def _login(address: str, role_id: str, secret_id: str) -> hvac.Client:
    client = hvac.Client(url=address)
    client.auth.approle.login(role_id=role_id, secret_id=secret_id)
    return client


def _may(client: hvac.Client, op: str, key: str) -> bool:
    """True when ``op`` (encrypt/decrypt) on transit key ``key`` is allowed, False on 403."""
    try:
        if op == "encrypt":
            client.secrets.transit.encrypt_data(
                name=key, plaintext=base64.b64encode(b"x").decode(), mount_point="transit"
            )
        else:
            root_ct = _ciphertexts[key]
            client.secrets.transit.decrypt_data(name=key, ciphertext=root_ct, mount_point="transit")
        return True
    except hx.Forbidden:
        return False


_ciphertexts: dict[str, str] = {}


def _keys(openbao, names: list[str]) -> None:
    root = openbao.client()
    for name in names:
        root.secrets.transit.create_key(name=name, mount_point="transit")
        answer = root.secrets.transit.encrypt_data(
            name=name, plaintext=base64.b64encode(b"x").decode(), mount_point="transit"
        )
        _ciphertexts[name] = answer["data"]["ciphertext"]


def _unlock_client(openbao, plan) -> hvac.Client:
    role = f"{plan.project}-unlock"
    root = openbao.client()
    role_id = root.auth.approle.read_role_id(role)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(role)["data"]["secret_id"]
    return _login(openbao.address, role_id, secret_id)


@pytest.mark.parametrize(
    "store, consumer",
    [
        ({"kind": "minio", "sse": "sse-kms", "key_name": "objs"}, "kes"),
        ({"kind": "seaweedfs", "sse": "sse-kms"}, "seaweedfs"),
    ],
)
def test_each_consumer_gets_403_on_every_key_not_its_own(tmp_path: Path, openbao, store: dict, consumer: str) -> None:
    if consumer == "seaweedfs":
        store = {**store, "key_name": f"o{secrets.token_hex(3)}"}
    plan, _ = _setup(tmp_path, openbao, store)
    master, objects, other = plan.kms.key_name, plan.object_store.key_name, f"other{secrets.token_hex(3)}"
    _keys(openbao, [other] + ([objects] if consumer == "seaweedfs" else []))
    _ciphertexts[master] = get_backend(plan).wrap("probe", b"x").ciphertext.decode()

    ctx = Context.for_plan(plan)
    step = VaultAppRolesStep()
    assert step.check(ctx).action == "~"
    step.apply(ctx, discard)
    assert step.check(ctx).action == "=", "a second apply changes nothing"

    run = plaintext_dir(plan)
    mine = {"kes": master, "seaweedfs": objects}[consumer]
    client = _login(
        openbao.address, (run / f"{consumer}_role_id").read_text(), (run / f"{consumer}_secret_id").read_text()
    )
    all_keys = sorted({master, objects, other} if consumer == "seaweedfs" else {master, other})
    for key in all_keys:
        for op in ("encrypt", "decrypt"):
            assert _may(client, op, key) is (key == mine), f"{consumer} {op} {key}"
    if consumer == "kes":  # its KV prefix and nothing else
        client.secrets.kv.v2.create_or_update_secret(
            path=f"{plan.project}/kes/k1", secret={"a": "b"}, mount_point="secret"
        )
        with pytest.raises(hx.Forbidden):
            client.secrets.kv.v2.create_or_update_secret(path="elsewhere/k1", secret={"a": "b"}, mount_point="secret")

    unlock = _unlock_client(openbao, plan)
    for key in all_keys:
        assert _may(unlock, "decrypt", key) is (key == master), f"unlock decrypt {key}"
        assert _may(unlock, "encrypt", key) is False, f"unlock encrypt {key}: the boot credential only decrypts"
