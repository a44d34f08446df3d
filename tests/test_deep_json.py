"""A JSON document nested thousands of levels deep, wherever stackseal reads JSON it did not write itself.

Why: ``json.loads`` raises ``RecursionError``, not ``ValueError``, for ``[[[[...]]]]`` deeper than
the interpreter's recursion limit, so a reader that catches only the decode error let a hostile
journal, wrapped key blob, bench file, escrow bundle or server answer end in a Python traceback.
Each test puts the deep document where a command reads it and expects what a plainly malformed
document gets there: one ``stackseal: error:`` line and the right exit code (or, where stackseal
ignores a damaged file, the same result as for a damaged file), no traceback, nothing changed.
Every deep case failed before the fix (a malformed case beside one is the reference it must
match). No real server is needed: the Vault and MinIO answers come from an in-process stub.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyrage
import pytest
import yaml

from wizard.errors import OperationFailed
from wizard.plan import plan_from_dict

STACKSEAL = [sys.executable, "-m", "wizard.cli"]
DEPTH = 30_000
DEEP = "[" * DEPTH + "]" * DEPTH  # 60 KB: under every size limit of the readers below (64 KiB the least)
BROKEN = '{"version": 1, "items": '  # the plainly malformed document each reader already handled


def cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*STACKSEAL, *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stackseal: error: "), result.stderr[-2000:]
    return lines[0]


def tree(root: Path, ignore: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ignore
    }


def answers(tmp_path: Path, **sections: object) -> Path:
    path = tmp_path / "stackseal.yaml"
    doc = {"version": 1, "project": "deep", "output_dir": str(tmp_path / "stack"), **sections}
    doc.setdefault("volumes", {"backend": "none", "root": str(tmp_path / "vols")})
    path.write_text(yaml.safe_dump(doc))
    return path


class _Stub(ThreadingHTTPServer):
    reply: tuple[int, str]


class _Answer(BaseHTTPRequestHandler):
    """Answers every request with the server's ``reply`` (status, JSON body)."""

    def _answer(self) -> None:
        status, text = self.server.reply  # type: ignore[attr-defined]
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[_Stub]:
    server = _Stub(("127.0.0.1", 0), _Answer)
    server.reply = (200, DEEP)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url(server: _Stub) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


# -- files in the output directory, read by CLI commands ----------------------------------------------


def test_render_ignores_a_deep_bench_file_like_a_damaged_one(tmp_path: Path) -> None:
    """``.stackseal/bench.json`` (the runbook quotes it): a damaged one is ignored, so is a deep one."""
    config = answers(tmp_path)
    bench = tmp_path / "stack" / ".stackseal" / "bench.json"
    bench.parent.mkdir(parents=True)
    bench.write_text(BROKEN)
    damaged = cli("render", "-c", str(config), "--dry-run")
    assert damaged.returncode == 0, damaged.stderr
    bench.write_text(DEEP)
    before = tree(tmp_path)
    deep = cli("render", "-c", str(config), "--dry-run")
    assert "Traceback" not in deep.stderr, deep.stderr[-2000:]
    assert (deep.returncode, deep.stdout, deep.stderr) == (damaged.returncode, damaged.stdout, damaged.stderr)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("bad", [BROKEN, DEEP], ids=["malformed", "deep"])
def test_a_deep_wal_line_is_treated_like_a_torn_one(tmp_path: Path, bad: str) -> None:
    """The write-ahead log of a long operation: a bad record is skipped, a bad header starts over."""
    from wizard.stores.journal import OpJournal

    target = {"project": "deep", "volume": "v"}
    header = json.dumps({"target": target})
    good = json.dumps({"key": "a", "rec": {"state": "done"}})
    wal = tmp_path / "op.wal"
    wal.write_text(f"{header}\n{good}\n{bad}\n")
    journal = OpJournal(tmp_path, "op", target)
    assert journal.items == {"a": {"state": "done"}} and journal.resumed
    wal.write_text(f"{bad}\n{good}\n")
    journal = OpJournal(tmp_path, "op", target)
    assert journal.items == {} and not journal.resumed and not wal.exists()


def test_rotate_volume_keys_refuses_a_deep_journal(tmp_path: Path) -> None:
    config = answers(tmp_path, volumes={"backend": "gocryptfs", "root": str(tmp_path / "vols")})
    journal = tmp_path / "stack" / ".stackseal" / "rotate-volume-keys.json"
    journal.parent.mkdir(parents=True)
    journal.write_text(DEEP)
    before = tree(tmp_path)
    result = cli("rotate", "volume-keys", "-c", str(config))
    line = one_error_line(result)
    assert result.returncode == 1
    assert line == (
        f"stackseal: error: {journal}: damaged rotation journal; move it aside and run the rotation again "
        "(each step re-checks which key opens what)"
    )
    assert tree(tmp_path, ignore=("rotate.lock",)) == before


def test_keys_list_refuses_a_deep_wrapped_key_blob(tmp_path: Path) -> None:
    passphrase = tmp_path / "pass"
    passphrase.write_text("correct horse battery staple\n")
    passphrase.chmod(0o600)
    config = answers(tmp_path, kms={"backend": "local", "passphrase_file": str(passphrase)})
    blob = tmp_path / "stack" / "secrets" / "neo4j_auth.wrapped.json"
    blob.parent.mkdir(parents=True)
    blob.write_text(DEEP)
    before = tree(tmp_path)
    result = cli("keys", "list", "-c", str(config))
    line = one_error_line(result)
    assert result.returncode == 1
    assert line == (
        f"stackseal: error: {blob}: not a wrapped key blob (tampered or truncated); restore it from a backup"
    )
    assert tree(tmp_path) == before


def test_keys_import_refuses_a_deep_escrow_bundle(tmp_path: Path) -> None:
    """Anyone can encrypt a bundle to the operator's age recipient: its content is hostile until checked."""
    identity = pyrage.x25519.Identity.generate()
    identity_file = tmp_path / "identity.txt"
    identity_file.write_text(f"{identity}\n")
    bundle = tmp_path / "bundle.age"
    bundle.write_bytes(pyrage.encrypt(DEEP.encode(), [identity.to_public()]))
    config = answers(tmp_path)
    before = tree(tmp_path)
    result = cli("keys", "import", "-c", str(config), "--from", str(bundle), "--identity", str(identity_file))
    line = one_error_line(result)
    assert result.returncode == 1
    assert line == f"stackseal: error: {bundle}: decrypted, but not a stackseal escrow bundle of version 1"
    assert tree(tmp_path) == before
    assert not (tmp_path / "stack").exists()


def test_apply_journal_nested_thousands_deep_is_one_line(tmp_path: Path) -> None:
    """``.stackseal/journal.json``: apply reads it once its checks passed (they need Docker), here directly."""
    from wizard.steps.journal import Journal

    plan = plan_from_dict({"version": 1, "project": "deep"}, base_dir=tmp_path)
    state = tmp_path / ".stackseal"
    state.mkdir()
    (state / "journal.json").write_text(DEEP)
    with pytest.raises(OperationFailed, match="journal.json: damaged journal") as info:
        Journal.begin(state, plan)
    assert info.value.exit_code == 1 and "\n" not in str(info.value)
    assert (state / "journal.json").read_text() == DEEP


# -- the stack's own OpenBao: its init answer in the secrets directory ---------------------------------


def _deploy_plan(tmp_path: Path):
    return plan_from_dict(
        {
            "version": 1,
            "project": "deep",
            "output_dir": "stack",
            "kms": {"backend": "vault", "vault": {"deploy": True}},
        },
        base_dir=tmp_path,
    )


def _shares(plan, secrets: Path) -> object:
    from wizard.kms import openbao_init

    return openbao_init.shares(plan, secrets, ask=lambda *_: pytest.fail("asked for a share"))


def _vault_token(plan, secrets: Path) -> object:
    from wizard.kms.vault import VaultBackend

    return VaultBackend(plan).token()


def _step_token(plan, secrets: Path) -> object:
    from wizard.steps.context import Context
    from wizard.steps.kms_step import _token

    ctx = Context.for_plan(plan)
    try:
        return _token(ctx)
    finally:
        ctx.close()


@pytest.mark.parametrize(
    "content",
    [DEEP, BROKEN, '["a list"]', '{"unseal_keys": "abc", "root_token": "t"}'],
    ids=["deep", "malformed", "list", "keys-not-a-list"],
)
@pytest.mark.parametrize("reader", [_shares, _vault_token, _step_token], ids=["unseal", "vault-token", "apply-token"])
def test_a_damaged_openbao_init_file_is_one_line(tmp_path: Path, reader, content: str) -> None:
    """``secrets/openbao_init.json`` (development mode): unseal shares for unlock, the root token for apply."""
    plan = _deploy_plan(tmp_path)
    secrets = tmp_path / "stack" / "secrets"
    secrets.mkdir(parents=True)
    init = secrets / "openbao_init.json"
    init.write_text(content)
    with pytest.raises(OperationFailed) as info:
        reader(plan, secrets)
    assert str(info.value) == (
        f"{init}: not the OpenBao init answer stackseal wrote (damaged or tampered); restore it from a backup "
        "or the escrow bundle ('stackseal keys import')"
    )
    init.write_text(json.dumps({"unseal_keys": ["k1", "k2"], "root_token": "hvs.root"}))
    assert reader(plan, secrets) in (["k1", "k2"], "hvs.root")  # what stackseal writes still reads


def test_a_deep_openbao_init_age_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``secrets/openbao_init.age``: encrypted to a public recipient, so anyone could have written it."""
    from wizard.kms import openbao_init

    identity = pyrage.x25519.Identity.generate()
    identity_file = tmp_path / "identity.txt"
    identity_file.write_text(f"{identity}\n")
    monkeypatch.setenv(openbao_init.IDENTITY_ENV, str(identity_file))
    secrets = tmp_path / "stack" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "openbao_init.age").write_bytes(pyrage.encrypt(DEEP.encode(), [identity.to_public()]))
    with pytest.raises(OperationFailed, match=r"^openbao_init.age: not the OpenBao init answer stackseal wrote"):
        _shares(_deploy_plan(tmp_path), secrets)


# -- server answers -------------------------------------------------------------------------------------


def test_unlock_refuses_a_deep_vault_seal_status(tmp_path: Path, stub: _Stub) -> None:
    token = tmp_path / "token"
    token.write_text("hvs.not-a-real-token\n")
    config = answers(tmp_path, kms={"backend": "vault", "vault": {"address": url(stub), "token_file": str(token)}})
    before = tree(tmp_path)
    result = cli("unlock", "-c", str(config), "--no-start")
    line = one_error_line(result)
    assert result.returncode == 1
    assert line == f"stackseal: error: {url(stub)} did not answer like Vault/OpenBao (sys/seal-status)"
    assert tree(tmp_path) == before


def _verify(tmp_path: Path, check_id: str, **sections: object):
    from wizard.verify.context import VerifyContext
    from wizard.verify.registry import check_by_id

    ctx = VerifyContext(plan_from_dict({"version": 1, "project": "deep", **sections}, base_dir=tmp_path))
    try:
        (result,) = check_by_id(check_id).func(ctx)
    finally:
        ctx.close()
    return result


@pytest.mark.parametrize("status", [200, 400])
def test_verify_minio_kms_status_nested_thousands_deep(tmp_path: Path, stub: _Stub, status: int) -> None:
    from wizard.verify.model import Status

    access, secret = tmp_path / "ak", tmp_path / "sk"
    access.write_text("minioadmin-test")
    secret.write_text("s3cr3t-value-never-shown")
    stub.reply = (status, DEEP)
    store = {
        "kind": "minio",
        "endpoint": url(stub),
        "sse": "sse-kms",
        "access_key_file": str(access),
        "secret_key_file": str(secret),
    }
    result = _verify(tmp_path, "store.kms", object_store=store, kms={"backend": "vault"})
    assert result.status is Status.FAIL
    expected = "MinIO's KMS status answer is not JSON" if status == 200 else "MinIO's KMS status call failed (HTTP 400)"
    assert result.summary == expected


def test_verify_vault_health_nested_thousands_deep(tmp_path: Path, stub: _Stub) -> None:
    from wizard.verify.model import Status

    token = tmp_path / "token"
    token.write_text("hvs.not-a-real-token\n")
    kms = {"backend": "vault", "vault": {"address": url(stub), "token_file": str(token)}}
    result = _verify(tmp_path, "kms.status", kms=kms)
    assert result.status is Status.FAIL
    assert result.summary == f"{url(stub)} did not answer like Vault/OpenBao (sys/health)"


def test_detect_vault_health_nested_thousands_deep(stub: _Stub) -> None:
    """The wizard's Welcome probe of the Vault address: not a health answer, like any other non-answer."""
    from wizard.detect import vault_health

    with pytest.raises(OSError, match="is not a Vault health answer"):
        vault_health(url(stub), 5.0)


# -- a secret file verify searches for (its JSON strings are the values that must not leak) ------------


@pytest.mark.parametrize("depth", [600, DEPTH], ids=["walk", "parse"])
def test_verify_reads_a_deep_json_secret_as_plain_text(tmp_path: Path, depth: int) -> None:
    """Deep enough to fail parsing (100000) or only the walk over the parsed document (600)."""
    from wizard.verify.model import Status

    secrets = tmp_path / "stack" / "secrets"
    secrets.mkdir(parents=True, mode=0o700)
    (secrets / "seaweedfs_s3.json").write_text("[" * depth + "]" * depth)
    result = _verify(tmp_path, "keys.no_secret_in_config", output_dir="stack")
    assert result.status is Status.PASS, result.summary
