"""host-fde is verified, not taken on the user's word: on a host whose Docker data root and
volumes.root sit on no dm-crypt device (this test machine), the check fails by name; for the
other backends it is a SKIP with the reason."""

from __future__ import annotations

from pathlib import Path

from wizard.plan import plan_from_dict
from wizard.verify.context import VerifyContext
from wizard.verify.model import Status
from wizard.verify.mounts import dm_crypt_uuids
from wizard.verify.registry import check_by_id


def test_host_fde_checked_against_the_real_devices(tmp_path: Path) -> None:
    plan = plan_from_dict({"version": 1, "volumes": {"backend": "host-fde", "root": str(tmp_path)}}, base_dir=tmp_path)
    results = check_by_id("host.fde").func(VerifyContext(plan))
    subjects = {r.subject: r for r in results}
    assert set(subjects) == {"Docker data root", "volumes.root"}
    has_crypt = any(uuid.startswith("CRYPT-") for uuid in dm_crypt_uuids().values())
    for result in results:
        assert result.status is (Status.PASS if has_crypt and result.status is Status.PASS else Status.FAIL)
        assert any(e.command.startswith("findmnt -T") for e in result.evidence)
    if not has_crypt:
        assert "no LUKS/dm-crypt device under it" in subjects["volumes.root"].summary


def test_host_fde_is_a_skip_with_reason_for_other_backends(tmp_path: Path) -> None:
    plan = plan_from_dict({"version": 1, "volumes": {"backend": "gocryptfs", "root": str(tmp_path)}}, base_dir=tmp_path)
    (result,) = check_by_id("host.fde").func(VerifyContext(plan))
    assert result.status is Status.SKIP and "gocryptfs" in result.summary
