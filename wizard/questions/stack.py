"""The questions about the stack itself: project, Neo4j and the object store (declared once, as data)."""

from __future__ import annotations

from wizard.questions.model import Choice, Question
from wizard.questions.rules import all_, default_edition, default_project, default_store, is_

STACK_QUESTIONS: tuple[Question, ...] = (
    # -- project --------------------------------------------------------------------------------
    Question(
        "project",
        "project",
        "Compose project name",
        "Names the Docker Compose project, its containers and its volumes. Use the name of a running "
        "project to adopt it.",
        kind="text",
        placeholder="stackseal",
        default=default_project,
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
        default=default_edition,
    ),
    Question(
        "neo4j.accept_license_agreement",
        "neo4j",
        "Accept the Neo4j Enterprise license",
        "The Enterprise image refuses to start unless NEO4J_ACCEPT_LICENSE_AGREEMENT=yes. Answer yes only "
        "if you hold a Neo4j Enterprise license (or evaluate under its terms).",
        kind="bool",
        visible_if=is_("neo4j.edition", "enterprise"),
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
        default=default_store,
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
        visible_if=all_(is_("object_store.kind", "minio"), is_("object_store.sse", "sse-kms")),
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
)
