"""Where each persistent volume lives on the host, for every volume backend.

Why one module: the rendered compose file binds each volume to a host mount point, the
provisioning steps create and unlock the encrypted storage behind that mount point, and the
verification checks scan the backing storage for plaintext. All three must agree on the same
paths, so they are computed here only.

Layout under ``volumes.root`` (absolute), per compose project::

    <root>/<project>/mnt/<volume>      plaintext view the container sees (bind source)
    <root>/<project>/cipher/<volume>   gocryptfs ciphertext directory
    <root>/<project>/luks/<volume>.img luks-file container
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wizard.plan import Plan


@dataclass(frozen=True)
class VolumeSpec:
    """One persistent volume: which service mounts it where, and where it lives on the host."""

    name: str  # compose volume name, e.g. "neo4j-data"
    service: str  # compose service that mounts it
    container_path: str  # where the service sees it, e.g. "/data"
    purpose: str  # one line for the runbook and the review screen
    mount_point: Path  # host directory bound into the container (plaintext view)
    backing: Path  # what is encrypted on the host (cipher dir, LUKS image, or the dir itself)


def project_root(plan: Plan) -> Path:
    return Path(plan.volumes.root) / plan.project


def object_store_service(plan: Plan) -> str:
    return plan.object_store.kind  # "minio" or "seaweedfs"


def _declared(plan: Plan) -> list[tuple[str, str, str, str]]:
    """(name, service, container path, purpose) for every volume this plan needs."""
    store = object_store_service(plan)
    store_path = "/data"
    volumes = [
        ("neo4j-data", "neo4j", "/data", "Neo4j store files and transaction logs (/data/transactions)"),
        ("neo4j-logs", "neo4j", "/logs", "Neo4j logs (query logs can hold parameters: personal data)"),
        ("neo4j-import", "neo4j", "/import", "files staged for LOAD CSV / neo4j-admin import"),
        ("neo4j-backups", "neo4j", "/backups", "database dumps and backups"),
        (f"{store}-data", store, store_path, "object store data (objects, metadata)"),
    ]
    from wizard.compat import uses_kes  # render engineer: KES's fs keystore holds plaintext keys

    if uses_kes(plan) and plan.kms.backend == "local":
        volumes.append(("kes-keys", "kes", "/kes/keys", "KES fs keystore: object master keys (plaintext files)"))
    if plan.kms.backend == "vault" and plan.kms.vault.deploy:
        volumes.append(
            ("openbao-data", "openbao", "/openbao/file", "OpenBao raft storage (encrypted by its barrier too)")
        )
    return volumes


def volume_specs(plan: Plan) -> list[VolumeSpec]:
    """Every persistent volume of the plan with its host paths for the chosen backend."""
    root = project_root(plan)
    backend = plan.volumes.backend
    specs = []
    for name, service, container_path, purpose in _declared(plan):
        mount_point = root / "mnt" / name
        if backend == "gocryptfs":
            backing = root / "cipher" / name
        elif backend in ("luks-file",):
            backing = root / "luks" / f"{name}.img"
        elif backend == "luks-device":
            backing = Path(plan.volumes.device or "/dev/null")
        else:  # fscrypt encrypts the directory in place; host-fde / none: the directory itself
            backing = mount_point
        specs.append(VolumeSpec(name, service, container_path, purpose, mount_point, backing))
    return specs
