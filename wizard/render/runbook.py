"""``RUNBOOK.md``: the operating manual for *this* plan (templates/RUNBOOK.md.j2).

Why generated: a generic runbook is skipped during an outage. This one names the real paths,
services, key names and commands of the chosen path: where every key lives, how to unlock after
a reboot, how to rotate each key, how to back up and restore, and what a lost key costs. It
never contains a secret value (the leak test checks that).

Why it reads the volume backends and key paths from the code instead of repeating them: the
runbook must be true for what stackseal does *today*. Key file names come from
:func:`wizard.volumes.keys.key_path`, whether ``stackseal apply`` can provision a backend from
:func:`wizard.volumes.get_backend`, LUKS mapper names from the backend itself. Commands that
are only planned (``verify``, ``rotate``, ``backup``, ``migrate``) are never presented as
available; the test suite fails if the runbook names a subcommand ``wizard.cli`` lacks.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from wizard import compat, layout
from wizard import kms as kms_mod
from wizard.errors import UsageError
from wizard.kms.base import SecretStore
from wizard.plan import Plan
from wizard.render import seaweedfs as swfs
from wizard.render import vault_policies
from wizard.render.compose import image_for
from wizard.render.materials import Materials
from wizard.render.templates import render_template
from wizard.volumes.keys import key_path

#: Where volume keys live, relative to the stack directory (``Context.secrets_dir``).
SECRETS_DIR = Path("secrets")


def _master_key_location(plan: Plan) -> str:
    kms = plan.kms
    if kms.backend == "local":
        return "no KMS: every key is a local file (development only)"
    if kms.backend == "vault":
        where = "the OpenBao service of this stack" if kms.vault.deploy else kms.vault.address
        return f"transit key `{kms.key_name}` in mount `{kms.vault.transit_mount}/` of {where}"
    if kms.backend == "aws":
        return f"AWS KMS key `{kms.aws.key_id or 'alias/' + kms.key_name}` in {kms.aws.region}"
    if kms.backend == "azure":
        return f"key `{kms.key_name}` in Azure Key Vault {kms.azure.vault_url}"
    g = kms.gcp
    return (
        f"Cloud KMS key `projects/{g.project}/locations/{g.location}/keyRings/{g.key_ring}/cryptoKeys/{kms.key_name}`"
    )


def _azure_vault_name(plan: Plan) -> str:
    """The Key Vault's name (``https://NAME.vault.azure.net`` → ``NAME``), what ``az keyvault`` takes."""
    from urllib.parse import urlparse

    if plan.kms.backend != "azure":
        return ""
    return (urlparse(plan.kms.azure.vault_url or "").hostname or "").split(".")[0]


def _wrapped_by(plan: Plan) -> str:
    """The key that wraps every stored key, in words (no version: it changes with rotation)."""
    if plan.kms.backend == "local":
        return "derived from your passphrase (scrypt; `kms.passphrase_file` / STACKSEAL_LOCAL_PASSPHRASE)"
    return f"`{kms_mod.get_backend(plan).key_id}` ({plan.kms.backend})"


def _object_key(plan: Plan) -> dict[str, str]:
    """How objects are encrypted and where that key lives."""
    obj, kms = plan.object_store, plan.kms
    if obj.sse == "sse-c":
        return {
            "mode": "SSE-C",
            "where": "secrets/sse_c_key; every object read and write must send it (the server never stores it)",
        }
    if obj.kind == "minio":
        if compat.uses_kes(plan):
            ks = {
                "local": "KES fs keystore on the encrypted volume kes-keys",
                "vault": f"Vault KV `{kms.vault.kv_mount}/{plan.project}/kes/` wrapped by transit key `{kms.key_name}`",
                "aws": "AWS Secrets Manager, protected by AWS KMS",
                "gcp": f"GCP Secret Manager of project {kms.gcp.project}",
                "azure": f"Azure Key Vault {kms.azure.vault_url}",
            }[kms.backend]
            return {"mode": obj.sse.upper(), "where": f"KES key `{obj.key_name}` in {ks}"}
        return {"mode": "SSE-S3", "where": "MinIO static key in secrets/minio_kms_key (cannot be rotated)"}
    if obj.sse == "sse-kms":
        return {"mode": "SSE-KMS", "where": f"SeaweedFS KMS provider `{kms.backend}`, key `{swfs.kms_key_id(plan)}`"}
    return {"mode": "SSE-S3", "where": "SeaweedFS key-encryption key in secrets/seaweedfs_kek (security.toml)"}


def _kms_keys(plan: Plan) -> list[dict[str, str]]:
    """The KMS keys the rendered stack really uses today, each with what it protects.

    With a cloud KMS the first is the key that wraps every stored key and secret (envelope
    encryption; ``id`` is what that cloud's CLI takes: an AWS key id or alias, the Azure key's
    name, the GCP key's resource name). Vault's transit key is described by the template itself.
    """
    kms, obj = plan.kms, plan.object_store
    keys: list[dict[str, str]] = []
    if kms.backend == "local":
        return keys
    if kms.backend in ("aws", "azure", "gcp") and kms_mod.envelope(plan):
        key_id = kms.key_name if kms.backend == "azure" else kms_mod.get_backend(plan).key_id
        where = f" in Key Vault {kms.azure.vault_url}" if kms.backend == "azure" else ""
        keys.append(
            {
                "id": key_id,
                "use": f"wraps every key and secret stackseal keeps{where} (`secrets/<name>.wrapped.json`, "
                "volume keys included); `stackseal unlock` needs it",
                "rotated_by_stackseal": "yes",  # stackseal rotate kms-key drives it
            }
        )
    if compat.uses_kes(plan):
        if kms.backend == "vault":
            keys.append(
                {
                    "id": kms.key_name,
                    "use": f"KES keeps the object keys in KV `{kms.vault.kv_mount}/"
                    f"{plan.project}/kes/`, each entry encrypted with it",
                }
            )
        elif kms.backend == "aws":
            keys.append(
                {
                    "id": kms.aws.key_id or f"alias/{kms.key_name}",
                    "use": "KES keeps the object keys in AWS Secrets Manager, encrypted with it",
                }
            )
    if obj.kind == "seaweedfs" and obj.sse == "sse-kms":
        keys.append({"id": swfs.kms_key_id(plan), "use": "SeaweedFS wraps each object's data key with it (SSE-KMS)"})
    merged: dict[str, dict[str, str]] = {}
    for key in keys:  # one line (and one rotation command) per key, whatever it is used for
        if key["id"] in merged:
            merged[key["id"]]["use"] += f"; {key['use']}"
        else:
            merged[key["id"]] = dict(key)
    return list(merged.values())


def _volume_facts(plan: Plan) -> dict[str, Any]:
    """What ``stackseal apply`` really does for this volume backend, read from the backend code."""
    from wizard.volumes import get_backend  # light: backend modules are imported lazily

    try:
        backend = get_backend(plan)
    except UsageError as err:
        return {
            "provisionable": False,
            "refusal": str(err),
            "uses_key": False,
            "raw_key": False,
            "mapper": {},
            "protector": {},
        }
    specs = layout.volume_specs(plan)
    mapper = {s.name: backend.mapper_name(s) for s in specs} if hasattr(backend, "mapper_name") else {}
    protector = {s.name: backend.protector_name(s) for s in specs} if hasattr(backend, "protector_name") else {}
    return {
        "provisionable": True,
        "refusal": "",
        "uses_key": bool(backend.uses_key),
        "raw_key": bool(getattr(backend, "raw_key", False)),
        "mapper": mapper,
        "protector": protector,
    }


def volume_key_files(plan: Plan) -> dict[str, str]:
    """Volume name -> its plaintext key file while unlocked (empty when no keys are used).

    With a KMS: in the tmpfs runtime directory (absolute); without (local, dev only): relative to
    the stack directory, in ``secrets/``.
    """
    from wizard import kms

    if not _volume_facts(plan)["uses_key"]:
        return {}
    base = kms.runtime_dir(plan) if kms.envelope(plan) else SECRETS_DIR
    return {s.name: str(key_path(base, s.name)) for s in layout.volume_specs(plan)}


def _s3_access(plan: Plan, materials: Materials) -> dict[str, str]:
    """How a user reaches the object store from the host with the AWS CLI (credentials by file, never inline)."""
    opts = f"--endpoint-url {shlex.quote(plan.object_store.endpoint)}"
    if compat.uses_object_store_tls(plan) and "store_ca.crt" in materials:
        opts += " --ca-bundle secrets/store_ca.crt"
    # shell-quoted: a user's *_file path is copied into a command line (validation already keeps it plain)
    access, secret = (shlex.quote(materials[n].compose_file) for n in ("s3_access_key", "s3_secret_key"))
    return {
        "env": f"export AWS_ACCESS_KEY_ID=$(cat {access}) AWS_SECRET_ACCESS_KEY=$(cat {secret}) AWS_DEFAULT_REGION=us-east-1",
        "opts": opts,
        "ssec": "--sse-c AES256 --sse-c-key fileb://<(base64 -d secrets/sse_c_key)",
    }


def render_runbook(plan: Plan, materials: Materials, store: SecretStore, files: list[str]) -> bytes:
    secrets_rows: list[dict[str, Any]] = []
    for item in materials.items.values():
        secrets_rows.append(
            {
                "name": item.name,
                "where": f"your file {item.external}" if item.external else store.location(item.name),
                "purpose": item.purpose,
                "consumers": ", ".join(item.consumers),
                "rotation": item.rotation,
                "secret": item.secret,
            }
        )
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
        "kms_keys": _kms_keys(plan),
        "kes_kms_key": any("KES" in k["use"] for k in _kms_keys(plan)),
        "vol": _volume_facts(plan),
        "key_files": volume_key_files(plan),
        "envelope": kms_mod.envelope(plan),
        "runtime_dir": str(kms_mod.runtime_dir(plan)),
        "secdir": str(kms_mod.runtime_dir(plan)) if kms_mod.envelope(plan) else "secrets",
        "wrapped_by": _wrapped_by(plan),
        "azure_vault": _azure_vault_name(plan),
        "s3": _s3_access(plan, materials),
        "seaweedfs_key": swfs.kms_key_id(plan),
        "object_key": _object_key(plan),
        "uses_kes": compat.uses_kes(plan),
        "uses_tls": compat.uses_object_store_tls(plan),
        "consumers": vault_policies.consumers(plan),
        "files": files,
        "warnings": [str(p) for p in compat.check_plan(plan) if p.level == "warning"],
        "bench_lines": _bench_lines(plan),
    }
    return render_template("RUNBOOK.md.j2", **context)


def _bench_lines(plan: Plan) -> list[str]:
    """The measured overhead of the plan's own choices, when ``stackseal bench`` has run."""
    from wizard.bench.report import choices_overhead, load

    return choices_overhead(plan, load(plan.output_path))
