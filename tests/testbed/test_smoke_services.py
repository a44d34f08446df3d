"""Smoke tests proving each test-bed server is the real thing, not a stand-in.

Why: every later test trusts these fixtures. A transit round trip needs a real KMS; a marker
absent from the raw S3 files for SSE-S3 but present for a plaintext object needs a real store
that really encrypts; a node property found in Neo4j's own store files needs real Neo4j.
Each test uses a fresh random marker, so it cannot pass on leftovers.
"""

from __future__ import annotations

import base64
import io
import secrets
import subprocess

import pytest

from testbed.services import (
    Neo4jServer,
    OpenBaoDev,
    OpenBaoSealed,
    S3Server,
    files_containing,
    free_ports,
    neo4j_launcher_argv,
)
from wizard.render.material import password as neo4j_password  # letters and digits, as stackseal renders


def marker(kind: str) -> bytes:
    # Long and random: never short-string-encoded by Neo4j, never in any file by chance.
    return f"stackseal-canary-{kind}-{secrets.token_hex(24)}".encode()


# --------------------------------------------------------------------------- OpenBao


def test_openbao_transit_round_trip(openbao: OpenBaoDev) -> None:
    client = openbao.client()
    assert client.is_authenticated()
    client.sys.enable_secrets_engine("transit", path="transit-smoke")
    client.secrets.transit.create_key("smoke", mount_point="transit-smoke")
    plaintext = marker("transit")
    encoded = base64.b64encode(plaintext).decode()

    ciphertext = client.secrets.transit.encrypt_data("smoke", encoded, mount_point="transit-smoke")["data"][
        "ciphertext"
    ]
    assert ciphertext.startswith("vault:v1:")
    assert encoded not in ciphertext and plaintext.decode() not in ciphertext

    decrypted = client.secrets.transit.decrypt_data("smoke", ciphertext, mount_point="transit-smoke")
    assert base64.b64decode(decrypted["data"]["plaintext"]) == plaintext

    # Rotation gives v2 ciphertexts while v1 ones still decrypt: keys are versioned for real.
    client.secrets.transit.rotate_key("smoke", mount_point="transit-smoke")
    v2 = client.secrets.transit.encrypt_data("smoke", encoded, mount_point="transit-smoke")["data"]["ciphertext"]
    assert v2.startswith("vault:v2:")
    again = client.secrets.transit.decrypt_data("smoke", ciphertext, mount_point="transit-smoke")
    assert base64.b64decode(again["data"]["plaintext"]) == plaintext


def test_openbao_wrong_token_is_refused(openbao: OpenBaoDev) -> None:
    import hvac.exceptions

    with pytest.raises(hvac.exceptions.Forbidden):
        openbao.client(token="not-the-token").secrets.transit.list_keys()


def test_openbao_sealed_server_unseals_with_threshold_keys(openbao_sealed: OpenBaoSealed) -> None:
    import hvac.exceptions

    assert openbao_sealed.sealed()
    with pytest.raises((hvac.exceptions.VaultDown, hvac.exceptions.InternalServerError)):
        openbao_sealed.client().secrets.kv.v2.read_secret_version(
            "x", mount_point="secret", raise_on_deleted_version=True
        )

    # One share is not enough; the threshold is.
    status = openbao_sealed.client().sys.submit_unseal_key(openbao_sealed.unseal_keys[0])
    assert status["sealed"] and status["progress"] == 1
    openbao_sealed.client().sys.submit_unseal_key(openbao_sealed.unseal_keys[1])
    assert not openbao_sealed.sealed()
    assert openbao_sealed.client().is_authenticated()

    # Its storage is real files on disk (what a volume backend would have to protect).
    assert any(p.is_file() for p in openbao_sealed.data_dir.rglob("*"))


def test_openbao_sealed_fixture_reseals_between_tests(openbao_sealed: OpenBaoSealed) -> None:
    # Runs after the unseal test in file order: the fixture must hand it over sealed again.
    assert openbao_sealed.sealed()
    openbao_sealed.unseal()
    assert not openbao_sealed.sealed()


# --------------------------------------------------------------------------- S3


def test_s3_sse_s3_object_is_not_in_raw_files_but_plaintext_is(s3: S3Server) -> None:
    from minio.sse import SseS3

    client = s3.client()
    bucket = "smoke-" + secrets.token_hex(4)
    client.make_bucket(bucket)
    plain, sealed = marker("s3-plain"), marker("s3-sse")
    # The marker inside random bytes: SeaweedFS gzips compressible uploads, so a repetitive
    # body would be invisible in the raw files even unencrypted (a scan would pass falsely).
    pad = secrets.token_bytes(2048)
    body = lambda m: pad + m + pad  # noqa: E731
    client.put_object(bucket, "plain.txt", io.BytesIO(body(plain)), len(body(plain)))
    client.put_object(bucket, "sealed.txt", io.BytesIO(body(sealed)), len(body(sealed)), sse=SseS3())

    stat = client.stat_object(bucket, "sealed.txt")
    assert stat.metadata.get("X-Amz-Server-Side-Encryption") == "AES256"
    assert client.get_object(bucket, "sealed.txt").read() == body(sealed)  # decrypts on read

    assert s3.raw_files_containing(plain), "plaintext object not found in the raw data: scan is blind"
    assert s3.raw_files_containing(sealed) == [], "SSE-S3 object's plaintext is in the raw data"


def test_s3_wrong_secret_is_refused(s3: S3Server) -> None:
    from minio import Minio
    from minio.error import S3Error

    intruder = Minio(
        s3.address, access_key=s3.access_key, secret_key="wrong-" + s3.secret_key, secure=False, region=s3.region
    )
    with pytest.raises(S3Error):
        intruder.list_buckets()


# --------------------------------------------------------------------------- Neo4j


def test_neo4j_is_community_5_26_and_property_is_in_raw_store(neo4j: Neo4jServer) -> None:
    value = marker("neo4j")
    with neo4j.driver() as driver:
        records, _, _ = driver.execute_query(
            "CALL dbms.components() YIELD name, versions, edition RETURN edition, versions[0] AS version"
        )
        assert records[0]["edition"] == "community"
        assert records[0]["version"].startswith("5.26.")
        driver.execute_query("CREATE (:SmokeCanary {value: $v})", v=value.decode())

    # Committed means written to the transaction log at once: plaintext at rest, no checkpoint.
    tx_logs = neo4j.data_dir / "transactions"
    assert files_containing(tx_logs, value), "committed property not in the transaction logs"

    # Community 5 has no db.checkpoint(); a clean shutdown checkpoints into the store files.
    neo4j.restart()
    store = neo4j.data_dir / "databases" / "neo4j"
    assert any(p.name.startswith("neostore.propertystore.db") for p in files_containing(store, value))
    with neo4j.driver() as driver:  # and the data survived the restart
        records, _, _ = driver.execute_query("MATCH (n:SmokeCanary {value: $v}) RETURN count(n) AS c", v=value.decode())
        assert records[0]["c"] == 1


def test_neo4j_wrong_password_is_refused(neo4j: Neo4jServer) -> None:
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError

    with GraphDatabase.driver(neo4j.bolt_url, auth=("neo4j", "wrong-" + neo4j.password)) as driver:
        with pytest.raises(AuthError):
            driver.verify_connectivity()


def test_neo4j_launcher_rejects_bad_auth_with_one_line(tmp_path) -> None:
    (port,) = free_ports(1)
    auth = tmp_path / "auth"
    auth.write_text("admin:secret-value-123")  # a colon instead of the slash
    proc = subprocess.run(
        neo4j_launcher_argv(tmp_path / "d", tmp_path / "l", f"127.0.0.1:{port}", auth),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "neo4j/PASSWORD" in proc.stderr
    assert "secret-value-123" not in proc.stderr + proc.stdout


# --------------------------------------------------------------------------- the fixtures' own promises


def test_failed_test_report_carries_the_server_log(tmp_path) -> None:
    """A failing test that used a server gets that server's log tail in its report."""
    import os
    import sys
    from pathlib import Path

    tests_dir = Path(__file__).resolve().parents[1]
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["testbed.services"]\n')
    (tmp_path / "test_fails.py").write_text(
        "def test_fails(openbao):\n    assert openbao.client().is_authenticated()\n    assert False, 'on purpose'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tests_dir), "CI": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "openbao (dev) log" in proc.stdout
    assert "core: successfully mounted" in proc.stdout  # a real line of OpenBao's own log


def _run_inner_pytest(tmp_path, test_source: str, **env_overrides: str) -> subprocess.CompletedProcess:
    """Run a tiny test file with the services plugin in a child pytest (own CI setting)."""
    import os
    import sys
    from pathlib import Path

    tests_dir = Path(__file__).resolve().parents[1]
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["testbed.services"]\n')
    (tmp_path / "test_inner.py").write_text(test_source)
    env = {**os.environ, "PYTHONPATH": str(tests_dir), **env_overrides}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )


@pytest.mark.parametrize("ci, outcome, status", [("true", "1 error", 1), ("", "1 skipped", 0)])
def test_missing_neo4j_fails_under_ci_and_skips_elsewhere(tmp_path, ci: str, outcome: str, status: int) -> None:
    proc = _run_inner_pytest(
        tmp_path, "def test_needs_neo4j(neo4j):\n    pass\n", CI=ci, STACKSEAL_NEO4J_LIB=str(tmp_path / "no-jars-here")
    )
    assert proc.returncode == status and outcome in proc.stdout, proc.stdout[-3000:]
    assert "install it with: bash tests/testbed/install.sh" in proc.stdout


def test_neo4j_launcher_env_auth_like_the_official_image(tmp_path) -> None:
    """NEO4J_AUTH sets the password of an empty store only; "none" turns auth off."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError

    from testbed.services import ServerProcess

    (port,) = free_ports(1)
    data, logs = tmp_path / "data", tmp_path / "logs"
    first, second = neo4j_password(), neo4j_password()
    url = f"bolt://127.0.0.1:{port}"

    def start(auth: str) -> ServerProcess:
        proc = ServerProcess(
            "neo4j-env",
            neo4j_launcher_argv(data, logs, f"127.0.0.1:{port}"),
            log=tmp_path / "launcher.log",
            env={"NEO4J_AUTH": auth, "NEO4J_AUTH_FILE": ""},
        )
        proc.start()
        proc.wait_until(lambda: proc.log.read_text().count("READY") == start.count + 1, 180, "READY")
        start.count += 1
        return proc

    start.count = 0
    proc = start(f"neo4j/{first}")
    try:
        with GraphDatabase.driver(url, auth=("neo4j", first)) as driver:
            driver.verify_connectivity()
    finally:
        proc.stop()

    proc = start(f"neo4j/{second}")  # an existing store keeps its password
    try:
        with GraphDatabase.driver(url, auth=("neo4j", first)) as driver:
            driver.verify_connectivity()
        with GraphDatabase.driver(url, auth=("neo4j", second)) as driver:
            with pytest.raises(AuthError):
                driver.verify_connectivity()
    finally:
        proc.stop()

    proc = start("none")
    try:
        with GraphDatabase.driver(url, auth=None) as driver:
            records, _, _ = driver.execute_query("RETURN 1 AS one")
            assert records[0]["one"] == 1
    finally:
        proc.stop()
    assert first not in proc.log.read_text() and second not in proc.log.read_text()
