"""Combination rules (wizard/compat.py): the same reasons the wizard shows and render refuses with."""

from __future__ import annotations

import pytest

from wizard import compat
from wizard.plan import plan_from_dict


def _plan(**sections):
    return plan_from_dict({"version": 1, **sections})


@pytest.mark.parametrize(
    "store, kms, expected",
    [
        ({"kind": "minio", "sse": "sse-kms"}, "local", True),
        ({"kind": "minio", "sse": "sse-s3"}, "local", False),  # static key
        ({"kind": "minio", "sse": "sse-s3"}, "vault", True),  # a real KMS is reached through KES
        ({"kind": "minio", "sse": "sse-s3", "kes": False}, "aws", False),
        ({"kind": "seaweedfs", "sse": "sse-kms"}, "vault", False),  # SeaweedFS talks to the KMS itself
    ],
)
def test_uses_kes(store: dict, kms: str, expected: bool) -> None:
    assert compat.uses_kes(_plan(object_store=store, kms={"backend": kms})) is expected


def test_errors_come_first_and_warnings_are_kept() -> None:
    plan = _plan(object_store={"kind": "minio", "sse": "sse-c"}, volumes={"backend": "none"})
    problems = compat.check_plan(plan)
    levels = [p.level for p in problems]
    assert levels == sorted(levels, key=lambda level: level != "error")
    assert [str(p) for p in compat.errors(plan)] == [
        "object_store.endpoint: sse-c on MinIO needs TLS (the server rejects SSE-C over plain HTTP); "
        "use an https:// endpoint, stackseal renders the certificates"
    ]
    paths = {p.path for p in problems if p.level == "warning"}
    assert {"volumes.backend", "kms.backend", "object_store.kind"} <= paths


def test_seaweedfs_sse_kms_is_allowed_exactly_where_seaweedfs_has_a_provider() -> None:
    for backend, extra in [
        ("vault", {}),
        ("aws", {}),
        ("gcp", {"gcp": {"project": "p"}}),
        ("local", {}),
        ("azure", {"azure": {"vault_url": "https://x.vault.azure.net"}}),
    ]:
        plan = _plan(object_store={"kind": "seaweedfs", "sse": "sse-kms"}, kms={"backend": backend, **extra})
        refused = any(p.path == "object_store.sse" for p in compat.errors(plan))
        assert refused is (backend in ("local", "azure")), backend


def test_static_minio_key_is_flagged_as_not_rotatable() -> None:
    plan = _plan(object_store={"kind": "minio", "sse": "sse-s3"})
    assert any("cannot be rotated" in p.message for p in compat.check_plan(plan))


def test_gcp_with_kes_needs_a_service_account_file() -> None:
    plan = _plan(object_store={"kind": "minio", "sse": "sse-kms"}, kms={"backend": "gcp", "gcp": {"project": "p"}})
    assert [p.path for p in compat.errors(plan)] == ["kms.gcp.credentials_file"]
