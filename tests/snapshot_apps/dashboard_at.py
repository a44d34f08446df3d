"""The dashboard fed with a fixed run (no stack needed): a picture that does not change with the
machine. The findings are plain data of the shape the real checks produce."""

from __future__ import annotations

from wizard.plan import default_plan
from wizard.verify import refs
from wizard.verify.model import Check, Evidence, Finding, Status
from wizard.verify.runner import Run

FINISHED = "2026-12-01T05:00:01Z"


def fixed_findings() -> list[Finding]:
    ev = Evidence(
        "command", "GetBucketEncryption", "mc encrypt info s/cmf", "ServerSideEncryptionConfigurationNotFoundError"
    )
    mnt = Evidence(
        "command",
        "filesystem of /srv/stackseal/devstack/mnt/neo4j-data",
        "findmnt -T /srv/stackseal/devstack/mnt/neo4j-data",
        "/srv/stackseal/devstack/cipher/neo4j-data /srv/stackseal/devstack/mnt/neo4j-data fuse.gocryptfs rw",
    )
    return [
        Finding(
            "neo4j.storage",
            "neo4j",
            "Neo4j /data on encrypted storage",
            Status.PASS,
            "/data -> gocryptfs (unlocked)",
            "/data",
            (mnt,),
            "",
            refs.AT_REST,
            0.1,
        ),
        Finding(
            "neo4j.edition",
            "neo4j",
            "Neo4j edition",
            Status.PASS,
            "Neo4j Kernel 5.26.30 community",
            "",
            (),
            "",
            (refs.SC28,),
            0.2,
        ),
        Finding(
            "store.bucket_encryption",
            "object-store",
            "Default encryption on every planned bucket",
            Status.FAIL,
            "bucket cmf has NO default encryption: new objects are stored in plaintext",
            "cmf",
            (ev,),
            "mc encrypt set sse-s3 ALIAS/cmf",
            refs.AT_REST,
            0.05,
        ),
        Finding(
            "store.unencrypted_objects",
            "object-store",
            "No unencrypted objects",
            Status.FAIL,
            "bucket cmf: 3 unencrypted objects",
            "cmf",
            (),
            "stackseal migrate objects",
            refs.AT_REST,
            0.3,
        ),
        Finding(
            "volumes.encrypted",
            "volume:neo4j-data",
            "Volume on an encrypted mount",
            Status.PASS,
            "volume neo4j-data: gocryptfs mounted",
            "neo4j-data",
            (mnt,),
            "",
            refs.AT_REST,
            0.01,
        ),
        Finding(
            "volumes.encrypted",
            "volume:seaweedfs-data",
            "Volume on an encrypted mount",
            Status.FAIL,
            "volume seaweedfs-data: no gocryptfs mount",
            "seaweedfs-data",
            (),
            "stackseal apply",
            refs.AT_REST,
            0.01,
        ),
        Finding(
            "kms.status",
            "kms",
            "KMS reachable",
            Status.WARN,
            "kms.backend is local: keys are files on this host (development only)",
            "",
            (),
            "use a KMS",
            refs.KEYS,
            0.0,
        ),
        Finding(
            "keys.files",
            "keys",
            "Secret files",
            Status.PASS,
            "9 secret files, owner-only modes",
            "",
            (),
            "",
            refs.KEYS,
            0.0,
        ),
        Finding(
            "host.fde",
            "host",
            "Host disk encryption",
            Status.SKIP,
            "volumes.backend is gocryptfs",
            "",
            (),
            "",
            refs.AT_REST,
            0.0,
        ),
    ]


def fixed_runner(checks: list[Check]) -> Run:
    ids = {c.id for c in checks}
    return Run("devstack", "2026-12-01T05:00:00Z", FINISHED, False, [f for f in fixed_findings() if f.check_id in ids])


def make_dashboard():
    from screens.dashboard import DashboardApp

    return DashboardApp(default_plan(), interval=3600, runner=fixed_runner)
