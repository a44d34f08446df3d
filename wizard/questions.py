"""Every question of the wizard, declared once, as data.

Why: the Textual screens (``screens/``) and the plain prompts (``stackseal wizard --plain``)
render the same declarations, so a question's wording, its trade-off explanation, its choices
and their consequences, its default and its validation exist in exactly one place. This follows
harlequin's ``options.py``: one declaration, rendered several ways; the questionary rendering
(:meth:`Question.to_questionary`) imports questionary lazily, and the Textual rendering lives in
``screens/widgets/`` because the core package must never import Textual.

Each question's ``id`` is a dotted key of the answers file (:func:`wizard.plan.get_path` /
:func:`wizard.plan.set_path`), so answering a question *is* setting that key, validated by the
same code that validates a hand-written ``stackseal.yaml``.

A choice is offered disabled, with the reason beside it, when this host cannot run it
(detection) or when it cannot work with the answers given so far (:mod:`wizard.compat`):
never offer what cannot work without saying why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from wizard import compat
from wizard.detect import Facts, volume_backend_unavailable
from wizard.errors import UsageError
from wizard.plan import Plan, get_path, set_path

Kind = Literal["choice", "text", "int", "bool", "list"]
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Choice:
    """One option: its value in the answers file, a short label and its one-line consequence."""

    value: Any
    label: str
    consequence: str
    #: Why this host cannot run it (detection), or None.
    unavailable: Callable[[Facts], str | None] | None = None


@dataclass(frozen=True)
class Page:
    """A group of questions shown together (one Textual screen, one section of --plain)."""

    id: str
    title: str
    intro: str


@dataclass(frozen=True)
class Question:
    """One question; ``id`` is the answers-file key it sets."""

    id: str
    page: str
    title: str
    help: str
    kind: Kind = "choice"
    choices: tuple[Choice, ...] = ()
    #: Default derived from detected facts (None = keep the answers file's default).
    default: Callable[[Facts], Any] | None = None
    #: Shown only when this returns True for the answers so far.
    visible_if: Callable[[Plan], bool] | None = None
    #: Empty text means "not set" (None) instead of an error.
    optional: bool = False
    placeholder: str = ""
    #: Extra validation beyond the answers-file schema: returns an error message or None.
    check: Callable[[Any], str | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # -- state -------------------------------------------------------------------------------
    def visible(self, plan: Plan) -> bool:
        return self.visible_if is None or bool(self.visible_if(plan))

    def value(self, plan: Plan) -> Any:
        return get_path(plan, self.id)

    def choice_for(self, value: Any) -> Choice | None:
        return next((c for c in self.choices if c.value == value), None)

    def disabled_reason(self, choice: Choice, plan: Plan, facts: Facts) -> str | None:
        """Why ``choice`` cannot be chosen here and now, or None if it can."""
        if choice.unavailable is not None:
            reason = choice.unavailable(facts)
            if reason:
                return reason
        try:
            candidate = set_path(plan, self.id, choice.value)
        except UsageError as err:
            return str(err).split(": ", 1)[-1]
        for problem in compat.errors(candidate):
            if problem.path == self.id:
                return problem.message
        return None

    # -- text <-> value --------------------------------------------------------------------
    def format(self, value: Any) -> str:
        """How a value is shown in a text field."""
        if value is None:
            return ""
        if self.kind == "list":
            return ", ".join(str(v) for v in value)
        if self.kind == "bool":
            return "yes" if value else "no"
        return str(value)

    def parse(self, text: str) -> Any:
        """Turn what the user typed into the answers-file value (UsageError names the key)."""
        text = text.strip()
        if self.kind == "choice":
            for choice in self.choices:
                if text == str(choice.value):
                    return choice.value
            raise UsageError(f"{self.id}: '{text}' is not one of {', '.join(str(c.value) for c in self.choices)}")
        if text == "" and self.optional:
            return None
        if text == "":
            raise UsageError(f"{self.id}: a value is needed ({self.title})")
        if self.kind == "int":
            try:
                return int(text)
            except ValueError:
                raise UsageError(f"{self.id}: '{text}' is not a whole number") from None
        if self.kind == "list":
            return [part.strip() for part in text.replace(" ", ",").split(",") if part.strip()]
        if self.kind == "bool":
            lowered = text.lower()
            if lowered in ("y", "yes", "true", "1", "on"):
                return True
            if lowered in ("n", "no", "false", "0", "off"):
                return False
            raise UsageError(f"{self.id}: answer yes or no")
        return text

    def apply(self, plan: Plan, value: Any) -> Plan:
        """A new plan with this answer set; UsageError (one line naming the key) if invalid."""
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise UsageError(f"{self.id}: {problem}")
        if self.kind == "choice":
            choice = self.choice_for(value)
            if choice is None:
                raise UsageError(f"{self.id}: {value!r} is not one of {', '.join(str(c.value) for c in self.choices)}")
        return set_path(plan, self.id, value)

    def validate_text(self, plan: Plan, text: str) -> str | None:
        """The error for typed ``text`` (None if fine): what text fields show inline."""
        try:
            self.apply(plan, self.parse(text))
        except UsageError as err:
            return str(err)
        return None

    # -- renderings ---------------------------------------------------------------------------
    def choice_title(self, choice: Choice, reason: str | None = None) -> str:
        """One line: label, consequence, and why it is disabled when it is."""
        if reason:
            return f"{choice.label} — unavailable: {reason}"
        return f"{choice.label} — {choice.consequence}"

    def to_questionary(self, plan: Plan, facts: Facts, **prompt_kwargs: Any) -> Any:
        """This question as a questionary prompt (questionary is imported here only)."""
        import questionary

        message = f"{self.title}"
        current = self.value(plan)
        if self.kind == "choice":
            choices = []
            default_choice = None
            for choice in self.choices:
                reason = self.disabled_reason(choice, plan, facts)
                item = questionary.Choice(
                    title=self.choice_title(choice, reason) if not reason else choice.label,
                    value=choice.value,
                    disabled=reason,
                )
                choices.append(item)
                if choice.value == current and not reason:
                    default_choice = item
            if default_choice is None:
                default_choice = next((c for c in choices if not c.disabled), None)
            return questionary.select(
                message, choices=choices, default=default_choice, instruction="(arrows, Enter)", **prompt_kwargs
            )
        if self.kind == "bool":
            return questionary.confirm(message, default=bool(current), **prompt_kwargs)

        def validate(text: str) -> bool | str:
            error = self.validate_text(plan, text)
            return True if error is None else error

        return questionary.text(message, default=self.format(current), validate=validate, **prompt_kwargs)


# ---------------------------------------------------------------------------------------------
# the declarations
# ---------------------------------------------------------------------------------------------

PAGES: tuple[Page, ...] = (
    Page(
        "project",
        "Project",
        "stackseal writes a Docker Compose stack (Neo4j, an S3 object store, optional OpenBao) whose data is "
        "encrypted at rest, and starts it. Nothing changes until you review and confirm: cancelling at any "
        "point leaves no files.",
    ),
    Page(
        "neo4j",
        "Neo4j",
        "No Neo4j edition encrypts its store by itself, Enterprise included: what protects the graph at rest "
        "is the encrypted volume under /data and /logs (next pages). The edition decides licensing and backups.",
    ),
    Page(
        "object_store",
        "Object store",
        "Objects are encrypted by the store itself (server-side encryption): with the store's own key "
        "(SSE-S3), with keys from your KMS (SSE-KMS) or with keys your clients send (SSE-C). The store's "
        "volume is encrypted too.",
    ),
    Page(
        "kms",
        "Key management",
        "The KMS holds the key that wraps every key stackseal keeps: volume keys, credentials and object "
        "keys are stored only wrapped (secrets/<name>.wrapped.json), and unwrapped into a tmpfs runtime "
        "directory only while the stack is unlocked ('stackseal unlock' / 'lock'). Render and apply need the "
        "KMS; 'Test connection' checks the answers now.",
    ),
    Page(
        "volumes",
        "Volume encryption",
        "The host directories behind the Docker volumes (Neo4j store, transaction logs, logs, object data) are "
        "encrypted on the host, each with its own key, stored wrapped by the KMS and unwrapped into tmpfs only "
        "while the stack is unlocked. Only backends this host can run are selectable; the others say why.",
    ),
    Page(
        "policy",
        "Rotation and backups",
        "How often keys should rotate and where backups will go. The runbook uses both; they can be changed "
        "later in stackseal.yaml.",
    ),
)


def _is(key: str, *values: Any) -> Callable[[Plan], bool]:
    return lambda plan: get_path(plan, key) in values


def _all(*preds: Callable[[Plan], bool]) -> Callable[[Plan], bool]:
    return lambda plan: all(p(plan) for p in preds)


def _vol(backend: str) -> Callable[[Facts], str | None]:
    return lambda facts: volume_backend_unavailable(backend, facts)


def _default_project(facts: Facts) -> str | None:
    """Adopt the one Compose project running here (several: let the user choose)."""
    projects = facts.data("stack", "projects") or {}
    if len(projects) == 1:
        name = next(iter(projects))
        return name if _PROJECT_NAME.match(name) else None
    return None


def _default_edition(facts: Facts) -> str | None:
    edition = facts.data("neo4j", "edition")
    return edition if edition in ("community", "enterprise") else None


def _default_store(facts: Facts) -> str | None:
    return facts.data("object_store", "kind")


def _default_kms(facts: Facts) -> str | None:
    fact = facts.get("vault")
    if fact is not None and fact.ok and not fact.data.get("sealed", True):
        return "vault"
    return None


def _default_volume_backend(facts: Facts) -> str | None:
    for backend in ("gocryptfs", "fscrypt", "luks-file"):
        needed = {
            "gocryptfs": ("tool.gocryptfs", "fuse"),
            "fscrypt": ("tool.fscrypt", "fscrypt_kernel", "root"),
            "luks-file": ("tool.cryptsetup", "device_mapper", "root"),
        }[backend]
        if all(facts.ok(key) is True for key in needed):
            return backend
    if all(key in facts for key in ("tool.gocryptfs", "fuse", "tool.fscrypt", "tool.cryptsetup", "device_mapper")):
        return "host-fde"
    return None


def _absolute(value: Any) -> str | None:
    return None if value is None or str(value).startswith("/") else "must be an absolute path (starting with /)"


QUESTIONS: tuple[Question, ...] = (
    # -- project --------------------------------------------------------------------------------
    Question(
        "project",
        "project",
        "Compose project name",
        "Names the Docker Compose project, its containers and its volumes. Use the name of a running "
        "project to adopt it.",
        kind="text",
        placeholder="stackseal",
        default=_default_project,
    ),
    Question(
        "output_dir",
        "project",
        "Output directory",
        "Where the compose file, configs, runbook and generated secrets are written (relative to the "
        "answers file). Secrets go to its secrets/ subdirectory with mode 0400.",
        kind="text",
        placeholder="./stack",
    ),
    # -- neo4j ---------------------------------------------------------------------------------
    Question(
        "neo4j.edition",
        "neo4j",
        "Neo4j edition",
        "Neither edition encrypts data at rest by itself: stackseal encrypts the volumes under Neo4j. "
        "Enterprise adds online backups (neo4j-admin database backup) so backups need no downtime, "
        "and needs a commercial license. Community backups are dumps taken with the database stopped.",
        choices=(
            Choice("community", "Community", "free (GPLv3); backups stop the database for a dump"),
            Choice("enterprise", "Enterprise", "needs a license; online backups without downtime"),
        ),
        default=_default_edition,
    ),
    Question(
        "neo4j.accept_license_agreement",
        "neo4j",
        "Accept the Neo4j Enterprise license",
        "The Enterprise image refuses to start unless NEO4J_ACCEPT_LICENSE_AGREEMENT=yes. Answer yes only "
        "if you hold a Neo4j Enterprise license (or evaluate under its terms).",
        kind="bool",
        visible_if=_is("neo4j.edition", "enterprise"),
    ),
    Question(
        "neo4j.bolt_url",
        "neo4j",
        "Bolt URL",
        "Where stackseal reaches Neo4j: a running database to adopt, or the port the new stack publishes on 127.0.0.1.",
        kind="text",
        placeholder="bolt://127.0.0.1:7687",
    ),
    Question(
        "neo4j.http_port",
        "neo4j",
        "Neo4j Browser port (optional)",
        "Host port for Neo4j Browser and the HTTP API, bound to 127.0.0.1 only. Leave empty to publish "
        "no HTTP port (Bolt is enough for applications).",
        kind="int",
        optional=True,
        placeholder="empty = none",
    ),
    Question(
        "neo4j.auth_file",
        "neo4j",
        "Existing Neo4j credentials file (optional)",
        "A file holding 'neo4j/PASSWORD' for a database that already exists. Leave empty to have a "
        "password generated into secrets/. The password itself is never stored in stackseal.yaml.",
        kind="text",
        optional=True,
        placeholder="empty = generate",
    ),
    # -- object store --------------------------------------------------------------------------
    Question(
        "object_store.kind",
        "object_store",
        "S3 object store",
        "SeaweedFS is maintained (Apache-2.0) and supports SSE-S3, SSE-KMS and SSE-C. MinIO's community edition is "
        "unmaintained since 2026-02 and its images left Docker Hub: stackseal pins the last published "
        "image; point images.minio to your own registry if you keep it.",
        choices=(
            Choice("seaweedfs", "SeaweedFS", "maintained, Apache-2.0; SSE-S3, SSE-KMS and SSE-C"),
            Choice("minio", "MinIO", "unmaintained upstream; the last published image is pinned"),
        ),
        default=_default_store,
    ),
    Question(
        "object_store.sse",
        "object_store",
        "Server-side encryption mode",
        "SSE-S3: the store encrypts every object with keys it manages (a key stackseal generates and "
        "stores wrapped by the KMS, or KES for MinIO with a real KMS) — transparent to clients. SSE-KMS: object keys "
        "come from your KMS (MinIO through KES, deprecated upstream but working; SeaweedFS with Vault/"
        "OpenBao, AWS or GCP). SSE-C: the client sends its own key with every request; the store never "
        "keeps it, so you hold and must never lose the key, and MinIO needs TLS.",
        choices=(
            Choice("sse-s3", "SSE-S3", "transparent to clients; the store manages the keys"),
            Choice("sse-kms", "SSE-KMS", "object keys from your KMS (not with local keys)"),
            Choice("sse-c", "SSE-C", "clients send their own key with every request (MinIO: TLS)"),
        ),
    ),
    Question(
        "object_store.kes",
        "object_store",
        "Run MinIO KES for SSE-KMS",
        "KES connects MinIO to the KMS. It is deprecated upstream (last tag 2025-03) but works with the "
        "last images. Without KES, MinIO cannot do SSE-KMS.",
        kind="bool",
        visible_if=_all(_is("object_store.kind", "minio"), _is("object_store.sse", "sse-kms")),
    ),
    Question(
        "object_store.endpoint",
        "object_store",
        "S3 endpoint",
        "Where stackseal reaches the S3 API: a running store to adopt, or the port the new stack "
        "publishes on 127.0.0.1.",
        kind="text",
        placeholder="http://127.0.0.1:9000",
    ),
    Question(
        "object_store.buckets",
        "object_store",
        "Buckets",
        "Buckets created with default encryption (comma-separated). Setting a bucket's default encryption "
        "never re-encrypts objects already in it, and stackseal does not rewrite them.",
        kind="list",
        placeholder="schemas, instances, cmf",
    ),
    Question(
        "object_store.access_key_file",
        "object_store",
        "Existing S3 access key file (optional)",
        "For a store that already exists: the file holding its access key. Leave both empty to have "
        "credentials generated into secrets/. Keys are never copied into stackseal.yaml.",
        kind="text",
        optional=True,
        placeholder="empty = generate",
    ),
    Question(
        "object_store.secret_key_file",
        "object_store",
        "Existing S3 secret key file (optional)",
        "The file holding the matching secret key.",
        kind="text",
        optional=True,
        placeholder="empty = generate",
    ),
    # -- kms -------------------------------------------------------------------------------------
    Question(
        "kms.backend",
        "kms",
        "Key management service",
        "Where the wrapping key lives. A real KMS keeps it off this host and audits its use; 'local' keeps "
        "every key in plaintext files beside the stack (development only) unless kms.passphrase_file is set.",
        choices=(
            Choice("vault", "Vault / OpenBao", "transit engine holds the key (yours, or one in the stack)"),
            Choice("aws", "AWS KMS", "key in AWS; credentials from your AWS profile or environment"),
            Choice("azure", "Azure Key Vault", "key in Azure; service-principal credentials"),
            Choice("gcp", "Google Cloud KMS", "key in a GCP key ring; service-account credentials"),
            Choice("local", "Local files", "development only: plaintext 0400 files (or passphrase-wrapped)"),
        ),
        default=_default_kms,
    ),
    Question(
        "kms.key_name",
        "kms",
        "Master key name",
        "Name of the key-encryption key in the KMS. With Vault/OpenBao, apply creates it (and the transit "
        "mount) if missing; with AWS, Azure and GCP it must exist already.",
        kind="text",
        placeholder="stackseal",
    ),
    Question(
        "kms.vault.deploy",
        "kms",
        "Run OpenBao inside the stack",
        "Yes: an OpenBao server runs as a service of the stack (development and tests only: it cannot wrap "
        "the keys it needs to start, so keys stay plaintext files). No: use your existing Vault or OpenBao "
        "at the address below (every key stored wrapped by it).",
        kind="bool",
        visible_if=_is("kms.backend", "vault"),
    ),
    Question(
        "kms.vault.address",
        "kms",
        "Vault / OpenBao address",
        "The API address, e.g. https://vault.example.org:8200.",
        kind="text",
        visible_if=_is("kms.backend", "vault"),
        placeholder="http://127.0.0.1:8200",
    ),
    Question(
        "kms.vault.token_file",
        "kms",
        "Vault token file (optional)",
        "A file holding a token with access to the transit mount. Leave empty to use AppRole files or "
        "VAULT_TOKEN at run time. The token is never copied into stackseal.yaml.",
        kind="text",
        optional=True,
        visible_if=lambda plan: (
            plan.kms.backend == "vault" and (not plan.kms.vault.deploy or plan.kms.vault.token_file is not None)
        ),
        placeholder="empty = AppRole or VAULT_TOKEN",
    ),
    Question(
        "kms.vault.approle_role_id_file",
        "kms",
        "AppRole role_id file (optional)",
        "AppRole login instead of a token: the file holding the role_id.",
        kind="text",
        optional=True,
        visible_if=_all(_is("kms.backend", "vault"), _is("kms.vault.deploy", False), _is("kms.vault.token_file", None)),
    ),
    Question(
        "kms.vault.approle_secret_id_file",
        "kms",
        "AppRole secret_id file (optional)",
        "The file holding the AppRole secret_id (both files are needed for AppRole).",
        kind="text",
        optional=True,
        visible_if=_all(_is("kms.backend", "vault"), _is("kms.vault.deploy", False), _is("kms.vault.token_file", None)),
    ),
    Question(
        "kms.vault.namespace",
        "kms",
        "Vault namespace (optional)",
        "Only for Vault Enterprise / HCP Vault namespaces; leave empty otherwise.",
        kind="text",
        optional=True,
        visible_if=_all(_is("kms.backend", "vault"), _is("kms.vault.deploy", False)),
    ),
    Question(
        "kms.vault.transit_mount",
        "kms",
        "Transit mount",
        "The path of the transit secrets engine that holds the master key.",
        kind="text",
        visible_if=_is("kms.backend", "vault"),
    ),
    Question(
        "kms.aws.region",
        "kms",
        "AWS region",
        "Region of the KMS key.",
        kind="text",
        visible_if=_is("kms.backend", "aws"),
    ),
    Question(
        "kms.aws.key_id",
        "kms",
        "AWS key id or alias (optional)",
        "An existing key (id, ARN or alias/NAME). Empty = alias/<master key name>, which must exist: "
        "stackseal does not create AWS keys.",
        kind="text",
        optional=True,
        visible_if=_is("kms.backend", "aws"),
    ),
    Question(
        "kms.aws.profile",
        "kms",
        "AWS profile (optional)",
        "A named profile from your AWS config; empty = the default credential chain.",
        kind="text",
        optional=True,
        visible_if=_is("kms.backend", "aws"),
    ),
    Question(
        "kms.aws.endpoint_url",
        "kms",
        "AWS KMS endpoint (optional)",
        "Only for a VPC endpoint or a local test server.",
        kind="text",
        optional=True,
        visible_if=_is("kms.backend", "aws"),
    ),
    Question(
        "kms.azure.vault_url",
        "kms",
        "Azure Key Vault URL",
        "e.g. https://NAME.vault.azure.net",
        kind="text",
        optional=True,
        visible_if=_is("kms.backend", "azure"),
    ),
    Question(
        "kms.azure.tenant_id",
        "kms",
        "Azure tenant id",
        "Directory (tenant) id of the service principal.",
        kind="text",
        optional=True,
        visible_if=_is("kms.backend", "azure"),
    ),
    Question(
        "kms.azure.client_id",
        "kms",
        "Azure client id",
        "Application (client) id of the service principal.",
        kind="text",
        optional=True,
        visible_if=_is("kms.backend", "azure"),
    ),
    Question(
        "kms.azure.client_secret_file",
        "kms",
        "Azure client secret file",
        "File holding the client secret (never copied into stackseal.yaml).",
        kind="text",
        optional=True,
        visible_if=_is("kms.backend", "azure"),
    ),
    Question(
        "kms.gcp.project",
        "kms",
        "GCP project id",
        "The project that holds the key ring.",
        kind="text",
        optional=True,
        visible_if=_is("kms.backend", "gcp"),
    ),
    Question(
        "kms.gcp.location",
        "kms",
        "GCP location",
        "Key ring location, e.g. global or europe-west1.",
        kind="text",
        visible_if=_is("kms.backend", "gcp"),
    ),
    Question(
        "kms.gcp.key_ring",
        "kms",
        "GCP key ring",
        "The key ring that holds the key (must exist already).",
        kind="text",
        visible_if=_is("kms.backend", "gcp"),
    ),
    Question(
        "kms.gcp.credentials_file",
        "kms",
        "GCP service-account key file (optional)",
        "Empty = application default credentials.",
        kind="text",
        optional=True,
        visible_if=_is("kms.backend", "gcp"),
    ),
    # -- volumes ---------------------------------------------------------------------------------
    Question(
        "volumes.backend",
        "volumes",
        "Volume encryption",
        "Encrypts Neo4j's store, transaction logs and logs, and the object store's files on the host. "
        "Protects against a stolen disk, a discarded image or a copied backup of the host; does not "
        "protect against someone with root on the running host, where the volumes are unlocked.",
        choices=(
            Choice(
                "gocryptfs",
                "gocryptfs",
                "per-file encryption through FUSE; no kernel support needed",
                unavailable=_vol("gocryptfs"),
            ),
            Choice(
                "fscrypt",
                "fscrypt",
                "kernel ext4 encryption in loop images; measure speed",
                unavailable=_vol("fscrypt"),
            ),
            Choice(
                "luks-file", "LUKS file", "a LUKS2 container file per volume (dm-crypt)", unavailable=_vol("luks-file")
            ),
            Choice(
                "luks-device",
                "LUKS device",
                "formats a whole block device (destroys its content)",
                unavailable=_vol("luks-device"),
            ),
            Choice("host-fde", "Host disk encryption", "the host disk is already encrypted (you say so)"),
            Choice("none", "None", "data stays readable on disk (not recommended)"),
        ),
        default=_default_volume_backend,
    ),
    Question(
        "volumes.root",
        "volumes",
        "Volume root",
        "Absolute host path where encrypted volumes and their mount points live.",
        kind="text",
        check=_absolute,
        placeholder="/srv/stackseal",
    ),
    Question(
        "volumes.size_mb",
        "volumes",
        "Size of each LUKS container (MB)",
        "Space reserved per volume inside its LUKS file.",
        kind="int",
        visible_if=_is("volumes.backend", "luks-file"),
    ),
    Question(
        "volumes.device",
        "volumes",
        "Block device to format",
        "Everything on this device is destroyed when it is formatted (apply asks again).",
        kind="text",
        optional=True,
        visible_if=_is("volumes.backend", "luks-device"),
        placeholder="/dev/sdb",
    ),
    # -- policy ------------------------------------------------------------------------------------
    Question(
        "rotation.interval_days",
        "policy",
        "Key rotation interval (days)",
        "How often the KMS key and the data keys should be rotated. The runbook states it and gives the "
        "commands (rotation is done by hand from the runbook today). 90 days is a common compliance "
        "baseline.",
        kind="int",
    ),
    Question(
        "backups.dir",
        "policy",
        "Backup directory",
        "Reserved for stackseal's encrypted backups (planned; nothing writes there today). Until then the "
        "runbook shows how to take Neo4j dumps and object copies by hand. Relative to the answers file.",
        kind="text",
    ),
    Question(
        "backups.keep",
        "policy",
        "Backups to keep",
        "How many backups the planned backup command will keep (the runbook states it).",
        kind="int",
    ),
)

_BY_ID = {q.id: q for q in QUESTIONS}


def question(qid: str) -> Question:
    return _BY_ID[qid]


def page(page_id: str) -> Page:
    return next(p for p in PAGES if p.id == page_id)


def questions_for(page_id: str) -> list[Question]:
    return [q for q in QUESTIONS if q.page == page_id]


def visible_questions(plan: Plan, page_id: str | None = None) -> list[Question]:
    return [q for q in QUESTIONS if (page_id is None or q.page == page_id) and q.visible(plan)]


def apply_defaults(plan: Plan, facts: Facts, keep: set[str] | frozenset[str] = frozenset()) -> Plan:
    """Set every fact-derived default, except for questions in ``keep`` (answered or pre-filled).

    A default that this host cannot run (a disabled choice) is never set.
    """
    for q in QUESTIONS:
        if q.default is None or q.id in keep:
            continue
        value = q.default(facts)
        if value is None or value == q.value(plan):
            continue
        choice = q.choice_for(value)
        if q.kind == "choice" and (choice is None or q.disabled_reason(choice, plan, facts)):
            continue
        plan = q.apply(plan, value)
    return plan


def page_problems(plan: Plan, page_id: str, facts: Facts) -> list[str]:
    """What stops the user from leaving ``page_id`` (impossible combinations, disabled choices)."""
    ids = {q.id for q in visible_questions(plan, page_id)}
    prefixes = tuple(q.id for q in questions_for(page_id))
    problems = []
    for q in visible_questions(plan, page_id):
        if q.kind == "choice":
            choice = q.choice_for(q.value(plan))
            reason = choice and q.disabled_reason(choice, plan, facts)
            if reason:
                problems.append(f"{q.title}: {choice.label} is unavailable: {reason}")
    for problem in compat.errors(plan):
        if problem.path in ids or problem.path.startswith(prefixes) or problem.path.split(".")[0] == page_id:
            message = f"{problem.path}: {problem.message}"
            if message not in problems:
                problems.append(message)
    return problems
