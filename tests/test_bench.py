"""``stackseal bench`` against the real thing on this host: gocryptfs and fscrypt volumes, the
SeaweedFS store with and without SSE, and two throw-away Neo4j containers (plain vs gocryptfs)."""

from __future__ import annotations

import json

import pytest
import yaml
from backup_helpers import write_plan
from test_backup_cli import cli

pytestmark = pytest.mark.slow


def test_bench_measures_every_group_here(tmp_path, s3, docker, local_images) -> None:
    answers = write_plan(tmp_path, s3, images={"neo4j": local_images["neo4j"]})
    data = yaml.safe_load(answers.read_text())
    data["volumes"] = {"backend": "gocryptfs", "root": str(tmp_path / "vol")}
    answers.write_text(yaml.safe_dump(data))
    result = cli("bench", "-c", str(answers), "--size-mb", "16", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    by_name = {(r["group"], r["name"]): r for r in json.loads(result.stdout)["results"]}
    for key in [
        ("volumes", "plain write"),
        ("volumes", "gocryptfs write"),
        ("volumes", "gocryptfs read"),
        ("volumes", "fscrypt write"),
        ("objects", "PUT (no SSE)"),
        ("objects", "GET (SSE-S3)"),
        ("backup", "stackseal encrypt"),
        ("neo4j", "plain write p50"),
        ("neo4j", "gocryptfs read p50"),
    ]:
        assert by_name[key]["value"] and by_name[key]["value"] > 0, (key, by_name.get(key))
    assert by_name[("volumes", "gocryptfs write")]["overhead_percent"] is not None
    assert ("volumes", "luks write") in by_name  # reported, with the reason it cannot run here
    buckets = [b.name for b in s3.client().list_buckets()]
    assert not [b for b in buckets if b.startswith("bench-")], "scratch buckets removed"
