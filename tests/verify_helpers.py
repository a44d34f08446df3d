"""Plans and encrypted volumes for the verification tests (real SeaweedFS, Neo4j, gocryptfs)."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
from pathlib import Path

from wizard.layout import volume_specs
from wizard.plan import Plan, plan_from_dict
from wizard.verify.context import VerifyContext
from wizard.verify.model import Finding
from wizard.verify.registry import check_by_id
from wizard.verify.runner import run_checks


def s3_plan(tmp_path: Path, s3, buckets: list[str], *, secret: str | None = None, neo4j=None, **store) -> Plan:
    """A plan whose object store is the test bed's SeaweedFS (credentials in files under tmp_path)."""
    keys = tmp_path / "creds"
    keys.mkdir(exist_ok=True)
    (keys / "ak").write_text(s3.access_key)
    (keys / "sk").write_text(secret if secret is not None else s3.secret_key)
    data: dict = {
        "version": 1,
        "project": f"ssverify{secrets.token_hex(3)}",
        "output_dir": "stack",
        "object_store": {
            "kind": "seaweedfs",
            "endpoint": s3.endpoint,
            "buckets": buckets,
            "access_key_file": str(keys / "ak"),
            "secret_key_file": str(keys / "sk"),
            **store,
        },
        "volumes": {"backend": "gocryptfs", "root": str(tmp_path / "volumes")},
    }
    if neo4j is not None:
        data["neo4j"] = {"bolt_url": neo4j.bolt_url, "auth_file": str(neo4j.auth_file), "data_dir": str(neo4j.data_dir)}
    return plan_from_dict(data, base_dir=tmp_path)


def put_random(client, bucket: str, name: str, marker: bytes = b"", size: int = 20000) -> None:
    body = os.urandom(size // 2) + marker + os.urandom(size // 2)
    client.put_object(bucket, name, io.BytesIO(body), len(body))


def run(plan: Plan, *ids: str, deep: bool = False) -> list[Finding]:
    ctx = VerifyContext(plan, deep=deep)
    try:
        return run_checks(ctx, [check_by_id(i) for i in ids]).findings
    finally:
        ctx.close()


def by_subject(findings: list[Finding], check_id: str) -> dict[str, Finding]:
    return {f.subject: f for f in findings if f.check_id == check_id}


def open_gocryptfs_volumes(plan: Plan) -> None:
    """Create and unlock every planned volume with the product's own gocryptfs backend."""
    from wizard.volumes import get_backend
    from wizard.volumes.keys import ensure_key

    backend = get_backend(plan)
    secrets_dir = plan.output_path / "secrets"
    for spec in volume_specs(plan):
        key = ensure_key(secrets_dir, spec.name)
        backend.create(spec, key)
        backend.unlock(spec, key)


def close_volumes(root: Path) -> None:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        if target.startswith(str(root)):
            subprocess.run(["fusermount", "-u", "-z", target], capture_output=True)
    subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True)
