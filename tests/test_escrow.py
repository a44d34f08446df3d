"""Escrow round trip on real components: OpenBao-wrapped keys, a real gocryptfs volume, the Debian
``age`` CLI reading the bundle pyrage wrote, and damaged bundles refused with nothing changed."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_rotate_kms_key import make_answers

from wizard import kms
from wizard.kms.store import read_blobs
from wizard.layout import volume_specs
from wizard.plan import load_plan
from wizard.render.materials import collect
from wizard.volumes.gocryptfs import GocryptfsBackend
from wizard.volumes.keys import provide_key

STACKSEAL = [sys.executable, "-m", "wizard.cli"]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(STACKSEAL + list(args), capture_output=True, text=True, input=stdin, timeout=300)


def age_identity(path: Path) -> str:
    if shutil.which("age-keygen") is None:
        pytest.skip("the age CLI is not installed (tests/testbed/install.sh installs the Debian package 'age')")
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    return subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True, text=True).stdout.strip()


def tree(path: Path) -> dict[str, bytes]:
    return (
        {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
        if path.exists()
        else {}
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stackseal: error:"), result.stderr
    return lines[0]


def test_escrow_round_trip_then_stackseal_unlock_opens_the_real_gocryptfs_volume(openbao, tmp_path):
    """render (keys wrapped by OpenBao) -> volume made -> lock -> export -> keys, runtime dir and
    gocryptfs.conf removed -> damaged bundles refused -> import -> ``stackseal unlock`` reads the data."""
    answers = make_answers(tmp_path, openbao.address, openbao.token, "esc-" + secrets.token_hex(4))
    plan = load_plan(answers)
    backend = kms.get_backend(plan)
    backend.ensure_key()
    rendered = cli("render", "-c", str(answers))
    assert rendered.returncode == 0, rendered.stderr
    spec = volume_specs(plan)[0]
    vol = GocryptfsBackend()
    keyfile = provide_key(plan, spec.name, raw=False, create=True)  # what apply's volume step does
    vol.create(spec, keyfile)
    vol.unlock(spec, keyfile)
    (spec.mount_point / "graph.db").write_text("recover me")
    key = keyfile.read_bytes()
    try:
        locked = cli("lock", "-c", str(answers))
        assert locked.returncode == 0, locked.stderr
        identity = tmp_path / "id.txt"
        recipient = age_identity(identity)
        bundle = tmp_path / "escrow.age"
        out = cli("keys", "export", "-c", str(answers), "--to", str(bundle), "--recipient", recipient)
        assert out.returncode == 0, out.stderr
        assert "1 gocryptfs master keys" in out.stdout
        assert bundle.stat().st_mode & 0o777 == 0o600
        assert key not in bundle.read_bytes() and b"recover me" not in bundle.read_bytes()

        # the Debian age CLI decrypts what pyrage wrote, with the same identity
        plain = subprocess.run(["age", "-d", "-i", str(identity), str(bundle)], capture_output=True, check=True)
        doc = json.loads(plain.stdout)
        assert doc["format"] == "stackseal-escrow" and doc["kms"]["key_id"] == backend.key_id
        assert "volume-neo4j-data.key" in doc["blobs"] and "neo4j_auth" in doc["blobs"]
        assert len(doc["gocryptfs"]["neo4j-data"]["master_key"]) == 64 and "stackseal keys import" in doc["recovery"]

        # a new host: keys, runtime directory and even gocryptfs.conf are gone
        secrets_dir = plan.output_path / "secrets"
        shutil.rmtree(secrets_dir)
        assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())
        (spec.backing / "gocryptfs.conf").unlink()
        before = tree(plan.output_path)

        flipped = tmp_path / "flipped.age"
        data = bytearray(bundle.read_bytes())
        data[len(data) // 2] ^= 0x01
        flipped.write_bytes(bytes(data))
        truncated = tmp_path / "truncated.age"
        truncated.write_bytes(bundle.read_bytes()[:-40])
        other = tmp_path / "other.txt"
        age_identity(other)
        for bad, ident in ((flipped, identity), (truncated, identity), (bundle, other)):
            result = cli("keys", "import", "-c", str(answers), "--from", str(bad), "--identity", str(ident))
            assert result.returncode == 1
            assert "cannot decrypt the bundle" in one_error_line(result)
            assert tree(plan.output_path) == before and not (spec.backing / "gocryptfs.conf").exists()
        garbage = tmp_path / "garbage.txt"
        garbage.write_text("not an identity\n")
        result = cli("keys", "import", "-c", str(answers), "--from", str(bundle), "--identity", str(garbage))
        assert result.returncode == 2 and "AGE-SECRET-KEY" in one_error_line(result)

        result = cli("keys", "import", "-c", str(answers), "--from", str(bundle), "--identity", str(identity))
        assert result.returncode == 0, result.stderr
        again = cli("keys", "import", "-c", str(answers), "--from", str(bundle), "--identity", str(identity))
        assert again.returncode == 0 and "restored 0 files" in again.stdout  # idempotent
        assert set(read_blobs(secrets_dir)) == set(doc["blobs"])

        unlocked = cli("unlock", "-c", str(answers), "--no-start")
        assert unlocked.returncode == 0, unlocked.stderr
        assert "opened 1 volume(s): neo4j-data" in unlocked.stdout
        assert (spec.mount_point / "graph.db").read_text() == "recover me"
    finally:
        cli("lock", "-c", str(answers))
        vol.lock(spec)
        subprocess.run(["chattr", "-i", str(spec.mount_point)], capture_output=True)  # apply's guard


def test_escrow_with_a_passphrase_and_the_local_backend(tmp_path):
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(
        yaml.safe_dump({"version": 1, "project": "loc", "output_dir": "./stack", "volumes": {"backend": "none"}})
    )
    plan = load_plan(answers)
    store = kms.secret_store(plan)
    collect(plan, store)
    store.persist()
    secrets_dir = plan.output_path / "secrets"
    original = tree(secrets_dir)
    assert original
    bundle = tmp_path / "b.age"
    result = cli("keys", "export", "-c", str(answers), "--to", str(bundle), "--passphrase", stdin="correct horse\n")
    assert result.returncode == 0, result.stderr
    assert "plaintext secrets" in result.stdout
    again = cli("keys", "export", "-c", str(answers), "--to", str(bundle), "--passphrase", stdin="correct horse\n")
    assert again.returncode == 2 and "exists" in one_error_line(again)
    bad = cli("keys", "export", "-c", str(answers), "--to", str(tmp_path / "x.age"), "--recipient", "age1nope")
    assert bad.returncode == 2 and "recipient" in one_error_line(bad)
    assert not (tmp_path / "x.age").exists()
    missing = tmp_path / "nowhere" / "deeper" / "b.age"
    lost = cli("keys", "export", "-c", str(answers), "--to", str(missing), "--passphrase", stdin="correct horse\n")
    assert lost.returncode == 2 and "no such directory" in one_error_line(lost)
    assert not (tmp_path / "nowhere").exists()

    shutil.rmtree(secrets_dir)
    wrong = cli("keys", "import", "-c", str(answers), "--from", str(bundle), "--passphrase", stdin="wrong horse\n")
    assert wrong.returncode == 1 and "cannot decrypt" in one_error_line(wrong)
    assert not secrets_dir.exists()
    ok = cli("keys", "import", "-c", str(answers), "--from", str(bundle), "--passphrase", stdin="correct horse\n")
    assert ok.returncode == 0, ok.stderr
    assert tree(secrets_dir) == original

    # a restored file that differs is not overwritten without --force
    name = sorted(original)[0]
    (secrets_dir / name).chmod(0o600)
    (secrets_dir / name).write_bytes(b"changed")
    clash = cli("keys", "import", "-c", str(answers), "--from", str(bundle), "--passphrase", stdin="correct horse\n")
    assert clash.returncode == 2 and "--force" in one_error_line(clash)
    assert (secrets_dir / name).read_bytes() == b"changed"


def test_escrow_carries_a_luks_header_backup_that_opens_with_the_volume_key(tmp_path):
    """luks-file volume (no device-mapper needed): the bundle's header backup opens with the key,
    and import restores it to .stackseal/luks-headers/."""
    import zlib

    from wizard.volumes.keys import ensure_key
    from wizard.volumes.luks_file import LuksFileBackend

    if shutil.which("cryptsetup") is None:
        pytest.skip("cryptsetup is not installed (apt-get install cryptsetup-bin)")
    answers = tmp_path / "stackseal.yaml"
    volumes = {"backend": "luks-file", "root": str(tmp_path / "vols"), "size_mb": 64}
    answers.write_text(yaml.safe_dump({"version": 1, "project": "lk", "volumes": volumes}))
    plan = load_plan(answers)
    spec = volume_specs(plan)[0]
    key = ensure_key(plan.output_path / "secrets", spec.name)
    LuksFileBackend("lk", 64).create(spec, key)
    bundle = tmp_path / "b.age"
    result = cli("keys", "export", "-c", str(answers), "--to", str(bundle), "--passphrase", stdin="luks drill pw\n")
    assert result.returncode == 0, result.stderr
    assert "1 LUKS headers" in result.stdout
    from wizard.rotate.escrow import open_bundle

    doc = open_bundle(bundle, passphrase="luks drill pw")
    header = tmp_path / "header.img"
    header.write_bytes(zlib.decompress(base64.b64decode(doc["luks_headers"][spec.name])))
    probe = subprocess.run(
        ["cryptsetup", "open", "--test-passphrase", "--header", str(header), "--key-file", str(key), str(spec.backing)],
        capture_output=True,
    )
    assert probe.returncode == 0, probe.stderr
    ok = cli("keys", "import", "-c", str(answers), "--from", str(bundle), "--passphrase", stdin="luks drill pw\n")
    assert ok.returncode == 0, ok.stderr
    restored = plan.output_path / ".stackseal" / "luks-headers" / f"{spec.name}.img"
    assert restored.read_bytes() == header.read_bytes() and restored.stat().st_mode & 0o777 == 0o600
