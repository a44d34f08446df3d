"""The data stores stackseal reads and rewrites: S3 object stores and Neo4j.

Why one package: bucket setup (apply), object migration, SSE-C key rotation and verification all
talk to the same object store with the same credentials, TLS and error wording; Neo4j facts
(edition, graph counts) serve detection, migration proof and verification. Each module here has
one job and never imports a UI.
"""
