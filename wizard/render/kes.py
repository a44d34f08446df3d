"""KES server configuration for the keystore that matches ``kms.backend``.

Why KES at all: MinIO reaches any real KMS only through KES (deprecated upstream in 2025, still
working with the last images; the docs say so). Keystore per backend (minio/kes ``kesconf``):
``fs`` for local (plaintext key files on an encrypted volume), ``vault`` (keys in KV v1/v2,
optionally wrapped by a transit key: KES never keeps keys *in* transit), ``aws.secretsmanager``
(protected by AWS KMS), ``gcp.secretmanager`` and ``azure.keyvault``.

The config embeds credentials for some keystores (AppRole secret_id, a GCP private key, an
Azure client secret), so it is rendered as a secret file and mounted as a compose secret.
Least privilege: the only client is MinIO, identified by its certificate's public key hash,
allowed to create/generate/decrypt its own key only.
"""

from __future__ import annotations

import json
from typing import Any

from wizard.plan import Plan
from wizard.render import tls
from wizard.render.materials import Materials, vault_address_for_containers

KES_PORT = 7373
KEYS_DIR = "/kes/keys"


def minio_policy_paths(key_name: str) -> list[str]:
    """The KES API paths MinIO needs for one key (and the status call of 'mc admin kms')."""
    return [
        f"/v1/key/create/{key_name}",
        f"/v1/key/generate/{key_name}",
        f"/v1/key/decrypt/{key_name}",
        f"/v1/key/list/{key_name}",
        "/v1/status",
    ]


def keystore(plan: Plan, materials: Materials) -> dict[str, Any]:
    kms = plan.kms
    backend = kms.backend
    if backend == "local":
        return {"fs": {"path": KEYS_DIR}}
    if backend == "vault":
        v = kms.vault
        store: dict[str, Any] = {
            "endpoint": vault_address_for_containers(plan),
            "engine": v.kv_mount,
            "version": f"v{v.kv_version}",
            "prefix": f"{plan.project}/kes",
            "approle": {
                "engine": "approle",
                "id": materials.value("kes_role_id"),
                "secret": materials.value("kes_secret_id"),
                "retry": "15s",
            },
            # transit wraps the KV entries with the stackseal master key (defence in depth)
            "transit": {"engine": v.transit_mount, "key": kms.key_name},
            "status": {"ping": "10s"},
        }
        if v.namespace:
            store["namespace"] = v.namespace
        return {"vault": store}
    if backend == "aws":
        a = kms.aws
        sm: dict[str, Any] = {
            "endpoint": a.endpoint_url or f"secretsmanager.{a.region}.amazonaws.com",
            "region": a.region,
            "kmskey": a.key_id or f"alias/{kms.key_name}",
        }
        # no static credentials: KES uses the default chain (instance role / environment)
        return {"aws": {"secretsmanager": sm}}
    if backend == "gcp":
        g = kms.gcp
        creds = json.loads(materials["gcp_credentials.json"].value)
        return {
            "gcp": {
                "secretmanager": {
                    "project_id": g.project,
                    "endpoint": "secretmanager.googleapis.com:443",
                    "credentials": {
                        "client_email": creds.get("client_email", ""),
                        "client_id": creds.get("client_id", ""),
                        "private_key_id": creds.get("private_key_id", ""),
                        "private_key": creds.get("private_key", ""),
                    },
                }
            }
        }
    if backend == "azure":
        z = kms.azure
        keyvault: dict[str, Any] = {"endpoint": z.vault_url}
        if "azure_client_secret" in materials:
            keyvault["credentials"] = {
                "tenant_id": z.tenant_id or "",
                "client_id": z.client_id or "",
                "client_secret": materials.value("azure_client_secret"),
            }
        else:
            keyvault["managed_identity"] = {"client_id": z.client_id or ""}
        return {"azure": {"keyvault": keyvault}}
    raise ValueError(f"no KES keystore for kms.backend {backend!r}")


def kes_config(plan: Plan, materials: Materials) -> dict[str, Any]:
    """The KES config document (``kes server --config``)."""
    minio_identity = tls.kes_identity(materials["kes_client.crt"].value)
    return {
        "version": "v1",
        "address": f"0.0.0.0:{KES_PORT}",
        "admin": {"identity": "disabled"},
        "tls": {"key": "/run/secrets/kes_server_key", "cert": "/run/secrets/kes_server_crt"},
        "policy": {"minio": {"allow": minio_policy_paths(plan.object_store.key_name), "identities": [minio_identity]}},
        "keystore": keystore(plan, materials),
    }
