"""``stackseal rotate kms-key`` with AWS KMS on moto's server (a mock of AWS: ``*_with_moto``).

The stack's own secrets (render wraps them with the AWS key) plus 200 extra wrapped keys survive a
rotation SIGKILLed before the RotateKeyOnDemand call and again after the first journaled batch of
re-encrypted blobs; the re-run finishes without rotating a second time, every blob was re-encrypted
(new ciphertext, ``rotated`` set) and still unwraps to the same value. moto does not change key
material on rotation (AWS does), so what this proves is stackseal's sequence, journal and calls.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import yaml
from test_rotate_kms_key import run_cli
from testbed.services import AWS_TEST_ENV, make_aws_key

from wizard import kms
from wizard.kms.store import read_blobs, write_blob
from wizard.plan import load_plan
from wizard.rotate.journal import RotationJournal


@pytest.fixture
def aws_wrapped(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    alias = f"rot{secrets.token_hex(4)}"
    make_aws_key(moto_server, alias)
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "project": "rotaws",
                "output_dir": "./stack",
                "object_store": {"kind": "seaweedfs", "sse": "sse-s3"},
                "kms": {
                    "backend": "aws",
                    "key_name": alias,
                    "aws": {"region": "us-east-1", "endpoint_url": moto_server},
                    "runtime_dir": str(tmp_path / "run"),
                },
                "volumes": {"backend": "none", "root": str(tmp_path / "vol")},
            }
        )
    )
    rendered = run_cli(["render", "-c", str(answers)])
    assert rendered is not None and rendered.returncode == 0, rendered.stderr
    plan = load_plan(answers)
    backend = kms.get_backend(plan)
    secrets_dir = plan.output_path / "secrets"
    for name, blob in backend.wrap_many({f"extra-{i:03d}": os.urandom(32) for i in range(200)}).items():
        write_blob(secrets_dir, name, blob)
    values = backend.unwrap_many(read_blobs(secrets_dir))
    assert len(values) >= 203  # the stack's own secrets (neo4j_auth, S3 keys, SeaweedFS KEK) + the extras
    return answers, plan, backend, secrets_dir, values


def _rotations(moto_server: str, backend) -> int:
    client = backend.client()
    key_id = client.describe_key(KeyId=backend.key_id)["KeyMetadata"]["KeyId"]
    return len(client.list_key_rotations(KeyId=key_id)["Rotations"])


def test_rotate_kms_key_survives_sigkill_and_reencrypts_every_blob_with_moto(aws_wrapped, moto_server, tmp_path):
    answers, plan, backend, secrets_dir, values = aws_wrapped
    before = read_blobs(secrets_dir)
    assert all(b.rotated is None for b in before.values())
    args = ["rotate", "kms-key", "-c", str(answers)]

    run_cli(args, pause_at="kms-key-rotate", tmp=tmp_path)  # killed just before RotateKeyOnDemand
    assert _rotations(moto_server, backend) == 0
    run_cli(args, pause_at="kms-key-rewrap", tmp=tmp_path)  # killed after the first batch was journaled
    assert _rotations(moto_server, backend) == 1
    mixed = read_blobs(secrets_dir)
    assert sum(b.rotated is not None for b in mixed.values()) == 50

    done = run_cli(args)
    assert done is not None and done.returncode == 0, done.stderr
    assert "re-encrypted" in done.stdout
    assert _rotations(moto_server, backend) == 1, "a re-run never rotates a second time"
    after = read_blobs(secrets_dir)
    assert set(after) == set(before)
    assert all(after[n].ciphertext != before[n].ciphertext and after[n].rotated for n in after)
    assert backend.unwrap_many(after) == values, "every key still opens, with the same value"
    journal = RotationJournal.load(plan.output_path / ".stackseal", "kms-key")
    assert journal is not None and journal.status == "done" and journal.resumed == 2


def test_rotate_kms_key_with_an_unreachable_endpoint_changes_nothing_with_moto(aws_wrapped, tmp_path):
    answers, plan, backend, secrets_dir, values = aws_wrapped
    before = {n: b.ciphertext for n, b in read_blobs(secrets_dir).items()}
    data = yaml.safe_load(answers.read_text())
    from testbed.containers import free_port

    data["kms"]["aws"]["endpoint_url"] = f"http://127.0.0.1:{free_port()}"
    answers.write_text(yaml.safe_dump(data))
    result = run_cli(["rotate", "kms-key", "-c", str(answers)])
    assert result is not None and result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not reachable" in lines[0], result.stderr
    assert {n: b.ciphertext for n, b in read_blobs(secrets_dir).items()} == before


@pytest.mark.parametrize(
    "facts",
    [{"todo": 5}, {"todo": ["a"], "done": "x", "before_rotations": 0}, {"todo": [], "before_rotations": "0"}],
)
def test_a_damaged_rotation_journal_is_refused_in_one_line_with_moto(aws_wrapped, facts) -> None:
    """The journal is an output-dir file: hostile shapes end in one line, nothing rotated or rewritten."""
    import json
    import time

    answers, plan, backend, secrets_dir, values = aws_wrapped
    state = plan.output_path / ".stackseal"
    state.mkdir(exist_ok=True)
    journal = {"kind": "kms-key", "run_id": "x", "started_at": time.time(), "status": "running", "facts": facts}
    (state / "rotate-kms-key.json").write_text(json.dumps(journal))
    before = {n: b.ciphertext for n, b in read_blobs(secrets_dir).items()}
    result = run_cli(["rotate", "kms-key", "-c", str(answers)])
    assert result is not None and result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "damaged rotation journal" in lines[0], result.stderr
    assert {n: b.ciphertext for n, b in read_blobs(secrets_dir).items()} == before
    assert _rotations("", backend) == 0
