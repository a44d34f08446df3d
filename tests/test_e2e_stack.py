"""End to end: a rendered stack (Neo4j + SeaweedFS + OpenBao) on encrypted volumes really comes
up under ``docker compose up --wait``, takes writes through each service, and what is on the
host's disk is ciphertext. Run with gocryptfs volumes (the default backend) and with fscrypt.

What it proves, and how it could fail:
- the render engine's compose file, secrets and OpenBao config start with our local images
  (``images:`` overrides) — any wrong path, entrypoint, healthcheck or secret fails ``up --wait``;
- every volume of :func:`wizard.layout.volume_specs` is bound to its encrypted mount point;
  each service's writes must land there (gocryptfs: new files in the cipher directory);
- positive controls: the Neo4j and object-store markers ARE found in the plaintext views (and,
  for fscrypt, a marker in an unencrypted directory IS found in the raw image), so the scans
  that find none of the markers in the backing storage can fail;
- lock/unlock: after ``compose down`` and locking (unmount / fscrypt lock), the mount points
  show no data; unlocked again with the key files, the stack comes back with every service's
  data (OpenBao sealed, as it should be after a restart).
"""

from __future__ import annotations

import io
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testbed.containers import DockerEngine, free_port
from testbed.require import missing
from testbed.volumes import (
    FSCRYPT_INSTALL,
    GOCRYPTFS_INSTALL,
    FscryptFilesystem,
    GocryptfsVolume,
    fscrypt_encrypt,
    fscrypt_filesystem,
    fscrypt_lock,
    fscrypt_unlock,
    gocryptfs_create,
    write_secret_file,
)

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


# -- the two volume backends, behind one small interface -----------------------------------------


class GocryptfsVolumes:
    """One gocryptfs volume per layout spec: ciphertext in ``spec.backing``, view at mount point."""

    backend = "gocryptfs"

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.volumes: dict[str, GocryptfsVolume] = {}

    def create(self, specs) -> None:
        keys = self.tmp / "volume-keys"
        for spec in specs:
            assert spec.backing != spec.mount_point, "gocryptfs keeps ciphertext apart from the mount point"
            self.volumes[spec.name] = gocryptfs_create(
                spec.backing, spec.mount_point, passfile=keys / f"{spec.name}.pass", log=keys / f"{spec.name}.log"
            )

    def view(self, name: str) -> Path:
        return self.volumes[name].plain

    def assert_written_through(self, names: tuple[str, ...]) -> None:
        # A fresh gocryptfs directory holds gocryptfs.conf and gocryptfs.diriv only.
        for name in names:
            assert _count_files(self.volumes[name].cipher) > 2, f"{name}: nothing was written through the volume"

    def lock(self) -> None:
        for volume in self.volumes.values():
            volume.unmount()

    def unlock(self) -> None:
        for volume in self.volumes.values():
            volume.mount()

    def assert_no_plaintext(self, markers: list[bytes]) -> None:
        for volume in self.volumes.values():
            raw = volume.cipher_bytes()
            for marker in markers:
                assert marker not in raw, f"{marker!r} found in plaintext in {volume.cipher}"
            assert b"neostore" not in raw and b"transactions" not in raw, f"plaintext file names in {volume.cipher}"

    def close(self) -> None:
        self.lock()


class FscryptVolumes:
    """All volumes on one ext4 filesystem (``-O encrypt``) mounted at ``volumes.root``; each
    mount point is a directory encrypted in place with its own raw key (layout: backing ==
    mount point). Ciphertext is checked in the raw image after lock + unmount."""

    backend = "fscrypt"

    def __init__(self, tmp: Path, root: Path) -> None:
        self.tmp = tmp
        self.root = root
        self.fs: FscryptFilesystem | None = None
        self.keys: dict[Path, Path] = {}
        self.control = b"E2E-UNENCRYPTED-CONTROL-" + secrets.token_hex(8).encode()

    def create(self, specs) -> None:
        # Sparse 2 GiB: Neo4j preallocates its transaction logs.
        self.fs = fscrypt_filesystem(self.tmp / "volumes.img", self.root, size_mb=2048)
        for spec in specs:
            assert spec.backing == spec.mount_point, "fscrypt encrypts the mount point in place"
            key = write_secret_file(self.tmp / "volume-keys" / f"{spec.name}.key", secrets.token_bytes(32))
            fscrypt_encrypt(spec.mount_point, key, f"e2e-{secrets.token_hex(3)}-{spec.name}")
            self.keys[spec.mount_point] = key
        (self.root / "unencrypted-control.txt").write_bytes(self.control * 64)

    def view(self, name: str) -> Path:
        return next(p for p in self.keys if p.name == name)

    def assert_written_through(self, names: tuple[str, ...]) -> None:
        for name in names:
            assert _count_files(self.view(name)) > 0, f"{name}: nothing was written through the volume"

    def lock(self) -> None:
        assert self.fs is not None
        for directory in self.keys:
            fscrypt_lock(directory)
        self.fs.umount()

    def unlock(self) -> None:
        assert self.fs is not None
        self.fs.mount()
        for directory, key in self.keys.items():
            fscrypt_unlock(directory, key)

    def assert_no_plaintext(self, markers: list[bytes]) -> None:
        assert self.fs is not None
        self.lock()
        try:
            found = self.fs.raw_contains([*markers, self.control])
            assert self.control in found, "positive control: unencrypted bytes are visible in the raw image"
            leaked = [m for m in markers if m in found]
            assert not leaked, f"plaintext in the raw image {self.fs.image}: {leaked}"
        finally:
            self.unlock()

    def close(self) -> None:
        if self.fs is not None and self.fs.mounted:
            for directory in self.keys:
                try:
                    fscrypt_lock(directory)
                except Exception:  # already locked, or busy: the unmount below still happens
                    pass
            self.fs.umount()


# -- stack ---------------------------------------------------------------------------------------


def compose_up(docker: DockerEngine, out: Path, project: str) -> None:
    """``docker compose up -d --wait``; on failure the test fails with the services' logs."""
    up = docker.compose(out, project, "up", "-d", "--wait", check=False, timeout=600)
    if up.returncode != 0:
        logs = docker.compose(out, project, "logs", "--tail", "60", check=False)
        pytest.fail(
            "docker compose up --wait failed:\n"
            + (up.stderr or b"").decode()[-3000:]
            + "\n--- logs ---\n"
            + (logs.stdout or b"").decode(errors="replace")[-6000:],
            pytrace=False,
        )


def wait_active(bao) -> None:
    """Right after unsealing the node is briefly a standby that redirects to its api_addr
    (the compose-internal name, unreachable from the host): wait until it is active."""
    health = None
    for _ in range(60):
        health = bao.sys.read_health_status(method="GET")
        if isinstance(health, dict) and not health.get("sealed", True) and not health.get("standby", True):
            return
        time.sleep(0.5)
    raise AssertionError(f"OpenBao did not become active: {health}")


@pytest.fixture(params=["gocryptfs", "fscrypt"])
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, docker: DockerEngine, local_images: dict[str, str]
) -> Iterator[dict]:
    from wizard.layout import volume_specs
    from wizard.plan import plan_from_dict
    from wizard.render.writer import write

    backend = request.param
    tool = "gocryptfs" if backend == "gocryptfs" else "fscrypt"
    if shutil.which(tool) is None:
        missing(tool, GOCRYPTFS_INSTALL if backend == "gocryptfs" else FSCRYPT_INSTALL)
    project = f"sse2e{secrets.token_hex(3)}"
    out = tmp_path / "stack"
    root = tmp_path / "volumes"
    ports = {k: free_port() for k in ("bolt", "http", "s3", "bao")}
    plan = plan_from_dict(
        {
            "version": 1,
            "project": project,
            "output_dir": str(out),
            "neo4j": {"bolt_url": f"bolt://127.0.0.1:{ports['bolt']}", "http_port": ports["http"]},
            "object_store": {
                "kind": "seaweedfs",
                "endpoint": f"http://127.0.0.1:{ports['s3']}",
                "sse": "sse-s3",
                "buckets": ["e2e-objects"],
            },
            "kms": {"backend": "vault", "vault": {"address": f"http://127.0.0.1:{ports['bao']}", "deploy": True}},
            "volumes": {"backend": backend, "root": str(root)},
            "images": local_images,
        },
        base_dir=tmp_path,
    )

    volumes = GocryptfsVolumes(tmp_path) if backend == "gocryptfs" else FscryptVolumes(tmp_path, root)
    try:
        volumes.create(volume_specs(plan))
        write(plan, out)
        assert (out / "compose.yaml").is_file()
        compose_up(docker, out, project)
        yield {"plan": plan, "out": out, "ports": ports, "volumes": volumes, "project": project}
    finally:
        if (out / "compose.yaml").exists():
            docker.compose(out, project, "down", "-v", "--timeout", "10", check=False, timeout=300)
        volumes.close()


def _secret(out: Path, name: str) -> str:
    return (out / "secrets" / name).read_text().strip()


def test_rendered_stack_on_encrypted_volumes_keeps_only_ciphertext_on_the_host(
    stack: dict, docker: DockerEngine
) -> None:
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
    s3 = Minio(
        f"127.0.0.1:{ports['s3']}",
        access_key=_secret(out, "s3_access_key"),
        secret_key=_secret(out, "s3_secret_key"),
        secure=False,
    )
    if not s3.bucket_exists("e2e-objects"):
        s3.make_bucket("e2e-objects")
    # Binary type and random filler: SeaweedFS gzips compressible content (which would hide
    # the marker from the positive control), never an octet-stream .bin like this.
    body = b"".join(object_marker.encode() + secrets.token_bytes(64) for _ in range(200))
    s3.put_object("e2e-objects", "canary.bin", io.BytesIO(body), len(body), content_type="application/octet-stream")
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
    _write_kv_when_upgraded(bao, "canary", {"marker": vault_marker})

    volumes.assert_written_through(("neo4j-data", "neo4j-logs", "seaweedfs-data", "openbao-data"))
    # Positive controls: the plaintext views hold the Neo4j and object markers ...
    assert graph_marker.encode() in _files_bytes(volumes.view("neo4j-data"))
    assert object_marker.encode() in _files_bytes(volumes.view("seaweedfs-data"))

    # Stop the stack: the backing storage holds none of the markers (for fscrypt: the raw image
    # after lock + unmount, with its unencrypted positive control found).
    docker.compose(out, stack["project"], "down", "--timeout", "30", timeout=300)
    volumes.assert_no_plaintext([m.encode() for m in (graph_marker, object_marker, vault_marker)])

    # Lock every volume: the mount points show no data.
    volumes.lock()
    for spec_name in ("neo4j-data", "seaweedfs-data", "openbao-data"):
        view = volumes.view(spec_name)
        assert not view.exists() or not any(view.iterdir()), f"{view} shows files while locked"

    # Unlock with the key files and start again: every service finds its data.
    volumes.unlock()
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


def _write_kv_when_upgraded(bao: Any, path: str, secret: dict[str, str], deadline: float = 60.0) -> None:
    """Write a KV v2 secret once the new mount has finished its version upgrade.

    Why: a freshly enabled KV v2 mount answers "Upgrading from non-versioned to versioned data"
    (HTTP 400) for a moment; on a loaded host that moment is long enough to reach the first write.
    """
    import hvac

    end = time.monotonic() + deadline
    while True:
        try:
            bao.secrets.kv.v2.create_or_update_secret(path=path, secret=secret, mount_point="e2e")
            return
        except hvac.exceptions.InvalidRequest as err:
            if "Upgrading from non-versioned" not in str(err) or time.monotonic() > end:
                raise
            time.sleep(0.5)
