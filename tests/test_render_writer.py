"""Safe, idempotent writes: byte-identical re-renders, kept secrets, refused clobbering, manifest."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from wizard.fsutil import sha256_file
from wizard.kms.local import LocalSecretStore
from wizard.plan import plan_from_dict
from wizard.render import render_files, writer

PLAN = {
    "version": 1,
    "project": "wr",
    "object_store": {"kind": "minio", "sse": "sse-kms"},
    "kms": {"backend": "vault", "vault": {"deploy": True}},
    "volumes": {"backend": "luks-file"},
}


def _plan(tmp_path: Path, data: dict | None = None):
    return plan_from_dict(data or PLAN, base_dir=tmp_path)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rendering_twice_is_byte_identical_and_keeps_secrets(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    first = writer.write(_plan(tmp_path), out)
    assert {c.action for c in first} == {"create"}
    before = _snapshot(out)
    mtimes = {p: (out / p).stat().st_mtime_ns for p in before}
    second = writer.write(_plan(tmp_path), out)
    assert {c.action for c in second} == {"unchanged"}
    assert _snapshot(out) == before
    assert {p: (out / p).stat().st_mtime_ns for p in before} == mtimes, "unchanged files must not be rewritten"


def test_render_files_is_pure_and_deterministic(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    writer.write(_plan(tmp_path), out)
    store = writer.secret_store_for(out)
    a = render_files(_plan(tmp_path), store)
    b = render_files(_plan(tmp_path), writer.secret_store_for(out))
    assert a == b
    assert store.pending() == {}, "all secrets exist already: nothing new may be generated"


def test_preview_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    changes = writer.preview(_plan(tmp_path), out)
    assert changes and all(c.action == "create" for c in changes)
    assert not out.exists()


def test_secret_dir_and_file_modes_and_gitignore(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    writer.write(_plan(tmp_path), out)
    secrets = out / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    for f in secrets.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) in (0o400, 0o600), f
    assert (secrets / ".gitignore").read_text().splitlines()[-1] == "*"
    assert stat.S_IMODE((out / "compose.yaml").stat().st_mode) == 0o644


def test_a_changed_plan_updates_files_but_never_regenerates_a_secret(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    writer.write(_plan(tmp_path), out)
    auth = (out / "secrets" / "neo4j_auth").read_bytes()
    changed = dict(PLAN, project="wr", neo4j={"http_port": 17474})
    changes = {c.path: c for c in writer.write(_plan(tmp_path, changed), out)}
    assert changes["compose.yaml"].action == "update"
    assert "127.0.0.1:17474:7474" in changes["compose.yaml"].diff
    assert changes["secrets/neo4j_auth"].action == "unchanged"
    assert (out / "secrets" / "neo4j_auth").read_bytes() == auth


def test_user_edit_is_refused_with_a_diff_then_forced(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    writer.write(_plan(tmp_path), out)
    compose = out / "compose.yaml"
    edited = compose.read_text().replace("restart: unless-stopped", "restart: always", 1)
    compose.write_text(edited)
    with pytest.raises(writer.ConflictError) as err:
        writer.write(_plan(tmp_path), out)
    assert err.value.exit_code == 2
    assert "compose.yaml" in str(err.value) and "--force" in str(err.value)
    diff = err.value.diffs()
    assert "-    restart: always" in diff and "+    restart: unless-stopped" in diff
    assert compose.read_text() == edited, "a refused render must not touch the file"
    writer.write(_plan(tmp_path), out, force=True)
    assert "restart: always" not in compose.read_text()


def test_a_file_stackseal_did_not_write_is_a_conflict(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    out.mkdir()
    (out / "compose.yaml").write_text("services: {}\n")
    changes = {c.path: c for c in writer.preview(_plan(tmp_path), out)}
    assert changes["compose.yaml"].action == "conflict"
    with pytest.raises(writer.ConflictError):
        writer.write(_plan(tmp_path), out)
    assert (out / "compose.yaml").read_text() == "services: {}\n"
    assert not (out / "secrets").exists(), "nothing may be written when the render is refused"


def test_edited_secret_config_conflict_shows_no_diff(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    writer.write(_plan(tmp_path), out)
    config = out / "secrets" / "kes_config.yml"
    os.chmod(config, 0o600)
    config.write_text(config.read_text() + "# edited\n")
    with pytest.raises(writer.ConflictError) as err:
        writer.write(_plan(tmp_path), out)
    [conflict] = err.value.conflicts
    assert conflict.secret and conflict.diff is None
    assert "no diff is shown for secrets" in err.value.diffs()
    assert "approle" not in err.value.diffs()


def test_manifest_records_every_file_hash(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    writer.write(_plan(tmp_path), out)
    manifest = json.loads((out / writer.MANIFEST).read_text())
    files = manifest["files"]
    on_disk = {p for p in _snapshot(out) if p != writer.MANIFEST}
    assert set(files) == on_disk
    for path, entry in files.items():
        assert entry["sha256"] == sha256_file(out / path)
    assert files["secrets/neo4j_auth"]["secret"] is True and files["compose.yaml"]["secret"] is False


def test_no_temp_files_are_left_behind(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    writer.write(_plan(tmp_path), out)
    writer.write(_plan(tmp_path, dict(PLAN, neo4j={"http_port": 7475})), out)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".stackseal-probe")]


def test_cli_render_twice_then_conflict(tmp_path: Path) -> None:
    answers = tmp_path / "s.yaml"
    answers.write_text("version: 1\nproject: cli\noutput_dir: ./out\n")
    cmd = [sys.executable, "-m", "wizard.cli", "render", "-c", str(answers)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "0 created, 0 updated" in second.stdout
    runbook = tmp_path / "out" / "RUNBOOK.md"
    runbook.write_text(runbook.read_text() + "my notes\n")
    third = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert third.returncode == 2
    assert "+my notes" not in third.stderr and "-my notes" in third.stderr  # the unified diff
    assert third.stderr.strip().splitlines()[-1].startswith("stackseal: error: 1 file(s) were changed")
    forced = subprocess.run(cmd + ["--force"], capture_output=True, text=True, timeout=120)
    assert forced.returncode == 0 and "my notes" not in runbook.read_text()


def test_public_files_do_not_depend_on_the_output_directory(tmp_path: Path) -> None:
    """-o DIR and output_dir give the same compose file and runbook (they name secrets relatively)."""
    writer.write(_plan(tmp_path), tmp_path / "a")
    writer.write(_plan(tmp_path), tmp_path / "elsewhere" / "b")
    for name in ("compose.yaml", "RUNBOOK.md", "vault/policies/wr-kes.hcl", "openbao/openbao.hcl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "elsewhere" / "b" / name).read_bytes(), name
    assert str(tmp_path) not in (tmp_path / "a" / "RUNBOOK.md").read_text()


def test_files_the_plan_no_longer_needs_are_kept_and_reported_stale(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    writer.write(_plan(tmp_path), out)
    kes_secret = (out / "secrets" / "kes_secret_id").read_bytes()
    aws = dict(PLAN, kms={"backend": "aws"}, volumes={"backend": "luks-file"})
    writer.write(_plan(tmp_path, aws), out, store=LocalSecretStore(tmp_path / "kms-standin"))  # no AWS here
    files = render_files(_plan(tmp_path, aws), writer.secret_store_for(out))
    stale = writer.stale_files(files, out)
    assert "vault/policies/wr-kes.hcl" in stale and "secrets/kes_secret_id" in stale
    assert (out / "secrets" / "kes_secret_id").read_bytes() == kes_secret, "a key is never deleted by a render"
    back = {c.path: c.action for c in writer.write(_plan(tmp_path), out)}  # back to Vault: no conflict
    assert back["vault/policies/wr-kes.hcl"] == "unchanged" and back["secrets/kes_secret_id"] == "unchanged"
