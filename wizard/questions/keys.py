"""The questions about keys and protection: the KMS, volume encryption, rotation and backups."""

from __future__ import annotations

from wizard.questions.model import Choice, Question
from wizard.questions.rules import absolute, all_, default_kms, default_volume_backend, is_, vol
from wizard.volumes.luks_device import NOT_OFFERED as LUKS_DEVICE_NOT_OFFERED

KEY_QUESTIONS: tuple[Question, ...] = (
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
        default=default_kms,
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
        visible_if=is_("kms.backend", "vault"),
    ),
    Question(
        "kms.vault.address",
        "kms",
        "Vault / OpenBao address",
        "The API address, e.g. https://vault.example.org:8200.",
        kind="text",
        visible_if=is_("kms.backend", "vault"),
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
        visible_if=all_(is_("kms.backend", "vault"), is_("kms.vault.deploy", False), is_("kms.vault.token_file", None)),
    ),
    Question(
        "kms.vault.approle_secret_id_file",
        "kms",
        "AppRole secret_id file (optional)",
        "The file holding the AppRole secret_id (both files are needed for AppRole).",
        kind="text",
        optional=True,
        visible_if=all_(is_("kms.backend", "vault"), is_("kms.vault.deploy", False), is_("kms.vault.token_file", None)),
    ),
    Question(
        "kms.vault.namespace",
        "kms",
        "Vault namespace (optional)",
        "Only for Vault Enterprise / HCP Vault namespaces; leave empty otherwise.",
        kind="text",
        optional=True,
        visible_if=all_(is_("kms.backend", "vault"), is_("kms.vault.deploy", False)),
    ),
    Question(
        "kms.vault.transit_mount",
        "kms",
        "Transit mount",
        "The path of the transit secrets engine that holds the master key.",
        kind="text",
        visible_if=is_("kms.backend", "vault"),
    ),
    Question(
        "kms.aws.region",
        "kms",
        "AWS region",
        "Region of the KMS key.",
        kind="text",
        visible_if=is_("kms.backend", "aws"),
    ),
    Question(
        "kms.aws.key_id",
        "kms",
        "AWS key id or alias (optional)",
        "An existing key (id, ARN or alias/NAME). Empty = alias/<master key name>, which must exist: "
        "stackseal does not create AWS keys.",
        kind="text",
        optional=True,
        visible_if=is_("kms.backend", "aws"),
    ),
    Question(
        "kms.aws.profile",
        "kms",
        "AWS profile (optional)",
        "A named profile from your AWS config; empty = the default credential chain.",
        kind="text",
        optional=True,
        visible_if=is_("kms.backend", "aws"),
    ),
    Question(
        "kms.aws.endpoint_url",
        "kms",
        "AWS KMS endpoint (optional)",
        "Only for a VPC endpoint or a local test server.",
        kind="text",
        optional=True,
        visible_if=is_("kms.backend", "aws"),
    ),
    Question(
        "kms.azure.vault_url",
        "kms",
        "Azure Key Vault URL",
        "e.g. https://NAME.vault.azure.net",
        kind="text",
        optional=True,
        visible_if=is_("kms.backend", "azure"),
    ),
    Question(
        "kms.azure.tenant_id",
        "kms",
        "Azure tenant id",
        "Directory (tenant) id of the service principal.",
        kind="text",
        optional=True,
        visible_if=is_("kms.backend", "azure"),
    ),
    Question(
        "kms.azure.client_id",
        "kms",
        "Azure client id",
        "Application (client) id of the service principal.",
        kind="text",
        optional=True,
        visible_if=is_("kms.backend", "azure"),
    ),
    Question(
        "kms.azure.client_secret_file",
        "kms",
        "Azure client secret file",
        "File holding the client secret (never copied into stackseal.yaml).",
        kind="text",
        optional=True,
        visible_if=is_("kms.backend", "azure"),
    ),
    Question(
        "kms.gcp.project",
        "kms",
        "GCP project id",
        "The project that holds the key ring.",
        kind="text",
        optional=True,
        visible_if=is_("kms.backend", "gcp"),
    ),
    Question(
        "kms.gcp.location",
        "kms",
        "GCP location",
        "Key ring location, e.g. global or europe-west1.",
        kind="text",
        visible_if=is_("kms.backend", "gcp"),
    ),
    Question(
        "kms.gcp.key_ring",
        "kms",
        "GCP key ring",
        "The key ring that holds the key (must exist already).",
        kind="text",
        visible_if=is_("kms.backend", "gcp"),
    ),
    Question(
        "kms.gcp.credentials_file",
        "kms",
        "GCP service-account key file (optional)",
        "Empty = application default credentials.",
        kind="text",
        optional=True,
        visible_if=is_("kms.backend", "gcp"),
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
                unavailable=vol("gocryptfs"),
            ),
            Choice(
                "fscrypt",
                "fscrypt",
                "kernel ext4 encryption in loop images; measure speed",
                unavailable=vol("fscrypt"),
            ),
            Choice(
                "luks-file", "LUKS file", "a LUKS2 container file per volume (dm-crypt)", unavailable=vol("luks-file")
            ),
            Choice(
                "luks-device",
                "LUKS device",
                "formats a whole block device (destroys its content)",
                unavailable=lambda _facts: LUKS_DEVICE_NOT_OFFERED,
            ),
            Choice("host-fde", "Host disk encryption", "the host disk is already encrypted (you say so)"),
            Choice("none", "None", "data stays readable on disk (not recommended)"),
        ),
        default=default_volume_backend,
    ),
    Question(
        "volumes.root",
        "volumes",
        "Volume root",
        "Absolute host path where encrypted volumes and their mount points live.",
        kind="text",
        check=absolute,
        placeholder="/srv/stackseal",
    ),
    Question(
        "volumes.size_mb",
        "volumes",
        "Size of each LUKS container (MB)",
        "Space reserved per volume inside its LUKS file.",
        kind="int",
        visible_if=is_("volumes.backend", "luks-file"),
    ),
    Question(
        "volumes.device",
        "volumes",
        "Block device to format",
        "Everything on this device is destroyed when it is formatted (apply asks again).",
        kind="text",
        optional=True,
        visible_if=is_("volumes.backend", "luks-device"),
        placeholder="/dev/sdb",
    ),
    # -- policy ------------------------------------------------------------------------------------
    Question(
        "rotation.interval_days",
        "policy",
        "Key rotation interval (days)",
        "How often the KMS key and the data keys should be rotated. 'stackseal verify' and the dashboard "
        "warn when a key is older; 'stackseal rotate kms-key' / 'rotate volume-keys' rotate them. 90 days "
        "is a common compliance baseline.",
        kind="int",
    ),
    Question(
        "backups.dir",
        "policy",
        "Backup directory",
        "Where 'stackseal backup create' writes its age-encrypted backups (Neo4j dump, buckets, key "
        "escrow) and their manifests. Put it on another disk or copy it off the host. Relative to the "
        "answers file.",
        kind="text",
    ),
    Question(
        "backups.keep",
        "policy",
        "Backups to keep",
        "How many backups 'stackseal backup create' keeps; older ones are removed once a new one is published in full.",
        kind="int",
    ),
)
