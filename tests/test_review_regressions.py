"""Regressions found in the review pass: each test failed before its fix.

Bad input must end in one line with exit 2 (never a traceback) through the real CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ANSWERS = """version: 1
project: rvw
output_dir: {out}
object_store:
  kind: seaweedfs
  endpoint: http://127.0.0.1:8333
  sse: sse-s3
kms:
  backend: local
volumes:
  backend: none
  root: {root}
"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wizard.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.mark.parametrize(
    "argv", [["plan"], ["plan", "--json"], ["apply", "--yes"], ["apply", "--dry-run"], ["render", "--dry-run"]]
)
@pytest.mark.parametrize("where", ["file", "under-file"])
def test_output_dir_that_is_a_file_is_one_line_exit_2(tmp_path: Path, argv: list[str], where: str) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a directory\n")
    out = afile if where == "file" else afile / "sub"
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(ANSWERS.format(out=out, root=tmp_path / "vols"))
    before = sorted(p.name for p in tmp_path.iterdir())
    result = _cli(argv[0], "-c", str(answers), *argv[1:], cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"stackseal: error: {out}: "), result.stderr
    assert "not a directory" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert afile.read_text() == "not a directory\n"


PASSWORD = "Sup3rS3cretPw"


@pytest.mark.parametrize(
    "key, url",
    [
        ("object_store.endpoint", f"http://AKIAEXAMPLE:{PASSWORD}@127.0.0.1:8333"),
        ("neo4j.bolt_url", f"bolt://neo4j:{PASSWORD}@127.0.0.1:7687"),
        ("kms.vault.address", f"http://user:{PASSWORD}@127.0.0.1:8200"),
        ("kms.aws.endpoint_url", f"https://AKIAEXAMPLE:{PASSWORD}@kms.example.test"),
    ],
)
def test_credentials_inside_a_url_are_refused_without_echoing_them(tmp_path: Path, key: str, url: str) -> None:
    """A password in a connection URL used to be copied verbatim into RUNBOOK.md (a non-secret file)."""
    section, _, leaf = key.rpartition(".")
    extra = {
        "object_store": "object_store:\n  kind: seaweedfs\n  endpoint: {u}\n  sse: sse-s3\n",
        "neo4j": "neo4j:\n  bolt_url: {u}\n",
        "kms.vault": "kms:\n  backend: vault\n  vault:\n    address: {u}\n",
        "kms.aws": "kms:\n  backend: aws\n  aws:\n    endpoint_url: {u}\n",
    }[section].format(u=url)
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(f"version: 1\nproject: rvw\n{extra}volumes:\n  backend: none\n  root: {tmp_path / 'vols'}\n")
    out = tmp_path / "out"
    result = _cli("render", "-c", str(answers), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"stackseal: error: {key}: credentials in the URL"), result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert not out.exists()


@pytest.mark.parametrize("kind", ["seaweedfs", "minio"])
@pytest.mark.parametrize("vault_address", ["http://127.0.0.1", "https://127.0.0.1", "http://127.0.0.1:18200"])
def test_compose_publishes_exactly_the_ports_stackseal_checks_and_connects_to(
    tmp_path: Path, kind: str, vault_address: str
) -> None:
    """An OpenBao address without a port was published on 8200 while stackseal checked and used 80/443."""
    import yaml

    from wizard.kms.local import LocalSecretStore
    from wizard.plan import plan_from_dict
    from wizard.render import render_files
    from wizard.steps.context import Context
    from wizard.steps.ports_step import published_ports

    data = {
        "version": 1,
        "project": "rvw",
        "output_dir": str(tmp_path / "out"),
        "neo4j": {"bolt_url": "bolt://127.0.0.1", "http_port": 17474},
        "object_store": {
            "kind": kind,
            "endpoint": "http://127.0.0.1",
            "sse": "sse-kms" if kind == "minio" else "sse-s3",
        },
        "kms": {"backend": "vault", "vault": {"deploy": True, "address": vault_address}},
        "volumes": {"backend": "none", "root": str(tmp_path / "vols")},
    }
    if kind == "minio":  # two defaults of 80 would clash: give the object store its own port
        data["object_store"]["endpoint"] = "http://127.0.0.1:19000"
    if vault_address == "http://127.0.0.1" and kind == "seaweedfs":
        data["object_store"]["endpoint"] = "http://127.0.0.1:18333"
    plan = plan_from_dict(data, base_dir=tmp_path)
    files = render_files(plan, LocalSecretStore(tmp_path / "secrets"))
    compose = yaml.safe_load(files["compose.yaml"].content)
    published = sorted(int(p.split(":")[1]) for svc in compose["services"].values() for p in svc.get("ports", []))
    checked = sorted(port for port, _key in published_ports(Context.for_plan(plan)))
    assert published == checked


def test_luks_mkfs_only_when_blkid_clearly_finds_nothing(tmp_path: Path) -> None:
    """unlock used to run mkfs whenever blkid printed nothing, whatever its exit code (error, ambivalent)."""
    from testbed.require import require_tool

    from wizard.errors import OperationFailed
    from wizard.volumes.luks_file import needs_filesystem

    require_tool("blkid", "apt-get install util-linux")
    mkfs = require_tool("mkfs.ext4", "apt-get install e2fsprogs")
    empty, ext4 = tmp_path / "empty.img", tmp_path / "ext4.img"
    for image in (empty, ext4):
        with open(image, "wb") as handle:
            handle.truncate(4 * 1024 * 1024)
    subprocess.run([mkfs, "-q", "-F", str(ext4)], check=True, capture_output=True)
    assert needs_filesystem(empty, "v") is True
    assert needs_filesystem(ext4, "v") is False
    with pytest.raises(OperationFailed, match="nothing was formatted"):
        needs_filesystem(tmp_path / "gone", "v")


@pytest.mark.parametrize("command", [["render"], ["render", "--dry-run"], ["plan"]])
def test_a_directory_where_a_secret_file_belongs_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """``secrets/neo4j_auth`` being a directory ended in an IsADirectoryError traceback."""
    out = tmp_path / "out"
    (out / "secrets" / "neo4j_auth").mkdir(parents=True)
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(ANSWERS.format(out=out, root=tmp_path / "vols"))
    result = _cli(command[0], "-c", str(answers), *command[1:], cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"stackseal: error: {out / 'secrets' / 'neo4j_auth'}: is a directory, expected a secret file; move it away and run again"
    ]


def test_plan_turns_an_unexpected_error_in_a_check_into_one_line(tmp_path: Path) -> None:
    """check_all (``stackseal plan``/``apply``) let any non-stackseal exception escape as a traceback."""
    from wizard.errors import OperationFailed
    from wizard.plan import plan_from_dict
    from wizard.steps.base import Step, StepCheck
    from wizard.steps.context import Context
    from wizard.steps.runner import check_all

    class ReadsAFile(Step):
        id = "reads"
        title = "reads a file under a file"

        def check(self, ctx: Context) -> StepCheck:
            return StepCheck("=", (tmp_path / "afile" / "x").read_text())

        def apply(self, ctx, emit) -> str:  # pragma: no cover - never reached
            return ""

    (tmp_path / "afile").write_text("x")
    plan = plan_from_dict({"version": 1, "project": "rvw", "output_dir": str(tmp_path / "out")}, base_dir=tmp_path)
    with pytest.raises(OperationFailed) as failure:
        check_all(Context.for_plan(plan), [ReadsAFile()])
    assert str(failure.value) == f"step reads: {tmp_path / 'afile' / 'x'}: Not a directory"


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("neo4j:\n  http_port: 7687\n", "neo4j.http_port: port 7687 is also used by neo4j.bolt_url"),
        (
            "neo4j:\n  bolt_url: bolt://127.0.0.1:8333\n",
            "object_store.endpoint: port 8333 is also used by neo4j.bolt_url",
        ),
        ("images:\n  neo4j: ''\n", "images.neo4j: '' is not an image reference"),
        ('images:\n  neo4j: "neo4j:5\\nevil"\n', "images.neo4j: 'neo4j:5\\nevil' is not an image reference"),
    ],
)
def test_render_refuses_what_compose_up_would_reject_later(tmp_path: Path, extra: str, expected: str) -> None:
    """Two services on one host port, or an empty image, were rendered and only failed at 'compose up'."""
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(ANSWERS.format(out=tmp_path / "out", root=tmp_path / "vols") + extra)
    result = _cli("render", "-c", str(answers), cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"stackseal: error: {expected}"), result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"AK\xff\xfeKEY", "{path}: not UTF-8 text"),
        (b"", "{path}: secret file is empty"),
        (b" \n", "{path}: secret file is empty"),
    ],
)
def test_a_user_secret_file_that_cannot_be_a_credential_is_one_line(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    """A binary access-key file ended in a UnicodeDecodeError traceback; an empty one rendered an empty credential."""
    access, secret = tmp_path / "ak", tmp_path / "sk"
    access.write_bytes(content)
    secret.write_text("a-good-secret-key-0123456789\n")
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(
        ANSWERS.format(out=tmp_path / "out", root=tmp_path / "vols").replace(
            "  sse: sse-s3\n", f"  sse: sse-s3\n  access_key_file: {access}\n  secret_key_file: {secret}\n"
        )
    )
    result = _cli("render", "-c", str(answers), cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stackseal: error: " + expected.format(path=access)), result.stderr
    assert "a-good-secret-key" not in result.stderr and "KEY" not in result.stderr.replace("key", "")
    assert not (tmp_path / "out").exists()


def test_materials_repr_never_shows_a_secret_value(tmp_path: Path) -> None:
    """Material's dataclass repr printed the secret bytes (a traceback, a debug log or pytest output shows reprs)."""
    from wizard.kms.local import LocalSecretStore
    from wizard.plan import plan_from_dict
    from wizard.render import materials

    plan = plan_from_dict(
        {"version": 1, "project": "rvw", "object_store": {"kind": "minio", "sse": "sse-s3"}}, base_dir=tmp_path
    )
    mats = materials.collect(plan, LocalSecretStore(tmp_path / "secrets"))
    secret_items = [m for m in mats.items.values() if m.secret]
    assert len(secret_items) >= 4
    text = repr(mats) + "".join(repr(m) for m in secret_items)
    for item in secret_items:
        assert item.value.decode() not in text and repr(item.value) not in text, item.name


def test_a_journal_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    """A directory (or unreadable file) at .stackseal/journal.json raised IsADirectoryError out of apply."""
    from wizard.errors import OperationFailed
    from wizard.plan import plan_from_dict
    from wizard.steps.journal import Journal

    state = tmp_path / ".stackseal"
    (state / "journal.json").mkdir(parents=True)
    with pytest.raises(OperationFailed, match=r"journal.json: cannot read the journal \(Is a directory\)"):
        Journal.load(Journal.file(state))
    plan = plan_from_dict({"version": 1, "project": "rvw"}, base_dir=tmp_path)
    with pytest.raises(OperationFailed, match="cannot read the journal"):
        Journal.begin(state, plan)


@pytest.mark.parametrize("command", [["render"], ["render", "--dry-run"], ["plan"]])
def test_a_manifest_that_cannot_be_read_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """A directory at .stackseal-manifest.json raised IsADirectoryError out of render and plan."""
    out = tmp_path / "out"
    (out / ".stackseal-manifest.json").mkdir(parents=True)
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(ANSWERS.format(out=out, root=tmp_path / "vols"))
    result = _cli(command[0], "-c", str(answers), *command[1:], cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip().splitlines() == [
        f"stackseal: error: {out / '.stackseal-manifest.json'}: cannot read the manifest (Is a directory); "
        "move it away and run 'stackseal render --force' to rebuild it"
    ]


@pytest.mark.parametrize("command", [["render"], ["render", "--dry-run"], ["plan"]])
def test_a_directory_where_a_rendered_file_belongs_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """A directory named compose.yaml in the output directory raised IsADirectoryError out of render and plan."""
    out = tmp_path / "out"
    (out / "compose.yaml").mkdir(parents=True)
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(ANSWERS.format(out=out, root=tmp_path / "vols"))
    result = _cli(command[0], "-c", str(answers), *command[1:], cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip().splitlines() == [
        f"stackseal: error: {out / 'compose.yaml'}: is a directory where stackseal writes a file; move it away and run again"
    ]


@pytest.mark.parametrize("content", ["neo4j", "admin/Passw0rdLong", "neo4j/short", "neo4j/Passw0rdLong\nsecond-line"])
def test_a_neo4j_auth_file_the_image_would_refuse_is_one_line(tmp_path: Path, content: str) -> None:
    """An auth file without 'neo4j/<password>' was rendered; Neo4j then refused to start inside 'compose up'."""
    auth = tmp_path / "auth"
    auth.write_text(content)
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(ANSWERS.format(out=tmp_path / "out", root=tmp_path / "vols") + f"neo4j:\n  auth_file: {auth}\n")
    result = _cli("render", "-c", str(answers), cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"stackseal: error: {auth}: must hold 'neo4j/<password>'"), (
        result.stderr
    )
    assert "Passw0rdLong" not in result.stderr and "short" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", ["neo4j/Passw0rdLong\n", "none"])
def test_a_valid_neo4j_auth_file_is_accepted(tmp_path: Path, content: str) -> None:
    auth = tmp_path / "auth"
    auth.write_text(content)
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(ANSWERS.format(out=tmp_path / "out", root=tmp_path / "vols") + f"neo4j:\n  auth_file: {auth}\n")
    result = _cli("render", "-c", str(answers), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Passw0rdLong" not in (tmp_path / "out" / "RUNBOOK.md").read_text()
