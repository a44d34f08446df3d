"""Encrypted, streamed, verifiable backups (``stackseal backup create`` and its siblings).

Why this shape: a backup is a directory under ``backups.dir`` holding one age-encrypted file per
part (``neo4j``, ``objects-<bucket>``, ``keys``) and a JSON manifest. Each backup has its own
data key (an age X25519 identity) that exists on disk only wrapped by the plan's KMS, so a copied
backup directory is ciphertext without the KMS. Modules, one job each:

- :mod:`.manifest`  the manifest (what was backed up, sizes, SHA-256 of the plaintext, wrapped key)
- :mod:`.stream`    age encryption/decryption of a stream with hashing (pyrage; memory stays flat)
- :mod:`.repo`      the directory layout: atomic publish, listing, retention, safe reads
- :mod:`.neo4j`     ``neo4j-admin`` dump/backup/load through Docker Compose
- :mod:`.objects`   object-store buckets as tar streams (minio SDK)
- :mod:`.keys`      the stack's wrapped key blobs and metadata
- :mod:`.engine`    create / verify / restore / rotate, built from the above
"""
