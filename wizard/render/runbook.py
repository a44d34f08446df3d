"""``RUNBOOK.md``: the operating manual for *this* plan (templates/RUNBOOK.md.j2).

Why generated: a generic runbook is skipped during an outage. This one names the real paths,
services, key names and commands of the chosen path: where every key lives, how to unlock after
a reboot, how to rotate each key, how to back up and restore, and what a lost key costs. It
never contains a secret value (the leak test checks that).
"""

from __future__ import annotations

from typing import Any

from wizard import compat, layout
from wizard.kms.base import SecretStore
from wizard.plan import Plan
from wizard.render import seaweedfs as swfs
from wizard.render import vault_policies
from wizard.render.compose import image_for
from wizard.render.materials import Materials
from wizard.render.templates import render_template


def _master_key_location(plan: Plan) -> str:
    kms = plan.kms
    if kms.backend == "local":
        return "no KMS: volume keys are kept as local files (development only)"
    if kms.backend == "vault":
        where = "the OpenBao service of this stack" if kms.vault.deploy else kms.vault.address
        return f"transit key `{kms.key_name}` in mount `{kms.vault.transit_mount}/` of {where}"
    if kms.backend == "aws":
        return f"AWS KMS key `{kms.aws.key_id or 'alias/' + kms.key_name}` in {kms.aws.region}"
    if kms.backend == "azure":
        return f"key `{kms.key_name}` in Azure Key Vault {kms.azure.vault_url}"
    g = kms.gcp
    return f"Cloud KMS key `projects/{g.project}/locations/{g.location}/keyRings/{g.key_ring}/cryptoKeys/{kms.key_name}`"


def _object_key(plan: Plan) -> dict[str, str]:
    """How objects are encrypted and where that key lives."""
    obj, kms = plan.object_store, plan.kms
    if obj.sse == "sse-c":
        return {"mode": "SSE-C", "where": "secrets/sse_c_key, held by stackseal (the server never stores it)"}
    if obj.kind == "minio":
        if compat.uses_kes(plan):
            ks = {"local": "KES fs keystore on the encrypted volume kes-keys",
                  "vault": f"Vault KV `{kms.vault.kv_mount}/{plan.project}/kes/` wrapped by transit key `{kms.key_name}`",
                  "aws": "AWS Secrets Manager, protected by AWS KMS",
                  "gcp": f"GCP Secret Manager of project {kms.gcp.project}",
                  "azure": f"Azure Key Vault {kms.azure.vault_url}"}[kms.backend]
            return {"mode": obj.sse.upper(), "where": f"KES key `{obj.key_name}` in {ks}"}
        return {"mode": "SSE-S3", "where": "MinIO static key in secrets/minio_kms_key (cannot be rotated)"}
    if obj.sse == "sse-kms":
        return {"mode": "SSE-KMS", "where": f"SeaweedFS KMS provider `{kms.backend}`, key `{swfs.kms_key_id(plan)}`"}
    return {"mode": "SSE-S3", "where": "SeaweedFS key-encryption key in secrets/seaweedfs_kek (security.toml)"}


def render_runbook(plan: Plan, materials: Materials, store: SecretStore, files: list[str]) -> bytes:
    secrets_rows: list[dict[str, Any]] = []
    for item in materials.items.values():
        secrets_rows.append({
            "name": item.name,
            "where": f"your file {item.external}" if item.external else store.location(item.name),
            "purpose": item.purpose,
            "consumers": ", ".join(item.consumers),
            "rotation": item.rotation,
            "secret": item.secret,
        })
    services = ["neo4j", plan.object_store.kind]
    if compat.uses_kes(plan):
        services.append("kes")
    if plan.kms.backend == "vault" and plan.kms.vault.deploy:
        services.append("openbao")
    context = {
        "plan": plan,
        "project": plan.project,
        "volumes": layout.volume_specs(plan),
        "vol_root": str(layout.project_root(plan)),
        "secrets": secrets_rows,
        "services": services,
        "images": {s: image_for(plan, s) for s in services},
        "master_key": _master_key_location(plan),
        "object_key": _object_key(plan),
        "uses_kes": compat.uses_kes(plan),
        "uses_tls": compat.uses_object_store_tls(plan),
        "consumers": vault_policies.consumers(plan),
        "files": files,
        "warnings": [str(p) for p in compat.check_plan(plan) if p.level == "warning"],
    }
    return render_template("RUNBOOK.md.j2", **context)
