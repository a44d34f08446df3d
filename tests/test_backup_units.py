"""Backup pieces that need no server: the stream format, manifests, ids, schedule rendering."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
from pathlib import Path

import pytest
import yaml

from wizard.backup import engine, schedule, stream
from wizard.backup.manifest import Manifest, Part, authenticate, dumps, loads, seal
from wizard.backup.repo import Repo, new_id
from wizard.errors import OperationFailed, UsageError
from wizard.kms.base import WrappedBlob
from wizard.plan import load_plan


@pytest.fixture(params=["age-cli", "pyrage"])
def engine_choice(request, monkeypatch) -> str:
    """Run a test with the age CLI doing the encryption, then with pyrage doing it."""
    if request.param == "pyrage":
        monkeypatch.setattr(stream, "age_cli", lambda: None)
    else:
        assert stream.age_cli(), "the age CLI is installed by tests/testbed/install.sh (Debian 'age')"
    return request.param


def test_stream_round_trip_hashes_the_plaintext(tmp_path: Path, engine_choice: str) -> None:
    key = stream.new_data_key()
    assert key.startswith(b"AGE-SECRET-KEY-1")
    data = os.urandom(3_000_000)
    with open(tmp_path / "part.age", "wb") as out:
        sealed = stream.encrypt_to(io.BytesIO(data), out, key)
    ct = (tmp_path / "part.age").read_bytes()
    assert sealed.plaintext_sha256 == hashlib.sha256(data).hexdigest()
    assert sealed.plaintext_bytes == len(data) and sealed.ciphertext_bytes == len(ct)
    assert ct.startswith(b"age-encryption.org/v1\n")
    back = io.BytesIO()
    assert stream.decrypt_to(io.BytesIO(ct), back, key) == (len(data), sealed.plaintext_sha256)
    assert back.getvalue() == data


def test_stream_failure_of_the_source_kills_the_encryption(tmp_path: Path, engine_choice: str) -> None:
    class Broken(io.RawIOBase):
        def read(self, n: int = -1) -> bytes:
            raise OperationFailed("the store went away")

    with open(tmp_path / "part.age", "wb") as out, pytest.raises(OperationFailed, match="went away"):
        stream.encrypt_to(Broken(), out, stream.new_data_key())


def test_stream_refuses_wrong_key_tampering_truncation_and_overlong_plaintext() -> None:
    key, other = stream.new_data_key(), stream.new_data_key()
    out = io.BytesIO()
    import pyrage

    pyrage.encrypt_io(io.BytesIO(os.urandom(200_000)), out, [stream._recipient(key)])
    ct = out.getvalue()
    with pytest.raises(OperationFailed, match="does not open"):
        stream.decrypt_to(io.BytesIO(ct), None, other)
    flipped = bytearray(ct)
    flipped[len(ct) // 2] ^= 1
    with pytest.raises(OperationFailed, match="tampered"):
        stream.decrypt_to(io.BytesIO(bytes(flipped)), None, key)
    with pytest.raises(OperationFailed, match="truncated"):
        stream.decrypt_to(io.BytesIO(ct[:-10]), None, key)
    with pytest.raises(OperationFailed, match="more bytes than its manifest"):
        stream.decrypt_to(io.BytesIO(ct), None, key, limit=1000)
    with pytest.raises(OperationFailed, match="not an age identity"):
        stream.decrypt_to(io.BytesIO(ct), None, b"not a key")


#: the data key the unit manifests are sealed with (an age identity, as create makes them)
DATA_KEY = stream.new_data_key()


def _sealed_manifest() -> Manifest:
    blob = WrappedBlob("vault", "transit/k", "1", b"vault:v1:xyz", "2026-12-01T00:00:00Z")
    parts = [
        Part(
            name=name,
            kind=name.split("-")[0],  # type: ignore[arg-type]
            file=f"{name}.age",
            plaintext_bytes=1,
            plaintext_sha256="0" * 64,
            ciphertext_bytes=2,
            detail={"bucket": "b\u00fcck"} if name.startswith("objects") else {},
        )
        for name in ("keys", "objects-media", "neo4j")
    ]
    m = Manifest(
        id=new_id(),
        project="p",
        created="t",
        finished="t",
        source={"ünïcode": ["x", 1, None, True]},
        encryption={"format": "age", "data_key": blob.to_json()},
        parts=parts,
        counts={"nodes": 3, "relationships": 2},
    )
    return seal(m, DATA_KEY)


def _manifest(**overrides) -> dict:
    doc = json.loads(dumps(_sealed_manifest()))
    doc.update(overrides)
    return doc


@pytest.mark.parametrize(
    "change, match",
    [
        ({"format": "other"}, "not a stackseal backup"),
        ({"format_version": 99}, "newer stackseal"),
        ({"id": "../../etc"}, "not a backup id"),
        ({"extra": 1}, "unknown field"),
        ({"encryption": {"data_key": {"backend": "x"}}}, "malformed"),
        ({"counts": {"nodes": 1}}, "counts must be"),
        ({"counts": {"nodes": 1, "relationships": -1}}, "counts must be"),
        ({"counts": {"nodes": 1, "relationships": 2, "x": 3}}, "counts must be"),
        ({"parts": []}, "lists no part"),  # would "verify" with nothing decrypted
        ({"mac": ""}, "no MAC"),
        ({"mac": "zz"}, "no MAC"),
        ({"format_version": 1}, "no manifest MAC"),  # a downgrade would strip the MAC
    ],
)
def test_hostile_manifests_are_refused_with_one_line(change, match) -> None:
    with pytest.raises(OperationFailed, match=match) as info:
        loads(json.dumps(_manifest(**change)).encode(), "m.json")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("depth", [990, 5000, 200_000])
def test_a_manifest_nested_thousands_deep_is_one_line(depth: int) -> None:
    text = json.dumps(_manifest()).replace('"source": {', '"source": {"deep": ' + "[" * depth + "]" * depth + ", ", 1)
    try:
        authenticate(loads(text.encode(), "m.json"), DATA_KEY)
    except OperationFailed as err:  # malformed (too deep to parse) or, if parsed, not authentic
        assert "\n" not in str(err) and ("nested too deeply" in str(err) or "does not authenticate" in str(err))
    else:
        pytest.fail("an edited manifest was accepted")


def _edit(doc: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for key in parents:
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    if value is _DROP:
        del doc[int(last)]
    else:
        doc[int(last) if isinstance(doc, list) else last] = value


_DROP = object()


@pytest.mark.parametrize(
    "path, value",
    [
        ("parts.1", _DROP),  # a part removed from the manifest (and, by an attacker, from the directory)
        ("parts.0.plaintext_sha256", "1" * 64),
        ("parts.0.plaintext_bytes", 2),
        ("parts.1.items", 5),
        ("parts.1.detail.bucket", "other"),
        ("counts.nodes", 4),
        ("created", "u"),
        ("project", "q"),
        ("source.ünïcode.1", 2),
        ("encryption.format", "age2"),
        ("encryption.manifest_mac", "none"),
    ],
)
def test_an_edited_manifest_does_not_authenticate(path: str, value) -> None:
    doc = _manifest()
    authenticate(loads(json.dumps(doc).encode(), "m.json"), DATA_KEY)  # the positive control
    _edit(doc, path, value)
    edited = loads(json.dumps(doc).encode(), "m.json")
    with pytest.raises(OperationFailed, match="does not authenticate") as info:
        authenticate(edited, DATA_KEY)
    assert "\n" not in str(info.value)


def test_the_mac_needs_the_data_key_and_survives_rewrapping_and_reformatting() -> None:
    manifest = _sealed_manifest()
    with pytest.raises(OperationFailed, match="does not authenticate"):
        authenticate(manifest, stream.new_data_key())  # another backup's key (or a forger's)
    rewrapped = manifest.with_data_key(WrappedBlob("vault", "transit/k", "2", b"vault:v2:abc", "2026-12-01T00:00:00Z"))
    authenticate(rewrapped, DATA_KEY)  # key rotation re-wraps without re-sealing
    pretty = json.dumps(json.loads(dumps(manifest)), indent=7, sort_keys=False, ensure_ascii=False)
    authenticate(loads(pretty.encode(), "m.json"), DATA_KEY)  # whitespace, key order, escapes: not content
    with pytest.raises(OperationFailed, match="without its MAC"):
        dumps(Manifest(**{**{f: getattr(manifest, f) for f in manifest.__struct_fields__}, "mac": ""}))


@pytest.mark.parametrize(
    "part",
    [
        {"file": "../x.age"},
        {"name": "objects-../../x", "file": "objects-../../x.age", "kind": "objects"},
        {"kind": "neo4j"},
        {"plaintext_sha256": "zz"},
        {"plaintext_bytes": -1},
    ],
)
def test_hostile_parts_are_refused(part) -> None:
    doc = _manifest()
    doc["parts"][0].update(part)
    with pytest.raises(OperationFailed, match="malformed"):
        loads(json.dumps(doc).encode(), "m.json")
    assert loads(json.dumps(_manifest()).encode(), "m.json").part("keys") is not None
    with pytest.raises(OperationFailed, match="too large"):
        loads(b" " * (2 << 20), "m.json")


def test_what_parsing() -> None:
    assert engine.parse_what(None) == ("neo4j", "objects", "keys")
    assert engine.parse_what("keys, neo4j,keys") == ("keys", "neo4j")
    with pytest.raises(UsageError, match="volumes is not one of"):
        engine.parse_what("neo4j,volumes")
    for empty in ("", " ", ","):  # an unset variable in a script is not "everything"
        with pytest.raises(UsageError, match="nothing is not one of"):
            engine.parse_what(empty)


def test_repo_refuses_symlinked_dir_and_bad_ids(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    with pytest.raises(UsageError, match="symlink"):
        Repo(tmp_path / "link").ensure()
    (tmp_path / "real" / "20261201T052500.123456Z-1a2b3c").mkdir()
    for read in (Repo(tmp_path / "link").ids, lambda: Repo(tmp_path / "link").dir_of("20261201T052500.123456Z-1a2b3c")):
        with pytest.raises(UsageError, match="symlink"):  # list and verify too, as create and restore
            read()
    repo = Repo(tmp_path / "b")
    with pytest.raises(UsageError, match="not a backup id"):
        repo.dir_of("..")
    with pytest.raises(UsageError, match="no backup in"):
        repo.latest()


@pytest.mark.parametrize("dirname", ["plain", "with space", "pct%i", 'q"uote', "$(touch pwned)", "back\\slash"])
def test_schedule_units_quote_hostile_paths(tmp_path: Path, dirname: str) -> None:
    base = tmp_path / dirname
    base.mkdir()
    (base / "stackseal.yaml").write_text(yaml.safe_dump({"version": 1, "project": "p1"}))
    files = schedule.schedule_files(load_plan(base / "stackseal.yaml"))
    service = files["backup/stackseal-backup-p1.service"].decode()
    config = str(base / "stackseal.yaml")
    env_line = next(line for line in service.splitlines() if line.startswith("Environment="))
    value = env_line[len("Environment=") :]
    assert value.startswith('"') and value.endswith('"')
    unquoted = value[1:-1].replace('\\"', '"').replace("\\\\", "\\").replace("%%", "%")
    assert unquoted == f"STACKSEAL_CONFIG={config}"
    assert "ExecStart=/usr/bin/env stackseal backup create -c ${STACKSEAL_CONFIG}" in service
    cron = files["backup/stackseal-backup-p1.cron"].decode().splitlines()[-1]
    assert cron.startswith("17 3 * * * root ")
    command = cron[len("17 3 * * * root ") :].replace("\\%", "%")
    words = shlex.split(command)
    assert words[:5] == ["stackseal", "backup", "create", "-c", config]
    timer = files["backup/stackseal-backup-p1.timer"].decode()
    assert "OnCalendar=*-*-* 03:17:00" in timer and "Persistent=true" in timer


def test_schedule_refuses_control_characters(tmp_path: Path) -> None:
    base = tmp_path / "evil\nExecStart=rm"
    base.mkdir()
    (base / "stackseal.yaml").write_text(yaml.safe_dump({"version": 1, "project": "p1"}))
    with pytest.raises(UsageError, match="control characters"):
        schedule.schedule_files(load_plan(base / "stackseal.yaml"))


def test_runbook_quotes_the_measured_overhead_of_the_plans_choices(tmp_path: Path) -> None:
    from wizard.bench.common import Result
    from wizard.bench.report import save, to_json
    from wizard.kms.local import LocalSecretStore
    from wizard.render import render_files

    (tmp_path / "stackseal.yaml").write_text(
        yaml.safe_dump({"version": 1, "project": "p1", "volumes": {"backend": "gocryptfs", "root": "/srv/x"}})
    )
    plan = load_plan(tmp_path / "stackseal.yaml")
    store = LocalSecretStore(tmp_path / "s" / "secrets")
    before = render_files(plan, store)["RUNBOOK.md"].content.decode()
    assert "Measured on this host" not in before and "stackseal backup create" in before
    results = [
        Result("volumes", "plain write", 400.0, "MB/s"),
        Result("volumes", "gocryptfs write", 100.0, "MB/s", baseline="plain write"),
        Result("volumes", "fscrypt write", 20.0, "MB/s", baseline="plain write"),
    ]
    save(plan.output_path, to_json(results, "host1"))
    after = render_files(plan, store)["RUNBOOK.md"].content.decode()
    assert "volumes (gocryptfs) write: 100 MB/s (+300% time vs a plain directory)" in after
    assert "fscrypt" not in after.split("Measured on this host")[1].split("By hand")[0]


def test_a_kms_that_does_not_wrap_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    class Plaintext:
        backend = "local"
        envelope = False

        def wrap_many(self, plaintexts):
            return {n: WrappedBlob("local", "none", None, v, "t") for n, v in plaintexts.items()}

    class Leaky(Plaintext):
        envelope = True

    (tmp_path / "stackseal.yaml").write_text(yaml.safe_dump({"version": 1, "project": "p1"}))
    plan = load_plan(tmp_path / "stackseal.yaml")
    with pytest.raises(UsageError, match="passphrase_file"):
        engine.create(plan, Plaintext(), what=("keys",))
    with pytest.raises(OperationFailed, match="unwrapped"):
        engine.create(plan, Leaky(), what=("keys",))
    assert engine.repo_of(plan).ids() == []


def test_one_writer_at_a_time_and_leftovers_are_cleaned(tmp_path: Path) -> None:
    (tmp_path / "stackseal.yaml").write_text(yaml.safe_dump({"version": 1, "project": "p1"}))
    plan = load_plan(tmp_path / "stackseal.yaml")
    repo = engine.repo_of(plan)
    repo.ensure()
    stale = repo.root / ".restore-deadbeef"
    stale.mkdir()
    (stale / "neo4j").write_bytes(b"plaintext left by a killed restore")
    (repo.root / ".incomplete-20260101T000000.000000Z-abcdef").mkdir()
    with repo.locked("test"):
        assert not stale.exists() and not list(repo.root.glob(".incomplete-*"))
        with pytest.raises(OperationFailed, match="another stackseal backup operation is running"):
            engine.create(plan, object(), what=("keys",))  # type: ignore[arg-type]


def test_a_symlinked_lock_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "stackseal.yaml").write_text(yaml.safe_dump({"version": 1, "project": "p1"}))
    plan = load_plan(tmp_path / "stackseal.yaml")
    repo = engine.repo_of(plan)
    repo.ensure()
    os.symlink("/etc/passwd", repo.root / ".lock")
    with pytest.raises(OperationFailed, match="cannot be opened safely"):
        engine.create(plan, object(), what=("keys",))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- feeding the age CLI
# Each road of wizard/backup/agefeed.py (a regular file, a pipe through tee(2), a copy loop) must
# give the age CLI exactly the source's bytes and the manifest exactly their SHA-256.


def _age_decrypts(path: Path, key: bytes, tmp_path: Path) -> bytes:
    """What the age CLI (not our code) gets back out of ``path``."""
    import subprocess

    identity = tmp_path / "identity.txt"
    identity.write_bytes(key)
    identity.chmod(0o600)
    return subprocess.run(["age", "-d", "-i", str(identity), str(path)], capture_output=True, check=True).stdout


def _no_age_left(procs: list) -> None:
    assert procs, "age was started"
    assert all(p.returncode is not None for p in procs), "an age process was left running"


@pytest.fixture
def age_procs(monkeypatch) -> list:
    """Every age process agefeed starts (to check none is left behind)."""
    from wizard.backup import agefeed

    started: list = []
    real = agefeed._start

    def spy(*args, **kwargs):
        proc = real(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(agefeed, "_start", spy)
    return started


def test_feed_a_regular_file_age_reads_it_and_we_hash_it(tmp_path: Path, age_procs: list) -> None:
    from wizard.backup import agefeed

    data = os.urandom(5_000_123)
    (tmp_path / "plain").write_bytes(b"HEADER" + data)
    key = stream.new_data_key()
    seen: list[int] = []
    with open(tmp_path / "plain", "rb") as src, open(tmp_path / "part.age", "wb") as out:
        assert src.read(6) == b"HEADER"  # a buffered reader that has read ahead of its position
        assert agefeed.path_of(src) == "file"
        sealed = stream.encrypt_to(src, out, key, seen.append)
        assert src.tell() == 6 + len(data) and src.read() == b""
    assert (sealed.plaintext_bytes, sealed.plaintext_sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert sealed.ciphertext_bytes == (tmp_path / "part.age").stat().st_size
    assert _age_decrypts(tmp_path / "part.age", key, tmp_path) == data
    assert seen and seen[-1] == len(data)
    _no_age_left(age_procs)


def test_feed_a_pipe_through_tee_with_short_writes_and_a_buffered_head(tmp_path: Path, age_procs: list) -> None:
    import threading

    from wizard.backup import agefeed

    data = os.urandom(6_000_001)
    read_fd, write_fd = os.pipe()

    def produce() -> None:  # odd-sized pieces: every tee and read sees a short, partial pipe
        with os.fdopen(write_fd, "wb", buffering=0) as w:
            for i in range(0, len(data), 77_777):
                w.write(data[i : i + 77_777])

    producer = threading.Thread(target=produce)
    producer.start()
    key = stream.new_data_key()
    with os.fdopen(read_fd, "rb") as src, open(tmp_path / "part.age", "wb") as out:
        assert src.peek(1)  # the reader has pulled a first piece into its own buffer
        assert agefeed.path_of(src) == "tee"
        sealed = stream.encrypt_to(src, out, key)
    producer.join()
    assert (sealed.plaintext_bytes, sealed.plaintext_sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert _age_decrypts(tmp_path / "part.age", key, tmp_path) == data
    _no_age_left(age_procs)


def test_feed_without_a_descriptor_copies_short_reads(tmp_path: Path, age_procs: list) -> None:
    from wizard.backup import agefeed

    data = os.urandom(3_333_333)

    class Dribble(io.RawIOBase):  # returns at most 1000 bytes whatever it is asked for
        def __init__(self) -> None:
            self.pos = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            chunk = data[self.pos : self.pos + min(n if n > 0 else 1000, 1000)]
            self.pos += len(chunk)
            return chunk

    key = stream.new_data_key()
    assert agefeed.path_of(Dribble()) == "copy" and agefeed.path_of(io.BytesIO()) == "copy"
    with open(tmp_path / "part.age", "wb") as out:
        out.write(b"keep")  # age writes after what is already in the file, not over it
        sealed = stream.encrypt_to(Dribble(), out, key)
    assert (sealed.plaintext_bytes, sealed.plaintext_sha256) == (len(data), hashlib.sha256(data).hexdigest())
    body = (tmp_path / "part.age").read_bytes()
    assert body[:4] == b"keep" and sealed.ciphertext_bytes == len(body) - 4
    (tmp_path / "only.age").write_bytes(body[4:])
    assert _age_decrypts(tmp_path / "only.age", key, tmp_path) == data
    _no_age_left(age_procs)


def test_feed_an_empty_source_on_each_road(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    key = stream.new_data_key()
    with open(tmp_path / "empty", "rb") as f, os.fdopen(read_fd, "rb") as p:
        for i, src in enumerate((f, p, io.BytesIO())):
            with open(tmp_path / f"{i}.age", "wb") as out:
                sealed = stream.encrypt_to(src, out, key)
            assert (sealed.plaintext_bytes, sealed.plaintext_sha256) == (0, hashlib.sha256().hexdigest())
            assert _age_decrypts(tmp_path / f"{i}.age", key, tmp_path) == b""


def test_feed_a_source_failing_mid_way_kills_age_and_raises(tmp_path: Path, age_procs: list) -> None:
    class FailsLater(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 3:
                raise OSError(5, "Input/output error")
            return os.urandom(1 << 20)

    with open(tmp_path / "part.age", "wb") as out, pytest.raises(OSError, match="Input/output"):
        stream.encrypt_to(FailsLater(), out, stream.new_data_key())
    _no_age_left(age_procs)


@pytest.mark.parametrize("road", ["file", "pipe", "copy"])
def test_feed_reports_age_failing_in_one_line(tmp_path: Path, road: str, age_procs: list) -> None:
    import threading

    from wizard.backup import agefeed

    (tmp_path / "plain").write_bytes(os.urandom(3 << 20))

    def pipe_source():
        read_fd, write_fd = os.pipe()

        def produce() -> None:
            try:
                with os.fdopen(write_fd, "wb") as w:
                    w.write(os.urandom(4 << 20))
            except BrokenPipeError:
                pass

        threading.Thread(target=produce, daemon=True).start()
        return os.fdopen(read_fd, "rb")

    sources = {
        "file": lambda: open(tmp_path / "plain", "rb"),
        "pipe": pipe_source,
        "copy": lambda: io.BytesIO(os.urandom(3 << 20)),
    }
    with sources[road]() as src, open(tmp_path / "part.age", "wb") as out:
        assert agefeed.path_of(src) == {"pipe": "tee"}.get(road, road)
        with pytest.raises(OperationFailed, match="age encryption failed") as info:
            agefeed.feed_age(["age", "--encrypt", "--recipient", "age1notarecipient"], src, out.fileno())
    assert "\n" not in str(info.value)
    _no_age_left(age_procs)


def test_a_dump_failing_mid_way_leaves_no_backup_no_part_and_no_process(tmp_path: Path, age_procs: list) -> None:
    """The real engine and Compose.producing, with a 'neo4j-admin' that dies after 3 MB (a pipe source)."""
    from wizard.backup.neo4j import Compose
    from wizard.kms.local import LocalBackend

    (tmp_path / "pass").write_text("a long enough passphrase\n")
    (tmp_path / "stackseal.yaml").write_text(
        yaml.safe_dump({"version": 1, "project": "p1", "kms": {"backend": "local", "passphrase_file": "pass"}})
    )
    plan = load_plan(tmp_path / "stackseal.yaml")

    class DyingDump(Compose):
        def is_running(self) -> bool:
            return False  # nothing to stop: the "dump" below is a plain process

        def dump_argv(self) -> list[str]:
            return ["sh", "-c", "head -c 3000000 /dev/urandom; echo 'dump: No space left on device' >&2; exit 3"]

    sources = engine.Sources(compose=DyingDump(["true"], "community"), counts=lambda plan: None)
    with pytest.raises(OperationFailed, match="No space left on device") as info:
        engine.create(plan, LocalBackend(plan), what=("neo4j",), sources=sources)
    assert "\n" not in str(info.value)
    repo = engine.repo_of(plan)
    assert repo.ids() == [] and sorted(p.name for p in repo.root.iterdir()) == [".history.json", ".lock"]
    _no_age_left(age_procs)


def test_backup_list_columns_line_up_with_a_real_backup_id(capsys: pytest.CaptureFixture[str]) -> None:
    from wizard.commands.backup_cmd import _print_list

    row = {
        "id": new_id(),
        "ok": True,
        "parts": [{"name": "keys"}],
        "key": {"key_id": "transit/stackseal", "key_version": "2"},
        "verified": None,
        "plaintext_bytes": 10240,
    }
    _print_list([row, {"id": new_id(), "ok": False, "error": "manifest is malformed"}], "/b")
    header, good, bad = capsys.readouterr().out.splitlines()
    assert header.index("PARTS") == good.index("keys") == bad.index("UNREADABLE")


def test_the_drills_scratch_password_cannot_be_read_as_an_option(tmp_path: Path) -> None:
    """The official Neo4j image passes the password to ``neo4j-admin dbms set-initial-password``
    as an argument: one starting with '-' (1 in 64 of token_urlsafe's) made the drill's scratch
    container exit with "Missing required parameter"."""
    from wizard.backup.scratchneo4j import ScratchNeo4j

    passwords = [ScratchNeo4j("img", tmp_path)._password for _ in range(50)]
    assert all(p.isalnum() and len(p) >= 24 for p in passwords)
    assert len(set(passwords)) == 50
