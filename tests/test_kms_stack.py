"""Done-when of issue 10 on the real test bed: a Vault-backed stack (real OpenBao, gocryptfs, dockerd),
and the same round trip with AWS KMS on moto's server (``*_with_moto``; moto checking credentials).

- apply brings it up; every plaintext value of the runtime directory is found nowhere under the
  answers file's directory, the output directory or the volume root;
- ``lock`` refuses while it runs, ``lock --stop`` leaves the runtime directory gone and volumes
  unmounted; then the "stolen disk" test: nothing on disk reveals a secret or the data;
- ``unlock`` brings the stack back with its data;
- a simulated reboot (stack stopped, volumes and the runtime tmpfs unmounted) followed by the
  rendered boot script brings it back too;
- AWS only: with the stack locked, a wrong AWS secret key and an unreachable KMS endpoint each end
  ``unlock`` and ``apply`` in one line, exit 1, with the answers directory (output dir included)
  unchanged byte for byte and nothing mounted.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from test_apply_stack import REPO, load, make_answers, mounts_under, stackseal, teardown
from testbed.containers import DockerEngine, free_port
from testbed.services import MotoIam, make_aws_key
from unlock_helpers import tree_hash

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="tmpfs and FUSE mounts need root")]


def _files(root: Path, skip: tuple[Path, ...]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) not in skip]
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                yield path


def _found(values: dict[str, bytes], root: Path, skip: tuple[Path, ...]) -> list[str]:
    hits = []
    for path in _files(root, skip):
        content = path.read_bytes()
        hits += [f"{name} in {path}" for name, value in values.items() if value in content]
    return hits


def _neo4j(plan, run: Path):
    from neo4j import GraphDatabase

    user, _, password = (run / "neo4j_auth").read_text().strip().partition("/")
    return GraphDatabase.driver(plan.neo4j.bolt_url, auth=(user, password))


@pytest.fixture
def vault_stack(tmp_path: Path, docker: DockerEngine, local_images: dict[str, str], openbao) -> Iterator[tuple]:
    (tmp_path / "vault-token").write_text(openbao.token)
    kms = {
        "backend": "vault",
        "key_name": f"stack{secrets.token_hex(3)}",
        "vault": {"address": openbao.address, "token_file": "vault-token"},
    }
    yield from _stack_with_kms(tmp_path, docker, local_images, kms)


def _stack_with_kms(tmp_path: Path, docker: DockerEngine, local_images: dict[str, str], kms: dict) -> Iterator[tuple]:
    """The test stack's answers with ``kms`` and a runtime dir of its own; torn down afterwards."""
    answers = make_answers(tmp_path, local_images)
    data = yaml.safe_load(answers.read_text())
    data["kms"] = {**kms, "runtime_dir": str(tmp_path / "run")}
    answers.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        yield answers, tmp_path / "run"
    finally:
        teardown(docker, answers)
        run = tmp_path / "run"
        if run.exists():
            subprocess.run(["umount", str(run)], capture_output=True)


def round_trip(answers: Path, run: Path, docker: DockerEngine, steps: tuple[str, ...]) -> None:
    """apply → scan → lock → stolen disk → unlock → simulated reboot + boot script, for any KMS backend."""
    plan = load(answers)
    out, root = plan.output_path, Path(plan.volumes.root)
    result = stackseal("apply", "-c", str(answers), "--yes")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for step in steps:
        assert step in result.stdout
    assert all(
        p.name.endswith(".wrapped.json") or p.name in (".gitignore", ".manifest-key")
        for p in (out / "secrets").iterdir()
    )
    assert (
        subprocess.run(["stat", "-f", "-c", "%T", str(run)], capture_output=True, text=True).stdout.strip() == "tmpfs"
    )

    marker = f"KMS-STACK-{secrets.token_hex(8)}"
    with _neo4j(plan, run) as driver:
        driver.execute_query("CREATE (:Canary {marker: $m})", m=marker * 20)

    # every plaintext value of the runtime directory is nowhere on disk
    values = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert {"neo4j_auth", "s3_secret_key", "seaweedfs_kek", "volume-neo4j-data.key"} <= set(values)
    mnt = root / plan.project / "mnt"
    skip = (run, mnt)
    assert not _found(values, answers.parent, skip), "a plaintext key is on disk"

    refused = stackseal("lock", "-c", str(answers))
    assert refused.returncode == 2 and "--stop" in refused.stderr, refused.stderr
    assert run.exists()
    locked = stackseal("lock", "-c", str(answers), "--stop")
    assert locked.returncode == 0, locked.stderr
    assert not run.exists(), "lock leaves the runtime directory gone"
    assert mounts_under(answers.parent) == [], "lock leaves no volume mounted"

    # the stolen disk: nothing under the answers dir, the output dir or the volume root reveals a
    # secret or the data; and the stored gocryptfs volume does not open without the unwrapped key
    assert not _found({**values, "marker": marker.encode()}, answers.parent, ()), "the locked disk reveals something"
    cipher = next(p for p in (root / plan.project / "cipher").iterdir())
    guess = answers.parent / "guess"
    guess.write_text("not-the-key")
    probe = answers.parent / "probe"
    probe.mkdir()
    opened = subprocess.run(
        ["gocryptfs", "-passfile", str(guess), str(cipher), str(probe)], capture_output=True, text=True
    )
    assert opened.returncode != 0

    # unlock brings the stack back with its data
    result = stackseal("unlock", "-c", str(answers))
    assert result.returncode == 0, result.stdout + result.stderr
    with _neo4j(plan, run) as driver:
        records, _, _ = driver.execute_query("MATCH (c:Canary) RETURN c.marker AS m")
    assert [r["m"] for r in records] == [marker * 20]

    # simulated reboot: containers stopped, volumes and the runtime tmpfs unmounted, then the boot script
    docker.compose(out, plan.project, "stop", "--timeout", "20", timeout=300)
    for target, _fs in mounts_under(root):
        subprocess.run(["fusermount", "-u", target], check=True)
    subprocess.run(["umount", str(run)], check=True)
    subprocess.run(["rm", "-rf", str(run)], check=True)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    boot = subprocess.run(
        ["sh", str(out / "boot" / "stackseal-unlock.sh")], capture_output=True, text=True, env=env, timeout=600
    )
    assert boot.returncode == 0, boot.stdout + boot.stderr
    with _neo4j(plan, run) as driver:
        records, _, _ = driver.execute_query("MATCH (c:Canary) RETURN c.marker AS m")
    assert [r["m"] for r in records] == [marker * 20]
    unit = (out / "boot" / f"stackseal-unlock-{plan.project}.service").read_text()
    assert "ExecStart=/bin/sh" in unit and "After=network-online.target docker.service" in unit
    assert str(REPO) not in unit


def test_vault_backed_stack_lock_unlock_reboot_and_stolen_disk(vault_stack: tuple, docker: DockerEngine) -> None:
    answers, run = vault_stack
    round_trip(answers, run, docker, ("kms-key", "unlock", "vault-approles"))


@pytest.fixture
def aws_stack(
    tmp_path: Path,
    docker: DockerEngine,
    local_images: dict[str, str],
    moto_iam: MotoIam,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple]:
    """The same stack with kms.backend aws on moto (credentials checked), the IAM user's key in the environment."""
    for name, value in moto_iam.env().items():
        monkeypatch.setenv(name, value)  # what stackseal, the boot script and boto3 read
    alias = f"stack{secrets.token_hex(3)}"
    make_aws_key(moto_iam.url, alias, moto_iam.env())
    kms = {"backend": "aws", "key_name": alias, "aws": {"region": "us-east-1", "endpoint_url": moto_iam.url}}
    yield from _stack_with_kms(tmp_path, docker, local_images, kms)


def _one_line_failure(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stdout + result.stderr
    assert lines[0].startswith("stackseal: error:") and "Traceback" not in result.stderr
    return lines[0]


def test_aws_backed_stack_lock_unlock_reboot_stolen_disk_and_faults_with_moto(
    aws_stack: tuple, docker: DockerEngine, moto_iam: MotoIam, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers, run = aws_stack
    round_trip(answers, run, docker, ("kms-key", "unlock"))
    plan = load(answers)
    locked = stackseal("lock", "-c", str(answers), "--stop")
    assert locked.returncode == 0, locked.stderr
    root = Path(plan.volumes.root)
    before = tree_hash(answers.parent)
    good_secret = moto_iam.env()["AWS_SECRET_ACCESS_KEY"]

    # a wrong AWS secret key: refused by AWS (HTTP 403), one line, nothing changed, the key not echoed
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong" + good_secret[5:])
    for args in (("unlock", "-c", str(answers)), ("apply", "-c", str(answers), "--yes")):
        line = _one_line_failure(stackseal(*args))
        assert "refused the credential" in line or "InvalidSignature" in line, line
        assert good_secret[5:] not in line
        assert tree_hash(answers.parent) == before and not run.exists() and mounts_under(root) == []
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", good_secret)

    # an unreachable KMS endpoint: one line naming it, nothing changed
    data = yaml.safe_load(answers.read_text())
    data["kms"]["aws"]["endpoint_url"] = f"http://127.0.0.1:{free_port()}"
    answers.write_text(yaml.safe_dump(data, sort_keys=False))
    before = tree_hash(answers.parent)
    for args in (("unlock", "-c", str(answers)), ("apply", "-c", str(answers), "--yes")):
        line = _one_line_failure(stackseal(*args))
        assert "not reachable" in line, line
        assert tree_hash(answers.parent) == before and not run.exists() and mounts_under(root) == []
