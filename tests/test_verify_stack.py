"""Done-when of the verification issue on the real stack (dockerd, Compose, local images,
gocryptfs, SeaweedFS and Neo4j in containers):

- a deliberately unencrypted stack (same compose project, plain host directories, a bucket
  without default encryption holding plaintext objects) -> ``stackseal verify`` exits 1 and
  names each offending volume, bucket and the object count; both canaries are found;
- ``stackseal apply`` adopts it (data copied into gocryptfs volumes), the existing objects are
  re-encrypted in place (what ``migrate objects`` does), and ``verify`` reports no FAIL: the
  canaries are not found in the encrypted backing stores; ``--junit`` parses.
"""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from test_apply_stack import load, make_answers, stackseal, teardown
from testbed.containers import DockerEngine

from wizard.layout import volume_specs

pytestmark = pytest.mark.slow


def plain_stack(answers: Path, docker: DockerEngine) -> Path:
    """Render, then run the same services on plain host directories (a legacy compose file)."""
    result = stackseal("render", "-c", str(answers))
    assert result.returncode == 0, result.stderr
    plan = load(answers)
    out = plan.output_path
    doc = yaml.safe_load((out / "compose.yaml").read_text())
    legacy = answers.parent / "legacy"
    for spec in volume_specs(plan):
        plain = legacy / "data" / spec.name
        plain.mkdir(parents=True)
        os.chmod(plain, 0o777)
        service = doc["services"][spec.service]
        service["volumes"] = [v for v in service["volumes"] if not v.startswith(spec.name + ":")]
        service["volumes"].append(f"{plain}:{spec.container_path}")
    doc.pop("volumes", None)
    for secret in doc["secrets"].values():
        secret["file"] = str((out / secret["file"]).resolve())
    (legacy / "compose.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    docker.compose(legacy, plan.project, "up", "-d", "--wait", "--wait-timeout", "240", timeout=400)
    return legacy


def s3(plan):
    from minio import Minio

    secrets_dir = plan.output_path / "secrets"
    return Minio(
        plan.object_store.endpoint.split("://")[1],
        secure=False,
        access_key=(secrets_dir / "s3_access_key").read_text().strip(),
        secret_key=(secrets_dir / "s3_secret_key").read_text().strip(),
    )


def verify_json(answers: Path, *extra: str) -> tuple[int, dict]:
    result = stackseal("verify", "-c", str(answers), "--json", *extra)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def failing(doc: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for f in doc["findings"]:
        if f["status"] == "FAIL":
            found.setdefault(f["check_id"], []).append(f)
    return found


def test_unencrypted_stack_fails_by_name_then_apply_makes_it_pass(
    tmp_path: Path, docker: DockerEngine, local_images: dict[str, str]
) -> None:
    answers = make_answers(tmp_path, local_images)
    plan = load(answers)
    try:
        plain_stack(answers, docker)
        client = s3(plan)
        client.make_bucket("schemas")  # no default encryption
        for i in range(3):
            body = os.urandom(30000)
            client.put_object("schemas", f"plain-{i}.bin", io.BytesIO(body), len(body))

        code, doc = verify_json(answers)
        assert code == 1
        fails = failing(doc)
        failed_volumes = {f["subject"] for f in fails["volumes.encrypted"]}
        assert failed_volumes == {s.name for s in volume_specs(plan)}
        assert all("not encrypted" in f["summary"] for f in fails["volumes.encrypted"])
        buckets = {f["subject"]: f["summary"] for f in fails["store.bucket_encryption"]}
        assert "NO default encryption" in buckets["schemas"] and "does not exist" in buckets["instances"]
        (objects,) = fails["store.unencrypted_objects"]
        assert objects["summary"] == "bucket schemas: 3 unencrypted objects"
        assert {f["subject"] for f in fails["neo4j.storage"]} == {"/data", "/logs", "/import", "/backups"}
        assert "canary.object_store" in fails and "canary.neo4j" in fails
        table = stackseal("verify", "-c", str(answers))
        assert table.returncode == 1 and "3 unencrypted" in table.stdout and "neo4j-data" in table.stdout

        applied = stackseal("apply", "-c", str(answers), "--yes")
        assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr
        # existing objects keep their plaintext form until re-encrypted (stackseal migrate objects)
        code, doc = verify_json(answers)
        summaries = {k: [f["summary"] for f in v] for k, v in failing(doc).items()}
        assert set(summaries) == {"store.unencrypted_objects"}, summaries
        from minio.commonconfig import CopySource
        from minio.sse import SseS3

        for obj in list(client.list_objects("schemas", recursive=True)):
            client.copy_object(
                "schemas",
                obj.object_name,
                CopySource("schemas", obj.object_name),
                sse=SseS3(),
                metadata_directive="REPLACE",
            )

        junit = tmp_path / "verify.xml"
        code, doc = verify_json(answers, "--junit", str(junit), "--deep")
        assert code == 0 and not failing(doc), {k: [f["summary"] for f in v] for k, v in failing(doc).items()}
        status = {(f["check_id"], f["subject"]): f for f in doc["findings"]}
        assert status[("canary.object_store", "schemas")]["status"] == "PASS"
        assert status[("canary.neo4j", "")]["status"] == "PASS"
        assert "cipher" in status[("canary.neo4j", "")]["evidence"][-1]["label"]
        assert all(f["status"] == "PASS" for f in doc["findings"] if f["check_id"] == "volumes.encrypted")
        root = ET.parse(junit).getroot()
        assert root.get("failures") == "0" and int(root.get("tests")) == len(doc["findings"])
    finally:
        legacy = answers.parent / "legacy"
        if (legacy / "compose.yaml").exists():
            docker.compose(legacy, plan.project, "down", "-v", "--timeout", "10", check=False, timeout=300)
        teardown(docker, answers)
