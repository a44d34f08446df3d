"""End to end: a rendered stack (Neo4j + SeaweedFS + OpenBao) on gocryptfs volumes really comes
up under ``docker compose up --wait``, takes writes through each service, and the host's backing
directories hold only ciphertext.

What it proves, and how it could fail:
- the render engine's compose file, secrets and OpenBao config start with our local images
  (``images:`` overrides) — any wrong path, entrypoint, healthcheck or secret fails ``up --wait``;
- every volume of :func:`wizard.layout.volume_specs` is bound to its gocryptfs mount point —
  each service's writes must appear in the backing directory (as ciphertext: file count grows);
- positive controls: the Neo4j and object-store markers ARE found in the plaintext views, so the
  scan that finds none of them in the backing directories can fail;
- lock/unlock: after ``compose down`` and unmounting, the mount points are empty; remounted with
  the passfiles, the stack comes back with every service's data (OpenBao sealed, as it should).
"""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.containers import DockerEngine, free_port
from testbed.volumes import GocryptfsVolume, gocryptfs_create

pytestmark = pytest.mark.slow


def _files_bytes(root: Path) -> bytes:
    chunks = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            chunks.append(path.name.encode())
            chunks.append(path.read_bytes())
    return b"\n".join(chunks)


def _count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def compose_up(docker: DockerEngine, out: Path, project: str) -> None:
    """``docker compose up -d --wait``; on failure the test fails with the services' logs."""
    up = docker.compose(out, project, "up", "-d", "--wait", check=False, timeout=600)
    if up.returncode != 0:
        logs = docker.compose(out, project, "logs", "--tail", "60", check=False)
        pytest.fail("docker compose up --wait failed:\n" + (up.stderr or b"").decode()[-3000:]
                    + "\n--- logs ---\n" + (logs.stdout or b"").decode(errors="replace")[-6000:],
                    pytrace=False)


def wait_active(bao) -> None:
    """Right after unsealing the node is briefly a standby that redirects to its api_addr
    (the compose-internal name, unreachable from the host): wait until it is active."""
    for _ in range(60):
        health = bao.sys.read_health_status(method="GET")
        if isinstance(health, dict) and not health.get("sealed", True) and not health.get("standby", True):
            return
        time.sleep(0.5)
    raise AssertionError(f"OpenBao did not become active: {health}")


@pytest.fixture
def stack(tmp_path: Path, docker: DockerEngine, local_images: dict[str, str]) -> Iterator[dict]:
    from wizard.layout import volume_specs
    from wizard.plan import plan_from_dict
    from wizard.render.writer import write

    project = f"sse2e{secrets.token_hex(3)}"
    out = tmp_path / "stack"
    ports = {k: free_port() for k in ("bolt", "http", "s3", "bao")}
    plan = plan_from_dict({
        "version": 1,
        "project": project,
        "output_dir": str(out),
        "neo4j": {"bolt_url": f"bolt://127.0.0.1:{ports['bolt']}", "http_port": ports["http"]},
        "object_store": {"kind": "seaweedfs", "endpoint": f"http://127.0.0.1:{ports['s3']}",
                         "sse": "sse-s3", "buckets": ["e2e-objects"]},
        "kms": {"backend": "vault", "vault": {"address": f"http://127.0.0.1:{ports['bao']}", "deploy": True}},
        "volumes": {"backend": "gocryptfs", "root": str(tmp_path / "volumes")},
        "images": local_images,
    }, base_dir=tmp_path)

    volumes: dict[str, GocryptfsVolume] = {}
    keys = tmp_path / "volume-keys"
    try:
        for spec in volume_specs(plan):
            assert spec.backing != spec.mount_point, "gocryptfs keeps ciphertext apart from the mount point"
            volumes[spec.name] = gocryptfs_create(spec.backing, spec.mount_point,
                                                  passfile=keys / f"{spec.name}.pass",
                                                  log=keys / f"{spec.name}.log")
        write(plan, out)
        assert (out / "compose.yaml").is_file()
        compose_up(docker, out, project)
        yield {"plan": plan, "out": out, "ports": ports, "volumes": volumes, "project": project}
    finally:
        if (out / "compose.yaml").exists():
            docker.compose(out, project, "down", "-v", "--timeout", "10", check=False, timeout=300)
        for volume in volumes.values():
            volume.unmount()


def _secret(out: Path, name: str) -> str:
    return (out / "secrets" / name).read_text().strip()


def test_rendered_stack_on_gocryptfs_keeps_only_ciphertext_on_the_host(stack: dict, docker: DockerEngine) -> None:
    import hvac
    from minio import Minio
    from neo4j import GraphDatabase

    out, ports, volumes = stack["out"], stack["ports"], stack["volumes"]
    graph_marker = f"E2E-GRAPH-{secrets.token_hex(8)}"
    object_marker = f"E2E-OBJECT-{secrets.token_hex(8)}"
    vault_marker = f"E2E-VAULT-{secrets.token_hex(8)}"

    # Neo4j: a node (committed = in the transaction log under /data/transactions). The value
    # is long and repeated so Neo4j stores it as plain Latin-1 bytes (short strings get packed
    # into compact encodings) and at least one copy sits whole inside a 120-byte store block.
    graph_value = f"canary {graph_marker}; " * 12
    user, _, password = _secret(out, "neo4j_auth").partition("/")
    with GraphDatabase.driver(f"bolt://127.0.0.1:{ports['bolt']}", auth=(user, password)) as driver:
        driver.execute_query("CREATE (:Canary {marker: $m})", m=graph_value)
        records, _, _ = driver.execute_query("MATCH (c:Canary) RETURN c.marker AS m")
        assert [r["m"] for r in records] == [graph_value]

    # SeaweedFS: a plaintext object (no SSE), so only the volume encryption protects it.
    s3 = Minio(f"127.0.0.1:{ports['s3']}", access_key=_secret(out, "s3_access_key"),
               secret_key=_secret(out, "s3_secret_key"), secure=False)
    if not s3.bucket_exists("e2e-objects"):
        s3.make_bucket("e2e-objects")
    # Binary type and random filler: SeaweedFS gzips compressible content (which would hide
    # the marker from the positive control), never an octet-stream .bin like this.
    body = b"".join(object_marker.encode() + secrets.token_bytes(64) for _ in range(200))
    s3.put_object("e2e-objects", "canary.bin", io.BytesIO(body), len(body),
                  content_type="application/octet-stream")
    assert s3.get_object("e2e-objects", "canary.bin").read() == body

    # OpenBao: initialise (file storage on its volume), unseal, write a KV secret.
    bao = hvac.Client(url=f"http://127.0.0.1:{ports['bao']}")
    assert not bao.sys.is_initialized()
    init = bao.sys.initialize(secret_shares=1, secret_threshold=1)
    bao.sys.submit_unseal_key(init["keys"][0])
    bao.token = init["root_token"]
    unseal_key = init["keys"][0]
    wait_active(bao)
    bao.sys.enable_secrets_engine("kv", path="e2e", options={"version": "2"})
    bao.secrets.kv.v2.create_or_update_secret(path="canary", secret={"marker": vault_marker}, mount_point="e2e")

    # Each service wrote through its volumes: a fresh gocryptfs directory holds only
    # gocryptfs.conf and gocryptfs.diriv; anything more is the service's data, encrypted.
    for name in ("neo4j-data", "neo4j-logs", "seaweedfs-data", "openbao-data"):
        assert _count_files(volumes[name].cipher) > 2, f"{name}: nothing was written through the volume"

    # Positive controls: the plaintext views hold the Neo4j and object markers ...
    assert graph_marker.encode() in _files_bytes(volumes["neo4j-data"].plain)
    assert object_marker.encode() in _files_bytes(volumes["seaweedfs-data"].plain)
    # ... and no backing directory holds any marker, nor a plaintext file name.
    for name, volume in volumes.items():
        raw = volume.cipher_bytes()
        for marker in (graph_marker, object_marker, vault_marker):
            assert marker.encode() not in raw, f"{marker} found in plaintext in {volume.cipher}"
        assert b"neostore" not in raw and b"transactions" not in raw, f"plaintext file names in {volume.cipher}"

    # Lock: stop the stack and unmount every volume; the mount points show nothing.
    docker.compose(out, stack["project"], "down", "--timeout", "30", timeout=300)
    for volume in volumes.values():
        volume.unmount()
        assert not volume.mounted and not any(volume.plain.iterdir()), f"{volume.plain} still shows files"

    # Unlock with the passfiles and start again: every service finds its data.
    for volume in volumes.values():
        volume.mount()
    compose_up(docker, out, stack["project"])
    with GraphDatabase.driver(f"bolt://127.0.0.1:{ports['bolt']}", auth=(user, password)) as driver:
        records, _, _ = driver.execute_query("MATCH (c:Canary) RETURN c.marker AS m")
        assert [r["m"] for r in records] == [graph_value]
    assert s3.get_object("e2e-objects", "canary.bin").read() == body
    assert bao.sys.is_sealed(), "OpenBao restarts sealed"
    bao.sys.submit_unseal_key(unseal_key)
    wait_active(bao)
    secret = bao.secrets.kv.v2.read_secret_version(path="canary", mount_point="e2e", raise_on_deleted_version=True)
    assert secret["data"]["data"]["marker"] == vault_marker
