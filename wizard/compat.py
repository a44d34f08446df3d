"""Which combinations of answers can work, and why not.

Why a module of its own: the same rules decide what ``render`` refuses (exit 2), what the
wizard greys out (with the reason shown beside the choice) and what the review warns about.
Each rule is written once here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wizard.plan import Plan


@dataclass(frozen=True)
class Problem:
    """One reason a plan cannot work (``error``) or deserves a second look (``warning``)."""

    path: str
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


#: kms.backend values SeaweedFS's SSE-KMS cannot use, with the reason. SeaweedFS (4.x) ships KMS
#: providers "openbao"/"vault" (transit), "aws" and "gcp" configured in the ``kms`` block of its
#: ``-s3.config`` JSON; its "azure" provider needs a custom build tag and its "local" provider is
#: not a key store stackseal can back up.
SEAWEEDFS_NO_KMS = {
    "local": "sse-kms on seaweedfs needs a real KMS (vault, aws or gcp): its built-in local provider keeps keys "
    "where stackseal cannot back them up; choose sse-s3 (key in a local file) or another kms.backend",
    "azure": "sse-kms on seaweedfs cannot use azure: the published SeaweedFS binaries are built without the Azure "
    "KMS provider; choose sse-s3 / sse-c, kind: minio (KES), or kms.backend vault, aws or gcp",
}


def uses_kes(plan: Plan) -> bool:
    """Whether the stack runs MinIO KES: MinIO with SSE-KMS, or MinIO with a non-local KMS.

    With ``kms.backend: local`` and SSE-S3/SSE-C, MinIO's built-in static key is enough (and
    cannot be rotated: the runbook says so); any real KMS is reached through KES.
    """
    store = plan.object_store
    if store.kind != "minio" or not store.kes:
        return False
    return store.sse == "sse-kms" or plan.kms.backend != "local"


def uses_object_store_tls(plan: Plan) -> bool:
    """TLS certificates are rendered for the object store when its endpoint is https://."""
    return plan.object_store.endpoint.startswith("https://")


def host_ports(plan: Plan) -> list[tuple[int, str]]:
    """(host port, answers-file key that sets it) for every port the rendered stack publishes on 127.0.0.1.

    One list for the compose renderer's checks, this module and the ``ports`` step, so the port
    stackseal checks is the port it publishes.
    """
    from wizard.plan import url_port

    def default(url: str) -> int:
        return 443 if url.startswith("https") else 80

    ports = [(url_port(plan.neo4j.bolt_url, 7687), "neo4j.bolt_url")]
    if plan.neo4j.http_port:
        ports.append((plan.neo4j.http_port, "neo4j.http_port"))
    ports.append((url_port(plan.object_store.endpoint, default(plan.object_store.endpoint)), "object_store.endpoint"))
    if plan.kms.backend == "vault" and plan.kms.vault.deploy:
        ports.append((url_port(plan.kms.vault.address, default(plan.kms.vault.address)), "kms.vault.address"))
    return ports


def duplicate_ports(ports: list[tuple[int, str]]) -> list[tuple[str, str]]:
    """(answers-file key, message) for each port already published by an earlier key.

    The one duplicate-port rule: the answers check here and the ``ports`` precondition use it.
    """
    seen: dict[int, str] = {}
    found = []
    for port, key in ports:
        if port in seen:
            found.append((key, f"port {port} is also used by {seen[port]}; give each service its own host port"))
        seen.setdefault(port, key)
    return found


def check_plan(plan: Plan) -> list[Problem]:
    """Every combination problem of ``plan``, errors first."""
    problems: list[Problem] = []
    add = problems.append
    store, kms, vol = plan.object_store, plan.kms, plan.volumes

    for key, message in duplicate_ports(host_ports(plan)):
        add(Problem(key, message))

    if plan.neo4j.edition == "enterprise" and not plan.neo4j.accept_license_agreement:
        add(
            Problem(
                "neo4j.accept_license_agreement",
                "Neo4j Enterprise needs its license accepted; set it to true (you need a license) or choose community",
            )
        )
    if store.sse == "sse-kms":
        if store.kind == "minio" and not store.kes:
            add(
                Problem(
                    "object_store.sse",
                    "sse-kms on MinIO needs KES (set object_store.kes: true) or choose sse-s3 / sse-c",
                )
            )
        if store.kind == "seaweedfs" and kms.backend in SEAWEEDFS_NO_KMS:
            add(Problem("object_store.sse", SEAWEEDFS_NO_KMS[kms.backend]))
    if store.sse == "sse-c" and store.kind == "minio" and not store.endpoint.startswith("https://"):
        add(
            Problem(
                "object_store.endpoint",
                "sse-c on MinIO needs TLS (the server rejects SSE-C over plain HTTP); use an https:// endpoint, "
                "stackseal renders the certificates",
            )
        )
    if uses_kes(plan) and kms.backend == "gcp" and not kms.gcp.credentials_file:
        add(
            Problem(
                "kms.gcp.credentials_file",
                "KES's GCP Secret Manager keystore needs a service-account JSON file; set credentials_file",
            )
        )
    if vol.backend == "luks-device" and not vol.device:
        add(Problem("volumes.device", "luks-device needs the block device to format, e.g. device: /dev/sdb"))
    if vol.backend != "luks-device" and vol.device:
        add(Problem("volumes.device", f"only used by luks-device, not {vol.backend}; remove it", "warning"))
    if kms.backend == "vault":
        v = kms.vault
        if v.deploy and v.token_file:
            add(
                Problem(
                    "kms.vault.token_file",
                    "deploy: true runs a fresh OpenBao in the stack and generates its token; remove token_file or set deploy: false",
                )
            )
        if bool(v.approle_role_id_file) != bool(v.approle_secret_id_file):
            add(
                Problem(
                    "kms.vault.approle_role_id_file",
                    "AppRole needs both approle_role_id_file and approle_secret_id_file",
                )
            )
    if bool(store.access_key_file) != bool(store.secret_key_file):
        add(
            Problem(
                "object_store.secret_key_file",
                "existing S3 credentials need both access_key_file and secret_key_file (or neither, to generate them)",
            )
        )
    if kms.backend == "azure" and not kms.azure.vault_url:
        add(
            Problem(
                "kms.azure.vault_url", "the Azure backend needs the Key Vault URL, e.g. https://NAME.vault.azure.net"
            )
        )
    if kms.backend == "gcp" and not kms.gcp.project:
        add(Problem("kms.gcp.project", "the GCP backend needs the project id that holds the key ring"))
    if vol.backend == "none":
        add(
            Problem(
                "volumes.backend",
                "none leaves Neo4j's data, transaction logs and the object store's files unencrypted on disk; "
                "use it only where the host disk is encrypted by other means (then choose host-fde)",
                "warning",
            )
        )
    if kms.backend == "local":
        add(
            Problem(
                "kms.backend", "local keeps keys in files next to the stack: for development only, not a KMS", "warning"
            )
        )
    if store.sse == "sse-c" and store.kind == "seaweedfs" and not uses_object_store_tls(plan):
        add(
            Problem(
                "object_store.endpoint",
                "sse-c over http:// sends the customer key in clear text (only on 127.0.0.1 here); "
                "use an https:// endpoint so stackseal renders TLS certificates",
                "warning",
            )
        )
    if uses_kes(plan):
        add(
            Problem(
                "object_store.kes",
                "KES is deprecated upstream (last release 2025-03); it still works with the pinned images",
                "warning",
            )
        )
    if store.kind == "minio" and not uses_kes(plan) and store.sse != "sse-c":
        add(
            Problem(
                "object_store.sse",
                "MinIO's static key (MINIO_KMS_SECRET_KEY_FILE) cannot be rotated; use a real KMS with KES to rotate keys",
                "warning",
            )
        )
    if store.kind == "minio":
        add(
            Problem(
                "object_store.kind",
                "MinIO community edition is unmaintained (since 2026-02) and its images left Docker Hub; "
                "the pinned image is the last published one. Consider seaweedfs",
                "warning",
            )
        )
    problems.sort(key=lambda p: p.level != "error")
    return problems


def errors(plan: Plan) -> list[Problem]:
    """Only the problems that make the plan impossible."""
    return [p for p in check_plan(plan) if p.level == "error"]
