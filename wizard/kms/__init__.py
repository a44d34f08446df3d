"""Key management: one module per KMS backend behind :func:`get_backend` (local, vault, aws, azure, gcp).

Why this shape (the same as :mod:`wizard.volumes`): the wizard's connection test, render's
secret store, ``unlock``/``lock``, ``keys list``, rotation and backups all need the same few
operations, and each KMS keeps its SDK calls and its error wording in its own module. Every key
and secret stackseal keeps on disk is a :class:`wizard.kms.base.WrappedBlob` written by
:class:`wizard.kms.store.WrappedSecretStore`; its plaintext exists only in memory and, while
the stack is unlocked, in the tmpfs runtime directory (:mod:`wizard.kms.runtime`).

SDK imports stay inside the backend modules' functions: ``stackseal --help`` never loads boto3.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from wizard.kms.base import Health, KeyWrapper, KmsBackend, SecretStore, WrappedBlob, utc_now

if TYPE_CHECKING:
    from wizard.plan import Plan

BACKENDS = ("local", "vault", "aws", "azure", "gcp")


def get_backend(plan: Plan) -> KmsBackend:
    """The KMS backend the plan chose (``kms.backend``)."""
    name = plan.kms.backend
    if name == "local":
        from wizard.kms.local import LocalBackend

        return LocalBackend(plan)
    if name == "vault":
        from wizard.kms.vault import VaultBackend

        return VaultBackend(plan)
    if name == "aws":
        from wizard.kms.aws import AwsBackend

        return AwsBackend(plan)
    if name == "azure":
        from wizard.kms.azure import AzureBackend

        return AzureBackend(plan)
    if name == "gcp":
        from wizard.kms.gcp import GcpBackend

        return GcpBackend(plan)
    raise ValueError(f"unknown KMS backend {name!r}")


def envelope(plan: Plan) -> bool:
    """True when secrets are stored wrapped: every backend but ``local`` without a passphrase and the
    stack's own OpenBao (``kms.vault.deploy``, which cannot wrap the keys it needs to start: docs/kms.md)."""
    if plan.kms.backend == "local":
        return plan.kms.passphrase_file is not None
    return not (plan.kms.backend == "vault" and plan.kms.vault.deploy)


def runtime_dir(plan: Plan) -> Path:
    """The memory-backed directory unwrapped keys live in while the stack is unlocked."""
    return Path(plan.kms.runtime_dir or f"/run/stackseal/{plan.project}")


def plaintext_dir(plan: Plan) -> Path:
    """Where consumers (Compose secrets, volume tools, stackseal itself) read each secret's plaintext.

    The runtime directory with a KMS; ``<output_dir>/secrets`` for the development-only local
    backend without a passphrase (plaintext on disk, as the wizard and runbook warn).
    """
    return runtime_dir(plan) if envelope(plan) else plan.output_path / "secrets"


def secret_store(plan: Plan, out_dir: Path | None = None, preview: bool = False) -> SecretStore:
    """The secret store render uses for ``plan`` (``preview``: never reaches the KMS, never persists)."""
    from wizard.kms.local import LocalSecretStore
    from wizard.kms.store import PreviewStore, WrappedSecretStore

    directory = Path(out_dir if out_dir is not None else plan.output_path) / "secrets"
    if not envelope(plan):
        return LocalSecretStore(directory)
    return (PreviewStore if preview else WrappedSecretStore)(directory, get_backend(plan), runtime_dir(plan))


__all__ = [
    "BACKENDS",
    "Health",
    "KeyWrapper",
    "KmsBackend",
    "SecretStore",
    "WrappedBlob",
    "envelope",
    "get_backend",
    "plaintext_dir",
    "runtime_dir",
    "secret_store",
    "utc_now",
]
