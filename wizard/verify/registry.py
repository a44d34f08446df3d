"""Every check, declared once: id, store (the dashboard tile), title, remediation, references.

Why one table: the CLI, the reports and the dashboard iterate over this list; adding a check is
one entry here and one function, and docs/verification.md documents each id.
"""

from __future__ import annotations

from wizard.verify import checks_canary as canary
from wizard.verify import checks_keys as keys
from wizard.verify import checks_kms as kms
from wizard.verify import checks_neo4j as neo4j
from wizard.verify import checks_store as store
from wizard.verify import checks_volumes as volumes
from wizard.verify import refs
from wizard.verify.model import Check

CHECKS: tuple[Check, ...] = (
    Check(
        "neo4j.storage",
        "neo4j",
        "Neo4j /data, /logs, /import, /backups on encrypted storage",
        neo4j.check_storage,
        "run 'stackseal apply': it creates and unlocks the encrypted volumes, copies data found in plain directories "
        "or Docker volumes into them (adopt; a same-named plain volume needs --allow-destroy) and restarts neo4j on them",
        refs.AT_REST,
    ),
    Check(
        "neo4j.edition",
        "neo4j",
        "Neo4j reachable over Bolt: edition and version",
        neo4j.check_edition,
        "start the stack ('docker compose up -d') and check neo4j.bolt_url and the auth file",
        (refs.SC28,),
        timeout=30,
    ),
    Check(
        "store.access",
        "object-store",
        "Object store reachable, credentials accepted",
        store.check_access,
        "start the object store ('docker compose up -d') and check object_store.endpoint",
        (refs.SC28,),
        timeout=30,
    ),
    Check(
        "store.sse",
        "object-store",
        "Server-side encryption active (an object written now)",
        store.check_sse_active,
        "give the object store its key (SeaweedFS: the [s3.sse] kek in security.toml; MinIO: its KMS key file or KES) "
        "and restart it: 'stackseal apply'",
        refs.CRYPTO,
    ),
    Check(
        "store.kms",
        "object-store",
        "MinIO KMS key status (admin API)",
        store.check_kms_status,
        "MinIO started without its KMS: check the minio_kms_key secret or the KES settings, then restart MinIO",
        refs.KEYS,
    ),
    Check(
        "store.bucket_encryption",
        "object-store",
        "Default encryption on every planned bucket",
        store.check_bucket_encryption,
        "run 'stackseal apply' (the buckets step sets it), or: mc encrypt set sse-s3 ALIAS/BUCKET",
        refs.AT_REST,
    ),
    Check(
        "store.unencrypted_objects",
        "object-store",
        "No unencrypted objects in the planned buckets",
        store.check_unencrypted_objects,
        "re-encrypt the existing objects in place: stackseal migrate objects -c FILE (server-side copy with SSE, "
        "verified, resumable); a bucket default only applies to new objects",
        refs.AT_REST,
        timeout=600,
    ),
    Check(
        "store.tls",
        "object-store",
        "TLS where SSE-C keys travel with requests",
        store.check_tls,
        "use an https:// endpoint for SSE-C",
        (refs.SC13, refs.PCI),
    ),
    Check(
        "volumes.encrypted",
        "volumes",
        "Every compose-project volume on an encrypted, unlocked mount",
        volumes.check_volumes_encrypted,
        "run 'stackseal apply' to create/unlock the volumes; it also copies data out of plain directories and "
        "Docker volumes (adopt; 'stackseal apply --allow-destroy' when a plain volume has the encrypted one's name)",
        refs.AT_REST,
    ),
    Check(
        "volumes.guard",
        "volumes",
        "Immutable mount-point guard under each encrypted volume",
        volumes.check_guard,
        "with the volume locked and its service stopped: chattr +i MOUNT_POINT (apply's volumes step does this)",
        (refs.SC28,),
    ),
    Check(
        "host.fde",
        "host",
        "Host disk encryption (host-fde)",
        volumes.check_host_fde,
        "put the Docker data root and volumes.root on a LUKS/FileVault/BitLocker-encrypted disk, or choose an "
        "encrypted volume backend (gocryptfs, luks-file, fscrypt)",
        refs.AT_REST,
    ),
    Check(
        "keys.no_secret_in_config",
        "keys",
        "No secret in compose environment, env files or the answers file",
        keys.check_no_secret_in_config,
        "move the value into a compose secret (*_FILE) and rotate it",
        refs.KEYS,
    ),
    Check(
        "keys.files",
        "keys",
        "Secret files: owner-only modes, right owner, no links",
        keys.check_secret_files,
        "chmod 0700 SECRETS_DIR; chmod 0400 SECRETS_DIR/*; chown root: SECRETS_DIR -R",
        refs.KEYS,
    ),
    Check(
        "keys.at_rest",
        "keys",
        "No plaintext key on persistent disk",
        keys.check_plaintext_at_rest,
        "keep keys wrapped by the KMS and unwrap them into a tmpfs runtime directory",
        refs.KEYS,
    ),
    Check(
        "kms.status",
        "kms",
        "KMS reachable, unsealed, authenticated",
        kms.check_kms,
        "start/unseal the KMS and check its credentials",
        refs.KEYS,
        timeout=30,
    ),
    Check(
        "kms.key_age",
        "kms",
        "Key age within rotation.interval_days",
        kms.check_key_age,
        "rotate the keys (runbook: rotation)",
        refs.KEYS,
        timeout=30,
    ),
    Check(
        "canary.object_store",
        "object-store",
        "Canary object absent from the store's raw bytes",
        canary.check_object_store_canary,
        "the object store writes plaintext to disk: set bucket default encryption, put its data on an encrypted "
        "volume ('stackseal apply'), then stackseal migrate objects -c FILE (re-encrypts in place and vacuums the old copies)",
        refs.AT_REST,
        timeout=600,
        periodic=False,
    ),
    Check(
        "canary.neo4j",
        "neo4j",
        "Canary node absent from Neo4j's raw store bytes",
        canary.check_neo4j_canary,
        "Neo4j's store is on plaintext storage: move /data onto an encrypted volume ('stackseal apply' adopts it)",
        refs.AT_REST,
        timeout=600,
        periodic=False,
    ),
)


def check_by_id(check_id: str) -> Check:
    for check in CHECKS:
        if check.id == check_id:
            return check
    raise KeyError(check_id)
