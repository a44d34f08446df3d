"""Which secrets (and generated-once certificates) a plan needs, fetched from the secret store.

Why one module: the compose file, the KES and SeaweedFS configs, the Vault policies and the
runbook all talk about the same secrets. Each is declared once here with its purpose, its
consumers and how it is rotated, so the runbook can say where every key lives and the leak test
knows every value to search for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wizard import compat
from wizard.errors import UsageError
from wizard.kms.base import SecretStore
from wizard.plan import Plan
from wizard.render import material, tls


@dataclass(frozen=True)
class Material:
    """One file under ``secrets/`` (or a user file the plan points to)."""

    name: str  # file name in secrets/ (also the compose secret name, '.' -> '_')
    value: bytes = field(repr=False)  # never logged, never in an error (nor in a repr: tracebacks, pytest output)
    secret: bool  # False for certificates (public, but generated once and kept)
    purpose: str  # one line for the runbook
    consumers: tuple[str, ...]
    rotation: str  # how to rotate it (runbook)
    external: str | None = None  # absolute path of a user-provided file (not rendered)

    @property
    def compose_name(self) -> str:
        return self.name.replace(".", "_")

    @property
    def compose_file(self) -> str:
        return self.external or f"./secrets/{self.name}"


@dataclass
class Materials:
    """Every material of a plan, by name, in a stable order."""

    items: dict[str, Material] = field(default_factory=dict)

    def add(self, item: Material) -> Material:
        self.items[item.name] = item
        return item

    def __getitem__(self, name: str) -> Material:
        return self.items[name]

    def __contains__(self, name: str) -> bool:
        return name in self.items

    def value(self, name: str) -> str:
        item = self.items[name]
        try:
            return item.value.decode()
        except UnicodeDecodeError:  # a user's binary file: one line naming it, never its bytes
            raise UsageError(
                f"{item.external or 'secrets/' + item.name}: not UTF-8 text; this secret must be "
                "a text file (e.g. the key as printed by your provider)"
            ) from None


def _container_host(url: str) -> str:
    """Replace 127.0.0.1 / localhost by ``host.docker.internal``: inside a container loopback
    is the container itself, so a KMS on the host is reached through the host gateway."""
    for local in ("://127.0.0.1", "://localhost"):
        if local in url:
            return url.replace(local, "://host.docker.internal")
    return url


def vault_address_for_containers(plan: Plan) -> str:
    """Vault/OpenBao address as seen from the stack's containers."""
    if plan.kms.vault.deploy:
        return "http://openbao:8200"
    return _container_host(plan.kms.vault.address)


def _check_neo4j_auth(item: Material) -> None:
    """A user's auth file must be what the Neo4j image accepts; otherwise Neo4j fails at start.

    The message names the file and the expected form, never its content.
    """
    text = item.value.decode("utf-8", errors="replace")
    user, slash, password = text.partition("/")
    if text == "none" or (slash and user == "neo4j" and len(password) >= 8 and "\n" not in password):
        return
    raise UsageError(
        f"{item.external}: must hold 'neo4j/<password>' on one line (password of at least 8 characters, "
        "Neo4j's minimum) or 'none', as NEO4J_AUTH_FILE expects; fix the file or set neo4j.auth_file: null"
    )


def collect(plan: Plan, store: SecretStore) -> Materials:
    """Fetch (or create, once) every secret and certificate ``plan`` needs."""
    m = Materials()
    store_kind = plan.object_store.kind
    obj = plan.object_store

    def generated(
        name: str,
        factory: Callable[[], bytes],
        purpose: str,
        consumers: tuple[str, ...],
        rotation: str,
        secret: bool = True,
    ) -> Material:
        return m.add(Material(name, store.get_or_create(name, factory), secret, purpose, consumers, rotation))

    def external_or_generated(
        name: str,
        user_file: str | None,
        factory: Callable[[], bytes],
        purpose: str,
        consumers: tuple[str, ...],
        rotation: str,
    ) -> Material:
        if user_file:
            path = str(plan.resolve(user_file))
            return m.add(Material(name, store.read_external(path), True, purpose, consumers, rotation, external=path))
        return generated(name, factory, purpose, consumers, rotation)

    # -- Neo4j --------------------------------------------------------------------------------
    auth = external_or_generated(
        "neo4j_auth",
        plan.neo4j.auth_file,
        material.neo4j_auth,
        "Neo4j initial credentials 'neo4j/<password>' (NEO4J_AUTH_FILE)",
        ("neo4j", "stackseal"),
        "change the password with ALTER CURRENT USER SET PASSWORD, then replace this file "
        "(NEO4J_AUTH only applies to an empty /data)",
    )
    if auth.external is not None:
        _check_neo4j_auth(auth)

    # -- object store credentials ---------------------------------------------------------------
    external_or_generated(
        "s3_access_key",
        obj.access_key_file,
        material.access_key,
        f"{store_kind} root access key id",
        (store_kind, "stackseal"),
        "create a new key pair, switch clients, then remove the old pair",
    )
    external_or_generated(
        "s3_secret_key",
        obj.secret_key_file,
        material.secret_key,
        f"{store_kind} root secret key",
        (store_kind, "stackseal"),
        "rotate together with s3_access_key",
    )

    # -- object encryption keys -----------------------------------------------------------------
    if store_kind == "minio" and not compat.uses_kes(plan) and obj.sse == "sse-s3":
        generated(
            "minio_kms_key",
            lambda: material.minio_static_key(obj.key_name),
            "MinIO static KMS key '<key-id>:<base64 32 bytes>' (MINIO_KMS_SECRET_KEY_FILE)",
            ("minio",),
            "cannot be rotated: changing it makes every SSE-S3 object and MinIO's encrypted config unreadable; "
            "move to KES with a real KMS to rotate",
        )
    if store_kind == "seaweedfs" and obj.sse == "sse-s3":
        generated(
            "seaweedfs_kek",
            material.hex_key_256,
            "SeaweedFS SSE-S3 key-encryption key (security.toml [s3.sse] kek, 64 hex)",
            ("seaweedfs",),
            "SeaweedFS holds one KEK and a new one makes existing SSE-S3 objects unreadable: download every "
            "object through the S3 API, replace the KEK, upload them again (RUNBOOK section 4)",
        )
    if obj.sse == "sse-c":
        generated(
            "sse_c_key",
            material.sse_c_key,
            "SSE-C customer key (base64 of 32 bytes): every object read and write must send it",
            ("stackseal",),
            "copy each object onto itself under the new key (aws s3 cp --recursive with --sse-c-copy-source-key; "
            "RUNBOOK section 4), then retire the old key",
        )

    # -- TLS for the object store -----------------------------------------------------------------
    if compat.uses_object_store_tls(plan):
        ca_key = generated(
            "store_ca.key",
            tls.new_private_key,
            "private CA key that signs the object store certificate",
            ("stackseal",),
            "re-render after deleting the store_* TLS files; restart the object store",
        )
        ca_crt = generated(
            "store_ca.crt",
            lambda: tls.new_ca_cert(ca_key.value, f"stackseal {plan.project} object store CA"),
            "CA certificate clients trust for the object store",
            ("stackseal", store_kind),
            "renewed with store_ca.key",
            secret=False,
        )
        srv_key = generated(
            "store_tls.key",
            tls.new_private_key,
            "object store TLS private key",
            (store_kind,),
            "delete store_tls.* and re-render, then restart the object store",
        )
        generated(
            "store_tls.crt",
            lambda: tls.new_leaf_cert(
                srv_key.value,
                ca_key.value,
                ca_crt.value,
                store_kind,
                [store_kind, "localhost"],
                ["127.0.0.1"],
                server=True,
            ),
            "object store TLS certificate (SAN: service name, localhost, 127.0.0.1)",
            (store_kind,),
            f"valid {tls.VALID_DAYS} days; renew with store_tls.key",
            secret=False,
        )

    # -- KES ----------------------------------------------------------------------------------------
    if compat.uses_kes(plan):
        ca_key = generated(
            "kes_ca.key",
            tls.new_private_key,
            "private CA key for KES mutual TLS",
            ("stackseal",),
            "delete kes_* TLS files and re-render; restart kes and minio",
        )
        ca_crt = generated(
            "kes_ca.crt",
            lambda: tls.new_ca_cert(ca_key.value, f"stackseal {plan.project} KES CA"),
            "CA certificate MinIO and KES trust (MINIO_KMS_KES_CAPATH)",
            ("minio", "kes"),
            "renewed with kes_ca.key",
            secret=False,
        )
        skey = generated(
            "kes_server.key",
            tls.new_private_key,
            "KES server TLS key",
            ("kes",),
            "delete kes_server.* and re-render; restart kes",
        )
        generated(
            "kes_server.crt",
            lambda: tls.new_leaf_cert(
                skey.value, ca_key.value, ca_crt.value, "kes", ["kes", "localhost"], ["127.0.0.1"], server=True
            ),
            "KES server certificate",
            ("kes",),
            f"valid {tls.VALID_DAYS} days",
            secret=False,
        )
        ckey = generated(
            "kes_client.key",
            tls.new_private_key,
            "MinIO's KES client key (MINIO_KMS_KES_KEY_FILE)",
            ("minio",),
            "delete kes_client.* and re-render: the KES policy follows the new identity",
        )
        generated(
            "kes_client.crt",
            lambda: tls.new_leaf_cert(ckey.value, ca_key.value, ca_crt.value, "minio", [], [], server=False),
            "MinIO's KES client certificate (its identity is in the KES policy)",
            ("minio", "kes"),
            f"valid {tls.VALID_DAYS} days",
            secret=False,
        )

    # -- Vault / OpenBao AppRoles of the in-stack consumers -------------------------------------------
    if plan.kms.backend == "vault":
        consumers = []
        if compat.uses_kes(plan):
            consumers.append("kes")
        if store_kind == "seaweedfs" and obj.sse == "sse-kms":
            consumers.append("seaweedfs")
        for consumer in consumers:
            role = f"auth/approle/role/{plan.project}-{consumer}"
            generated(
                f"{consumer}_role_id",
                material.approle_role_id,
                f"AppRole role_id of {consumer}; register it by hand with {role}/role-id (RUNBOOK section 2)",
                (consumer,),
                f"delete the file, run stackseal render (a new one is generated), write it to {role}/role-id, "
                f"restart {consumer}",
            )
            generated(
                f"{consumer}_secret_id",
                material.approle_secret_id,
                f"AppRole secret_id of {consumer}; register it by hand with {role}/custom-secret-id (RUNBOOK section 2)",
                (consumer,),
                f"destroy the old one ({role}/secret-id/destroy secret_id=@secrets/{consumer}_secret_id), delete the "
                f"file, run stackseal render, write the new one to {role}/custom-secret-id, restart {consumer}",
            )
    if (
        plan.kms.backend == "gcp"
        and plan.kms.gcp.credentials_file
        and (compat.uses_kes(plan) or (store_kind == "seaweedfs" and obj.sse == "sse-kms"))
    ):
        path = str(plan.resolve(plan.kms.gcp.credentials_file))
        m.add(
            Material(
                "gcp_credentials.json",
                store.read_external(path),
                True,
                "GCP service-account key the in-stack KMS client uses",
                ("kes", "seaweedfs"),
                "create a new key for the service account, point credentials_file to it, re-render, "
                "then delete the old key in GCP",
                external=path,
            )
        )
    if plan.kms.backend == "azure" and plan.kms.azure.client_secret_file and compat.uses_kes(plan):
        path = str(plan.resolve(plan.kms.azure.client_secret_file))
        m.add(
            Material(
                "azure_client_secret",
                store.read_external(path),
                True,
                "Azure app client secret KES uses for Key Vault",
                ("kes",),
                "add a new client secret in Entra ID, update the file, re-render, delete the old secret",
                external=path,
            )
        )
    return m
