"""The Docker Compose file, built as a dict (never string-templated) and dumped with PyYAML.

Conventions other parts rely on (docs/architecture.md, the test bed, apply):
- compose project name = ``plan.project`` (top-level ``name:``; no ``version:`` key);
- services ``neo4j``, ``seaweedfs`` or ``minio``, ``kes`` (MinIO with KES), ``openbao``
  (``kms.vault.deploy``); ports published on 127.0.0.1 only;
- every persistent volume is a local volume bound to its encrypted mount point from
  :func:`wizard.layout.volume_specs`;
- every secret reaches a container as a compose ``secrets:`` file and a ``*_FILE`` variable or a
  config path, never as an environment value;
- every service has a healthcheck that works in the official image and in our test images.
"""

from __future__ import annotations

from typing import Any

import yaml

from wizard import compat, layout
from wizard.plan import Plan, url_port
from wizard.render import kes as kes_mod
from wizard.render import seaweedfs as swfs
from wizard.render.materials import Materials

#: Default images (``neo4j.image`` / ``object_store.image`` and ``images:`` override them).
#: MinIO: the last image published before minio/minio went source-only (2025). OpenBao 2.5.4:
#: a tag seen pinned in public compose files (quay.io). KES: its last release tag (2025-03-12).
DEFAULT_IMAGES = {
    "neo4j": "neo4j:5.26-{edition}",
    "minio": "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z",
    "seaweedfs": "chrislusf/seaweedfs:4.48",
    "kes": "quay.io/minio/kes:2025-03-12T09-35-18Z",
    "openbao": "quay.io/openbao/openbao:2.5.4",
    "busybox": "busybox:1.37",
}


def image_for(plan: Plan, service: str) -> str:
    """``images.<service>`` wins, then the section's ``image``, then the pinned default."""
    if service in plan.images:
        return plan.images[service]
    if service == "neo4j" and plan.neo4j.image:
        return plan.neo4j.image
    if service in ("minio", "seaweedfs") and plan.object_store.image:
        return plan.object_store.image
    return DEFAULT_IMAGES[service].format(edition=plan.neo4j.edition)


def _secret_ref(material_name: str, materials: Materials, target: str | None = None) -> Any:
    item = materials[material_name]
    if target is None:
        return item.compose_name
    return {"source": item.compose_name, "target": target}


def _volumes_of(plan: Plan, service: str) -> list[str]:
    return [f"{v.name}:{v.container_path}" for v in layout.volume_specs(plan) if v.service == service]


def _neo4j(plan: Plan, materials: Materials) -> dict[str, Any]:
    env = {
        "NEO4J_AUTH_FILE": "/run/secrets/neo4j_auth",
        # strict validation stays on: a misspelt setting must stop Neo4j, not be ignored
        "NEO4J_server_config_strict__validation_enabled": "true",
    }
    if plan.neo4j.edition == "enterprise":
        env["NEO4J_ACCEPT_LICENSE_AGREEMENT"] = "yes"
    ports = [f"127.0.0.1:{url_port(plan.neo4j.bolt_url, 7687)}:7687"]
    if plan.neo4j.http_port is not None:
        ports.append(f"127.0.0.1:{plan.neo4j.http_port}:7474")
    return {
        "image": image_for(plan, "neo4j"),
        "restart": "unless-stopped",
        "environment": env,
        "secrets": [_secret_ref("neo4j_auth", materials)],
        "volumes": _volumes_of(plan, "neo4j"),
        "ports": ports,
        "healthcheck": {
            "test": ["CMD", "bash", "-c", "</dev/tcp/127.0.0.1/7687"],
            "interval": "10s",
            "timeout": "5s",
            "retries": 30,
            "start_period": "30s",
        },
    }


def _store_port(plan: Plan) -> int:
    https = plan.object_store.endpoint.startswith("https://")
    return url_port(plan.object_store.endpoint, 443 if https else 80)


def _minio(plan: Plan, materials: Materials) -> dict[str, Any]:
    env: dict[str, str] = {
        "MINIO_ROOT_USER_FILE": "s3_access_key",  # relative: looked up in /run/secrets
        "MINIO_ROOT_PASSWORD_FILE": "s3_secret_key",
    }
    secrets: list[Any] = [
        _secret_ref("s3_access_key", materials, "s3_access_key"),
        _secret_ref("s3_secret_key", materials, "s3_secret_key"),
    ]
    service: dict[str, Any] = {"image": image_for(plan, "minio"), "restart": "unless-stopped"}
    if compat.uses_kes(plan):
        env.update(
            {
                "MINIO_KMS_KES_ENDPOINT": f"https://kes:{kes_mod.KES_PORT}",
                "MINIO_KMS_KES_KEY_NAME": plan.object_store.key_name,
                "MINIO_KMS_KES_CERT_FILE": "/run/secrets/kes_client_crt",
                "MINIO_KMS_KES_KEY_FILE": "/run/secrets/kes_client_key",
                "MINIO_KMS_KES_CAPATH": "/run/secrets/kes_ca_crt",
            }
        )
        secrets += [_secret_ref(n, materials) for n in ("kes_client.crt", "kes_client.key", "kes_ca.crt")]
        service["depends_on"] = {"kes": {"condition": "service_healthy"}}
    elif "minio_kms_key" in materials:
        env["MINIO_KMS_SECRET_KEY_FILE"] = "minio_kms_key"
        secrets.append(_secret_ref("minio_kms_key", materials))
    command = ["server", "/data", "--console-address", ":9001"]
    health = ["CMD", "mc", "ready", "local"]
    if compat.uses_object_store_tls(plan):
        command += ["--certs-dir", "/certs"]
        env["MC_HOST_local"] = "https://localhost:9000"  # mc's default 'local' alias is plain http
        health.append("--insecure")
        secrets += [
            _secret_ref("store_tls.crt", materials, "/certs/public.crt"),
            _secret_ref("store_tls.key", materials, "/certs/private.key"),
            _secret_ref("store_ca.crt", materials, "/certs/CAs/ca.crt"),
        ]
    service.update(
        {
            "command": command,
            "environment": env,
            "secrets": secrets,
            "volumes": _volumes_of(plan, "minio"),
            "ports": [f"127.0.0.1:{_store_port(plan)}:9000"],
            "healthcheck": {"test": health, "interval": "10s", "timeout": "5s", "retries": 30},
        }
    )
    return service


def _seaweedfs(plan: Plan, materials: Materials) -> dict[str, Any]:
    command = [
        "mini",
        "-dir=/data",
        "-ip=127.0.0.1",
        "-ip.bind=0.0.0.0",
        f"-s3.port={swfs.S3_PORT}",
        f"-master.port={swfs.MASTER_PORT}",
        "-admin.ui=false",
        "-s3.config=/run/secrets/seaweedfs_s3_json",
    ]
    secrets: list[Any] = [_secret_ref("seaweedfs_s3.json", materials)]
    if "seaweedfs_security.toml" in materials:
        secrets.append(_secret_ref("seaweedfs_security.toml", materials, "/etc/seaweedfs/security.toml"))
    if "gcp_credentials.json" in materials:
        secrets.append(_secret_ref("gcp_credentials.json", materials))
    if compat.uses_object_store_tls(plan):
        command += ["-s3.cert.file=/run/secrets/store_tls_crt", "-s3.key.file=/run/secrets/store_tls_key"]
        secrets += [_secret_ref("store_tls.crt", materials), _secret_ref("store_tls.key", materials)]
    service: dict[str, Any] = {
        "image": image_for(plan, "seaweedfs"),
        "restart": "unless-stopped",
        "entrypoint": ["/usr/bin/weed"],
        "command": command,
        "secrets": secrets,
        "volumes": _volumes_of(plan, "seaweedfs"),
        "ports": [f"127.0.0.1:{_store_port(plan)}:{swfs.S3_PORT}"],
        "healthcheck": {
            "test": [
                "CMD",
                "/bin/wget",
                "-q",
                "-O",
                "/dev/null",
                f"http://127.0.0.1:{swfs.MASTER_PORT}/cluster/healthz",
            ],
            "interval": "10s",
            "timeout": "5s",
            "retries": 30,
        },
    }
    if plan.kms.backend == "vault" and plan.kms.vault.deploy and plan.object_store.sse == "sse-kms":
        service["depends_on"] = {"openbao": {"condition": "service_healthy"}}
    return service


def _kes(plan: Plan, materials: Materials) -> dict[str, Any]:
    # the client pair lets the healthcheck call /v1/status as MinIO's identity (the KES image is
    # FROM scratch: /kes is the only binary, no shell); KES can decrypt every key anyway
    secrets = [
        _secret_ref(n, materials)
        for n in ("kes_config.yml", "kes_server.key", "kes_server.crt", "kes_client.crt", "kes_client.key")
    ]
    if "gcp_credentials.json" in materials:
        secrets.append(_secret_ref("gcp_credentials.json", materials))
    service: dict[str, Any] = {
        "image": image_for(plan, "kes"),
        "restart": "unless-stopped",
        "command": ["server", "--config=/run/secrets/kes_config_yml"],
        "environment": {
            "KES_SERVER": f"https://127.0.0.1:{kes_mod.KES_PORT}",
            "KES_CLIENT_CERT": "/run/secrets/kes_client_crt",
            "KES_CLIENT_KEY": "/run/secrets/kes_client_key",
        },
        "secrets": secrets,
        "volumes": _volumes_of(plan, "kes"),
        "healthcheck": {
            "test": ["CMD", "/kes", "status", "-k", "-s"],
            "interval": "10s",
            "timeout": "5s",
            "retries": 30,
        },
    }
    if plan.kms.backend == "vault" and plan.kms.vault.deploy:
        service["depends_on"] = {"openbao": {"condition": "service_healthy"}}
    if plan.kms.backend == "vault" and not plan.kms.vault.deploy:
        service["extra_hosts"] = ["host.docker.internal:host-gateway"]
    return service


def _openbao(plan: Plan) -> dict[str, Any]:
    return {
        "image": image_for(plan, "openbao"),
        "restart": "unless-stopped",
        "entrypoint": ["/bin/bao"],
        "command": ["server", "-config=/openbao/config/openbao.hcl"],
        "configs": [{"source": "openbao_config", "target": "/openbao/config/openbao.hcl"}],
        "volumes": _volumes_of(plan, "openbao"),
        # the port stackseal itself connects to (an address without a port means 80/443, as for any URL)
        "ports": [
            f"127.0.0.1:{url_port(plan.kms.vault.address, 443 if plan.kms.vault.address.startswith('https') else 80)}:8200"
        ],
        # sealed or uninitialised still means "the server answers": apply initialises/unseals it
        "healthcheck": {
            "test": [
                "CMD",
                "/bin/wget",
                "-q",
                "-O",
                "/dev/null",
                "http://127.0.0.1:8200/v1/sys/health?standbyok=true&sealedcode=200&uninitcode=200",
            ],
            "interval": "5s",
            "timeout": "3s",
            "retries": 30,
        },
    }


def compose_dict(plan: Plan, materials: Materials) -> dict[str, Any]:
    """The whole compose document for ``plan``."""
    services: dict[str, Any] = {"neo4j": _neo4j(plan, materials)}
    store = plan.object_store.kind
    services[store] = _minio(plan, materials) if store == "minio" else _seaweedfs(plan, materials)
    if compat.uses_kes(plan):
        services["kes"] = _kes(plan, materials)
    deploy_bao = plan.kms.backend == "vault" and plan.kms.vault.deploy
    if deploy_bao:
        services["openbao"] = _openbao(plan)
    if plan.kms.backend == "vault" and not deploy_bao and store == "seaweedfs" and plan.object_store.sse == "sse-kms":
        services[store]["extra_hosts"] = ["host.docker.internal:host-gateway"]

    used = sorted(
        {(s if isinstance(s, str) else s["source"]) for svc in services.values() for s in svc.get("secrets", [])}
    )
    by_compose_name = {m.compose_name: m for m in materials.items.values()}
    doc: dict[str, Any] = {
        "name": plan.project,
        "services": services,
        "volumes": {
            v.name: {"driver": "local", "driver_opts": {"type": "none", "o": "bind", "device": str(v.mount_point)}}
            for v in layout.volume_specs(plan)
        },
        "secrets": {name: {"file": secret_file(plan, by_compose_name[name])} for name in used},
    }
    if deploy_bao:
        doc["configs"] = {"openbao_config": {"file": "./openbao/openbao.hcl"}}
    return doc


def secret_file(plan: Plan, item: Any) -> str:
    """Where Compose reads a secret: the user's own file, the tmpfs runtime directory (a KMS wraps the
    stored copy), or ``./secrets/`` for the development-only local backend without a passphrase."""
    from wizard import kms

    if item.external is not None or not kms.envelope(plan):
        return str(item.compose_file)
    return str(kms.runtime_dir(plan) / item.name)


def render_compose(plan: Plan, materials: Materials) -> bytes:
    header = (
        f"# Rendered by stackseal for project '{plan.project}'. Do not edit: change the answers file and\n"
        "# run 'stackseal render' again (edits are detected and refused without --force).\n"
    )
    body = yaml.safe_dump(compose_dict(plan, materials), sort_keys=False, default_flow_style=False, width=120)
    return (header + body).encode()
