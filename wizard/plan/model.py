"""The answers file model (``stackseal.yaml``): the single source of truth of what the user chose.

Why this shape:
- Declared once as ``msgspec`` structs that forbid unknown fields (like harlequin's config), so
  a typo is an error with a "did you mean" hint instead of a silently ignored key, and the JSON
  schema in ``docs/answers.schema.json`` is generated from the same declaration.
- ``version`` plus explicit migration functions (``MIGRATIONS``) instead of ad-hoc
  backwards-compatibility branches.
- Every error is one line naming the key path and what is allowed, raised as
  :class:`wizard.errors.UsageError` (exit 2).
- No secret value is ever stored here: secrets live in files the plan points to (``*_file``) or
  are generated into the output directory's ``secrets/``.

Combination rules (what cannot work together) live in :mod:`wizard.compat` so the wizard can
grey out choices with the same reasons that ``render`` refuses them with. Every single value is
checked by :mod:`wizard.plan.validate` (strict patterns, bounded numbers, safe paths) because each
one reaches a compose file, a Vault policy, a runbook shell block or a message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import msgspec

from wizard.plan import validate as v
from wizard.plan.messages import hint

#: ``weed shell``'s address form: HOST:PORT, with the gRPC port after a dot when not PORT+10000.
_HOST_PORT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}:[0-9]{1,5}(\.[0-9]{1,5})?$")

CURRENT_VERSION = 1

Edition = Literal["community", "enterprise"]
StoreKind = Literal["minio", "seaweedfs"]
SseMode = Literal["sse-s3", "sse-kms", "sse-c"]
KmsBackend = Literal["local", "vault", "aws", "azure", "gcp"]
VolumeBackend = Literal["luks-file", "luks-device", "gocryptfs", "fscrypt", "host-fde", "none"]

#: Image names that ``images:`` may override (compose service images).
IMAGE_KEYS = ("neo4j", "minio", "seaweedfs", "kes", "openbao", "busybox")

_KEY_NAME_WHAT = "may only hold letters, digits, '_', '.', '-' (at most 64, starting with a letter or digit)"


def _optional_path(value: str | None, field: str, **kwargs: object) -> None:
    if value is not None:
        v.path(value, field, **kwargs)  # type: ignore[arg-type]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every answers-file section: unknown keys are errors."""


class Neo4jAnswers(_Section):
    """How the graph database runs and how stackseal reaches it."""

    edition: Edition = "community"
    #: Image reference; ``None`` picks the pinned default for the edition (``images.neo4j`` wins).
    image: str | None = None
    #: Where stackseal reaches Bolt (a running stack, or the one ``apply`` starts). Its port is
    #: the host port the rendered compose file publishes, bound to 127.0.0.1.
    bolt_url: str = "bolt://127.0.0.1:7687"
    #: Host port for Neo4j Browser / HTTP API (bound to 127.0.0.1); ``None`` publishes none.
    http_port: int | None = 7474
    #: Existing ``neo4j/password`` file; ``None`` = a generated secret in ``secrets/``.
    auth_file: str | None = None
    #: Host path of an existing store's data (migration source, canary scan).
    data_dir: str | None = None
    #: Neo4j Enterprise needs ``NEO4J_ACCEPT_LICENSE_AGREEMENT=yes``; the user must say so.
    accept_license_agreement: bool = False

    def __post_init__(self) -> None:
        v.url(self.bolt_url, "bolt_url", ("bolt", "neo4j", "bolt+s", "neo4j+s"), "neo4j.auth_file", "bolt://HOST:PORT")
        if self.http_port is not None:
            v.number(self.http_port, "http_port", "port")
        if self.image is not None:
            v.image(self.image, "image")
        _optional_path(self.auth_file, "auth_file")
        _optional_path(self.data_dir, "data_dir")


class ObjectStoreAnswers(_Section):
    """The S3 object store and its server-side encryption."""

    kind: StoreKind = "seaweedfs"
    image: str | None = None
    #: Where stackseal reaches the S3 API; its port is the published host port (127.0.0.1).
    endpoint: str = "http://127.0.0.1:9000"
    #: Existing credentials files; ``None`` = generated secrets in ``secrets/``.
    access_key_file: str | None = None
    secret_key_file: str | None = None
    sse: SseMode = "sse-s3"
    buckets: list[str] = msgspec.field(default_factory=lambda: ["schemas", "instances", "cmf"])
    #: Host path of the store's raw data (canary scan, migration).
    data_dir: str | None = None
    #: KMS key name objects are encrypted under (SSE-KMS key id / KES key name).
    key_name: str = "stackseal-objects"
    #: Run MinIO KES (deprecated upstream, still works with the last images) for SSE-KMS.
    kes: bool = True
    #: SeaweedFS master and filer (``HOST:PORT``, or ``HOST:PORT.GRPCPORT``) that ``migrate objects``
    #: vacuums with ``weed shell`` (on PATH) so re-encrypted objects leave no plaintext needles;
    #: ``None`` = run ``weed shell`` inside the rendered stack's seaweedfs container.
    weed_master: str | None = None
    weed_filer: str | None = None

    def __post_init__(self) -> None:
        creds = "object_store.access_key_file and secret_key_file"
        v.url(self.endpoint, "endpoint", ("http", "https"), creds, "http(s)://HOST:PORT")
        if self.image is not None:
            v.image(self.image, "image")
        if not self.buckets:
            raise ValueError("buckets: at least one bucket is needed")
        for name in self.buckets:
            v.bucket(name)
        if len(set(self.buckets)) != len(self.buckets):
            raise ValueError("buckets: bucket names must be unique")
        v.identifier(self.key_name, v.KEY_NAME, "key_name", _KEY_NAME_WHAT)
        _optional_path(self.access_key_file, "access_key_file")
        _optional_path(self.secret_key_file, "secret_key_file")
        _optional_path(self.data_dir, "data_dir")
        for name in ("weed_master", "weed_filer"):
            value = getattr(self, name)
            if value is not None and not _HOST_PORT_RE.match(value):
                raise ValueError(f"{name}: '{value}' is not HOST:PORT or HOST:PORT.GRPCPORT (e.g. 127.0.0.1:9333)")


class VaultAnswers(_Section):
    """HashiCorp Vault or OpenBao (same API)."""

    address: str = "http://127.0.0.1:8200"
    #: File holding a token; ``None`` = use AppRole files, or ``VAULT_TOKEN`` at run time.
    token_file: str | None = None
    approle_role_id_file: str | None = None
    approle_secret_id_file: str | None = None
    namespace: str | None = None
    transit_mount: str = "transit"
    kv_mount: str = "secret"
    kv_version: Literal[1, 2] = 2
    #: Run an OpenBao server inside the rendered stack (dev/test; production uses your own).
    deploy: bool = False
    #: deploy: unseal key shares made at initialisation, and how many of them unseal.
    key_shares: int = 1
    key_threshold: int = 1
    #: deploy: age public key (``age1...``) the unseal keys and root token are encrypted to, or
    #: ``passphrase`` (asked at apply, or STACKSEAL_RECOVERY_PASSPHRASE); ``None`` = a plaintext
    #: ``secrets/openbao_init.json`` (development only).
    recovery_recipient: str | None = None

    def __post_init__(self) -> None:
        v.url(self.address, "address", ("http", "https"), "kms.vault.token_file", "http(s)://HOST:PORT")
        if not 1 <= self.key_threshold <= self.key_shares <= 10:
            raise ValueError(
                f"key_shares/key_threshold: {self.key_shares}/{self.key_threshold} must satisfy "
                "1 <= threshold <= shares <= 10"
            )
        rec = self.recovery_recipient
        if rec is not None and rec != "passphrase" and not re.fullmatch(r"age1[02-9ac-hj-np-z]{58}", rec):
            raise ValueError("recovery_recipient: must be an age public key (age1...) or 'passphrase'")
        if self.namespace is not None:
            v.identifier(
                self.namespace, v.VAULT_PATH, "namespace", "must be path segments of letters, digits, '_' or '-'"
            )
        v.vault_path(self.transit_mount, "transit_mount")
        v.vault_path(self.kv_mount, "kv_mount")
        for name in ("token_file", "approle_role_id_file", "approle_secret_id_file"):
            _optional_path(getattr(self, name), name)


class AwsAnswers(_Section):
    """AWS KMS."""

    region: str = "us-east-1"
    #: Key id, ARN or ``alias/NAME``; ``None`` = ``alias/<kms.key_name>``, which must exist: no apply step creates AWS keys yet.
    key_id: str | None = None
    #: Non-default endpoint (a VPC endpoint, or a local test server).
    endpoint_url: str | None = None
    #: Named profile from the AWS config; ``None`` = the default credential chain.
    profile: str | None = None

    def __post_init__(self) -> None:
        v.identifier(self.region, v.AWS_REGION, "region", "is not an AWS region (e.g. eu-west-1)")
        if self.key_id is not None:
            v.identifier(self.key_id, v.AWS_KEY_ID, "key_id", "is not a KMS key id, key ARN or alias/NAME")
        if self.endpoint_url is not None:
            v.url(
                self.endpoint_url,
                "endpoint_url",
                ("http", "https"),
                "the AWS credential chain (profile, role)",
                "https://HOST[:PORT]",
            )
        if self.profile is not None:
            v.identifier(self.profile, v.AWS_PROFILE, "profile", "is not an AWS profile name")


class AzureAnswers(_Section):
    """Azure Key Vault."""

    vault_url: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_file: str | None = None

    def __post_init__(self) -> None:
        if self.vault_url is not None:
            v.url(self.vault_url, "vault_url", ("https",), "client_secret_file", "https://NAME.vault.azure.net")
        for name in ("tenant_id", "client_id"):
            value = getattr(self, name)
            if value is not None:
                v.identifier(value, v.AZURE_ID, name, "is not an Azure id (a GUID or a domain name)")
        _optional_path(self.client_secret_file, "client_secret_file")


class GcpAnswers(_Section):
    """Google Cloud KMS."""

    project: str | None = None
    location: str = "global"
    key_ring: str = "stackseal"
    credentials_file: str | None = None

    def __post_init__(self) -> None:
        if self.project is not None:
            v.identifier(
                self.project, v.GCP_PROJECT, "project", "is not a GCP project id (lowercase letters, digits, '-')"
            )
        v.identifier(self.location, v.GCP_LOCATION, "location", "is not a GCP location (e.g. global, europe-west1)")
        v.identifier(self.key_ring, v.GCP_KEY_RING, "key_ring", "may only hold letters, digits, '_' or '-'")
        _optional_path(self.credentials_file, "credentials_file")


class KmsAnswers(_Section):
    """Where keys are held."""

    backend: KmsBackend = "local"
    #: Name of the master / key-encryption key in the KMS.
    key_name: str = "stackseal"
    vault: VaultAnswers = msgspec.field(default_factory=VaultAnswers)
    aws: AwsAnswers = msgspec.field(default_factory=AwsAnswers)
    azure: AzureAnswers = msgspec.field(default_factory=AzureAnswers)
    gcp: GcpAnswers = msgspec.field(default_factory=GcpAnswers)
    #: Memory-backed directory the unwrapped keys live in while unlocked; ``None`` = /run/stackseal/<project>.
    runtime_dir: str | None = None
    #: local backend: file holding the passphrase that wraps the key files (or env STACKSEAL_LOCAL_PASSPHRASE,
    #: or a prompt); ``None`` = key files stay plaintext (development only).
    passphrase_file: str | None = None

    def __post_init__(self) -> None:
        v.identifier(self.key_name, v.KEY_NAME, "key_name", _KEY_NAME_WHAT)
        if self.runtime_dir is not None and (
            not self.runtime_dir.startswith("/") or any(ch.isspace() or not ch.isprintable() for ch in self.runtime_dir)
        ):
            raise ValueError(f"runtime_dir: {self.runtime_dir!r} must be an absolute path without spaces")
        _optional_path(self.passphrase_file, "passphrase_file")


class VolumeAnswers(_Section):
    """How the host directories behind the Docker volumes are encrypted."""

    backend: VolumeBackend = "gocryptfs"
    #: Absolute host path where encrypted volumes (containers, images, mount points) live.
    root: str = "/srv/stackseal"
    #: Size of each LUKS file container (luks-file).
    size_mb: int = 1024
    #: Block device for luks-device (destroyed by formatting: apply asks for explicit consent).
    device: str | None = None
    #: Filesystem inside a LUKS container.
    filesystem: Literal["ext4", "xfs"] = "ext4"

    def __post_init__(self) -> None:
        if isinstance(self.root, str) and v.PATH_CHARS.fullmatch(self.root) and not self.root.startswith("/"):
            raise ValueError(
                f"root: {v.excerpt(self.root)} is relative; volume root must be an absolute host path such as /srv/stackseal"
            )
        if v.path(self.root, "root", absolute=True) == "/":
            raise ValueError("root: '/' is the whole host; give a directory such as /srv/stackseal")
        v.number(self.size_mb, "size_mb", "size_mb")
        if self.device is not None:
            if not self.device.startswith("/dev/"):
                raise ValueError(f"device: {v.excerpt(self.device)} is not a block device path (/dev/...)")
            v.path(self.device, "device", absolute=True, under="/dev")


class RotationAnswers(_Section):
    """Key rotation policy."""

    interval_days: int = 90

    def __post_init__(self) -> None:
        v.number(self.interval_days, "interval_days", "interval_days")


class BackupAnswers(_Section):
    """Encrypted backups."""

    dir: str = "./backups"
    keep: int = 7

    def __post_init__(self) -> None:
        v.number(self.keep, "keep", "keep")
        v.path(self.dir, "dir")


class Plan(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, dict=True):
    """The whole answers file. ``base_dir`` (not serialised) anchors relative paths."""

    version: int = CURRENT_VERSION
    project: str = "stackseal"
    output_dir: str = "./stack"
    neo4j: Neo4jAnswers = msgspec.field(default_factory=Neo4jAnswers)
    object_store: ObjectStoreAnswers = msgspec.field(default_factory=ObjectStoreAnswers)
    kms: KmsAnswers = msgspec.field(default_factory=KmsAnswers)
    volumes: VolumeAnswers = msgspec.field(default_factory=VolumeAnswers)
    rotation: RotationAnswers = msgspec.field(default_factory=RotationAnswers)
    backups: BackupAnswers = msgspec.field(default_factory=BackupAnswers)
    #: Image overrides by service (private registry / air-gapped / locally built).
    images: dict[str, str] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        v.identifier(
            self.project,
            v.PROJECT,
            "project",
            "must be lowercase letters, digits, '-' or '_', starting with a letter or digit (at most 63)",
        )
        v.path(self.output_dir, "output_dir")
        for key in self.images:
            if key not in IMAGE_KEYS:
                raise ValueError(
                    f"images.{key}: unknown service {v.excerpt(key)}{hint(key, IMAGE_KEYS)}; allowed: {', '.join(IMAGE_KEYS)}"
                )
            v.image(self.images[key], f"images.{key}")

    # -- paths ---------------------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        """Directory relative paths are resolved against (the answers file's directory)."""
        return self.__dict__.get("_base_dir", Path.cwd())

    def set_base_dir(self, base: Path) -> None:
        self.__dict__["_base_dir"] = Path(base).resolve()

    def resolve(self, value: str) -> Path:
        """Resolve a path from the answers file (relative = relative to the answers file)."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def output_path(self) -> Path:
        return self.resolve(self.output_dir)
