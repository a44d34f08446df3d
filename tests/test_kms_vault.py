"""Envelope encryption with real OpenBao: the vault backend, render/unlock/lock, faults (issue 10).

Each fault (wrong token, sealed, unreachable, tampered blob, revoked key version) must end in
one line, exit 1, with nothing changed on disk and no value echoed.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from testbed.containers import free_port

from wizard.errors import OperationFailed
from wizard.kms import get_backend
from wizard.kms.base import WrappedBlob
from wizard.plan import plan_from_dict

VENV_BIN = Path(sys.executable).parent


def stackseal(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "stackseal"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, **(env or {})),
        stdin=subprocess.DEVNULL,
    )


def _vault_plan(tmp_path: Path, address: str, token: str, key: str | None = None, **extra):
    token_file = tmp_path / "vault-token"
    token_file.write_text(token)
    data = {
        "version": 1,
        "project": f"kv{secrets.token_hex(3)}",
        "kms": {
            "backend": "vault",
            "key_name": key or f"k{secrets.token_hex(4)}",
            "vault": {"address": address, "token_file": str(token_file)},
            "runtime_dir": str(tmp_path / "run"),
        },
        "volumes": {"backend": "none", "root": str(tmp_path / "vol")},
        **extra,
    }
    return data


def _answers(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "stackseal.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _ensure_key(plan) -> None:
    get_backend(plan).ensure_key()


def test_vault_wraps_in_batches_rotates_and_rewraps(tmp_path: Path, openbao) -> None:
    plan = plan_from_dict(_vault_plan(tmp_path, openbao.address, openbao.token), base_dir=tmp_path)
    backend = get_backend(plan)
    backend.ensure_key()
    values = {f"s{i}": secrets.token_bytes(32) for i in range(450)}  # more than one chunk of 400
    blobs = backend.wrap_many(values)
    assert all(b.key_version == "1" and b.ciphertext.startswith(b"vault:v1:") for b in blobs.values())
    assert not any(v in b.ciphertext for v in values.values() for b in list(blobs.values())[:5])
    assert backend.unwrap_many(blobs) == values
    assert backend.rotate() == "2"
    rewrapped = backend.rewrap_many(blobs)
    assert all(b.key_version == "2" and b.rotated for b in rewrapped.values())
    assert backend.unwrap_many(rewrapped) == values
    # a revoked key version: old blobs refused in one line naming what to do, no value
    openbao.client().secrets.transit.update_key_configuration(
        name=plan.kms.key_name, min_decryption_version=2, mount_point="transit"
    )
    with pytest.raises(OperationFailed) as err:
        backend.unwrap_many({"s0": blobs["s0"]})
    assert "no longer allowed" in str(err.value) and "\n" not in str(err.value)


def test_vault_faults_are_one_line_and_never_echo(tmp_path: Path, openbao) -> None:
    plan = plan_from_dict(_vault_plan(tmp_path, openbao.address, openbao.token), base_dir=tmp_path)
    backend = get_backend(plan)
    backend.ensure_key()
    blob = backend.wrap("one", b"TOP-SECRET-VALUE")
    tampered = WrappedBlob(blob.backend, blob.key_id, blob.key_version, blob.ciphertext[:-6] + b"AAAAAA", blob.created)
    with pytest.raises(OperationFailed) as err:
        backend.unwrap_many({"one": tampered})
    assert "tampered" in str(err.value) and "TOP-SECRET" not in str(err.value)

    wrong = "s." + secrets.token_hex(12)
    bad = get_backend(
        plan_from_dict(_vault_plan(tmp_path, openbao.address, wrong, plan.kms.key_name), base_dir=tmp_path)
    )
    with pytest.raises(OperationFailed) as err:
        bad.unwrap_many({"one": blob})
    assert "refused the credential" in str(err.value)
    assert wrong not in str(err.value)

    down = f"http://127.0.0.1:{free_port()}"
    gone = get_backend(plan_from_dict(_vault_plan(tmp_path, down, openbao.token), base_dir=tmp_path))
    with pytest.raises(OperationFailed) as err:
        gone.wrap("x", b"y")
    assert "not reachable" in str(err.value)


def test_sealed_openbao_is_one_line(tmp_path: Path, openbao_sealed) -> None:
    data = _vault_plan(tmp_path, openbao_sealed.address, openbao_sealed.root_token)
    backend = get_backend(plan_from_dict(data, base_dir=tmp_path))
    with pytest.raises(OperationFailed) as err:
        backend.wrap("x", b"y")
    assert "sealed" in str(err.value) and "\n" not in str(err.value)
    assert backend.connection_test().ok is False


def _memory_dir(path: Path) -> None:
    """The runtime dir's parent is disk-backed here: stackseal must mount the tmpfs itself."""
    out = subprocess.run(["stat", "-f", "-c", "%T", str(path.parent)], capture_output=True, text=True).stdout
    assert out.strip() not in ("tmpfs", "ramfs"), "the test must start from a disk-backed directory"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting the runtime tmpfs needs root")
def test_render_unlock_lock_round_trip_with_openbao(tmp_path: Path, openbao) -> None:
    """render stores only wrapped blobs; unlock puts the plaintext on tmpfs only; lock wipes it."""
    data = _vault_plan(tmp_path, openbao.address, openbao.token)
    data["object_store"] = {"kind": "seaweedfs", "sse": "sse-s3"}
    answers = _answers(tmp_path, data)
    plan = plan_from_dict(data, base_dir=tmp_path)
    out, run = plan.output_path, tmp_path / "run"
    _ensure_key(plan)
    result = stackseal("render", "-c", str(answers))
    assert result.returncode == 0, result.stderr
    stored = sorted(p.name for p in (out / "secrets").iterdir())
    assert stored and all(n.endswith(".wrapped.json") or n in (".gitignore", ".manifest-key") for n in stored), stored
    blob = json.loads((out / "secrets" / "s3_secret_key.wrapped.json").read_text())
    assert blob["backend"] == "vault" and blob["key_version"] == "1" and blob["created"]
    compose = yaml.safe_load((out / "compose.yaml").read_text())
    assert all(s["file"].startswith(str(run) + "/") for s in compose["secrets"].values())
    assert (out / "boot" / f"stackseal-unlock-{plan.project}.service").exists()

    _memory_dir(run)
    result = stackseal("unlock", "-c", str(answers), "--no-start")
    assert result.returncode == 0, result.stderr
    assert (
        subprocess.run(["stat", "-f", "-c", "%T", str(run)], capture_output=True, text=True).stdout.strip() == "tmpfs"
    )
    assert oct(run.stat().st_mode & 0o777) == "0o700"
    plain = {p.name: p.read_bytes() for p in run.iterdir()}
    assert {"s3_access_key", "s3_secret_key", "neo4j_auth", "seaweedfs_kek", "seaweedfs_s3.json"} <= set(plain)
    assert all(oct(p.stat().st_mode & 0o777) == "0o400" for p in run.iterdir())
    disk = _tree(tmp_path / "stack") | {"answers": answers.read_bytes()}
    for name in ("s3_secret_key", "neo4j_auth", "seaweedfs_kek"):
        value = plain[name]
        assert not any(value in content for content in disk.values()), f"{name} found on disk"

    listing = json.loads(stackseal("keys", "list", "-c", str(answers), "--json").stdout)
    row = next(k for k in listing["keys"] if k["name"] == "s3_secret_key")
    assert row["backend"] == "vault" and row["key_version"] == "1" and row["unlocked"] is True
    assert row["plaintext"].startswith(str(run))

    result = stackseal("lock", "-c", str(answers))
    assert result.returncode == 0, result.stderr
    assert not run.exists(), "lock leaves the runtime directory gone"

    # a wrong token at unlock: one line, exit 1, nothing created
    (tmp_path / "vault-token").write_text("s.wrong" + secrets.token_hex(8))
    before = _tree(out)
    result = stackseal("unlock", "-c", str(answers), "--no-start")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "credential" in result.stderr and not run.exists() and _tree(out) == before
    # a tampered blob: one line, exit 1, nothing created
    (tmp_path / "vault-token").write_text(openbao.token)
    path = out / "secrets" / "neo4j_auth.wrapped.json"
    doc = json.loads(path.read_text())
    doc["ciphertext"] = doc["ciphertext"][:-8] + "AAAAAAA="
    path.chmod(0o600)
    path.write_text(json.dumps(doc))
    result = stackseal("unlock", "-c", str(answers), "--no-start")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not run.exists()


def test_local_passphrase_wraps_and_a_wrong_one_is_one_line(tmp_path: Path, monkeypatch) -> None:
    data = {
        "version": 1,
        "project": "lp",
        "kms": {"backend": "local", "passphrase_file": str(tmp_path / "pass"), "runtime_dir": str(tmp_path / "r")},
    }
    (tmp_path / "pass").write_text("correct horse battery staple")
    plan = plan_from_dict(data, base_dir=tmp_path)
    backend = get_backend(plan)
    blobs = backend.wrap_many({"a": b"ALPHA-SECRET", "b": b"BRAVO"})
    assert blobs["a"].key_id == "passphrase" and len(blobs["a"].key_version or "") == 32
    assert b"ALPHA-SECRET" not in blobs["a"].ciphertext
    assert backend.unwrap_many(blobs) == {"a": b"ALPHA-SECRET", "b": b"BRAVO"}
    monkeypatch.setenv("STACKSEAL_LOCAL_PASSPHRASE", "a wrong passphrase here")
    with pytest.raises(OperationFailed) as err:
        get_backend(plan).unwrap_many(blobs)
    assert "wrong passphrase" in str(err.value) and "ALPHA" not in str(err.value)


def test_unlock_with_a_sealed_vault_is_one_line_and_changes_nothing(tmp_path: Path, openbao_sealed) -> None:
    data = _vault_plan(tmp_path, openbao_sealed.address, openbao_sealed.root_token)
    answers = _answers(tmp_path, data)
    result = stackseal("unlock", "-c", str(answers), "--no-start")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "sealed" in result.stderr and not (tmp_path / "run").exists()
    assert openbao_sealed.root_token not in result.stderr


def test_hostile_secrets_and_runtime_paths_are_refused_in_one_line(tmp_path: Path, openbao) -> None:
    from wizard.errors import StacksealError
    from wizard.kms import runtime
    from wizard.kms.store import read_blobs

    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    (secrets_dir / "neo4j_auth.wrapped.json").symlink_to(target)
    with pytest.raises(StacksealError) as err:
        read_blobs(secrets_dir)
    assert "regular file" in str(err.value) or "cannot be read safely" in str(err.value)
    (secrets_dir / "neo4j_auth.wrapped.json").unlink()
    (secrets_dir / "s3_secret_key.wrapped.json").write_bytes(b"{" + b" " * 300_000 + b"}")
    with pytest.raises(StacksealError) as err:
        read_blobs(secrets_dir)
    assert "too large" in str(err.value)
    (secrets_dir / "s3_secret_key.wrapped.json").write_text('{"backend": "vault"}')
    with pytest.raises(OperationFailed) as err:
        read_blobs(secrets_dir)
    assert "malformed" in str(err.value)
    # a runtime directory reached through a symlink is refused before anything is mounted
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(StacksealError) as err:
        runtime.prepare(tmp_path / "link" / "run")
    assert "symbolic link" in str(err.value)
    assert not (real / "run").exists()


def test_render_needs_the_kms_but_dry_run_does_not(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    answers = _answers(tmp_path, _vault_plan(tmp_path, down, "s.whatever"))
    dry = stackseal("render", "-c", str(answers), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "secrets/" not in dry.stdout.replace("secrets/.gitignore", ""), "no secret is a rendered file"
    real = stackseal("render", "-c", str(answers))
    assert real.returncode == 1 and len(real.stderr.strip().splitlines()) == 1, real.stderr
    assert "not reachable" in real.stderr and not (tmp_path / "stack").exists(), "a refused render writes nothing"


def _user_dir(root: Path) -> tuple[Path, dict[str, bytes]]:
    """A directory of somebody else's files (what a mistyped kms.runtime_dir may name)."""
    root.mkdir(parents=True)
    (root / "notes.txt").write_bytes(b"the user's own file\n")
    (root / "passwd").write_bytes(b"root:x:0:0::/root:/bin/bash\n")
    return root, _tree(root)


@pytest.mark.skipif(os.geteuid() != 0, reason="unlock mounts the runtime tmpfs (root)")
@pytest.mark.parametrize("memory_backed", [False, True])
def test_lock_and_unlock_never_wipe_a_directory_stackseal_did_not_prepare(tmp_path: Path, memory_backed: bool) -> None:
    """kms.runtime_dir comes from the answers file: pointed at a directory of the user's (disk-backed,
    or memory-backed like /dev/shm), lock removed its files and unlock wrote keys among them. Both now
    refuse in one line, exit 2, and every file stays as it was; a directory unlock prepared still locks."""
    base = Path("/dev/shm") if memory_backed else tmp_path
    if memory_backed and not (
        base.is_dir()
        and subprocess.run(["stat", "-f", "-c", "%T", str(base)], capture_output=True, text=True).stdout.strip()
        == "tmpfs"
    ):
        pytest.skip("no tmpfs at /dev/shm")
    user, before = _user_dir(base / f"stackseal-user-{secrets.token_hex(4)}")
    try:
        (tmp_path / "pass").write_text("correct horse battery staple")
        data = {
            "version": 1,
            "project": "rtdir",
            "output_dir": str(tmp_path / "stack"),
            "kms": {"backend": "local", "passphrase_file": str(tmp_path / "pass"), "runtime_dir": str(user)},
            "volumes": {"backend": "host-fde"},
        }
        answers = _answers(tmp_path, data)
        assert stackseal("render", "-c", str(answers)).returncode == 0
        for command in (["lock", "-c", str(answers)], ["unlock", "-c", str(answers), "--no-start"]):
            result = stackseal(*command)
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 2 and len(lines) == 1 and "kms.runtime_dir" in lines[0], result.stderr
            assert _tree(user) == before, command
        fresh = tmp_path / "fresh-run"
        data["kms"]["runtime_dir"] = str(fresh)
        answers = _answers(tmp_path, data)
        assert stackseal("unlock", "-c", str(answers), "--no-start").returncode == 0
        result = stackseal("lock", "-c", str(answers))
        assert result.returncode == 0, result.stderr
        assert not fresh.exists()
    finally:
        for path in sorted(user.rglob("*"), reverse=True):
            path.unlink()
        user.rmdir()
