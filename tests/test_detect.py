"""Detection: each probe reports what is really there, never blocks past its timeout, never raises."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from wizard import detect
from wizard.detect import Fact, Facts, Probe, detect_all
from wizard.plan import default_plan, set_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_tool_facts_match_path():
    facts = detect_all(default_plan(), probes=[p for p in detect.PROBES if p.key.startswith("tool.")])
    for name in detect.TOOLS:
        assert facts.ok(f"tool.{name}") is (shutil.which(name) is not None), name


def test_host_probes_match_the_kernel():
    facts = detect_all(
        default_plan(),
        probes=[p for p in detect.PROBES if p.key in ("fuse", "device_mapper", "fscrypt_kernel", "root", "os")],
    )
    assert facts.ok("fscrypt_kernel") is Path("/sys/fs/ext4/features/encryption").exists()
    assert facts.ok("fuse") in (True, False)
    dm = "device-mapper" in Path("/proc/misc").read_text()  # the kernel's list, not /dev/mapper/control
    assert facts.ok("device_mapper") is dm
    assert facts.get("os").data["system"]


def test_closed_ports_are_reported_absent():
    port = _free_port()
    plan = set_path(default_plan(), "neo4j.bolt_url", f"bolt://127.0.0.1:{port}")
    plan = set_path(plan, "object_store.endpoint", f"http://127.0.0.1:{port}")
    plan = set_path(plan, "kms.vault.address", f"http://127.0.0.1:{port}")
    facts = detect_all(
        plan, probes=[p for p in detect.PROBES if p.key in ("neo4j", "object_store", "vault")], timeout=1
    )
    assert facts.ok("neo4j") is False and "nothing listens" in facts.get("neo4j").summary
    assert facts.ok("object_store") is False and "refused" in facts.get("object_store").summary
    assert facts.ok("vault") is False


def test_a_silent_server_is_unknown_not_absent():
    """A server that accepts but never answers (a firewall, a hung process) gives ok=None."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]
    accepted = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        plan = set_path(default_plan(), "object_store.endpoint", f"http://127.0.0.1:{port}")
        plan = set_path(plan, "kms.vault.address", f"http://127.0.0.1:{port}")
        facts = detect_all(plan, probes=[p for p in detect.PROBES if p.key in ("object_store", "vault")], timeout=0.5)
        assert facts.ok("object_store") is None and "no answer" in facts.get("object_store").summary
        assert facts.ok("vault") is None
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def test_a_failing_probe_becomes_a_fact():
    def broken(plan, timeout):
        raise RuntimeError("boom")

    fact = Probe("x", "Broken", broken).run(default_plan())
    assert fact.ok is None and "RuntimeError: boom" in fact.summary


def test_on_fact_sees_every_fact():
    seen: list[Fact] = []
    facts = detect_all(default_plan(), on_fact=seen.append, probes=detect.PROBES[:4])
    assert [f.key for f in seen] == [p.key for p in detect.PROBES[:4]]
    assert len(facts) == 4


def test_volume_backend_reasons_follow_facts():
    facts = Facts(
        [
            Fact("tool.cryptsetup", "cryptsetup", True, ""),
            Fact("device_mapper", "dm", False, ""),
            Fact("tool.gocryptfs", "gocryptfs", False, ""),
            Fact("root", "root", True, ""),
        ]
    )
    assert "device-mapper" in detect.volume_backend_unavailable("luks-file", facts)
    assert "gocryptfs is not installed" in detect.volume_backend_unavailable("gocryptfs", facts)
    assert detect.volume_backend_unavailable("host-fde", facts) is None
    # not detected yet: not refused
    assert detect.volume_backend_unavailable("fscrypt", facts) is None


def test_vault_probe_on_real_openbao(openbao):
    plan = set_path(default_plan(), "kms.vault.address", openbao.address)
    fact = detect.probe_vault(plan, 2)
    assert fact.ok is True and "unsealed" in fact.summary and fact.data["sealed"] is False


def test_kms_test_with_token_and_bad_token(openbao, tmp_path):
    good = tmp_path / "token"
    good.write_text(openbao.token + "\n")
    bad = tmp_path / "bad"
    bad.write_text("nope\n")
    plan = set_path(set_path(default_plan(), "kms.backend", "vault"), "kms.vault.address", openbao.address)
    plan.set_base_dir(tmp_path)
    ok = detect.kms_test(set_path(plan, "kms.vault.token_file", str(good)))
    assert ok.ok is True and "token accepted" in ok.summary and openbao.token not in ok.summary
    refused = detect.kms_test(set_path(plan, "kms.vault.token_file", str(bad)))
    assert refused.ok is False and "refused" in refused.summary and "nope" not in refused.summary


def test_kms_test_local_and_unreachable():
    plan = default_plan()
    assert detect.kms_test(set_path(plan, "kms.backend", "local")).ok is True
    port = _free_port()
    plan = set_path(set_path(plan, "kms.backend", "vault"), "kms.vault.address", f"http://127.0.0.1:{port}")
    fact = detect.kms_test(plan, 1)
    assert fact.ok is False and "refused" in fact.summary


def test_object_store_probe_on_real_seaweedfs(s3):
    plan = set_path(default_plan(), "object_store.endpoint", s3.endpoint)
    fact = detect.probe_object_store(plan, 2)
    assert fact.ok is True, fact
    assert fact.data["kind"] == "seaweedfs", fact.data


def test_neo4j_edition_on_real_neo4j(neo4j, tmp_path):
    plan = set_path(default_plan(), "neo4j.bolt_url", neo4j.bolt_url)
    without = detect.probe_neo4j(plan, 5)
    assert without.ok is True and "edition unknown" in without.summary
    plan = set_path(plan, "neo4j.auth_file", str(neo4j.auth_file))
    fact = detect.probe_neo4j(plan, 10)
    assert fact.ok is True and fact.data.get("edition") == "community", fact
    assert neo4j.password not in fact.summary


def test_kms_test_aws_with_moto(monkeypatch):
    """AWS KMS 'test connection' (moto stands in for AWS: the one mocked KMS endpoint)."""
    import boto3
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        key_id = boto3.client("kms", region_name="eu-west-1").create_key()["KeyMetadata"]["KeyId"]
        plan = set_path(set_path(default_plan(), "kms.backend", "aws"), "kms.aws.region", "eu-west-1")
        fact = detect.kms_test(set_path(plan, "kms.aws.key_id", key_id))
        assert fact.ok is True and "Enabled" in fact.summary
        missing = detect.kms_test(set_path(plan, "kms.aws.key_id", "alias/does-not-exist"))
        assert missing.ok is False and "does not exist" in missing.summary
        # no key id: alias/<kms.key_name> must exist (stackseal does not create AWS keys)
        assert detect.kms_test(plan).ok is False
        boto3.client("kms", region_name="eu-west-1").create_alias(
            AliasName=f"alias/{plan.kms.key_name}", TargetKeyId=key_id
        )
        by_alias = detect.kms_test(plan)
        assert by_alias.ok is True and f"alias/{plan.kms.key_name}" in by_alias.summary


def test_kms_test_never_echoes_a_malformed_token(openbao, tmp_path):
    """A token file with two lines made urllib raise an error quoting the header value (the token)."""
    secret = "hvs.SECRETPART" + "x" * 20
    plan = set_path(set_path(default_plan(), "kms.backend", "vault"), "kms.vault.address", openbao.address)
    plan.set_base_dir(tmp_path)
    for content in (f"hvs.first\n{secret}\n", f"{secret}\x01", "\xff\xfe".encode("latin-1")):
        token_file = tmp_path / "token"
        token_file.write_bytes(content.encode() if isinstance(content, str) else content)
        fact = detect.kms_test(set_path(plan, "kms.vault.token_file", str(token_file)))
        assert fact.ok is False
        assert "SECRETPART" not in fact.summary and "hvs." not in fact.summary
        assert "token" in fact.summary  # names the file, so the user knows what to fix


def test_plain_wizard_connection_test_never_shows_a_malformed_token(openbao, tmp_path):
    """The same through the --plain prompt's code path (it calls kms_test directly)."""
    secret = "hvs.SECRETPART" + "y" * 20
    (tmp_path / "token").write_text(f"line-one\n{secret}\n")
    plan = set_path(set_path(default_plan(), "kms.backend", "vault"), "kms.vault.address", openbao.address)
    plan.set_base_dir(tmp_path)
    fact = detect.kms_test(set_path(plan, "kms.vault.token_file", "token"))
    assert fact.ok is False and "one line" in fact.summary and secret not in repr(fact)


def test_one_credential_reader_refuses_hostile_files(tmp_path):
    """The reader the KMS test and the kms-key step share: never hangs on a FIFO, never reads a
    huge file whole, never echoes content."""
    import os

    from wizard.credentials import MAX_CREDENTIAL_BYTES, BadCredential, read_credential

    plan = default_plan()
    plan.set_base_dir(tmp_path)
    (tmp_path / "ok").write_text("hvs.token123\n")
    assert read_credential(plan, "ok") == "hvs.token123"
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "huge").write_bytes(b"A" * (MAX_CREDENTIAL_BYTES + 1))
    (tmp_path / "two").write_text("SECRETPART\nsecond\n")
    (tmp_path / "empty").write_text("\n")
    for name, why in (("fifo", "regular file"), ("huge", "larger than"), ("two", "one line"), ("empty", "empty")):
        with pytest.raises(BadCredential, match=why) as caught:
            read_credential(plan, name)
        assert "SECRETPART" not in str(caught.value) and name in str(caught.value)
    with pytest.raises(OSError):
        read_credential(plan, "absent")


def test_disk_encryption_follows_the_block_stack(tmp_path):
    """LVM on LUKS: the filesystem's device (dm-1) sits on a dm-crypt device (dm-0)."""
    from wizard.detect.host import _dm_crypt_below

    sys_block = tmp_path / "block"
    for name, uuid, dm_name in (("dm-0", "CRYPT-LUKS2-abc-cryptroot", "cryptroot"), ("dm-1", "LVM-xyz", "vg-root")):
        (sys_block / name / "dm").mkdir(parents=True)
        (sys_block / name / "dm" / "uuid").write_text(uuid + "\n")
        (sys_block / name / "dm" / "name").write_text(dm_name + "\n")
        (sys_block / name / "slaves").mkdir()
    (sys_block / "dm-1" / "slaves" / "dm-0").symlink_to(sys_block / "dm-0")
    (sys_block / "sda1" / "slaves").mkdir(parents=True)
    assert _dm_crypt_below(sys_block / "dm-1") == "cryptroot"
    assert _dm_crypt_below(sys_block / "sda1") is None


def test_disk_encryption_probe_never_claims_what_it_cannot_see():
    fact = detect.PROBES[[p.key for p in detect.PROBES].index("disk_encryption")].run(default_plan())
    if fact.ok is True:  # only with a dm-crypt device really under volumes.root
        assert "dm-crypt" in fact.summary and fact.data["device"]
    else:
        assert fact.ok in (False, None) and "dm-crypt" not in fact.summary


@pytest.mark.parametrize("backend", ["azure", "gcp"])
def test_cloud_kms_test_never_claims_the_credentials_are_checked(backend, tmp_path):
    """No step uses Azure or GCP credentials yet: the test may say what it reached, nothing more."""
    plan = set_path(default_plan(), "kms.backend", backend)
    if backend == "azure":
        plan = set_path(plan, "kms.azure.vault_url", "https://127.0.0.1:9")
    fact = detect.kms_test(plan, timeout=0.5)
    assert fact.ok is not True
    assert "checked at apply" not in fact.summary and "accepted" not in fact.summary


def test_compose_lookup_never_offers_compose_gos_python_wrapper(tmp_path, monkeypatch):
    """Detection and apply share one lookup: the wrapper exits 0 when Compose fails, so neither may use it."""
    from wizard.detect.docker import compose_candidates, is_python_wrapper

    wrapper = tmp_path / "docker-compose"
    wrapper.write_text("#!/usr/bin/python3\nimport sys\nsys.exit(0)\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert is_python_wrapper(wrapper)
    assert [str(wrapper)] not in compose_candidates()
    fact = detect.PROBES[[p.key for p in detect.PROBES].index("compose")].run(default_plan())
    assert str(wrapper) not in fact.summary
