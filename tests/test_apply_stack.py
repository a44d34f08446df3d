"""``stackseal apply`` on the real test bed: Docker, Compose, gocryptfs, SeaweedFS, Neo4j.

Done-when of the provisioning issue, each as a test:
- apply of examples/dev-laptop.yaml (local images, volumes under tmp_path, free ports) brings up
  Neo4j and the object store on gocryptfs volumes, with buckets under SSE-S3; a marker written
  through Neo4j is in the plaintext view and never in the ciphertext;
- a second apply (and ``plan --check``) reports no changes;
- ``--dry-run`` changes nothing: files, containers, volumes and mounts compared before/after,
  on a fresh host and on a drifted stack;
- apply killed with SIGKILL in the middle of a step, then re-run, ends in the same state as an
  uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from testbed.containers import DockerEngine, free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def stackseal(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    return subprocess.run(
        [str(VENV_BIN / "stackseal"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def make_answers(tmp_path: Path, images: dict[str, str]) -> Path:
    """examples/dev-laptop.yaml with our images, a unique project, free ports, everything in tmp_path."""
    data = yaml.safe_load((REPO / "examples" / "dev-laptop.yaml").read_text())
    data["project"] = f"ssapply{secrets.token_hex(3)}"
    data["output_dir"] = "stack"
    data["neo4j"]["bolt_url"] = f"bolt://127.0.0.1:{free_port()}"
    data["neo4j"]["http_port"] = free_port()
    data["object_store"]["endpoint"] = f"http://127.0.0.1:{free_port()}"
    data["volumes"]["root"] = str(tmp_path / "volumes")
    data["images"] = images
    path = tmp_path / "stackseal.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load(path: Path):
    from wizard.plan import load_plan

    return load_plan(path)


def teardown(engine: DockerEngine, answers: Path) -> None:
    """Remove the test's containers and volumes and unmount its gocryptfs mounts."""
    plan = load(answers)
    out = plan.output_path
    if (out / "compose.yaml").exists():
        engine.compose(out, plan.project, "down", "-v", "--timeout", "10", check=False, timeout=300)
    root = Path(plan.volumes.root)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        if target.startswith(str(root)):
            subprocess.run(["fusermount", "-u", "-z", target], capture_output=True)
    subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True)  # mount-point guards


def containers(engine: DockerEngine, project: str) -> dict[str, tuple[str, str, str, str]]:
    """service -> (container id, status, health, started at)."""
    ids = engine.run("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout.decode().split()
    result = {}
    for cid in ids:
        info = json.loads(engine.run("inspect", cid).stdout)[0]
        state = info["State"]
        service = info["Config"]["Labels"]["com.docker.compose.service"]
        result[service] = (
            info["Id"],
            state["Status"],
            (state.get("Health") or {}).get("Status", ""),
            state["StartedAt"],
        )
    return result


def docker_volumes(engine: DockerEngine, project: str) -> dict[str, str]:
    names = (
        engine.run("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}")
        .stdout.decode()
        .split()
    )
    return {n: json.loads(engine.run("volume", "inspect", n).stdout)[0]["Options"].get("device", "") for n in names}


def mounts_under(root: Path) -> list[tuple[str, str]]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        target = left.split()[4]
        if target.startswith(str(root)):
            found.append((target, right.split()[0]))
    return sorted(found)


def file_snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple[int, str]]:
    """relative path -> (mode, sha256) for every file under root (not descending into ``skip``)."""
    snap = {}
    if not root.exists():
        return snap
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) not in skip]
        for name in filenames + dirnames:
            path = Path(dirpath, name)
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            snap[str(path.relative_to(root))] = (st.st_mode, digest)
    return snap


def full_state(engine: DockerEngine, answers: Path) -> dict:
    plan = load(answers)
    root = Path(plan.volumes.root) / plan.project
    return {
        "files": file_snapshot(answers.parent, skip=(root / "mnt", root / "cipher")),
        "containers": containers(engine, plan.project),
        "volumes": docker_volumes(engine, plan.project),
        "mounts": mounts_under(answers.parent),
    }


def normalized_state(engine: DockerEngine, answers: Path) -> dict:
    """What an apply leaves, without names that differ between two projects (for comparisons)."""
    from minio import Minio

    plan = load(answers)
    out = plan.output_path
    root = str(answers.parent)
    files = sorted(
        (path.replace(plan.project, "<p>"), oct(mode))
        for path, (mode, _) in file_snapshot(out, skip=(out / ".stackseal",)).items()
    )
    services = {s: (status, health) for s, (_, status, health, _) in containers(engine, plan.project).items()}
    volumes = sorted(
        (n.removeprefix(plan.project + "_"), d.replace(root, "<tmp>").replace(plan.project, "<p>"))
        for n, d in docker_volumes(engine, plan.project).items()
    )
    mounts = [(t.replace(root, "<tmp>").replace(plan.project, "<p>"), fs) for t, fs in mounts_under(answers.parent)]
    s3 = Minio(
        plan.object_store.endpoint.split("://")[1],
        secure=False,
        access_key=(out / "secrets" / "s3_access_key").read_text().strip(),
        secret_key=(out / "secrets" / "s3_secret_key").read_text().strip(),
    )
    buckets = {b: s3.get_bucket_encryption(b).rule.sse_algorithm for b in plan.object_store.buckets}
    journal = json.loads((out / ".stackseal" / "journal.json").read_text())
    return {
        "files": files,
        "services": services,
        "volumes": volumes,
        "mounts": mounts,
        "buckets": buckets,
        "journal": (journal["status"], sorted(journal["steps"])),
    }


@pytest.fixture(scope="module")
def applied(
    tmp_path_factory: pytest.TempPathFactory, docker: DockerEngine, local_images: dict[str, str]
) -> Iterator[dict]:
    """One uninterrupted ``stackseal apply --yes`` of the dev-laptop example."""
    tmp = tmp_path_factory.mktemp("apply")
    answers = make_answers(tmp, local_images)
    try:
        result = stackseal("apply", "-c", str(answers), "--yes")
        if result.returncode != 0:
            plan = load(answers)
            logs = docker.compose(plan.output_path, plan.project, "logs", "--tail", "40", check=False)
            pytest.fail(
                f"apply failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}\n--- logs ---\n"
                + (logs.stdout or b"").decode(errors="replace")[-4000:],
                pytrace=False,
            )
        yield {"answers": answers, "stdout": result.stdout, "state": normalized_state(docker, answers)}
    finally:
        teardown(docker, answers)


def test_dry_run_on_a_fresh_host_changes_nothing(
    tmp_path: Path, docker: DockerEngine, local_images: dict[str, str]
) -> None:
    answers = make_answers(tmp_path, local_images)
    plan = load(answers)
    before = full_state(docker, answers)
    result = stackseal("apply", "-c", str(answers), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Dry run: nothing was changed." in result.stdout
    assert "+ volumes" in result.stdout and "+ compose-up" in result.stdout
    assert full_state(docker, answers) == before
    assert not plan.output_path.exists() and not Path(plan.volumes.root).exists()


def test_apply_brings_up_the_stack_on_encrypted_volumes(applied: dict, docker: DockerEngine) -> None:
    from neo4j import GraphDatabase

    from wizard.layout import volume_specs

    answers, state = applied["answers"], applied["state"]
    plan = load(answers)
    assert "Apply complete" in applied["stdout"]
    assert state["services"] == {"neo4j": ("running", "healthy"), "seaweedfs": ("running", "healthy")}
    assert state["buckets"] == {"schemas": "AES256", "instances": "AES256", "cmf": "AES256"}
    assert state["journal"][0] == "done"
    specs = volume_specs(plan)
    assert {fs for _, fs in state["mounts"]} == {"fuse.gocryptfs"} and len(state["mounts"]) == len(specs)
    # a marker written through Neo4j is in the plaintext view, never in the ciphertext
    marker = f"APPLY-CANARY-{secrets.token_hex(8)}"
    user, _, password = (plan.output_path / "secrets" / "neo4j_auth").read_text().strip().partition("/")
    with GraphDatabase.driver(plan.neo4j.bolt_url, auth=(user, password)) as driver:
        # long enough to be stored as plain UTF-8 (short strings get Neo4j's compact encoding);
        # committed transactions are in /data/transactions (fsync on commit): no checkpoint needed
        driver.execute_query("CREATE (:Canary {marker: $m})", m=marker * 20)
    data = next(s for s in specs if s.name == "neo4j-data")

    def tree(root: Path) -> bytes:
        return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())

    assert marker.encode() in tree(data.mount_point)
    assert marker.encode() not in tree(data.backing)


def test_second_apply_and_plan_check_report_no_changes(applied: dict, docker: DockerEngine) -> None:
    answers = applied["answers"]
    before = full_state(docker, answers)
    check = stackseal("plan", "-c", str(answers), "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.rstrip().endswith("No changes. 8 steps already done.")
    again = stackseal("apply", "-c", str(answers), "--yes")
    assert again.returncode == 0, again.stderr
    assert "No changes." in again.stdout and "Apply complete" not in again.stdout
    after = full_state(docker, answers)
    assert after["containers"] == before["containers"]  # same containers, not restarted
    assert after == before


def test_dry_run_on_a_drifted_stack_changes_nothing_then_apply_repairs(applied: dict, docker: DockerEngine) -> None:
    answers = applied["answers"]
    plan = load(answers)
    docker.compose(plan.output_path, plan.project, "stop", "seaweedfs")
    before = full_state(docker, answers)
    dry = stackseal("apply", "-c", str(answers), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "~ compose-up" in dry.stdout and "seaweedfs: start (is exited)" in dry.stdout
    assert full_state(docker, answers) == before
    drift = stackseal("plan", "-c", str(answers), "--check", "--json")
    assert drift.returncode == 3
    assert json.loads(drift.stdout)["summary"]["change"] >= 1
    fixed = stackseal("apply", "-c", str(answers), "--yes")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert stackseal("plan", "-c", str(answers), "--check").returncode == 0
    assert normalized_state(docker, answers) == applied["state"]


def test_sigkill_mid_step_then_rerun_ends_like_an_uninterrupted_run(
    applied: dict, tmp_path: Path, docker: DockerEngine, local_images: dict[str, str]
) -> None:
    answers = make_answers(tmp_path, local_images)
    plan = load(answers)
    journal = plan.output_path / ".stackseal" / "journal.json"
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    try:
        proc = subprocess.Popen(
            [str(VENV_BIN / "stackseal"), "apply", "-c", str(answers), "--yes"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        killed_in = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                steps = json.loads(journal.read_text())["steps"]
            except (FileNotFoundError, ValueError, KeyError):
                steps = {}
            if steps.get("compose-up", {}).get("status") == "started":
                time.sleep(3)  # well inside: compose is creating and starting containers
                killed_in = "compose-up"
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
        proc.wait(timeout=60)
        assert killed_in == "compose-up", (
            "apply finished before it could be killed mid-step: " + proc.stdout.read().decode()[-2000:]
        )
        assert proc.returncode == -signal.SIGKILL
        interrupted = json.loads(journal.read_text())
        assert interrupted["status"] == "running" and interrupted["steps"]["compose-up"]["status"] == "started"

        rerun = stackseal("apply", "-c", str(answers), "--yes")
        assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr
        assert "resuming interrupted run" in rerun.stdout
        assert normalized_state(docker, answers) == applied["state"]
        check = stackseal("plan", "-c", str(answers), "--check")
        assert check.returncode == 0, check.stdout
    finally:
        teardown(docker, answers)


def test_apply_with_a_deployed_openbao_initialises_unseals_and_creates_the_key(
    tmp_path: Path, docker: DockerEngine, local_images: dict[str, str]
) -> None:
    import hvac

    answers = make_answers(tmp_path, local_images)
    data = yaml.safe_load(answers.read_text())
    data["kms"] = {"backend": "vault", "vault": {"address": f"http://127.0.0.1:{free_port()}", "deploy": True}}
    answers.write_text(yaml.safe_dump(data, sort_keys=False))
    plan = load(answers)
    try:
        first = stackseal("apply", "-c", str(answers), "--yes")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr
        init = plan.output_path / "secrets" / "openbao_init.json"
        assert oct(init.stat().st_mode & 0o777) == "0o400"
        token = json.loads(init.read_text())["root_token"]
        assert token not in first.stdout and token not in first.stderr
        client = hvac.Client(url=plan.kms.vault.address, token=token)
        assert client.secrets.transit.read_key(plan.kms.key_name)["data"]["type"] == "aes256-gcm96"
        # a restarted OpenBao comes back sealed: apply unseals it and changes nothing else
        docker.compose(plan.output_path, plan.project, "restart", "openbao", timeout=300)
        sealed = stackseal("plan", "-c", str(answers))
        assert "~ kms-key" in sealed.stdout and "unseal OpenBao" in sealed.stdout, sealed.stdout + sealed.stderr
        again = stackseal("apply", "-c", str(answers), "--yes")
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr
        assert not client.sys.is_sealed()
        check = stackseal("plan", "-c", str(answers), "--check")
        assert check.returncode == 0, check.stdout
    finally:
        teardown(docker, answers)
