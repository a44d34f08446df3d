"""SeaweedFS configuration: S3 identities + SSE-KMS provider (``-s3.config``) and security.toml.

What SeaweedFS really offers (4.x source, weed/kms and ``weed scaffold -config=security``):
- SSE-S3: a key-encryption key in ``security.toml`` ``[s3.sse] kek`` (64 hex) — read from
  ``/etc/seaweedfs/security.toml``; we mount that file as a compose secret (never an env value).
- SSE-KMS: a ``kms`` block in the ``-s3.config`` JSON: ``default_provider`` and ``providers``
  of type ``openbao``/``vault`` (transit; token or AppRole), ``aws`` (region, endpoint, default
  credential chain) or ``gcp`` (project_id, credentials_file). ``azure`` needs a custom build.
- SSE-C: no server key at all; the client sends the key with each request.
Both files hold secrets, so both are rendered into ``secrets/``.
"""

from __future__ import annotations

import json
from typing import Any

from wizard.plan import Plan
from wizard.render.materials import Materials, vault_address_for_containers

S3_PORT = 8333
MASTER_PORT = 9333
PROVIDER = "stackseal"


def kms_key_id(plan: Plan) -> str:
    """The key id SSE-KMS requests (and bucket default encryption) name for this plan."""
    kms, obj = plan.kms, plan.object_store
    if kms.backend == "aws":
        return kms.aws.key_id or f"alias/{obj.key_name}"
    if kms.backend == "gcp":
        g = kms.gcp
        return f"projects/{g.project}/locations/{g.location}/keyRings/{g.key_ring}/cryptoKeys/{obj.key_name}"
    return obj.key_name


def kms_block(plan: Plan, materials: Materials) -> dict[str, Any]:
    kms = plan.kms
    if kms.backend == "vault":
        provider: dict[str, Any] = {
            "type": "openbao",
            "address": vault_address_for_containers(plan),
            "role_id": materials.value("seaweedfs_role_id"),
            "secret_id": materials.value("seaweedfs_secret_id"),
            "transit_path": kms.vault.transit_mount,
        }
    elif kms.backend == "aws":
        provider = {"type": "aws", "region": kms.aws.region}
        if kms.aws.endpoint_url:
            provider["endpoint"] = kms.aws.endpoint_url
    elif kms.backend == "gcp":
        provider = {"type": "gcp", "project_id": kms.gcp.project}
        if "gcp_credentials.json" in materials:
            provider["credentials_file"] = "/run/secrets/gcp_credentials_json"
        else:
            provider["use_default_credentials"] = True
    else:  # refused by wizard.compat before we get here
        raise ValueError(f"SeaweedFS has no usable KMS provider for {kms.backend!r}")
    return {"default_provider": PROVIDER, "providers": {PROVIDER: provider}}


def s3_config(plan: Plan, materials: Materials) -> bytes:
    """The ``-s3.config`` JSON: one admin identity (stackseal) and, for SSE-KMS, the KMS block."""
    doc: dict[str, Any] = {
        "identities": [
            {
                "name": "stackseal",
                "credentials": [
                    {"accessKey": materials.value("s3_access_key"), "secretKey": materials.value("s3_secret_key")}
                ],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ],
    }
    if plan.object_store.sse == "sse-kms":
        doc["kms"] = kms_block(plan, materials)
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def security_toml(plan: Plan, materials: Materials) -> bytes:
    """``/etc/seaweedfs/security.toml`` with the SSE-S3 KEK (only rendered for sse-s3)."""
    kek = materials.value("seaweedfs_kek")
    return (
        "# Rendered by stackseal. Holds the SSE-S3 key-encryption key: keep it secret, back it up.\n"
        "[s3.sse]\n"
        f'kek = "{kek}"\n'
    ).encode()
