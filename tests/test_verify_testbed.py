"""Verification checks against the real test bed: SeaweedFS (``s3``), Neo4j (``neo4j``),
gocryptfs volumes made by the product's own backend.

- plaintext objects in a bucket without default encryption are counted and named, the canary
  is found in the unencrypted raw data directory, and not once the bucket encrypts;
- wrong S3 credentials are reported as wrong credentials;
- the canary is found in a real, unencrypted Neo4j store (transaction logs included);
- each planned volume on its unlocked gocryptfs mount passes, with the immutable guard; an
  unmounted one fails by name.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
from verify_helpers import by_subject, close_volumes, open_gocryptfs_volumes, put_random, run, s3_plan

from wizard.layout import volume_specs
from wizard.verify.model import Status


def test_unencrypted_bucket_objects_counted_and_canary_found_in_raw_data(s3, tmp_path: Path) -> None:
    from minio.sseconfig import Rule, SSEConfig

    plain, enc = f"plain-{secrets.token_hex(4)}", f"enc-{secrets.token_hex(4)}"
    client = s3.client()
    client.make_bucket(plain)
    client.make_bucket(enc)
    client.set_bucket_encryption(enc, SSEConfig(Rule.new_sse_s3_rule()))
    for i in range(3):
        put_random(client, plain, f"doc-{i}.bin")
    put_random(client, enc, "ok.bin")
    plan = s3_plan(tmp_path, s3, [plain, enc], data_dir=str(s3.data_dir))
    findings = run(
        plan, "store.access", "store.sse", "store.bucket_encryption", "store.unencrypted_objects", "canary.object_store"
    )
    status = {f.check_id: f.status for f in findings}
    assert status["store.access"] is Status.PASS and status["store.sse"] is Status.PASS
    sse = next(f for f in findings if f.check_id == "store.sse")
    assert "marker not found" in sse.evidence[-1].output  # the probe's bytes are not in the raw data dir
    buckets = by_subject(findings, "store.bucket_encryption")
    assert (
        buckets[plain].status is Status.FAIL and f"bucket {plain} has NO default encryption" in buckets[plain].summary
    )
    assert buckets[enc].status is Status.PASS and "AES256" in buckets[enc].summary
    objects = by_subject(findings, "store.unencrypted_objects")
    assert objects[plain].status is Status.FAIL and f"bucket {plain}: 3 unencrypted objects" == objects[plain].summary
    assert objects[enc].status is Status.PASS
    (canary,) = [f for f in findings if f.check_id == "canary.object_store"]
    assert canary.status is Status.FAIL and "readable in the raw bytes" in canary.summary, canary
    assert "FOUND in" in canary.evidence[-1].output and ".dat" in canary.evidence[-1].output
    assert not list(client.list_objects(plain, prefix=".stackseal-verify/", recursive=True))  # canary removed

    # the sample limit: --deep counts every object
    from wizard.verify.context import VerifyContext
    from wizard.verify.registry import check_by_id

    ctx = VerifyContext(plan, sample=2)
    (sampled, _) = check_by_id("store.unencrypted_objects").func(ctx)
    assert sampled.status is Status.FAIL and "in a sample of 2" in sampled.summary
    deep = by_subject(run(plan, "store.unencrypted_objects", deep=True), "store.unencrypted_objects")
    assert deep[plain].summary == f"bucket {plain}: 3 unencrypted objects"

    # once the bucket encrypts by default, the canary written through it is not in the raw bytes
    client.set_bucket_encryption(plain, SSEConfig(Rule.new_sse_s3_rule()))
    (canary,) = run(plan, "canary.object_store")
    assert canary.status is Status.PASS and "not in" in canary.summary, canary


def test_wrong_credentials_are_reported_as_wrong_credentials(s3, tmp_path: Path) -> None:
    plan = s3_plan(tmp_path, s3, ["whatever-bucket"], secret="not-the-secret-" + secrets.token_hex(4))
    findings = run(plan, "store.access", "store.bucket_encryption")
    access = next(f for f in findings if f.check_id == "store.access")
    assert access.status is Status.FAIL and access.summary.startswith("wrong credentials")
    assert "SignatureDoesNotMatch" in access.summary or "InvalidAccessKeyId" in access.summary
    assert next(f for f in findings if f.check_id == "store.bucket_encryption").status is Status.SKIP


def test_canary_found_in_an_unencrypted_neo4j_store(neo4j, s3, tmp_path: Path) -> None:
    plan = s3_plan(tmp_path, s3, ["unused-bucket"], neo4j=neo4j)
    findings = run(plan, "neo4j.edition", "neo4j.storage", "canary.neo4j")
    status = {f.check_id: f for f in findings}
    assert status["neo4j.edition"].status is Status.PASS and "community" in status["neo4j.edition"].summary, status[
        "neo4j.edition"
    ].summary
    assert status["neo4j.storage"].status is Status.FAIL and "not encrypted" in status["neo4j.storage"].summary
    canary = status["canary.neo4j"]
    assert canary.status is Status.FAIL, canary
    assert "FOUND in" in canary.evidence[-1].output
    with neo4j.driver() as driver:
        left = driver.execute_query("MATCH (c:StacksealCanary) RETURN count(c) AS n").records[0]["n"]
    assert left == 0  # the canary node is removed


@pytest.fixture
def gocryptfs_plan(s3, tmp_path: Path):
    plan = s3_plan(tmp_path, s3, [f"vol-{secrets.token_hex(4)}"])
    try:
        open_gocryptfs_volumes(plan)
    except Exception as exc:  # gocryptfs missing or no FUSE
        from testbed.require import missing

        missing("gocryptfs volumes", f"apt-get install -y gocryptfs fuse3 ({exc})")
    try:
        yield plan
    finally:
        close_volumes(tmp_path / "volumes")


def test_volumes_on_gocryptfs_pass_with_the_guard_and_an_unmounted_one_fails(gocryptfs_plan) -> None:
    plan = gocryptfs_plan
    specs = volume_specs(plan)
    findings = run(plan, "volumes.encrypted", "volumes.guard")
    encrypted = by_subject(findings, "volumes.encrypted")
    guard = by_subject(findings, "volumes.guard")
    for spec in specs:
        assert encrypted[spec.name].status is Status.PASS, encrypted[spec.name]
        assert encrypted[spec.name].store == f"volume:{spec.name}"
        assert guard[spec.name].status is Status.PASS, guard[spec.name]
        assert "unshare -m" in guard[spec.name].evidence[0].command
    target = specs[0]
    subprocess.run(["fusermount", "-u", str(target.mount_point)], check=True)
    findings = run(plan, "volumes.encrypted", "volumes.guard")
    encrypted = by_subject(findings, "volumes.encrypted")
    assert encrypted[target.name].status is Status.FAIL and "no gocryptfs mount" in encrypted[target.name].summary
    assert all(encrypted[s.name].status is Status.PASS for s in specs[1:])
    # unmounted: the guard is read directly and still holds
    assert by_subject(findings, "volumes.guard")[target.name].status is Status.PASS
    # without the guard (immutable flag removed) the check fails
    subprocess.run(["chattr", "-i", str(target.mount_point)], check=True)
    assert by_subject(run(plan, "volumes.guard"), "volumes.guard")[target.name].status is Status.FAIL


def test_wrong_neo4j_password_is_reported_as_wrong_credentials(neo4j, s3, tmp_path: Path) -> None:
    plan = s3_plan(tmp_path, s3, ["unused-bucket"], neo4j=neo4j)
    wrong = tmp_path / "wrong_auth"
    wrong.write_text("neo4j/not-the-password-" + secrets.token_hex(4))
    from wizard.plan import set_path

    plan = set_path(plan, "neo4j.auth_file", str(wrong))
    (edition,) = run(plan, "neo4j.edition")
    assert edition.status is Status.FAIL and edition.summary.startswith("wrong credentials")
    assert "not-the-password" not in edition.summary


def test_long_checks_report_progress_events(s3, tmp_path: Path) -> None:
    """Object counting and the raw scan emit the provisioning steps' progress events."""
    from wizard.steps.events import StepProgress, progress_text
    from wizard.verify.context import VerifyContext
    from wizard.verify.registry import check_by_id
    from wizard.verify.runner import run_checks

    bucket = f"prog-{secrets.token_hex(4)}"
    client = s3.client()
    client.make_bucket(bucket)
    for i in range(5):
        put_random(client, bucket, f"o{i}")
    plan = s3_plan(tmp_path, s3, [bucket], data_dir=str(s3.data_dir))
    events: list = []
    ctx = VerifyContext(plan, deep=True, progress=events.append)
    run_checks(ctx, [check_by_id("store.unencrypted_objects"), check_by_id("canary.object_store")])
    counted = [e for e in events if isinstance(e, StepProgress) and e.step_id == "store.unencrypted_objects"]
    scanned = [e for e in events if isinstance(e, StepProgress) and e.step_id == "canary.object_store"]
    assert counted[-1].items == 5 and "5 items" in progress_text(counted[-1])
    assert scanned and scanned[-1].bytes > 0 and "iB/s" in progress_text(scanned[-1])
