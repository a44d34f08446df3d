"""Least-privilege Vault / OpenBao policies (HCL), one per consumer.

Why per consumer: a stolen credential should open as little as possible. KES may only touch its
KV prefix (and wrap with the master key); SeaweedFS may only encrypt/decrypt with the object
key; the unlock role is reserved for unwrapping volume keys (once the KMS backends wrap them);
only the admin role can rotate keys or create the others' AppRoles. Today they are rendered for
the operator to load (the runbook gives the ``bao`` commands); apply does not write them yet.
"""

from __future__ import annotations

from wizard import compat
from wizard.plan import Plan
from wizard.render.templates import render_template


def consumers(plan: Plan) -> list[str]:
    """In-stack services that authenticate to Vault with their own AppRole."""
    found = []
    if compat.uses_kes(plan):
        found.append("kes")
    if plan.object_store.kind == "seaweedfs" and plan.object_store.sse == "sse-kms":
        found.append("seaweedfs")
    return found


def policies(plan: Plan) -> dict[str, bytes]:
    """``vault/policies/<name>.hcl`` -> content, for ``kms.backend: vault`` only."""
    if plan.kms.backend != "vault":
        return {}
    v, project = plan.kms.vault, plan.project
    master, objects = plan.kms.key_name, plan.object_store.key_name
    keys = [master] + ([objects] if "seaweedfs" in consumers(plan) else [])
    out = {
        f"vault/policies/{project}-admin.hcl": render_template(
            "vault/stackseal-admin.hcl.j2",
            project=project,
            transit=v.transit_mount,
            keys=keys,
            consumers=consumers(plan),
        ),
        f"vault/policies/{project}-unlock.hcl": render_template(
            "vault/stackseal-unlock.hcl.j2", project=project, transit=v.transit_mount, key=master
        ),
    }
    if "kes" in consumers(plan):
        out[f"vault/policies/{project}-kes.hcl"] = render_template(
            "vault/kes.hcl.j2",
            project=project,
            transit=v.transit_mount,
            key=master,
            kv=v.kv_mount,
            kv_version=v.kv_version,
            prefix=f"{project}/kes",
        )
    if "seaweedfs" in consumers(plan):
        out[f"vault/policies/{project}-seaweedfs.hcl"] = render_template(
            "vault/seaweedfs.hcl.j2", project=project, transit=v.transit_mount, key=objects
        )
    return out
