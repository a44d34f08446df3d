"""``stackseal migrate objects`` against a real SeaweedFS (the ``s3`` fixture).

Done-when of issue 13: many plaintext objects of mixed sizes with user metadata and content
types are re-encrypted in place; each then reports SSE, hashes the same, keeps its metadata and
tags; no planted canary is left in the server's raw files after the vacuum; a SIGKILL in the
middle and a re-run finish without loss and without copying anything twice (counted in the
operation's journal, which records every copy).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STACKSEAL = [sys.executable, "-m", "wizard.cli"]


def _answers(tmp_path: Path, s3, buckets: list[str], sse: str = "sse-s3") -> Path:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "access").write_text(s3.access_key)
    (tmp_path / "creds" / "secret").write_text(s3.secret_key)
    doc = {
        "version": 1,
        "project": "migtest",
        "output_dir": "./stack",
        "object_store": {
            "kind": "seaweedfs",
            "endpoint": s3.endpoint,
            "access_key_file": "creds/access",
            "secret_key_file": "creds/secret",
            "sse": sse,
            "buckets": buckets,
            "weed_master": s3.master_shell,
            "weed_filer": s3.filer_shell,
        },
        "kms": {"backend": "local"},
        "volumes": {"backend": "none"},
    }
    path = tmp_path / "stackseal.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _journal_items(out: Path) -> dict[str, dict]:
    """Checkpoint plus write-ahead log, replayed like the product does (the test's copy counter)."""
    state = out / ".stackseal"
    items: dict[str, dict] = {}
    if (state / "migrate-objects.json").exists():
        items = json.loads((state / "migrate-objects.json").read_text())["items"]
    wal = state / "migrate-objects.wal"
    if wal.exists():
        for line in wal.read_text().splitlines()[1:]:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            items.setdefault(rec["key"], {}).update(rec["rec"])
    return items


def _upload(client, bucket: str, count: int, big: list[int]) -> dict[str, dict]:
    """``count`` small objects (1-8 KiB) and some big ones, random (incompressible) bodies."""
    expected: dict[str, dict] = {}

    def put(i: int) -> None:
        size = big[i] if i < len(big) else 1024 + (i * 7919) % (7 * 1024)
        canary = b"CANARY-%s-%06d" % (bucket.encode(), i) if i % 25 == 0 or i < len(big) else b""
        body = os.urandom(size - len(canary)) + canary
        name = f"schemas/{i:05d}.xsd" if i % 3 else f"instances/{i:05d}.xml"
        ctype = "application/xml" if i % 2 else "text/xml; charset=utf-8"
        meta = {"x-amz-meta-source": f"niem-{i}", "x-amz-meta-owner": "team-a"}
        tags = None
        if i % 50 == 1:
            from minio.commonconfig import Tags

            tags = Tags.new_object_tags()
            tags["class"] = "restricted"
        client.put_object(bucket, name, io.BytesIO(body), len(body), content_type=ctype, metadata=meta, tags=tags)
        expected[name] = {
            "sha256": hashlib.sha256(body).hexdigest(),
            "size": len(body),
            "ctype": ctype,
            "meta": meta,
            "tags": {"class": "restricted"} if tags else None,
            "canary": canary,
        }

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))
    return expected


def _raw_hits(data_dir: Path, needle: bytes) -> list[str]:
    """Files under the store's raw data directory holding ``needle`` (one pass, 8 MiB windows)."""
    hits = []
    for path in data_dir.rglob("*"):
        if not path.is_file():
            continue
        tail = b""
        with open(path, "rb") as handle:
            while chunk := handle.read(8 << 20):
                if needle in tail + chunk:
                    hits.append(str(path))
                    break
                tail = chunk[-len(needle) :]
    return hits


def _check_all(client, bucket: str, expected: dict[str, dict]) -> None:
    def check(item: tuple[str, dict]) -> None:
        name, exp = item
        st = client.stat_object(bucket, name)
        headers = {k.lower(): v for k, v in st.metadata.items()}
        assert headers.get("x-amz-server-side-encryption") == "AES256", name
        assert st.size == exp["size"] and st.content_type == exp["ctype"], name
        for key, value in exp["meta"].items():
            assert headers.get(key) == value, (name, key)
        data = client.get_object(bucket, name).read()
        assert hashlib.sha256(data).hexdigest() == exp["sha256"], name
        if exp["tags"]:
            assert dict(client.get_object_tags(bucket, name)) == exp["tags"], name

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, expected.items()))


@pytest.mark.timeout(1200)
def test_many_objects_are_reencrypted_in_place_survive_a_sigkill_and_leave_no_plaintext(tmp_path: Path, s3) -> None:
    client = s3.client()
    bucket = "mig-many-" + secrets.token_hex(3)
    client.make_bucket(bucket)
    big = [64 << 20, 16 << 20, 5 << 20, 3 << 20]
    expected = _upload(client, bucket, 5000, big)
    assert _raw_hits(s3.data_dir, b"CANARY-" + bucket.encode())  # plaintext on disk before
    answers = _answers(tmp_path, s3, [bucket])
    out = tmp_path / "stack"
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    dry = subprocess.run(
        STACKSEAL + ["migrate", "objects", "-c", str(answers), "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert dry.returncode == 0, dry.stderr
    assert "5000 of 5000 objects" in dry.stdout and not _journal_items(out)

    # First run: killed with SIGKILL once a good part is done.
    proc = subprocess.Popen(
        STACKSEAL + ["migrate", "objects", "-c", str(answers), "--workers", "8"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        done = sum(1 for r in _journal_items(out).values() if r.get("status") == "copied")
        if done >= 1500:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the first run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _journal_items(out)
    copied_first = {k for k, r in before.items() if r.get("status") == "copied"}
    assert 1500 <= len(copied_first) < 5000

    rerun = subprocess.run(
        STACKSEAL + ["migrate", "objects", "-c", str(answers)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "resuming from" in rerun.stdout and "vacuum done" in rerun.stdout
    items = _journal_items(out)
    assert len(items) == 5000 and all(r.get("status") == "copied" for r in items.values())
    # Every object was copied exactly once over both runs: nothing the first run did was redone.
    assert all(r.get("copies") == 1 for r in items.values()), [k for k, r in items.items() if r.get("copies") != 1][:5]
    assert f"{len(copied_first)} done by an earlier run" in rerun.stdout

    _check_all(client, bucket, expected)
    assert _raw_hits(s3.data_dir, b"CANARY-" + bucket.encode()) == []

    # A third run has nothing to do and copies nothing.
    again = subprocess.run(
        STACKSEAL + ["migrate", "objects", "-c", str(answers)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert (
        again.returncode == 0 and "Migrated 0 objects" in again.stdout and "5000 done by an earlier run" in again.stdout
    )


def _run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(STACKSEAL + list(argv), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)


def test_sse_c_rotation_leaves_every_object_readable_with_the_new_key_only(tmp_path: Path, s3) -> None:
    from minio.error import S3Error
    from minio.sse import SseCustomerKey

    bucket = "rot-" + secrets.token_hex(4)
    answers = _answers(tmp_path, s3, [bucket], sse="sse-c")
    secrets_dir = tmp_path / "stack" / "secrets"
    secrets_dir.mkdir(parents=True)
    old = os.urandom(32)
    (secrets_dir / "sse_c_key").write_text(__import__("base64").b64encode(old).decode())
    client = s3.client()
    client.make_bucket(bucket)
    data = {}
    for i in range(120):
        body = os.urandom(2000 + i * 13)
        client.put_object(
            bucket, f"k/{i}", io.BytesIO(body), len(body), content_type="application/xml",
            metadata={"x-amz-meta-i": str(i)}, sse=SseCustomerKey(old),
        )  # fmt: skip
        data[f"k/{i}"] = body
    # One object under a key nobody has: the rotation must not finish, and must keep both keys.
    stranger = os.urandom(32)
    client.put_object(bucket, "foreign", io.BytesIO(b"f" * 100), 100, sse=SseCustomerKey(stranger))
    first = _run(tmp_path, "rotate", "object-keys", "-c", str(answers))
    assert first.returncode == 1, first.stdout + first.stderr
    assert "NOT DONE: " + bucket + "/foreign" in first.stdout and "both keys kept" in first.stderr
    assert (secrets_dir / "sse_c_key.new").exists()
    assert __import__("base64").b64decode((secrets_dir / "sse_c_key").read_text()) == old
    new = __import__("base64").b64decode((secrets_dir / "sse_c_key.new").read_text())

    client.remove_object(bucket, "foreign")
    second = _run(tmp_path, "rotate", "object-keys", "-c", str(answers))
    assert second.returncode == 0, second.stdout + second.stderr
    assert "120 done by an earlier run" in second.stdout  # nothing copied twice
    assert not (secrets_dir / "sse_c_key.new").exists()
    assert __import__("base64").b64decode((secrets_dir / "sse_c_key").read_text()) == new != old
    for name, body in data.items():
        assert client.get_object(bucket, name, ssec=SseCustomerKey(new)).read() == body
        st = client.stat_object(bucket, name, ssec=SseCustomerKey(new))
        assert st.content_type == "application/xml" and st.metadata.get("X-Amz-Meta-i") == name.split("/")[1]
        with pytest.raises(S3Error):
            client.stat_object(bucket, name, ssec=SseCustomerKey(old))


def test_bad_input_and_faults_are_one_line_each(tmp_path: Path, s3) -> None:
    bucket = "bad-" + secrets.token_hex(4)
    answers = _answers(tmp_path, s3, [bucket, bucket + "-missing"])
    s3.client().make_bucket(bucket)
    cases = [
        (["migrate", "objects", "-c", str(answers), "--workers", "0"], 2, "--workers: 0 must be between 1 and 64"),
        (["migrate", "objects", "-c", str(answers), "--bucket", "other"], 2, "is not one of object_store.buckets"),
        (["rotate", "object-keys", "-c", str(answers)], 2, "only SSE-C object keys are rotated"),
        (["rotate", "-c", str(answers)], 2, ""),
        (["migrate", "volume", "-c", str(answers)], 2, "name one volume or pass --all"),
    ]
    for argv, code, text in cases:
        got = _run(tmp_path, *argv)
        assert got.returncode == code, (argv, got.stdout, got.stderr)
        assert text in got.stderr and "Traceback" not in got.stderr, (argv, got.stderr)
    # A missing bucket: the others are still done, the summary names it, exit 1.
    s3.client().put_object(bucket, "a", io.BytesIO(os.urandom(100)), 100)
    got = _run(tmp_path, "migrate", "objects", "-c", str(answers), "--no-vacuum")
    assert got.returncode == 1 and f"NOT DONE: bucket {bucket}-missing does not exist" in got.stdout
    assert "Migrated 1 objects" in got.stdout and "Traceback" not in got.stderr
    # Wrong credentials: one line, exit 1, the secret never echoed.
    (tmp_path / "creds" / "secret").write_text("wrong-secret-value")
    got = _run(tmp_path, "migrate", "objects", "-c", str(answers))
    assert got.returncode == 1 and "refuses the credentials" in got.stderr
    assert len(got.stderr.strip().splitlines()) == 1 and "wrong-secret-value" not in got.stderr + got.stdout
    # A credentials path that is a FIFO (hostile output directory) is refused, not read.
    os.unlink(tmp_path / "creds" / "secret")
    os.mkfifo(tmp_path / "creds" / "secret")
    got = _run(tmp_path, "migrate", "objects", "-c", str(answers))
    assert got.returncode == 2 and "must be a regular file" in got.stderr


def test_an_object_deleted_during_the_run_is_listed_not_fatal(tmp_path: Path, s3) -> None:
    from wizard.plan import load_plan
    from wizard.stores import s3 as stores_s3
    from wizard.stores.journal import OpJournal
    from wizard.stores.objects import ObjectMigrator

    bucket = "gone-" + secrets.token_hex(4)
    answers = _answers(tmp_path, s3, [bucket])
    client = s3.client()
    client.make_bucket(bucket)
    for name in ("keep", "vanish"):
        client.put_object(bucket, name, io.BytesIO(os.urandom(500)), 500)
    plan = load_plan(answers)
    migrator = ObjectMigrator(
        stores_s3.require_client(plan, tmp_path / "stack" / "secrets"),
        stores_s3.write_sse(plan, tmp_path / "stack" / "secrets"),
        OpJournal(tmp_path / "state", "m", {"t": 1}),
        lambda e: None,
    )
    refs = migrator.inventory([bucket])
    client.remove_object(bucket, "vanish")
    report = migrator.run(refs)
    assert report.copied == 1 and report.gone == [f"{bucket}/vanish"] and not report.failed


def test_versioned_bucket_old_versions_stay_plaintext_until_all_versions(tmp_path: Path, s3) -> None:
    from minio.versioningconfig import ENABLED, VersioningConfig

    client = s3.client()
    bucket = "ver-" + secrets.token_hex(4)
    client.make_bucket(bucket)
    client.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    current = {}
    for key in ("a.xsd", "b.xsd"):
        for n in range(3):
            body = os.urandom(700) + f"VERCANARY-{bucket}-{key}-{n}".encode()
            client.put_object(bucket, key, io.BytesIO(body), len(body), content_type="application/xml")
        current[key] = body
    answers = _answers(tmp_path, s3, [bucket])

    first = _run(tmp_path, "migrate", "objects", "-c", str(answers))
    assert first.returncode == 0 and "older versions stay plaintext" in first.stdout
    assert _raw_hits(s3.data_dir, f"VERCANARY-{bucket}".encode())  # the old versions, as the warning says

    second = _run(tmp_path, "migrate", "objects", "-c", str(answers), "--all-versions")
    assert second.returncode == 0, second.stdout + second.stderr
    for key, body in current.items():
        versions = [o for o in client.list_objects(bucket, prefix=key, include_version=True)]
        assert len(versions) == 4  # three originals (re-encrypted) + the first run's copy
        for o in versions:
            st = client.stat_object(bucket, key, version_id=o.version_id)
            assert st.metadata.get("X-Amz-Server-Side-Encryption") == "AES256" and st.content_type == "application/xml"
        assert client.get_object(bucket, key).read() == body  # what was current is current again
    assert _raw_hits(s3.data_dir, f"VERCANARY-{bucket}".encode()) == []


def test_sse_c_rotation_with_kms_wrapped_keys_stores_the_new_key_wrapped(tmp_path: Path, s3, openbao) -> None:
    """With a KMS the SSE-C key's authoritative copy is a wrapped blob: the rotation must replace that
    blob (not only the runtime plaintext), or the next unlock would bring the old key back."""
    import base64

    from minio.sse import SseCustomerKey

    from wizard.kms import get_backend
    from wizard.kms.store import read_blobs, write_blob
    from wizard.plan import load_plan

    bucket = "rotkms-" + secrets.token_hex(4)
    answers = _answers(tmp_path, s3, [bucket], sse="sse-c")
    doc = yaml.safe_load(answers.read_text())
    (tmp_path / "vault-token").write_text(openbao.token)
    doc["kms"] = {
        "backend": "vault",
        "key_name": "ssec" + secrets.token_hex(4),
        "vault": {"address": openbao.address, "token_file": "vault-token"},
        "runtime_dir": str(tmp_path / "run"),
    }
    answers.write_text(yaml.safe_dump(doc))
    plan = load_plan(answers)
    backend = get_backend(plan)
    backend.ensure_key()
    secrets_dir, run_dir = tmp_path / "stack" / "secrets", tmp_path / "run"
    secrets_dir.mkdir(parents=True)
    run_dir.mkdir(mode=0o700)
    old = os.urandom(32)
    old_text = base64.b64encode(old)
    write_blob(secrets_dir, "sse_c_key", backend.wrap_many({"sse_c_key": old_text})["sse_c_key"])
    (run_dir / "sse_c_key").write_bytes(old_text)  # what 'stackseal unlock' leaves in the tmpfs
    client = s3.client()
    client.make_bucket(bucket)
    bodies = {f"o{i}": os.urandom(1500 + i) for i in range(20)}
    for name, body in bodies.items():
        client.put_object(bucket, name, io.BytesIO(body), len(body), sse=SseCustomerKey(old))

    done = _run(tmp_path, "rotate", "object-keys", "-c", str(answers))
    assert done.returncode == 0, done.stdout + done.stderr
    blobs = read_blobs(secrets_dir)
    assert set(blobs) == {"sse_c_key"}  # the pending '.new' blob is gone once promoted
    stored = backend.unwrap_many({"sse_c_key": blobs["sse_c_key"]})["sse_c_key"]
    new = base64.b64decode(stored)
    assert new != old and (run_dir / "sse_c_key").read_bytes().strip() == stored.strip()
    assert not list(secrets_dir.glob("sse_c_key")) and not (run_dir / "sse_c_key.new").exists()
    assert old_text not in b"".join(p.read_bytes() for p in secrets_dir.iterdir() if p.is_file())
    for name, body in bodies.items():
        assert client.get_object(bucket, name, ssec=SseCustomerKey(new)).read() == body

    # locked (no runtime plaintext): one line naming the fix, nothing changed
    (run_dir / "sse_c_key").unlink()
    before = {p.name: p.read_bytes() for p in secrets_dir.iterdir()}
    locked = _run(tmp_path, "rotate", "object-keys", "-c", str(answers))
    assert locked.returncode in (1, 2) and "stackseal unlock" in locked.stderr
    assert len(locked.stderr.strip().splitlines()) == 1 and "Traceback" not in locked.stderr
    assert {p.name: p.read_bytes() for p in secrets_dir.iterdir()} == before
