"""Key checks on real files: secret values found in compose/env/answers by name (never shown),
modes, owners and links of secret files, plaintext keys on disk (today's files) vs wrapped blobs
(the KMS envelope format), key age against rotation.interval_days."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from wizard.kms.base import WrappedBlob
from wizard.plan import plan_from_dict
from wizard.verify.context import VerifyContext
from wizard.verify.model import Status
from wizard.verify.registry import check_by_id

SECRET = "Zq9-very-secret-value-77"


def setup(tmp_path: Path, backend: str = "local", **extra) -> VerifyContext:
    data = {"version": 1, "project": "keys", "output_dir": "stack", "kms": {"backend": backend}, **extra}
    tmp_path.mkdir(parents=True, exist_ok=True)
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(json.dumps(data))
    plan = plan_from_dict(data, base_dir=tmp_path)
    secrets_dir = tmp_path / "stack" / "secrets"
    secrets_dir.mkdir(parents=True)
    os.chmod(secrets_dir, 0o700)
    for name, value in {
        "neo4j_auth": f"neo4j/{SECRET}",
        "seaweedfs_security.toml": '[s3.sse]\nkek = "00112233445566778899aabbccddeeff"\n',
        "volume-neo4j-data.key": "tokentokentokentoken",
        "store_ca.crt": "-----BEGIN CERTIFICATE-----",
    }.items():
        (secrets_dir / name).write_text(value)
        os.chmod(secrets_dir / name, 0o400)
    (tmp_path / "stack" / "compose.yaml").write_text(
        "services:\n  neo4j:\n    environment:\n      NEO4J_AUTH_FILE: /run/secrets/neo4j_auth\n"
    )
    return VerifyContext(plan, answers_path=answers)


def one(ctx: VerifyContext, check_id: str):
    (result,) = check_by_id(check_id).func(ctx)
    return result


def test_secret_value_in_compose_env_or_answers_is_named_never_shown(tmp_path: Path) -> None:
    ctx = setup(tmp_path)
    assert one(ctx, "keys.no_secret_in_config").status is Status.PASS
    compose = tmp_path / "stack" / "compose.yaml"
    compose.write_text(compose.read_text() + f"      NEO4J_AUTH: neo4j/{SECRET}\n")
    (tmp_path / "stack" / ".env").write_text("DB_PASSWORD=hunter2hunter2\n")
    result = one(ctx, "keys.no_secret_in_config")
    assert result.status is Status.FAIL
    assert "the value of secrets/neo4j_auth appears in" in result.summary and "compose.yaml" in result.summary
    assert "variable DB_PASSWORD carries a literal value" in result.summary
    assert SECRET not in json.dumps([e.to_json() for e in result.evidence]) + result.summary


def test_secret_file_modes_owners_and_links(tmp_path: Path) -> None:
    ctx = setup(tmp_path)
    assert one(ctx, "keys.files").status is Status.PASS
    secrets_dir = tmp_path / "stack" / "secrets"
    os.chmod(secrets_dir / "neo4j_auth", 0o644)
    (secrets_dir / "evil").symlink_to("/etc/shadow")
    result = one(ctx, "keys.files")
    assert result.status is Status.FAIL
    assert "neo4j_auth is mode 0o644" in result.summary and "evil is a symbolic link" in result.summary


def test_plaintext_keys_on_disk_warn_for_local_fail_for_a_real_kms_pass_when_wrapped(tmp_path: Path) -> None:
    local = one(setup(tmp_path / "a"), "keys.at_rest")
    assert local.status is Status.WARN and "plaintext key/secret files on persistent disk" in local.summary
    vault = one(setup(tmp_path / "b", backend="vault"), "keys.at_rest")
    assert vault.status is Status.FAIL and "volume-neo4j-data.key" in vault.summary
    ctx = setup(tmp_path / "c", backend="vault")
    secrets_dir = ctx.secrets_dir
    for path in list(secrets_dir.iterdir()):
        if not path.name.endswith(".crt"):
            blob = WrappedBlob("vault", "stackseal", "1", b"vault:v1:AAAA", "2026-11-30T00:00:00Z")
            (secrets_dir / f"{path.name}.wrapped.json").write_text(json.dumps(blob.to_json()))
            path.unlink()
    wrapped = one(ctx, "keys.at_rest")
    assert wrapped.status is Status.PASS and "3 wrapped blobs" in wrapped.summary
    (secrets_dir / "bad.wrapped.json").write_text("{not json")
    assert one(ctx, "keys.at_rest").status is Status.FAIL


def test_key_age_against_the_rotation_interval(tmp_path: Path) -> None:
    ctx = setup(tmp_path, rotation={"interval_days": 30})
    assert one(ctx, "kms.key_age").status is Status.PASS
    old = time.time() - 40 * 86400
    key = ctx.secrets_dir / "volume-neo4j-data.key"
    os.utime(key, (old, old))
    result = one(ctx, "kms.key_age")
    assert result.status is Status.FAIL and "volume-neo4j-data.key (40 days)" in result.summary
