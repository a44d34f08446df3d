"""JSON of the wrong shape (valid JSON, but not the object or the fields stackseal wrote), wherever
stackseal reads a file of the output directory or a server's answer.

Why: ``json.loads`` accepts ``[]``, ``3`` or ``"x"`` as happily as the object a reader expects, so a
reader that checked only for a decode error then failed on ``.get``/``.items`` (AttributeError) or
on a field of the wrong type, far from the read: a Python traceback where the contract promises one
``stackseal: error:`` line (or, where stackseal ignores a damaged file, the same result as for a
damaged file). The neighbouring tests/test_deep_json.py covers documents nested thousands deep;
its helpers (CLI runner, answers file, Vault/MinIO stub) are reused here. Also here: the OpenBao
init answer in ``secrets/`` read without following a symlink or blocking on a FIFO (the FIFO cases
run in a child process with a timeout, so a regression fails instead of hanging the suite). Each
hostile case failed (or hung) before the fix; the well-shaped cases beside them are the references
it must match and still pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest
from test_deep_json import (
    BROKEN,
    DEEP,
    _Answer,
    _deploy_plan,
    _shares,
    _step_token,
    _Stub,
    _vault_token,
    _verify,
    answers,
    cli,
    one_error_line,
    tree,
    url,
)

from wizard.errors import OperationFailed, UsageError
from wizard.plan import plan_from_dict

TESTS = Path(__file__).resolve().parent
NOT_OBJECTS = ["[]", "3", '"x"', "null", "true"]

# -- .stackseal/bench.json: the runbook, the Backups and Migrate pages quote it -------------------------

PLAIN = {"group": "volumes", "name": "plain write", "value": 600.0, "unit": "MB/s", "note": "", "baseline": None}
GOCRYPTFS = {"group": "volumes", "name": "gocryptfs write", "value": 120.0, "unit": "MB/s", "baseline": "plain write"}
MISSHAPEN_RESULTS = {
    "list-of-lists": [[]],
    "group-a-number": [{"group": 1}],
    "a-string": "volumes",
    "a-number": 3,
    "name-a-number": [PLAIN, dict(GOCRYPTFS, name=7)],
    "value-a-string": [PLAIN, dict(GOCRYPTFS, value="fast")],
    "value-a-bool": [PLAIN, dict(GOCRYPTFS, value=True)],
    "baseline-a-list": [PLAIN, dict(GOCRYPTFS, baseline=["plain write"])],
    "unit-missing": [PLAIN, {k: v for k, v in GOCRYPTFS.items() if k != "unit"}],
    "value-missing": [PLAIN, {k: v for k, v in GOCRYPTFS.items() if k != "value"}],
    "unknown-key": [PLAIN, dict(GOCRYPTFS, rate=1)],
    "missing": None,
}


def _bench_plan(tmp_path: Path):
    return plan_from_dict(
        {"version": 1, "project": "shapes", "output_dir": "stack", "volumes": {"backend": "gocryptfs"}},
        base_dir=tmp_path,
    )


def _write_bench(plan, results: object) -> Path:
    doc: dict[str, object] = {"format": "stackseal-bench", "version": 1, "time": "T", "host": "H"}
    if results is not None:
        doc["results"] = results
    path = plan.output_path / ".stackseal" / "bench.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_a_well_shaped_bench_file_is_quoted(tmp_path: Path) -> None:
    """The reference the misshapen cases are compared with: what ``stackseal bench`` writes is read."""
    from wizard.bench.report import choices_overhead, load
    from wizard.stores.inventory import copy_rate

    plan = _bench_plan(tmp_path)
    _write_bench(plan, [PLAIN, dict(GOCRYPTFS, note="", overhead_percent=400.0)])
    assert choices_overhead(plan, load(plan.output_path)) == [
        "volumes (gocryptfs) write: 120 MB/s (+400% time vs a plain directory)",
        "(measured T on H by 'stackseal bench')",
    ]
    assert copy_rate(plan.output_path, "gocryptfs")[0] == 60e6


@pytest.mark.parametrize("results", list(MISSHAPEN_RESULTS.values()), ids=list(MISSHAPEN_RESULTS))
def test_a_misshapen_bench_file_is_ignored_like_a_damaged_one(tmp_path: Path, results: object) -> None:
    """The runbook (and the Backups page, which calls the same two functions) quotes no figures."""
    from wizard.bench.report import choices_overhead, load
    from wizard.render.runbook import _bench_lines
    from wizard.stores.inventory import ASSUMED_RATE, copy_rate

    plan = _bench_plan(tmp_path)
    path = _write_bench(plan, results)
    assert load(plan.output_path) is None
    assert choices_overhead(plan, load(plan.output_path)) == [] == _bench_lines(plan)
    assert copy_rate(plan.output_path, "gocryptfs")[0] == ASSUMED_RATE
    path.write_text(BROKEN)  # the damaged file each case must match
    assert load(plan.output_path) is None and _bench_lines(plan) == []


@pytest.mark.parametrize("value", [0, 0.0])
def test_a_zero_bench_figure_is_no_ratio(tmp_path: Path, value: float) -> None:
    """Well shaped, but a throughput of 0 has no "percent slower": that figure is left out, no ZeroDivisionError."""
    from wizard.bench.common import Result
    from wizard.bench.report import choices_overhead, load, overhead, table

    plan = _bench_plan(tmp_path)
    _write_bench(plan, [PLAIN, dict(GOCRYPTFS, value=value)])
    assert choices_overhead(plan, load(plan.output_path)) == []
    rows = [Result(**PLAIN), Result(**dict(GOCRYPTFS, value=value))]
    assert overhead(rows, rows[1]) is None
    table(rows)  # the bench command's own table


def test_render_ignores_a_misshapen_bench_file_like_a_damaged_one(tmp_path: Path) -> None:
    """End to end: ``stackseal render`` once crashed with an AttributeError traceback on ``[[]]``."""
    config = answers(tmp_path)
    bench = tmp_path / "stack" / ".stackseal" / "bench.json"
    bench.parent.mkdir(parents=True)
    bench.write_text(BROKEN)
    damaged = cli("render", "-c", str(config), "--dry-run")
    assert damaged.returncode == 0, damaged.stderr
    bench.write_text(json.dumps({"format": "stackseal-bench", "results": [[]]}))
    before = tree(tmp_path)
    misshapen = cli("render", "-c", str(config), "--dry-run")
    assert "Traceback" not in misshapen.stderr, misshapen.stderr[-2000:]
    assert (misshapen.returncode, misshapen.stdout, misshapen.stderr) == (
        damaged.returncode,
        damaged.stdout,
        damaged.stderr,
    )
    assert tree(tmp_path) == before


# -- the journal of ``migrate volume`` (and every OpJournal) ------------------------------------------------


@pytest.mark.parametrize(
    "content, reason",
    [*((c, "not a JSON object") for c in NOT_OBJECTS), (DEEP, "RecursionError")],
    ids=[*NOT_OBJECTS, "deep"],
)
def test_migrate_volume_refuses_a_journal_that_is_not_an_object(tmp_path: Path, content: str, reason: str) -> None:
    config = answers(tmp_path)
    journal = tmp_path / "stack" / ".stackseal" / "migrate-volume-neo4j-data.json"
    journal.parent.mkdir(parents=True)
    journal.write_text(content)
    before = tree(tmp_path)
    result = cli("migrate", "volume", "neo4j-data", "-c", str(config))
    line = one_error_line(result)
    assert result.returncode == 1
    assert "1 of 1 volumes not migrated: neo4j-data" in line
    assert f"neo4j-data: NOT DONE: {journal}: damaged journal ({reason}); move it aside" in result.stdout
    assert tree(tmp_path) == before


TARGET = {"project": "deep", "volume": "neo4j-data"}  # the target answers() gives the neo4j-data journal
COUNTS = {"nodes": 1, "relationships": 0, "labels": {}, "types": {}}
BAD_META = {
    "meta-a-list": [],
    "unknown-phase": {"phase": "bogus", "source": "/srv/data"},
    "phase-a-number": {"phase": 3, "source": "/srv/data"},
    "phase-without-source": {"phase": "verified"},
    "source-a-number": {"source": 3},
    "containers-a-string": {"source": "/srv/data", "containers": "abc"},
    "containers-of-numbers": {"source": "/srv/data", "containers": [1]},
    "files-a-string": {"source": "/srv/data", "files": "many"},
    "bytes-a-bool": {"source": "/srv/data", "bytes": True},
    "counts-a-list": {"source": "/srv/data", "counts_before": []},
    "counts-missing-labels": {"source": "/srv/data", "counts_before": {"nodes": 1, "relationships": 0, "types": {}}},
    "counts-nodes-a-string": {"source": "/srv/data", "counts_before": dict(COUNTS, nodes="1")},
}


@pytest.mark.parametrize("meta", list(BAD_META.values()), ids=list(BAD_META))
def test_migrate_volume_refuses_a_journal_with_fields_of_the_wrong_type(tmp_path: Path, meta: object) -> None:
    """A checkpoint for this very volume whose recorded fields are not what the move wrote: one line."""
    from wizard.steps.context import Context
    from wizard.volumes.move import journal_for, remove_plaintext

    plan = plan_from_dict({"version": 1, "project": "deep", "output_dir": "stack"}, base_dir=tmp_path)
    path = plan.output_path / ".stackseal" / "migrate-volume-neo4j-data.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "target": TARGET, "items": {}, "meta": meta}))
    ctx = Context.for_plan(plan)
    try:
        with pytest.raises(OperationFailed, match=r"migrate-volume-neo4j-data\.json: (damaged journal|not a journal)"):
            journal_for(ctx, "neo4j-data")
        with pytest.raises(OperationFailed, match=r"migrate-volume-neo4j-data\.json: (damaged journal|not a journal)"):
            remove_plaintext(ctx, "neo4j-data", lambda event: None)
    finally:
        ctx.close()
    good = {"phase": "verified", "source": "/srv/data", "containers": ["c1"], "files": 2, "bytes": 9}
    path.write_text(json.dumps({"version": 1, "target": TARGET, "items": {}, "meta": dict(good, counts_before=COUNTS)}))
    ctx = Context.for_plan(plan)
    try:
        assert journal_for(ctx, "neo4j-data").meta["phase"] == "verified"  # what the move writes still reads
    finally:
        ctx.close()


@pytest.mark.parametrize(
    "items", [{"a": "done"}, {"a": [["state", "done"]]}, {"a": None}], ids=["str", "pairs", "null"]
)
def test_a_checkpoint_whose_records_are_not_objects_is_refused(tmp_path: Path, items: dict) -> None:
    from wizard.stores.journal import OpJournal

    target = {"project": "deep", "volume": "v"}
    (tmp_path / "op.json").write_text(json.dumps({"version": 1, "target": target, "items": items}))
    with pytest.raises(OperationFailed, match=r"op\.json: not a journal this stackseal can read; move it aside"):
        OpJournal(tmp_path, "op", target)


@pytest.mark.parametrize("header", NOT_OBJECTS)
def test_a_wal_header_that_is_not_an_object_is_a_damaged_header(tmp_path: Path, header: str) -> None:
    """Like a torn header: the log is of no known run, so it is discarded and the run starts over."""
    from wizard.stores.journal import OpJournal

    wal = tmp_path / "op.wal"
    wal.write_text(f"{header}\n" + json.dumps({"key": "a", "rec": {"state": "done"}}) + "\n")
    journal = OpJournal(tmp_path, "op", {"project": "deep", "volume": "v"})
    assert journal.items == {} and not journal.resumed and not wal.exists()


@pytest.mark.parametrize(
    "record",
    [
        {"key": ["a"], "rec": {"state": "done"}},
        {"key": 1, "rec": {"state": "done"}},
        {"key": "b", "rec": "done"},
        {"key": "b", "rec": [["state", "done"]]},
        {"key": "b", "rec": 3},
        ["b", {"state": "done"}],
        "b",
    ],
    ids=["key-a-list", "key-a-number", "rec-a-string", "rec-pairs", "rec-a-number", "a-list", "a-string"],
)
def test_a_wal_record_of_the_wrong_shape_is_skipped_like_a_torn_one(tmp_path: Path, record: object) -> None:
    from wizard.stores.journal import OpJournal

    target = {"project": "deep", "volume": "v"}
    good = json.dumps({"key": "a", "rec": {"state": "done"}})
    (tmp_path / "op.wal").write_text(f"{json.dumps({'target': target})}\n{good}\n{json.dumps(record)}\n")
    journal = OpJournal(tmp_path, "op", target)
    assert journal.items == {"a": {"state": "done"}} and journal.resumed
    journal.update("a", state="again")  # what is appended still works on the records read
    assert journal.get("a") == {"state": "again"}
    journal.close()


def test_a_copy_record_without_its_hash_is_copied_again(tmp_path: Path) -> None:
    """treecopy trusted a "done" record to carry ``sha256`` (KeyError); one without it is just redone."""
    from wizard.stores.journal import OpJournal
    from wizard.stores.progress import SharedMeter
    from wizard.volumes.treecopy import copy_tree, verify_tree

    src, dst, state = tmp_path / "src", tmp_path / "dst", tmp_path / "state"
    for d in (src, dst, state):
        d.mkdir()
    (src / "f").write_bytes(b"data")
    (dst / "f").write_bytes(b"evil")  # same size: a record taken at its word would keep it
    st = (src / "f").stat()
    target = {"source": str(src)}
    record = {"status": "done", "size": st.st_size, "mtime_ns": st.st_mtime_ns, "readback": ["x"]}
    (state / "m.json").write_text(json.dumps({"version": 1, "target": target, "items": {"f": record}}))
    journal = OpJournal(state, "m", target)
    result = copy_tree(src, dst, journal, SharedMeter("t", lambda e: None, None, None))
    assert (result.copied, result.skipped) == (1, 0) and (dst / "f").read_bytes() == b"data"
    journal.update("f", readback=["x"])  # a read-back hash that is no hash never proves a file
    assert verify_tree(src, dst, journal, SharedMeter("v", lambda e: None, None, None), state / "sums") == []
    assert "./f" in (state / "sums").read_text() and "['x']" not in (state / "sums").read_text()
    journal.close()


# -- secrets/openbao_init.json (and .age): a symlink, a FIFO or a huge file -----------------------------

READERS = {"unseal": _shares, "vault-token": _vault_token, "apply-token": _step_token}
INIT = {"unseal_keys": ["k1", "k2"], "root_token": "hvs.root"}


@pytest.mark.parametrize("reader", list(READERS.values()), ids=list(READERS))
@pytest.mark.parametrize("how", ["symlink", "dangling-symlink", "symlinked-secrets-dir", "huge", "directory"])
def test_the_openbao_init_file_is_read_without_following_a_symlink(tmp_path: Path, reader, how: str) -> None:
    """Each reader once used ``read_bytes``/``exists``: a symlink was followed (as root) or taken for no file."""
    plan = _deploy_plan(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "openbao_init.json").write_text(json.dumps(INIT))
    secrets = tmp_path / "stack" / "secrets"
    if how == "symlinked-secrets-dir":
        secrets.parent.mkdir()
        secrets.symlink_to(elsewhere)
    else:
        secrets.mkdir(parents=True)
    init = secrets / "openbao_init.json"
    if how == "symlink":
        init.symlink_to(elsewhere / "openbao_init.json")
    elif how == "dangling-symlink":
        init.symlink_to(elsewhere / "missing.json")
    elif how == "huge":
        init.write_text(json.dumps(dict(INIT, padding="x" * 100_000)))
    elif how == "directory":
        init.mkdir()
    with pytest.raises(UsageError) as info:
        reader(plan, secrets)
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == 2
    expected = {
        "symlink": "openbao_init.json: is a symbolic link",
        "dangling-symlink": "openbao_init.json: is a symbolic link",
        "symlinked-secrets-dir": "secrets: is a symbolic link or not a directory",
        "huge": "openbao_init.json: secret file too large",
        "directory": "openbao_init.json: is a directory",
    }[how]
    assert expected in message, message


FIFO_SCRIPT = """
import os, sys
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from test_deep_json import _deploy_plan, _shares, _step_token, _vault_token
from wizard.errors import StacksealError
tmp, reader = Path(sys.argv[1]), sys.argv[2]
plan = _deploy_plan(tmp)
secrets = tmp / "stack" / "secrets"
read = {"unseal": _shares, "unseal-age": _shares, "vault-token": _vault_token, "apply-token": _step_token}[reader]
try:
    print("read", read(plan, secrets))
except StacksealError as err:
    print(f"{err.exit_code} {err}")
"""


@pytest.mark.parametrize("reader", ["unseal", "unseal-age", "vault-token", "apply-token"])
def test_a_fifo_in_place_of_the_openbao_init_file_never_blocks(tmp_path: Path, reader: str) -> None:
    """A FIFO blocked ``read_bytes`` forever (unlock and apply hung, as root); run in a child with a timeout."""
    secrets = tmp_path / "stack" / "secrets"
    secrets.mkdir(parents=True)
    name = "openbao_init.age" if reader == "unseal-age" else "openbao_init.json"
    os.mkfifo(secrets / name)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if reader == "unseal-age":
        identity = tmp_path / "identity.txt"
        identity.write_text(f"{pyrage.x25519.Identity.generate()}\n")
        env["STACKSEAL_AGE_IDENTITY"] = str(identity)
    try:
        result = subprocess.run(
            [sys.executable, "-c", FIFO_SCRIPT, str(tmp_path), reader, str(TESTS)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading a FIFO at secrets/{name} blocked")
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stdout.strip() == (
        f"2 {secrets / name}: is a FIFO, expected a secret file; move it away and run again"
    ), result.stdout + result.stderr[-2000:]


def test_a_symlinked_openbao_init_age_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The age file was also read through ``read_bytes``; a dangling symlink was taken for no file at all."""
    from wizard.kms import openbao_init

    identity = pyrage.x25519.Identity.generate()
    identity_file = tmp_path / "identity.txt"
    identity_file.write_text(f"{identity}\n")
    monkeypatch.setenv(openbao_init.IDENTITY_ENV, str(identity_file))
    elsewhere = tmp_path / "elsewhere.age"
    elsewhere.write_bytes(pyrage.encrypt(json.dumps(INIT).encode(), [identity.to_public()]))
    secrets = tmp_path / "stack" / "secrets"
    secrets.mkdir(parents=True)
    plan = _deploy_plan(tmp_path)
    (secrets / "openbao_init.age").symlink_to(elsewhere)
    with pytest.raises(UsageError, match=r"openbao_init\.age: is a symbolic link"):
        _shares(plan, secrets)
    (secrets / "openbao_init.age").unlink()
    (secrets / "openbao_init.age").symlink_to(tmp_path / "missing.age")
    with pytest.raises(UsageError, match=r"openbao_init\.age: is a symbolic link"):
        _shares(plan, secrets)
    (secrets / "openbao_init.age").unlink()
    elsewhere.rename(secrets / "openbao_init.age")
    assert _shares(plan, secrets) == ["k1", "k2"]  # what stackseal writes still reads


def test_a_regular_openbao_init_file_still_reads_and_none_is_none(tmp_path: Path) -> None:
    plan = _deploy_plan(tmp_path)
    secrets = tmp_path / "stack" / "secrets"
    secrets.mkdir(parents=True)
    assert _vault_token(plan, secrets) is None and _step_token(plan, secrets) is None
    (secrets / "openbao_init.json").write_text(json.dumps(INIT))
    assert _vault_token(plan, secrets) == _step_token(plan, secrets) == "hvs.root"
    assert _shares(plan, secrets) == ["k1", "k2"]


# -- MinIO's admin answers ------------------------------------------------------------------------------


@pytest.fixture
def stub() -> Iterator[_Stub]:
    server = _Stub(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _minio_kms_status(tmp_path: Path, stub: _Stub, reply: tuple[int, str]):
    access, secret = tmp_path / "ak", tmp_path / "sk"
    access.write_text("minioadmin-test")
    secret.write_text("s3cr3t-value-never-shown")
    stub.reply = reply
    store = {
        "kind": "minio",
        "endpoint": url(stub),
        "sse": "sse-kms",
        "access_key_file": str(access),
        "secret_key_file": str(secret),
    }
    return _verify(tmp_path, "store.kms", object_store=store, kms={"backend": "vault"})


@pytest.mark.parametrize("status", [200, 400, 403, 501])
@pytest.mark.parametrize("body", ['["key-id", "x"]', "[]", "3", '"x"', "null"])
def test_a_minio_admin_answer_that_is_not_an_object_is_like_one_that_is_not_json(
    tmp_path: Path, stub: _Stub, status: int, body: str
) -> None:
    """``verify``'s store.kms: a JSON list (or bare value) once raised AttributeError on ``.get``."""
    from wizard.verify.model import Status

    reference = _minio_kms_status(tmp_path, stub, (status, "<html>not json</html>"))
    result = _minio_kms_status(tmp_path, stub, (status, body))
    assert result.status is reference.status is Status.FAIL
    assert result.summary == reference.summary
    if status == 200:
        assert result.summary == "MinIO's KMS status answer is not JSON"


def test_verify_still_reads_minios_own_answers(tmp_path: Path, stub: _Stub) -> None:
    from wizard.verify.model import Status

    ok = '{"key-id": "stackseal-objects", "encryption-error": "", "decryption-error": ""}'
    assert _minio_kms_status(tmp_path, stub, (200, ok)).status is Status.PASS
    refused = '{"Code": "AccessDenied", "Message": "Access Denied."}'
    assert _minio_kms_status(tmp_path, stub, (400, refused)).summary.startswith("wrong credentials")


@pytest.mark.parametrize("which", ["json", "wal"])
def test_a_fifo_in_place_of_a_journal_file_is_refused_not_read(tmp_path: Path, which: str) -> None:
    """A FIFO at the checkpoint or the write-ahead log blocked ``open`` forever (migrate hung)."""
    import threading

    from wizard.stores.journal import OpJournal

    fifo = tmp_path / f"op.{which}"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            OpJournal(tmp_path, "op", {"k": 1})
            outcome.append(None)
        except BaseException as err:
            outcome.append(err)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():  # the old code: unblock it so the test process can end, then fail
        with open(fifo, "w"):
            pass
        thread.join(5)
        pytest.fail(f"reading a FIFO at op.{which} blocked")
    assert outcome and isinstance(outcome[0], OperationFailed), outcome
    assert "not a regular file" in str(outcome[0]) and "\n" not in str(outcome[0])
