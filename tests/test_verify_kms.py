"""The KMS checks against the real OpenBao: reachable, unsealed and authenticated passes; a wrong
token is named as wrong credentials; a sealed server fails as SEALED; the transit key's age is
read from the server."""

from __future__ import annotations

import secrets
from pathlib import Path

from wizard.plan import plan_from_dict
from wizard.verify.context import VerifyContext
from wizard.verify.model import Status
from wizard.verify.registry import check_by_id


def vault_plan(tmp_path: Path, address: str, token: str, key_name: str = "stackseal"):
    token_file = tmp_path / f"token-{secrets.token_hex(3)}"
    token_file.write_text(token)
    return plan_from_dict(
        {
            "version": 1,
            "kms": {
                "backend": "vault",
                "key_name": key_name,
                "vault": {"address": address, "token_file": str(token_file)},
            },
        },
        base_dir=tmp_path,
    )


def one(plan, check_id: str):
    (result,) = check_by_id(check_id).func(VerifyContext(plan))
    return result


def test_vault_reachable_unsealed_authenticated_and_key_age(openbao, tmp_path: Path) -> None:
    client = openbao.client()
    if "transit/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine("transit")
    key = f"verify-{secrets.token_hex(4)}"
    client.secrets.transit.create_key(key)
    plan = vault_plan(tmp_path, openbao.address, openbao.token, key)
    status = one(plan, "kms.status")
    assert status.status is Status.PASS and "unsealed, token accepted" in status.summary
    assert openbao.token not in str(status.evidence)
    age = one(plan, "kms.key_age")
    assert age.status is Status.PASS and f"transit/keys/{key} -> v1 created 20" in age.evidence[0].output
    wrong = one(vault_plan(tmp_path, openbao.address, "s.not-a-token"), "kms.status")
    assert wrong.status is Status.FAIL and wrong.summary.startswith("wrong credentials")


def test_sealed_vault_fails_as_sealed(openbao_sealed, tmp_path: Path) -> None:
    plan = vault_plan(tmp_path, openbao_sealed.address, openbao_sealed.root_token)
    result = one(plan, "kms.status")
    assert result.status is Status.FAIL and "SEALED" in result.summary
