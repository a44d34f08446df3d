"""Volume migration on real components: a real Neo4j store moved from a plain directory into a
real gocryptfs volume (SIGKILL mid-copy, re-run), proven by a SHA-256 manifest and by Bolt counts
read from a Neo4j started on the new location; plus what the copy keeps (owner, mode, times,
symlinks, hard links, xattrs, FIFOs) and the hostile cases."""

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
from testbed.containers import free_port
from testbed.procs import ServerProcess
from testbed.services import neo4j_launcher_argv

from wizard.render.material import password as neo4j_password  # letters and digits, as stackseal renders
from wizard.steps.events import StepProgress
from wizard.stores.journal import OpJournal
from wizard.stores.neo4j import counts_when_ready
from wizard.stores.progress import SharedMeter
from wizard.volumes.treecopy import copy_tree, verify_tree

ROOT = Path(__file__).resolve().parents[1]

COPY_SCRIPT = """
import sys
from pathlib import Path
from wizard.stores.journal import OpJournal
from wizard.stores.progress import SharedMeter
from wizard.volumes.treecopy import copy_tree
src, dst, state = map(Path, sys.argv[1:4])
journal = OpJournal(state, "migrate-volume-test", {"source": str(src)}, checkpoint_every=50)
copy_tree(src, dst, journal, SharedMeter("t", lambda e: None, None, None))
journal.close()
"""


def _copy_and_verify(src: Path, dst: Path, state: Path) -> tuple[object, list[str], list]:
    events: list = []
    journal = OpJournal(state, "migrate-volume-test", {"source": str(src)})
    meter = SharedMeter("t", events.append, None, None)
    result = copy_tree(src, dst, journal, meter)
    problems = verify_tree(src, dst, journal, SharedMeter("v", events.append, None, None), state / "manifest.sha256")
    journal.close()
    return result, problems, events


def _neo4j(data: Path, logs: Path, auth: Path, port: int) -> ServerProcess:
    proc = ServerProcess(
        "neo4j",
        neo4j_launcher_argv(data, logs, f"127.0.0.1:{port}", auth),
        log=logs.parent / f"launcher-{port}.log",
        cwd=logs.parent,
    )
    proc.start()
    proc.wait_until(lambda: "READY" in proc.log.read_text(errors="replace"), 180, "READY")
    return proc


@pytest.mark.timeout(900)
def test_neo4j_store_moves_into_gocryptfs_survives_sigkill_and_answers_from_the_new_place(
    tmp_path: Path, gocryptfs_volume
) -> None:
    plain_data, logs = tmp_path / "plain" / "data", tmp_path / "logs"
    plain_data.mkdir(parents=True)
    logs.mkdir()
    password = neo4j_password()
    auth_file = tmp_path / "neo4j_auth"
    auth_file.write_text(f"neo4j/{password}")
    canary = f"NEO4J-CANARY-{secrets.token_hex(48)}"  # long: short strings are packed, not stored verbatim

    # A known graph in the plain store.
    port = free_port()
    proc = _neo4j(plain_data, logs, auth_file, port)
    try:
        from neo4j import GraphDatabase

        with GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("neo4j", password)) as drv:
            drv.execute_query("UNWIND range(1, 3000) AS i CREATE (:Schema {i: i, name: 'xsd-' + toString(i)})")
            drv.execute_query("UNWIND range(1, 1200) AS i CREATE (:Instance {i: i})")
            drv.execute_query("MATCH (s:Schema), (d:Instance) WHERE s.i = d.i CREATE (d)-[:CONFORMS_TO]->(s)")
            drv.execute_query("CREATE (:Secret {marker: $m})-[:OWNED_BY]->(:Person {name: 'x'})", m=canary)
        before = counts_when_ready(f"bolt://127.0.0.1:{port}", ("neo4j", password))
    finally:
        proc.stop(timeout=60)  # a clean stop checkpoints the store files
    assert before.labels == {"Schema": 3000, "Instance": 1200, "Secret": 1, "Person": 1}
    assert before.types == {"CONFORMS_TO": 1200, "OWNED_BY": 1}
    assert any(canary.encode() in p.read_bytes() for p in plain_data.rglob("*") if p.is_file())
    # Make the volume big enough to kill the copy in the middle (incompressible filler next to the store).
    filler = plain_data / "filler"
    filler.mkdir()
    for n in range(6):
        (filler / f"blob-{n}.bin").write_bytes(os.urandom(48 << 20))

    state = tmp_path / "state"
    dest = gocryptfs_volume.plain
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'tests'}")
    copier = subprocess.Popen([sys.executable, "-c", COPY_SCRIPT, str(plain_data), str(dest), str(state)], env=env)
    wal = state / "migrate-volume-test.wal"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and copier.poll() is None:
        if wal.exists() and wal.read_text().count('"done"') >= 3:
            break
        time.sleep(0.02)
    assert copier.poll() is None, "the copy finished before it could be killed"
    copier.send_signal(signal.SIGKILL)
    copier.wait()
    done_first = {json.loads(line)["key"] for line in wal.read_text().splitlines()[1:] if '"done"' in line}
    assert done_first

    result, problems, events = _copy_and_verify(plain_data, dest, state)
    assert problems == []
    assert result.skipped >= len(done_first) and result.copied >= 1  # resumed: the first run's files were kept
    assert [e for e in events if isinstance(e, StepProgress)]
    manifest = (state / "manifest.sha256").read_text()
    assert manifest.count("\n") == sum(1 for p in plain_data.rglob("*") if p.is_file() and not p.is_symlink())
    check = subprocess.run(
        ["sha256sum", "--quiet", "-c", str(state / "manifest.sha256")], cwd=dest, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr

    # The store opened from its new place answers with the same graph.
    port2 = free_port()
    proc = _neo4j(dest, tmp_path / "logs", auth_file, port2)
    try:
        after = counts_when_ready(f"bolt://127.0.0.1:{port2}", ("neo4j", password))
        assert before.differences(after) == []
        from neo4j import GraphDatabase

        with GraphDatabase.driver(f"bolt://127.0.0.1:{port2}", auth=("neo4j", password)) as drv:
            rec = drv.execute_query("MATCH (s:Secret)-[:OWNED_BY]->(p) RETURN s.marker AS m, p.name AS n")[0]
        assert [(r["m"], r["n"]) for r in rec] == [(canary, "x")]
    finally:
        proc.stop(timeout=60)
    hits = [p for p in gocryptfs_volume.cipher.rglob("*") if p.is_file() and canary.encode() in p.read_bytes()]
    assert hits == []


def test_the_copy_keeps_owner_mode_times_links_xattrs_and_fifos(tmp_path: Path) -> None:
    src, dst, state = tmp_path / "src", tmp_path / "dst", tmp_path / "state"
    (src / "sub" / "deep").mkdir(parents=True)
    dst.mkdir()
    f = src / "sub" / "file.txt"
    f.write_bytes(b"payload" * 1000)
    os.chmod(f, 0o640)
    os.chown(f, 1234, 2345)
    os.link(f, src / "hard.txt")
    os.symlink("sub/file.txt", src / "link")
    os.symlink("/nonexistent/target", src / "dangling")
    os.mkfifo(src / "fifo")
    os.setxattr(f, "user.origin", b"niem")
    os.chmod(src / "sub" / "deep", 0o1750)
    hostile = src / "sub" / "name with\nnewline and \\ backslash"
    hostile.write_bytes(b"x")
    os.utime(f, ns=(1_600_000_000_123_456_789, 1_600_000_000_987_654_321))
    os.utime(src / "sub", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))

    result, problems, _ = _copy_and_verify(src, dst, state)
    assert problems == [] and result.links == 1
    g = dst / "sub" / "file.txt"
    st = g.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 2345, 0o640)
    assert st.st_mtime_ns == 1_600_000_000_987_654_321
    assert (dst / "sub").stat().st_mtime_ns == 1_500_000_000_000_000_000
    assert os.path.samefile(g, dst / "hard.txt")
    assert os.readlink(dst / "link") == "sub/file.txt" and os.readlink(dst / "dangling") == "/nonexistent/target"
    assert (dst / "fifo").is_fifo()
    assert os.getxattr(g, "user.origin") == b"niem"
    assert (dst / "sub" / "deep").stat().st_mode & 0o7777 == 0o1750
    check = subprocess.run(
        ["sha256sum", "--quiet", "-c", str(state / "manifest.sha256")], cwd=dst, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr

    # A second run copies nothing; a file changed behind our back is caught by the verification.
    again, problems, _ = _copy_and_verify(src, dst, state)
    assert again.copied == 0 and problems == []
    (dst / "sub" / "file.txt").write_bytes(b"tampered")
    journal = OpJournal(state, "migrate-volume-test", {"source": str(src)})
    bad = verify_tree(src, dst, journal, SharedMeter("v", lambda e: None, None, None), state / "m2")
    assert any("file.txt" in p for p in bad) and not (state / "m2").exists()


def test_a_symlink_at_the_destination_is_replaced_not_followed(tmp_path: Path) -> None:
    src, dst, state, outside = tmp_path / "src", tmp_path / "dst", tmp_path / "state", tmp_path / "outside"
    src.mkdir()
    dst.mkdir()
    outside.mkdir()
    (src / "data.bin").write_bytes(b"real")
    (dst / "data.bin").symlink_to(outside / "victim")
    (outside / "victim").write_bytes(b"do not touch")
    _, problems, _ = _copy_and_verify(src, dst, state)
    assert problems == [] and (outside / "victim").read_bytes() == b"do not touch"
    assert not (dst / "data.bin").is_symlink() and (dst / "data.bin").read_bytes() == b"real"


def test_files_are_read_back_during_the_copy_and_not_read_twice(tmp_path: Path, monkeypatch) -> None:
    """The read-back runs beside the copy; the verification then re-reads only what it did not prove."""
    import hashlib

    from wizard.volumes import treecopy

    src, dst, state = tmp_path / "src", tmp_path / "dst", tmp_path / "state"
    (src / "d").mkdir(parents=True)
    dst.mkdir()
    bodies = {f"d/f{i}": os.urandom(1000 + i * 4099) for i in range(30)}
    for rel, body in bodies.items():
        (src / rel).write_bytes(body)
    journal = OpJournal(state, "migrate-volume-test", {"source": str(src)})
    copy_tree(src, dst, journal, SharedMeter("t", lambda e: None, None, None))
    for rel, body in bodies.items():
        rec = journal.get(rel)
        assert rec["readback"] == rec["sha256"] == hashlib.sha256(body).hexdigest(), rel
    reads: list[str] = []
    real = treecopy._sha256
    monkeypatch.setattr(treecopy, "_sha256", lambda p: reads.append(p) or real(p))
    # One copied file is changed behind our back (same size): its read-back no longer applies.
    victim = dst / "d" / "f3"
    victim.write_bytes(b"\0" * len(bodies["d/f3"]))
    problems = verify_tree(src, dst, journal, SharedMeter("v", lambda e: None, None, None), state / "m")
    assert reads == [str(victim)] and problems == ["d/f3: content differs from the source (SHA-256)"]


def test_a_hard_link_left_at_the_destination_is_not_written_through(tmp_path: Path) -> None:
    """A name an earlier run made a hard link (the source has changed since) gets its own inode:
    copying into it must not rewrite the other name's content."""
    src, dst, state = tmp_path / "src", tmp_path / "dst", tmp_path / "state"
    src.mkdir()
    dst.mkdir()
    (src / "a.bin").write_bytes(b"A" * 100)
    (src / "b.bin").write_bytes(b"B" * 50)
    (dst / "a.bin").write_bytes(b"A" * 100)
    os.link(dst / "a.bin", dst / "b.bin")
    _, problems, _ = _copy_and_verify(src, dst, state)
    assert problems == []
    assert (dst / "a.bin").read_bytes() == b"A" * 100 and (dst / "b.bin").read_bytes() == b"B" * 50
    assert not os.path.samefile(dst / "a.bin", dst / "b.bin")
