"""Backups of a real stack: ``stackseal apply`` of the dev-laptop example (Neo4j in the test image,
SeaweedFS, gocryptfs volumes), then create / restore through Docker Compose and neo4j-admin.

Done-when of issue 14: a backup of the real Neo4j store plus a bucket of 1,000 objects restores
byte-identical (hashes equal; node and relationship counts equal after ``load``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from backup_helpers import TransitWrapper, bucket_digest
from test_apply_stack import load, make_answers, stackseal, teardown
from testbed.containers import DockerEngine

from wizard.backup import engine, restore
from wizard.backup.manifest import seal
from wizard.backup.neo4j import auth_of
from wizard.errors import Refused

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, docker: DockerEngine, local_images: dict[str, str]
) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("backupstack")
    answers = make_answers(tmp, local_images)
    try:
        result = stackseal("apply", "-c", str(answers), "--yes")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        yield answers
    finally:
        teardown(docker, answers)


def _driver(plan):
    from neo4j import GraphDatabase

    return GraphDatabase.driver(plan.neo4j.bolt_url, auth=auth_of(plan))


def _graph(plan) -> tuple[int, int, str]:
    """(nodes, relationships, SHA-256 of every node and relationship with its properties)."""
    with _driver(plan) as driver, driver.session() as session:
        nodes = session.run("MATCH (n) RETURN count(n) AS c").single()["c"]
        rels = session.run("MATCH ()-[r]->() RETURN count(r) AS c").single()["c"]
        rows = session.run(
            "MATCH (a)-[r]->(b) RETURN a.uid AS a, type(r) AS t, r.w AS w, b.uid AS b, a.blob AS blob ORDER BY a, b"
        ).values()
    return nodes, rels, hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _s3(plan):
    from wizard.backup.objects import s3_client

    return s3_client(plan)


def test_neo4j_and_thousand_objects_restore_identical(stack: Path, openbao) -> None:
    plan = load(stack)
    kms = TransitWrapper(openbao.address, openbao.token, key=f"stack{secrets.token_hex(3)}").ensure()
    with _driver(plan) as driver, driver.session() as session:
        session.run(
            "UNWIND range(1, 300) AS i CREATE (:Doc {uid: i, blob: $blob + toString(i)})", blob=secrets.token_hex(40)
        ).consume()
        session.run("MATCH (a:Doc), (b:Doc) WHERE b.uid = a.uid + 1 CREATE (a)-[:NEXT {w: a.uid * 2}]->(b)").consume()
    graph_before = _graph(plan)
    assert graph_before[:2] == (300, 299)
    client = _s3(plan)
    bucket = plan.object_store.buckets[0]
    for i in range(1000):
        body = os.urandom(64 + i % 500)
        client.put_object(bucket, f"o/{i:04d}", io.BytesIO(body), len(body))
    objects_before = bucket_digest(client, bucket)
    assert len(objects_before) == 1000

    events: list = []
    manifest = engine.create(plan, kms, emit=events.append)
    assert manifest.counts == {"nodes": 300, "relationships": 299}
    neo = manifest.part("neo4j")
    assert neo is not None and neo.plaintext_bytes > 1000 and neo.detail["method"] == "offline dump"
    assert any(getattr(e, "level", "") == "warning" and "DOWN" in e.message for e in events)
    assert _graph(plan) == graph_before, "Neo4j is back up with the same graph after the dump"
    assert engine.verify(plan, kms, manifest.id).id == manifest.id

    # A non-empty Neo4j is refused without --force, before anything is touched.
    with pytest.raises(Refused, match="Neo4j holds 300 nodes"):
        restore.restore(plan, kms, manifest.id, what=("neo4j",))

    with _driver(plan) as driver, driver.session() as session:
        session.run("MATCH (n) DETACH DELETE n").consume()
    for name in list(objects_before):
        client.remove_object(bucket, name)
    assert _graph(plan)[:2] == (0, 0) and bucket_digest(client, bucket) == {}

    restore.restore(plan, kms, manifest.id, what=("neo4j", "objects"))
    assert _graph(plan) == graph_before
    assert bucket_digest(client, bucket) == objects_before


def _drill_leftovers() -> list[str]:
    import subprocess

    from wizard.backup.scratchneo4j import PREFIX

    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"name={PREFIX}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_the_drill_loads_the_dump_into_a_scratch_neo4j_and_compares_counts(stack: Path, openbao) -> None:
    """A drill proves the dump goes back in: loaded by neo4j-admin into a scratch store, served by a
    throw-away container of the plan's image, counted over Bolt; the live database is untouched and
    everything scratch is gone afterwards, also when the counts differ."""
    from wizard.backup import drill
    from wizard.errors import OperationFailed

    plan = load(stack)
    kms = TransitWrapper(openbao.address, openbao.token, key=f"drill{secrets.token_hex(3)}").ensure()
    with _driver(plan) as driver, driver.session() as session:
        session.run("UNWIND range(1, 40) AS i CREATE (:Drill {uid: i})").consume()
        session.run("MATCH (a:Drill), (b:Drill) WHERE b.uid = a.uid + 1 CREATE (a)-[:THEN]->(b)").consume()
    live = _graph(plan)
    manifest = engine.create(plan, kms, what=("neo4j",))
    assert manifest.counts == {"nodes": live[0], "relationships": live[1]}

    before = _drill_leftovers()
    result = drill.drill(plan, kms, manifest.id)
    line = result.checked[0]
    assert f"scratch Neo4j: {live[0]} nodes, {live[1]} relationships, as recorded at backup time" in line
    assert _drill_leftovers() == before, "the scratch containers are removed"
    repo = engine.repo_of(plan)
    assert not list(repo.root.glob(".restore-*")), "the scratch store and decrypted dump are removed"
    assert _graph(plan) == live, "the live database was neither stopped for good nor changed"

    # Counts edited in the manifest: it no longer authenticates, the drill refuses before any load.
    path = repo.root / manifest.id / "manifest.json"
    original = path.read_bytes()
    doc = json.loads(original)
    doc["counts"]["nodes"] += 1
    path.write_text(json.dumps(doc))
    with pytest.raises(OperationFailed, match="does not authenticate"):
        drill.drill(plan, kms, manifest.id)
    # Counts that do not match what the dump holds (the graph changed between the count and the
    # dump), in a manifest sealed with the backup's own key: the drill fails in one line, and
    # still cleans up.
    path.write_bytes(original)
    recounted = msgspec.structs.replace(manifest, counts={**manifest.counts, "nodes": manifest.counts["nodes"] + 1})
    repo.rewrite_manifest(seal(recounted, engine.unwrap_data_key(kms, manifest)))
    with pytest.raises(OperationFailed, match="the backup recorded") as info:
        drill.drill(plan, kms, manifest.id)
    assert "\n" not in str(info.value)
    assert _drill_leftovers() == before and not list(repo.root.glob(".restore-*"))
    from wizard.backup import history

    assert (history.last(repo, manifest.id, "drill") or {}).get("state") == "failed"


def test_a_dump_neo4j_admin_refuses_fails_the_drill_in_one_line_and_leaves_nothing(
    tmp_path: Path, docker: DockerEngine, local_images: dict[str, str]
) -> None:
    """The real neo4j-admin of the plan's image, given bytes that are not a dump (what a backup made
    by someone holding the KMS could contain): one line, no container, no scratch store left."""
    import yaml

    from wizard.backup.scratchneo4j import load_and_count
    from wizard.errors import OperationFailed
    from wizard.plan import load_plan

    (tmp_path / "stackseal.yaml").write_text(
        yaml.safe_dump({"version": 1, "project": "drillbad", "images": local_images})
    )
    plan = load_plan(tmp_path / "stackseal.yaml")
    dump = tmp_path / "neo4j"
    dump.write_bytes(os.urandom(200_000))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    before = _drill_leftovers()
    with pytest.raises(OperationFailed, match="could not load the dump.*Not a valid Neo4j archive") as info:
        load_and_count(plan, dump, scratch)
    assert "\n" not in str(info.value)
    assert _drill_leftovers() == before
    assert not (scratch / "neo4j-auth").exists()
