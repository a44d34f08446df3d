"""Least privilege, applied: the rendered Vault policies written, one AppRole per consumer.

Why apply does it: a policy rendered but loaded by hand is a policy nobody loads. Each consumer
(KES, SeaweedFS SSE-KMS) gets a policy that names only its own key and an AppRole bound to it;
its role_id / secret_id are secrets render generated and stored wrapped like every other one
(plaintext only in the tmpfs runtime directory, where Compose hands them to the container). The
``unlock`` role (decrypt with the stack's key only) is registered too; its secret_id is made by
the operator for the boot unit (docs/kms.md). Everything is compared first, so a second apply
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wizard.errors import OperationFailed
from wizard.render import vault_policies


@dataclass(frozen=True)
class Role:
    name: str  # role and policy name: <project>-<consumer>
    consumer: str
    policy: str  # HCL


def roles(plan: Any) -> list[Role]:
    """The AppRoles a plan needs: one per in-stack consumer, and ``unlock``."""
    rendered = vault_policies.policies(plan)
    out = []
    for consumer in [*vault_policies.consumers(plan), "unlock"]:
        name = f"{plan.project}-{consumer}"
        out.append(Role(name, consumer, rendered[f"vault/policies/{name}.hcl"].decode()))
    return out


def _credentials(plan: Any, consumer: str) -> tuple[str, str] | None:
    """The consumer's role_id / secret_id from the runtime directory (None for ``unlock``)."""
    from wizard import kms

    if consumer == "unlock":
        return None
    directory = kms.plaintext_dir(plan)
    try:
        role_id = (directory / f"{consumer}_role_id").read_text(encoding="utf-8").strip()
        secret_id = (directory / f"{consumer}_secret_id").read_text(encoding="utf-8").strip()
    except OSError:
        raise OperationFailed(
            f"the {consumer} AppRole credentials are not in {directory}; run 'stackseal unlock' (or apply) first"
        ) from None
    return role_id, secret_id


def missing(plan: Any, backend: Any) -> list[str]:
    """What is not registered yet, one line each (reads only)."""
    import hvac.exceptions as hx

    client = backend.client()
    todo: list[str] = []
    with backend.errors("reading policies and AppRoles"):
        methods = client.sys.list_auth_methods()
        if "approle/" not in methods.get("data", methods):
            todo.append("enable the approle auth method")
        for role in roles(plan):
            try:
                current = client.sys.read_acl_policy(role.name)["data"]["policy"]
            except hx.InvalidPath:
                current = None
            if (current or "").strip() != role.policy.strip():
                todo.append(f"write policy {role.name}")
            if "approle/" not in methods.get("data", methods):
                todo.append(f"create AppRole {role.name}")
                continue
            try:
                client.auth.approle.read_role(role.name)
            except hx.InvalidPath:
                todo.append(f"create AppRole {role.name}")
                continue
            try:
                creds = _credentials(plan, role.consumer)
            except OperationFailed:  # not unwrapped yet (a plan before render/unlock): apply registers them
                todo.append(f"register the credentials of {role.name}")
                continue
            if creds:
                if client.auth.approle.read_role_id(role.name)["data"]["role_id"] != creds[0]:
                    todo.append(f"set the role_id of {role.name}")
                if not _secret_id_known(client, role.name, creds[1]):
                    todo.append(f"register the secret_id of {role.name}")
    return todo


def _secret_id_known(client: Any, role: str, secret_id: str) -> bool:
    import hvac.exceptions as hx

    try:
        answer = client.auth.approle.read_secret_id(role, secret_id)
    except hx.InvalidPath:
        return False
    return isinstance(answer, dict) and bool(answer.get("data"))


def apply(plan: Any, backend: Any) -> list[str]:
    """Write every policy, create every AppRole, register each consumer's own credential."""
    client = backend.client()
    done: list[str] = []
    with backend.errors("writing policies and AppRoles"):
        methods = client.sys.list_auth_methods()
        if "approle/" not in methods.get("data", methods):
            client.sys.enable_auth_method("approle")
            done.append("enabled approle")
        mounts = client.sys.list_mounted_secrets_engines()
        mounts = mounts.get("data", mounts)
        v = plan.kms.vault
        if "kes" in vault_policies.consumers(plan) and f"{v.kv_mount.strip('/')}/" not in mounts:
            client.sys.enable_secrets_engine(
                backend_type="kv", path=v.kv_mount.strip("/"), options={"version": str(v.kv_version)}
            )
            done.append(f"enabled KV v{v.kv_version} at {v.kv_mount}/ (KES keeps its keys there)")
        if "seaweedfs" in vault_policies.consumers(plan):
            import hvac.exceptions as hx

            try:
                client.secrets.transit.read_key(name=plan.object_store.key_name, mount_point=v.transit_mount)
            except hx.InvalidPath:
                client.secrets.transit.create_key(name=plan.object_store.key_name, mount_point=v.transit_mount)
                done.append(f"created transit key {plan.object_store.key_name} (SeaweedFS objects)")
        for role in roles(plan):
            client.sys.create_or_update_acl_policy(name=role.name, policy=role.policy)
            client.auth.approle.create_or_update_approle(
                role.name, token_policies=[role.name], token_ttl="1h", token_max_ttl="4h"
            )
            creds = _credentials(plan, role.consumer)
            if creds:
                client.auth.approle.update_role_id(role.name, creds[0])
                if not _secret_id_known(client, role.name, creds[1]):
                    client.auth.approle.create_custom_secret_id(role.name, creds[1])
            done.append(f"{role.name}: policy and AppRole")
    return done
