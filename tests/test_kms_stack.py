"""Done-when of issue 10 on the real test bed: a Vault-backed stack (real OpenBao, gocryptfs, dockerd).

- apply brings it up; every plaintext value of the runtime directory is found nowhere under the
  answers file's directory, the output directory or the volume root;
- ``lock`` refuses while it runs, ``lock --stop`` leaves the runtime directory gone and volumes
  unmounted; then the "stolen disk" test: nothing on disk reveals a secret or the data;
- ``unlock`` brings the stack back with its data;
- a simulated reboot (stack stopped, volumes and the runtime tmpfs unmounted) followed by the
  rendered boot script brings it back too.
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
from testbed.containers import DockerEngine

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
    answers = make_answers(tmp_path, local_images)
    data = yaml.safe_load(answers.read_text())
    (tmp_path / "vault-token").write_text(openbao.token)
    data["kms"] = {
        "backend": "vault",
        "key_name": f"stack{secrets.token_hex(3)}",
        "vault": {"address": openbao.address, "token_file": "vault-token"},
        "runtime_dir": str(tmp_path / "run"),
    }
    answers.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        yield answers, tmp_path / "run"
    finally:
        teardown(docker, answers)
        run = tmp_path / "run"
        if run.exists():
            subprocess.run(["umount", str(run)], capture_output=True)


def test_vault_backed_stack_lock_unlock_reboot_and_stolen_disk(vault_stack: tuple, docker: DockerEngine) -> None:
    answers, run = vault_stack
    plan = load(answers)
    out, root = plan.output_path, Path(plan.volumes.root)
    result = stackseal("apply", "-c", str(answers), "--yes")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for step in ("kms-key", "unlock", "vault-approles"):
        assert step in result.stdout
    assert all(p.name.endswith(".wrapped.json") or p.name == ".gitignore" for p in (out / "secrets").iterdir())
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
