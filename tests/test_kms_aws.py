"""The aws backend against a real KMS API emulator: moto's server mode (``moto_server``), over HTTP.

moto is a mock of AWS, hence the ``_with_moto`` names: it proves the boto3 calls, the encryption
context binding and the error mapping, not AWS itself (docs/kms.md has the by-hand check).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from testbed.containers import free_port
from testbed.services import AWS_TEST_ENV, make_aws_key

from wizard.errors import OperationFailed
from wizard.kms import get_backend
from wizard.kms.base import WrappedBlob
from wizard.plan import plan_from_dict

AWS_ENV = AWS_TEST_ENV


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)


def _plan(tmp_path: Path, endpoint: str, key_name: str):
    return plan_from_dict(
        {
            "version": 1,
            "project": "aw",
            "kms": {
                "backend": "aws",
                "key_name": key_name,
                "aws": {"region": "us-east-1", "endpoint_url": endpoint},
                "runtime_dir": str(tmp_path / "run"),
            },
        },
        base_dir=tmp_path,
    )


def _make_key(endpoint: str, alias: str) -> str:
    return make_aws_key(endpoint, alias)


def _creds() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def test_aws_round_trip_with_moto(tmp_path: Path, moto_server: str, aws_env: None) -> None:
    alias = f"k{secrets.token_hex(4)}"
    _make_key(moto_server, alias)
    backend = get_backend(_plan(tmp_path, moto_server, alias))
    assert backend.connection_test().ok is True
    values = {"volume-a.key": secrets.token_bytes(32), "neo4j_auth": b"neo4j/" + secrets.token_urlsafe(16).encode()}
    blobs = backend.wrap_many(values)
    assert all(b.backend == "aws" and b.key_id == f"alias/{alias}" for b in blobs.values())
    assert not any(v in b.ciphertext for v in values.values() for b in blobs.values())
    assert backend.unwrap_many(blobs) == values
    # the name is bound as encryption context: a blob renamed to another secret does not open
    with pytest.raises(OperationFailed) as err:
        backend.unwrap_many({"neo4j_auth": blobs["volume-a.key"]})
    assert "InvalidCiphertextException" in str(err.value) and "\n" not in str(err.value)


def test_aws_faults_with_moto(tmp_path: Path, moto_server: str, aws_env: None) -> None:
    missing = get_backend(_plan(tmp_path, moto_server, f"absent{secrets.token_hex(3)}"))
    result = missing.connection_test()
    assert result.ok is False and "NotFoundException" in result.detail
    with pytest.raises(OperationFailed):
        missing.wrap("x", b"y")
    alias = f"k{secrets.token_hex(4)}"
    _make_key(moto_server, alias)
    backend = get_backend(_plan(tmp_path, moto_server, alias))
    blob = backend.wrap("x", b"SECRET-X")
    tampered = WrappedBlob(
        blob.backend, blob.key_id, blob.key_version, blob.ciphertext[:-4] + b"\0\0\0\0", blob.created
    )
    with pytest.raises(OperationFailed) as err:
        backend.unwrap_many({"x": tampered})
    assert "SECRET-X" not in str(err.value)
    down = get_backend(_plan(tmp_path, f"http://127.0.0.1:{free_port()}", alias))
    with pytest.raises(OperationFailed) as err:
        down.wrap("x", b"y")
    assert "not reachable" in str(err.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting the runtime tmpfs needs root")
def test_render_unlock_lock_with_moto(tmp_path: Path, moto_server: str) -> None:
    """The same round trip as with OpenBao: render wraps with AWS KMS, unlock unwraps onto tmpfs."""
    import yaml

    alias = f"k{secrets.token_hex(4)}"
    _make_key(moto_server, alias)
    data = {
        "version": 1,
        "project": f"aw{secrets.token_hex(3)}",
        "object_store": {"kind": "seaweedfs", "sse": "sse-s3"},
        "kms": {
            "backend": "aws",
            "key_name": alias,
            "aws": {"region": "us-east-1", "endpoint_url": moto_server},
            "runtime_dir": str(tmp_path / "run"),
        },
        "volumes": {"backend": "none", "root": str(tmp_path / "vol")},
    }
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(yaml.safe_dump(data))
    env = dict(os.environ, **AWS_ENV)
    bin_ = str(Path(sys.executable).parent / "stackseal")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([bin_, *args], capture_output=True, text=True, env=env, timeout=300)

    assert run("render", "-c", str(answers)).returncode == 0
    out = tmp_path / "stack"
    assert all(
        p.name.endswith(".wrapped.json") or p.name in (".gitignore", ".manifest-key")
        for p in (out / "secrets").iterdir()
    )
    result = run("unlock", "-c", str(answers), "--no-start")
    assert result.returncode == 0, result.stderr
    secret = (tmp_path / "run" / "s3_secret_key").read_bytes()
    assert not any(secret in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "run" not in p.parts)
    assert run("lock", "-c", str(answers)).returncode == 0
    assert not (tmp_path / "run").exists()


def test_aws_per_consumer_policies_are_least_privilege(tmp_path: Path) -> None:
    import json

    from wizard.render.aws_policies import policies

    plan = plan_from_dict(
        {
            "version": 1,
            "project": "ap",
            "object_store": {"kind": "seaweedfs", "sse": "sse-kms", "key_name": "objs"},
            "kms": {"backend": "aws", "key_name": "master", "aws": {"region": "eu-west-1"}},
        },
        base_dir=tmp_path,
    )
    docs = {k: json.loads(v) for k, v in policies(plan).items()}
    assert set(docs) == {f"aws/policies/ap-{c}.json" for c in ("admin", "unlock", "seaweedfs")} | {
        "aws/policies/key-policy.json"
    }
    unlock = docs["aws/policies/ap-unlock.json"]["Statement"]
    assert [s["Action"] for s in unlock] == [["kms:Decrypt"]]
    assert unlock[0]["Condition"]["ForAnyValue:StringEquals"] == {"kms:ResourceAliases": "alias/master"}
    sw = docs["aws/policies/ap-seaweedfs.json"]["Statement"][0]
    assert sw["Condition"]["ForAnyValue:StringEquals"] == {"kms:ResourceAliases": "alias/objs"}
    assert "kms:Encrypt" not in sw["Action"] and "kms:RotateKeyOnDemand" not in sw["Action"]
    assert policies(plan_from_dict({"version": 1, "kms": {"backend": "vault"}}, base_dir=tmp_path)) == {}
