"""Bad input and hostile files for rotate and escrow: one line, the right exit code, nothing changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyrage
import pytest
import yaml

from wizard.errors import OperationFailed
from wizard.rotate.escrow import FORMAT, VERSION, open_bundle
from wizard.rotate.escrow_restore import plan_restore
from wizard.rotate.journal import RotationJournal

STACKSEAL = [sys.executable, "-m", "wizard.cli"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(STACKSEAL + list(args), capture_output=True, text=True, timeout=120)


def answers(tmp_path: Path, **sections) -> Path:
    path = tmp_path / "stackseal.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "project": "bad", **sections}))
    return path


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stackseal: error:"), result.stderr
    return lines[0]


def test_rotate_usage_and_unsupported_kinds(tmp_path: Path) -> None:
    assert cli("rotate", "kms-key", "-c", str(tmp_path / "missing.yaml")).returncode == 2
    assert cli("rotate", "nonsense", "-c", "x").returncode == 2
    local = answers(tmp_path, volumes={"backend": "host-fde"})
    result = cli("rotate", "kms-key", "-c", str(local))
    assert result.returncode == 2 and "no KMS key to rotate" in one_line(result)
    (tmp_path / "pp").mkdir()
    passphrase = tmp_path / "pp" / "pass"
    passphrase.write_text("correct horse battery staple\n")
    passphrase.chmod(0o600)
    wrapped = answers(tmp_path / "pp", kms={"backend": "local", "passphrase_file": str(passphrase)})
    refused = cli("rotate", "kms-key", "-c", str(wrapped))
    assert refused.returncode == 2 and "has no key to rotate" in one_line(refused)
    done = cli("rotate", "volume-keys", "-c", str(local))
    assert done.returncode == 0 and "nothing to rotate" in done.stdout
    assert not (tmp_path / "stack" / ".stackseal" / "journal.json").exists()


def test_a_hostile_rotation_journal_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (tmp_path / "elsewhere.json").write_text("{}")
    (state / "rotate-kms-key.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(OperationFailed, match="not a regular file"):
        RotationJournal.begin(state, "kms-key")
    (state / "rotate-volume-keys.json").write_text('{"kind": "volume-keys", "run_id": ')
    with pytest.raises(OperationFailed, match="damaged rotation journal"):
        RotationJournal.begin(state, "volume-keys")


def _bundle(tmp_path: Path, doc: dict) -> tuple[Path, object]:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path / "b.age"
    path.write_bytes(pyrage.encrypt(json.dumps(doc).encode(), [identity.to_public()]))
    return path, identity


def test_a_bundle_with_hostile_names_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    from wizard.plan import load_plan

    plan = load_plan(answers(tmp_path, volumes={"backend": "gocryptfs", "root": str(tmp_path / "v")}))
    base = {
        "format": FORMAT,
        "version": VERSION,
        "project": "bad",
        "kms": {"backend": "local"},
        "blobs": {},
        "plain_secrets": {},
        "luks_headers": {},
        "gocryptfs": {},
        "openbao": {},
    }
    for hostile in (
        {"plain_secrets": {"../../etc/cron.d/x": "eA=="}},
        {"openbao": {"../x": "eA=="}},
        {"luks_headers": {"../../x": "eA=="}},
        {"gocryptfs": {"not-a-volume": {"conf": "eA=="}}},
        {"plain_secrets": {"ok-name": "***not base64***"}},
    ):
        path, identity = _bundle(tmp_path, {**base, **hostile})
        doc = open_bundle(path, identity=identity)
        with pytest.raises(OperationFailed):
            plan_restore(plan, doc)
    assert not (tmp_path / "stack").exists()
    path, identity = _bundle(tmp_path, {**base, "project": "other"})
    with pytest.raises(Exception, match="for project 'other'"):
        plan_restore(plan, open_bundle(path, identity=identity))
    path, identity = _bundle(tmp_path, {"format": "something-else"})
    with pytest.raises(OperationFailed, match="not a stackseal escrow bundle"):
        open_bundle(path, identity=identity)


def test_only_one_rotation_runs_at_a_time(tmp_path: Path) -> None:
    """A second process is refused while the first holds the lock; the lock dies with its process."""
    state = tmp_path / "state"
    code = (
        "import sys, time; from pathlib import Path; from wizard.rotate.journal import RotationJournal;"
        f"RotationJournal.begin(Path({str(state)!r}), 'kms-key'); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        probe = subprocess.run(
            [sys.executable, "-c", code.replace("'kms-key'", "'volume-keys'")], capture_output=True, text=True
        )
        assert probe.returncode == 1 and "another stackseal rotation" in probe.stderr
    finally:
        holder.kill()
        holder.wait()
    assert RotationJournal.begin(state, "volume-keys").status == "running"  # free again after the kill


def test_the_lock_is_released_when_a_rotation_ends_in_process(tmp_path: Path) -> None:
    journal = RotationJournal.begin(tmp_path, "kms-key")
    journal.finish()
    code = (
        "from pathlib import Path; from wizard.rotate.journal import RotationJournal;"
        f"RotationJournal.begin(Path({str(tmp_path)!r}), 'volume-keys')"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


@pytest.mark.parametrize("finished_at", ["abc", 1e300, -1, [1], True])
def test_a_hostile_journal_time_is_damaged_and_key_ages_fall_back(tmp_path: Path, finished_at) -> None:
    """``finished_at`` becomes a date on the key-ages page: a shape rotate never writes is a damaged
    journal (one line from ``rotate kms-key``), and the ages fall back to the blobs' own dates."""
    from wizard.kms.base import WrappedBlob
    from wizard.kms.store import write_blob
    from wizard.plan import load_plan
    from wizard.rotate.ages import key_ages

    config = answers(
        tmp_path,
        output_dir=str(tmp_path / "stack"),
        kms={"backend": "vault", "vault": {"address": "http://127.0.0.1:9", "token_file": str(tmp_path / "t")}},
        volumes={"backend": "host-fde"},
    )
    plan = load_plan(config)
    blob = WrappedBlob("vault", "transit/stackseal", "1", b"vault:v1:AAAA", "2026-01-01T00:00:00Z")
    write_blob(plan.output_path / "secrets", "neo4j_auth", blob)
    state = plan.output_path / ".stackseal"
    state.mkdir(parents=True)
    doc = {"version": 1, "kind": "kms-key", "run_id": "r1", "status": "done", "started_at": 1.0}
    (state / "rotate-kms-key.json").write_text(json.dumps({**doc, "finished_at": finished_at}))
    with pytest.raises(OperationFailed, match="damaged rotation journal"):
        RotationJournal.load(state, "kms-key")
    ages = key_ages(plan)
    assert ages[0].name == "KMS key stackseal" and ages[0].age_days >= 0
    (state / "rotate-kms-key.json").write_text(json.dumps({**doc, "finished_at": 2.0e9}))
    assert RotationJournal.load(state, "kms-key").finished_at == 2.0e9  # what time.time() writes still loads
