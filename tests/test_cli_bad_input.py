"""Bad input through the real CLI (a subprocess): one clear line, exit 2, no traceback, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# (id, answers file content or None for "no file", extra CLI args, expected start of the error line)
CASES = [
    ("missing-file", None, [], "{answers}: no such answers file"),
    ("yaml-syntax", "version: 1\nneo4j: [\n", [], "{answers}: line 3, column 1: YAML syntax error"),
    ("empty-file", "", [], "{answers}: the answers file is empty"),
    ("top-level-list", "- a\n- b\n", [], "answers file: expected a mapping of keys at the top level"),
    ("missing-version", "project: x\n", [], "version: missing"),
    ("newer-version", "version: 7\n", [], "version: 7 was written by a newer stackseal"),
    ("wrong-type", "version: 1\nvolumes:\n  size_mb: big\n", [], "volumes.size_mb: expected int, got str"),
    ("section-not-mapping", "version: 1\nrotation: 5\n", [], "rotation: expected a mapping of keys, got a number"),
    (
        "unknown-key",
        "version: 1\nneo4j:\n  editon: community\n",
        [],
        "neo4j.editon: unknown key (did you mean 'edition'?)",
    ),
    ("unknown-top-key", "version: 1\nobjectstore: {}\n", [], "objectstore: unknown key (did you mean 'object_store'?)"),
    (
        "bad-enum",
        "version: 1\nkms:\n  backend: vualt\n",
        [],
        "kms.backend: 'vualt' is not one of local, vault, aws, azure, gcp",
    ),
    (
        "invalid-bucket",
        "version: 1\nobject_store:\n  buckets: [Bad_Bucket]\n",
        [],
        "object_store.buckets: 'Bad_Bucket' is not a valid S3 bucket name",
    ),
    (
        "relative-volume-root",
        "version: 1\nvolumes:\n  root: srv/stackseal\n",
        [],
        "volumes.root: 'srv/stackseal' is relative",
    ),
    ("bad-project", "version: 1\nproject: My Stack\n", [], "project: 'My Stack' must be lowercase"),
    (
        "bad-port",
        "version: 1\nneo4j:\n  bolt_url: bolt://127.0.0.1:99999\n",
        [],
        "neo4j.bolt_url: 'bolt://127.0.0.1:99999' has an invalid port",
    ),
    (
        "unknown-image-key",
        "version: 1\nimages:\n  neo5j: x\n",
        [],
        "images.neo5j: unknown service 'neo5j' (did you mean 'neo4j'?)",
    ),
    (
        "impossible-seaweedfs-kms-local",
        "version: 1\nobject_store:\n  kind: seaweedfs\n  sse: sse-kms\nkms:\n  backend: local\n",
        [],
        "object_store.sse: sse-kms on seaweedfs needs a real KMS",
    ),
    (
        "impossible-minio-ssec-http",
        "version: 1\nobject_store:\n  kind: minio\n  sse: sse-c\n",
        [],
        "object_store.endpoint: sse-c on MinIO needs TLS",
    ),
    (
        "impossible-minio-kms-no-kes",
        "version: 1\nobject_store:\n  kind: minio\n  sse: sse-kms\n  kes: false\n",
        [],
        "object_store.sse: sse-kms on MinIO needs KES",
    ),
    (
        "enterprise-no-license",
        "version: 1\nneo4j:\n  edition: enterprise\n",
        [],
        "neo4j.accept_license_agreement: Neo4j Enterprise needs its license accepted",
    ),
    (
        "luks-device-no-device",
        "version: 1\nvolumes:\n  backend: luks-device\n",
        [],
        "volumes.device: luks-device needs the block device",
    ),
    (
        "missing-user-secret-file",
        "version: 1\nneo4j:\n  auth_file: ./nope-auth\n",
        [],
        "{tmp}/nope-auth: secret file not found",
    ),
    ("output-is-a-file", "version: 1\n", ["-o", "{tmp}/afile"], "{tmp}/afile: exists and is not a directory"),
    (
        "output-under-a-file",
        "version: 1\n",
        ["-o", "{tmp}/afile/sub"],
        "{tmp}/afile/sub: {tmp}/afile is not a directory",
    ),
    ("output-unwritable", "version: 1\n", ["-o", "/proc/stackseal-out"], "/proc/stackseal-out: not writable"),
    ("no-config-flag", None, ["--no-c"], "stackseal: error: the following arguments are required: -c/--config"),
]


@pytest.mark.parametrize("case_id, content, extra, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_written(
    tmp_path: Path, case_id: str, content: str | None, extra: list[str], expected: str
) -> None:
    answers = tmp_path / "stackseal.yaml"
    if content is not None:
        answers.write_text(content)
    (tmp_path / "afile").write_text("not a directory\n")
    out = tmp_path / "out"
    args = [a.format(tmp=tmp_path) for a in extra]
    if "--no-c" in args:
        cmd = [sys.executable, "-m", "wizard.cli", "render"]
    else:
        cmd = [sys.executable, "-m", "wizard.cli", "render", "-c", str(answers)] + (args or ["-o", str(out)])
    before = sorted(p.name for p in tmp_path.iterdir())
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    prefix = "" if expected.startswith("stackseal: error:") else "stackseal: error: "
    assert lines[0].startswith(prefix + expected.format(answers=answers, tmp=tmp_path)), lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing may be written on bad input"
    assert not Path("/proc/stackseal-out").exists()


def test_there_are_at_least_twelve_cases() -> None:
    assert len(CASES) >= 12
