"""Test-bed fixtures (real components: OpenBao, SeaweedFS, Neo4j, Docker, gocryptfs, fscrypt).

Each plugin module owns one family of session fixtures; see tests/testbed/.
"""

pytest_plugins = [
    "testbed.services",  # openbao, s3 (SeaweedFS), neo4j
    "testbed.containers",  # docker engine, compose plugin, local images
    "testbed.volumes",  # gocryptfs_volume, fscrypt_volume
    "testbed.schedule",  # longest files first under xdist (durations.json)
]
