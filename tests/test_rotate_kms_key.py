"""``stackseal rotate kms-key`` on the real OpenBao: the stack's own wrapped secrets plus 1,000 extra
wrapped keys survive a rotation that is SIGKILLed at several points and re-run; afterwards every
blob is at the new version and the old version no longer decrypts."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from wizard import kms
from wizard.kms.store import read_blobs, write_blob
from wizard.plan import load_plan
from wizard.rotate.journal import RotationJournal

STACKSEAL = [sys.executable, "-m", "wizard.cli"]


def make_answers(tmp: Path, address: str, token: str, key: str) -> Path:
    (tmp / "token").write_text(token)
    answers = {
        "version": 1,
        "project": "rot",
        "output_dir": "./stack",
        "kms": {
            "backend": "vault",
            "key_name": key,
            "runtime_dir": str(tmp / "run"),
            "vault": {"address": address, "token_file": "./token"},
        },
        "volumes": {"backend": "gocryptfs", "root": str(tmp / "volumes")},
    }
    path = tmp / "stackseal.yaml"
    path.write_text(yaml.safe_dump(answers))
    return path


@pytest.fixture
def wrapped_stack(openbao, tmp_path):
    """A plan on OpenBao whose own secrets (render's materials + volume keys) and 1,000 extra keys are wrapped."""
    answers = make_answers(tmp_path, openbao.address, openbao.token, "rot-" + secrets.token_hex(4))
    plan = load_plan(answers)
    backend = kms.get_backend(plan)
    backend.ensure_key()
    rendered = run_cli(["render", "-c", str(answers)])  # the stack's own secrets, wrapped by OpenBao
    assert rendered.returncode == 0, rendered.stderr
    store = kms.secret_store(plan)
    for volume in ("neo4j-data", "neo4j-logs", "seaweedfs-data"):
        store.get_or_create(f"volume-{volume}.key", lambda: secrets.token_urlsafe(32).encode())
    store.persist()
    secrets_dir = plan.output_path / "secrets"
    own = list(read_blobs(secrets_dir))
    extra = {f"extra-{i:04d}": os.urandom(32) for i in range(1000)}
    for name, blob in backend.wrap_many(extra).items():
        write_blob(secrets_dir, name, blob)
    values = backend.unwrap_many(read_blobs(secrets_dir))
    assert len(values) == len(own) + 1000 and len(own) >= 5
    return answers, plan, backend, secrets_dir, values


def run_cli(
    args: list[str], pause_at: str | None = None, tmp: Path | None = None
) -> subprocess.CompletedProcess | None:
    env = dict(os.environ)
    if pause_at is None:
        return subprocess.run(STACKSEAL + args, capture_output=True, text=True, timeout=600, env=env)
    marker = tmp / f"paused-{secrets.token_hex(3)}"
    env.update(STACKSEAL_PAUSE_AT=pause_at, STACKSEAL_PAUSE_FILE=str(marker))
    proc = subprocess.Popen(STACKSEAL + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), f"never reached {pause_at}: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return None


def versions(secrets_dir: Path) -> dict[str, str | None]:
    return {name: blob.key_version for name, blob in read_blobs(secrets_dir).items()}


def test_rotate_kms_key_survives_sigkill_and_retires_the_old_version(wrapped_stack, tmp_path):
    answers, plan, backend, secrets_dir, values = wrapped_stack
    before = read_blobs(secrets_dir)
    assert set(versions(secrets_dir).values()) == {"1"}
    args = ["rotate", "kms-key", "-c", str(answers)]

    run_cli(args, pause_at="kms-key-rotate", tmp=tmp_path)
    run_cli(args, pause_at="kms-key-rewrap", tmp=tmp_path)  # after the first batch of 400 is written
    mixed = versions(secrets_dir)
    assert set(mixed.values()) == {"1", "2"} and list(mixed.values()).count("2") == 400
    assert backend.unwrap_many(read_blobs(secrets_dir)) == values  # mid-rotation: every key still opens
    run_cli(args, pause_at="kms-key-min-decryption", tmp=tmp_path)
    done = run_cli(args)
    assert done.returncode == 0, done.stderr
    assert "now at version 2" in done.stdout

    assert set(versions(secrets_dir).values()) == {"2"}  # one rotation, not one per run
    after = read_blobs(secrets_dir)
    assert all(b.rotated for b in after.values())
    assert backend.unwrap_many(after) == values
    client = backend.client()
    key = client.secrets.transit.read_key(plan.kms.key_name, mount_point="transit")["data"]
    assert key["latest_version"] == 2 and key["min_decryption_version"] == 2
    old = before["neo4j_auth"].ciphertext.decode()
    with pytest.raises(Exception) as refused:
        client.secrets.transit.decrypt_data(plan.kms.key_name, old, mount_point="transit")
    assert "decryption" in str(refused.value).lower() or "version" in str(refused.value).lower()
    listing = run_cli(["keys", "list", "-c", str(answers), "--json"])
    assert listing.returncode == 0, listing.stderr
    wrapped = [k for k in json.loads(listing.stdout)["keys"] if k.get("key_version")]
    assert wrapped and {k["key_version"] for k in wrapped} == {"2"}
    unlocked = run_cli(["unlock", "-c", str(answers), "--no-start"])  # every key still unwraps after the rotation
    assert unlocked.returncode == 0, unlocked.stderr
    assert run_cli(["lock", "-c", str(answers)]).returncode == 0
    journal = RotationJournal.load(plan.output_path / ".stackseal", "kms-key")
    assert journal.status == "done" and journal.resumed == 3
    assert not (plan.output_path / ".stackseal" / "journal.json").exists()  # never apply's journal
    assert all(v.hex() not in json.dumps(journal.to_dict()) for v in list(values.values())[:50])


def test_a_kms_that_refuses_the_new_version_changes_nothing(wrapped_stack, openbao, tmp_path):
    answers, plan, backend, secrets_dir, values = wrapped_stack
    client = openbao.client()
    key = plan.kms.key_name
    client.sys.create_or_update_policy(
        name=f"no-rotate-{key}",
        policy=f'path "transit/encrypt/{key}" {{ capabilities = ["update"] }}\n'
        f'path "transit/decrypt/{key}" {{ capabilities = ["update"] }}\n'
        f'path "transit/keys/{key}" {{ capabilities = ["read"] }}\n',
    )
    weak = client.auth.token.create(policies=[f"no-rotate-{key}"], ttl="10m")["auth"]["client_token"]
    (tmp_path / "token").write_text(weak)
    before = {p.name: p.read_bytes() for p in secrets_dir.iterdir()}
    result = run_cli(["rotate", "kms-key", "-c", str(answers)])
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stackseal: error:") and "permission denied" in lines[0]
    assert weak not in result.stderr
    assert {p.name: p.read_bytes() for p in secrets_dir.iterdir()} == before
    assert client.secrets.transit.read_key(key, mount_point="transit")["data"]["latest_version"] == 1


def test_rotate_volume_keys_with_keys_wrapped_by_openbao(openbao, tmp_path):
    """gocryptfs volume whose key is a KMS-wrapped blob (made as apply makes it): rotate through the CLI
    while the stack is unlocked (killed twice), then ``stackseal lock`` / ``unlock`` reads the data back."""
    from wizard.layout import volume_specs
    from wizard.volumes.gocryptfs import GocryptfsBackend
    from wizard.volumes.keys import provide_key

    answers = make_answers(tmp_path, openbao.address, openbao.token, "vk-" + secrets.token_hex(4))
    plan = load_plan(answers)
    backend = kms.get_backend(plan)
    backend.ensure_key()
    assert run_cli(["render", "-c", str(answers)]).returncode == 0
    spec = volume_specs(plan)[0]
    vol = GocryptfsBackend()
    keyfile = provide_key(plan, spec.name, raw=False, create=True)  # runtime dir copy, wrapped blob on disk
    key = keyfile.read_bytes()
    vol.create(spec, keyfile)
    vol.unlock(spec, keyfile)
    try:
        (spec.mount_point / "graph.db").write_text("nodes and edges")
        secrets_dir = plan.output_path / "secrets"
        old_blob = read_blobs(secrets_dir)["volume-neo4j-data.key"]
        args = ["rotate", "volume-keys", "-c", str(answers)]
        run_cli(args, pause_at="gocryptfs-passwd", tmp=tmp_path)
        assert "volume-neo4j-data.key.next" in read_blobs(secrets_dir)  # new key stored before the change
        run_cli(args, pause_at="volume-keys-promote", tmp=tmp_path)
        done = run_cli(args)
        assert done.returncode == 0, done.stderr
        assert "rotated the keys of 1 gocryptfs volumes" in done.stdout

        blobs = read_blobs(secrets_dir)
        assert "volume-neo4j-data.key.next" not in blobs and blobs["volume-neo4j-data.key"].rotated
        assert blobs["volume-neo4j-data.key"].ciphertext != old_blob.ciphertext
        new_key = backend.unwrap_many({"k": blobs["volume-neo4j-data.key"]})["k"]
        assert new_key != key and b"\n" not in new_key
        assert keyfile.read_bytes() == new_key  # the unlocked stack's runtime copy follows the rotation
        assert not [d for d in Path("/dev/shm").glob("stackseal-rotate-*") if d.stat().st_uid == os.geteuid()]
        assert run_cli(["lock", "-c", str(answers)]).returncode == 0
        assert vol.status(spec).state == "locked"
        unlocked = run_cli(["unlock", "-c", str(answers), "--no-start"])
        assert unlocked.returncode == 0, unlocked.stderr
        assert (spec.mount_point / "graph.db").read_text() == "nodes and edges"
        stale = tmp_path / "old.key"
        stale.write_bytes(key)
        assert not vol.opens(spec, stale)
    finally:
        run_cli(["lock", "-c", str(answers)])
        vol.lock(spec)
        subprocess.run(["chattr", "-i", str(spec.mount_point)], capture_output=True)  # apply's guard


def test_rotate_kms_key_works_with_the_rendered_admin_policy_alone(wrapped_stack, openbao, tmp_path):
    """Least privilege: the token of the rendered '<project>-admin' policy (no root) is enough."""
    answers, plan, backend, secrets_dir, values = wrapped_stack
    client = openbao.client()
    admin = (plan.output_path / "vault" / "policies" / f"{plan.project}-admin.hcl").read_text()
    name = f"{plan.project}-admin-{plan.kms.key_name}"
    client.sys.create_or_update_policy(name=name, policy=admin)
    token = client.auth.token.create(policies=[name], no_default_policy=True, ttl="10m")["auth"]["client_token"]
    (tmp_path / "token").write_text(token)
    result = run_cli(["rotate", "kms-key", "-c", str(answers)])
    assert result.returncode == 0, result.stderr
    assert set(versions(secrets_dir).values()) == {"2"}
    assert backend.unwrap_many(read_blobs(secrets_dir)) == values  # (root's client: the admin cannot decrypt)


def test_rotate_volume_keys_on_fscrypt_with_keys_wrapped_by_openbao(openbao, fscrypt_volume, tmp_path):
    """fscrypt volume on a real ext4 image, its raw key a KMS-wrapped blob: rotate via the CLI (killed
    once with two protectors), then ``stackseal lock`` / ``unlock`` reads the data back."""
    from wizard.layout import volume_specs
    from wizard.volumes.fscrypt import FscryptBackend
    from wizard.volumes.keys import provide_key

    answers = make_answers(tmp_path, openbao.address, openbao.token, "fs-" + secrets.token_hex(4))
    data = yaml.safe_load(answers.read_text())
    data["volumes"] = {"backend": "fscrypt", "root": str(fscrypt_volume.mnt / "vols")}
    answers.write_text(yaml.safe_dump(data))
    plan = load_plan(answers)
    kms.get_backend(plan).ensure_key()
    assert run_cli(["render", "-c", str(answers)]).returncode == 0
    spec = volume_specs(plan)[0]
    vol = FscryptBackend(plan.project)
    keyfile = provide_key(plan, spec.name, raw=True, create=True)
    old = keyfile.read_bytes()
    vol.create(spec, keyfile)
    (spec.mount_point / "graph.db").write_text("fscrypt via the KMS")
    try:
        args = ["rotate", "volume-keys", "-c", str(answers)]
        run_cli(args, pause_at="fscrypt-remove-protector", tmp=tmp_path)
        done = run_cli(args)
        assert done.returncode == 0, done.stderr
        assert "rotated the keys of 1 fscrypt volumes" in done.stdout
        assert keyfile.read_bytes() != old and len(keyfile.read_bytes()) == 32
        status = subprocess.run(["fscrypt", "status", str(spec.mount_point)], capture_output=True, text=True).stdout
        assert "Protected with 1 protector" in status
        assert run_cli(["lock", "-c", str(answers)]).returncode == 0
        assert vol.status(spec).state == "locked"
        unlocked = run_cli(["unlock", "-c", str(answers), "--no-start"])
        assert unlocked.returncode == 0, unlocked.stderr
        assert (spec.mount_point / "graph.db").read_text() == "fscrypt via the KMS"
    finally:
        run_cli(["lock", "-c", str(answers)])


@pytest.mark.parametrize(
    "facts",
    [{"target_version": "abc"}, {"before_version": 10**30}, {"rewrapped": [1]}, {"target_version": True}],
)
def test_a_hostile_transit_rotation_journal_is_refused_before_the_kms_is_asked(openbao, tmp_path, facts):
    """The journal is an output-dir file: facts of a shape rotate never writes end in one line, exit 1,
    with no new key version made and every blob untouched."""
    answers = make_answers(tmp_path, openbao.address, openbao.token, "hj-" + secrets.token_hex(4))
    plan = load_plan(answers)
    kms.get_backend(plan).ensure_key()
    assert run_cli(["render", "-c", str(answers)]).returncode == 0
    state = plan.output_path / ".stackseal"
    state.mkdir(exist_ok=True)
    journal = {"version": 1, "kind": "kms-key", "run_id": "abc123", "status": "running", "started_at": 1.0}
    (state / "rotate-kms-key.json").write_text(json.dumps({**journal, "facts": facts}))
    secrets_dir = plan.output_path / "secrets"
    before = {p.name: p.read_bytes() for p in secrets_dir.iterdir()}
    result = run_cli(["rotate", "kms-key", "-c", str(answers)])
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "damaged rotation journal" in lines[0], result.stderr
    assert {p.name: p.read_bytes() for p in secrets_dir.iterdir()} == before
    key = openbao.client().secrets.transit.read_key(plan.kms.key_name, mount_point="transit")["data"]
    assert key["latest_version"] == 1
