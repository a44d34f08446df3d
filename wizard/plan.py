"""The answers file (``stackseal.yaml``): the single source of truth of what the user chose.

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
grey out choices with the same reasons that ``render`` refuses them with.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from wizard.errors import UsageError
from wizard.fsutil import atomic_write

CURRENT_VERSION = 1

Edition = Literal["community", "enterprise"]
StoreKind = Literal["minio", "seaweedfs"]
SseMode = Literal["sse-s3", "sse-kms", "sse-c"]
KmsBackend = Literal["local", "vault", "aws", "azure", "gcp"]
VolumeBackend = Literal["luks-file", "luks-device", "gocryptfs", "fscrypt", "host-fde", "none"]

#: Image names that ``images:`` may override (compose service images).
IMAGE_KEYS = ("neo4j", "minio", "seaweedfs", "kes", "openbao", "busybox")

_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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
        _refuse_url_credentials(self.bolt_url, "bolt_url", "neo4j.auth_file")
        if not self.bolt_url.startswith(("bolt://", "neo4j://", "bolt+s://", "neo4j+s://")):
            raise ValueError(f"bolt_url: '{self.bolt_url}' is not a Bolt URL (expected bolt://HOST:PORT)")
        _port_of(self.bolt_url, 7687, "bolt_url")
        if self.http_port is not None and not 1 <= self.http_port <= 65535:
            raise ValueError(f"http_port: {self.http_port} is not a TCP port (1-65535)")


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

    def __post_init__(self) -> None:
        _refuse_url_credentials(self.endpoint, "endpoint", "object_store.access_key_file and secret_key_file")
        if not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint: '{self.endpoint}' is not an http(s) URL")
        _port_of(self.endpoint, 443 if self.endpoint.startswith("https") else 80, "endpoint")
        if not self.buckets:
            raise ValueError("buckets: at least one bucket is needed")
        for name in self.buckets:
            if not _BUCKET_RE.match(name) or ".." in name or re.match(r"^\d+\.\d+\.\d+\.\d+$", name):
                raise ValueError(
                    f"buckets: '{name}' is not a valid S3 bucket name "
                    "(3-63 chars of a-z, 0-9, '.', '-', starting and ending with a letter or digit)"
                )
        if len(set(self.buckets)) != len(self.buckets):
            raise ValueError("buckets: bucket names must be unique")
        if not _KEY_NAME_RE.match(self.key_name):
            raise ValueError(f"key_name: '{self.key_name}' may only hold letters, digits, '_', '.', '-'")


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
        _refuse_url_credentials(self.address, "address", "kms.vault.token_file")
        if not self.address.startswith(("http://", "https://")):
            raise ValueError(f"address: '{self.address}' is not an http(s) URL")
        if not 1 <= self.key_threshold <= self.key_shares <= 10:
            raise ValueError(
                f"key_shares/key_threshold: {self.key_shares}/{self.key_threshold} must satisfy 1 <= threshold <= shares <= 10"
            )
        rec = self.recovery_recipient
        if rec is not None and rec != "passphrase" and not re.fullmatch(r"age1[02-9ac-hj-np-z]{58}", rec):
            raise ValueError("recovery_recipient: must be an age public key (age1...) or 'passphrase'")


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
        if self.endpoint_url:
            _refuse_url_credentials(self.endpoint_url, "endpoint_url", "the AWS credential chain (profile, role)")


class AzureAnswers(_Section):
    """Azure Key Vault."""

    vault_url: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_file: str | None = None


class GcpAnswers(_Section):
    """Google Cloud KMS."""

    project: str | None = None
    location: str = "global"
    key_ring: str = "stackseal"
    credentials_file: str | None = None


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
        if not _KEY_NAME_RE.match(self.key_name):
            raise ValueError(f"key_name: '{self.key_name}' may only hold letters, digits, '_', '.', '-'")
        if self.runtime_dir is not None and (
            not self.runtime_dir.startswith("/") or any(ch.isspace() or not ch.isprintable() for ch in self.runtime_dir)
        ):
            raise ValueError(f"runtime_dir: {self.runtime_dir!r} must be an absolute path without spaces")


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
        if not self.root.startswith("/"):
            raise ValueError(
                f"root: '{self.root}' is relative; volume root must be an absolute host path such as /srv/stackseal"
            )
        if self.size_mb < 64:
            raise ValueError(f"size_mb: {self.size_mb} MB is too small; use at least 64")
        if self.device is not None and not self.device.startswith("/dev/"):
            raise ValueError(f"device: '{self.device}' is not a block device path (/dev/...)")


class RotationAnswers(_Section):
    """Key rotation policy."""

    interval_days: int = 90

    def __post_init__(self) -> None:
        if not 1 <= self.interval_days <= 3650:
            raise ValueError(f"interval_days: {self.interval_days} must be between 1 and 3650")


class BackupAnswers(_Section):
    """Encrypted backups."""

    dir: str = "./backups"
    keep: int = 7

    def __post_init__(self) -> None:
        if self.keep < 1:
            raise ValueError(f"keep: {self.keep} must be at least 1")


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
        if not _PROJECT_RE.match(self.project):
            raise ValueError(
                f"project: '{self.project}' must be lowercase letters, digits, '-' or '_', starting with a letter or digit"
            )
        for key in self.images:
            if key not in IMAGE_KEYS:
                raise ValueError(
                    f"images.{key}: unknown service '{key}'{_hint(key, IMAGE_KEYS)}; allowed: {', '.join(IMAGE_KEYS)}"
                )
            ref = self.images[key]
            if not ref or ref != ref.strip() or any(c.isspace() for c in ref):
                raise ValueError(
                    f"images.{key}: {ref!r} is not an image reference (e.g. registry.example.com/neo4j:5.26); "
                    "remove the key to use the default image"
                )

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


# ---------------------------------------------------------------------------------------
# loading, validation, saving
# ---------------------------------------------------------------------------------------


def _migrate_0_to_1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (pre-release drafts) called the volume backend ``volume_encryption``."""
    data = dict(data)
    if "volume_encryption" in data:
        data.setdefault("volumes", {})["backend"] = data.pop("volume_encryption")
    data["version"] = 1
    return data


#: ``MIGRATIONS[n]`` turns a version-n document into a version-(n+1) document.
MIGRATIONS: dict[int, typing.Callable[[dict[str, Any]], dict[str, Any]]] = {0: _migrate_0_to_1}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a parsed answers document up to :data:`CURRENT_VERSION`."""
    version = data.get("version")
    if version is None:
        raise UsageError(f"version: missing; add 'version: {CURRENT_VERSION}' at the top of the answers file")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UsageError(f"version: expected a whole number, got {version!r}")
    if version > CURRENT_VERSION:
        raise UsageError(
            f"version: {version} was written by a newer stackseal (this one reads up to {CURRENT_VERSION}); upgrade stackseal"
        )
    while version < CURRENT_VERSION:
        if version not in MIGRATIONS:
            raise UsageError(
                f"version: {version} is too old to migrate; recreate the answers file with 'stackseal wizard'"
            )
        data = MIGRATIONS[version](data)
        version = data["version"]
    return data


def _hint(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _struct_type(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct inside ``annotation`` (plain or Optional), if any."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _struct_type(arg)
            if found:
                return found
    return None


def _literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    return None


def _check_keys(data: Any, struct: type[msgspec.Struct], path: str) -> None:
    """Reject unknown keys and out-of-range enum values with a 'did you mean' hint.

    msgspec would reject them too, but its messages name neither the alternatives nor the
    nearest spelling; users fix typos faster with both.
    """
    if not isinstance(data, dict):
        where = path or "answers file"
        raise UsageError(f"{where}: expected a mapping of keys, got {_type_name(data)}")
    hints = typing.get_type_hints(struct, include_extras=False)
    fields = list(struct.__struct_fields__)
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else str(key)
        if key not in fields:
            raise UsageError(f"{key_path}: unknown key{_hint(key, fields)}; allowed here: {', '.join(fields)}")
        annotation = hints[key]
        choices = _literal_choices(annotation)
        if choices is not None and value not in choices:
            allowed = ", ".join(str(c) for c in choices)
            raise UsageError(f"{key_path}: {value!r} is not one of {allowed}{_hint(value, [str(c) for c in choices])}")
        nested = _struct_type(annotation)
        if nested is not None and value is not None:
            _check_keys(value, nested, key_path)


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true/false",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)


_MSGSPEC_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def _msgspec_error(err: msgspec.ValidationError) -> UsageError:
    """Turn ``Expected `int`, got `str` - at `$.volumes.size_mb``` into ``volumes.size_mb: ...``."""
    match = _MSGSPEC_PATH.match(str(err))
    message = match.group("msg") if match else str(err)
    path = (match.group("path") or "").lstrip(".") if match else ""
    path = re.sub(r"\[(\d+)\]", r"[\1]", path)
    message = message.replace("`", "")
    if message.startswith("Expected"):
        message = "expected" + message[len("Expected") :]
    field = re.match(r"^([a-z_]+(?:\.[\w-]+)?): (.*)$", message, re.S)
    if field:  # a __post_init__ check names its own field
        path = f"{path}.{field.group(1)}" if path else field.group(1)
        message = field.group(2)
    return UsageError(f"{path or 'answers file'}: {message}")


def plan_from_dict(data: Any, base_dir: Path | None = None) -> Plan:
    """Validate a parsed answers document and return the :class:`Plan` (raises UsageError)."""
    if not isinstance(data, dict):
        raise UsageError(f"answers file: expected a mapping of keys at the top level, got {_type_name(data)}")
    data = migrate(data)
    _check_keys(data, Plan, "")
    try:
        plan = msgspec.convert(data, Plan, strict=True)
    except msgspec.ValidationError as err:
        raise _msgspec_error(err) from None
    plan.set_base_dir(base_dir or Path.cwd())
    return plan


class _DuplicateKey(yaml.MarkedYAMLError):
    """A mapping names the same key twice (YAML parsers silently keep the last one)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys.

    Why: an answers file with ``sse: sse-c`` early and ``sse: sse-s3`` later would otherwise render
    whichever comes last, and the user would believe the first.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(
                    problem=f"duplicate key '{key}' (remove one of them)", problem_mark=key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_plan(path: str | Path) -> Plan:
    """Read, migrate and validate an answers file. Every failure is one line (UsageError)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such answers file; create one with 'stackseal wizard' or copy one from examples/"
        ) from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory; pass the answers file (e.g. {path}/stackseal.yaml)") from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied; make the answers file readable") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; the answers file must be YAML") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise UsageError(f"{path}:{where}: YAML syntax error: {problem}") from None
    if data is None:
        raise UsageError(f"{path}: the answers file is empty; add 'version: {CURRENT_VERSION}' and your choices")
    return plan_from_dict(data, base_dir=path.resolve().parent)


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as plain data in declaration order (what ``save_plan`` writes)."""
    return msgspec.to_builtins(plan)


def dump_plan(plan: Plan) -> str:
    """Deterministic YAML for a plan: the same answers always give the same bytes."""
    header = "# stackseal answers file: replay with 'stackseal apply -c THIS_FILE --yes'. No secrets in here.\n"
    return header + yaml.safe_dump(plan_to_dict(plan), sort_keys=False, default_flow_style=False, width=100)


def save_plan(plan: Plan, path: str | Path) -> None:
    """Write the answers file atomically (mode 0644: it holds no secret)."""
    atomic_write(Path(path), dump_plan(plan).encode("utf-8"), mode=0o644)


def default_plan() -> Plan:
    """A plan with every default (the wizard's starting point before detection)."""
    return Plan()


def json_schema() -> dict[str, Any]:
    """JSON schema of the answers file, generated from the declaration above."""
    schema = msgspec.json.schema(Plan)
    schema["title"] = "stackseal answers file"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def schema_text() -> str:
    """``docs/answers.schema.json`` exactly as committed (a test checks it is up to date).

    Regenerate with: ``.venv/bin/python -m wizard.plan > docs/answers.schema.json``.
    """
    import json

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def get_path(plan: Plan, dotted: str) -> Any:
    """Read an answer by dotted key (``neo4j.edition``): questions and screens address answers so."""
    node: Any = plan
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def set_path(plan: Plan, dotted: str, value: Any) -> Plan:
    """Return a new, validated plan with one answer changed (raises UsageError if invalid)."""
    data = plan_to_dict(plan)
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return plan_from_dict(data, base_dir=plan.base_dir)


def _refuse_url_credentials(url: str, field: str, instead: str) -> None:
    """Refuse ``scheme://user:password@host``; the message never repeats the URL.

    Why: URLs are not secrets here. They are echoed in the runbook, the compose file, plan output
    and error messages, so a password inside one would leak everywhere; credentials belong in
    the ``*_file`` keys, whose content stackseal never prints.
    """
    authority = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in authority:
        raise ValueError(
            f"{field}: credentials in the URL (user:password@) are not allowed, they would be "
            f"copied into the runbook, logs and messages; remove them and use {instead}"
        )


def _port_of(url: str, default: int, field: str = "url") -> int:
    rest = url.split("://", 1)[1].split("/", 1)[0]
    if ":" in rest.rsplit("]", 1)[-1]:
        port_text = rest.rsplit(":", 1)[1]
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{field}: '{url}' has an invalid port '{port_text}'")
        return int(port_text)
    return default


def url_port(url: str, default: int) -> int:
    """The port of an http(s)/bolt URL (used for the published host port)."""
    return _port_of(url, default)


if __name__ == "__main__":  # pragma: no cover - regenerates docs/answers.schema.json
    import sys

    sys.stdout.write(schema_text())
