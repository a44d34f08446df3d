"""fscrypt volumes (the real kernel fscrypt on a loop-mounted ext4 image): the volume check sees
an unlocked fscrypt directory as encrypted and a locked one as unusable; the canary's raw target
is the block device under the filesystem, where a marker written into the encrypted directory is
absent and one written into a plain directory is found."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from wizard.layout import volume_specs
from wizard.plan import plan_from_dict
from wizard.verify.checks_canary import raw_targets
from wizard.verify.context import VerifyContext
from wizard.verify.model import Status
from wizard.verify.mounts import classify
from wizard.verify.registry import check_by_id
from wizard.verify.scan import scan_paths


@pytest.fixture
def fscrypt_plan(fscrypt_volume, tmp_path: Path):
    plan = plan_from_dict(
        {
            "version": 1,
            "project": f"ssfs{secrets.token_hex(3)}",
            "output_dir": "stack",
            "volumes": {"backend": "fscrypt", "root": str(fscrypt_volume.mnt / "vols")},
        },
        base_dir=tmp_path,
    )
    from wizard.volumes import get_backend
    from wizard.volumes.keys import ensure_key

    backend = get_backend(plan)
    for spec in volume_specs(plan):
        key = ensure_key(plan.output_path / "secrets", spec.name, raw=True)
        backend.create(spec, key)
        backend.unlock(spec, key)
    try:
        yield plan
    finally:
        for spec in volume_specs(plan):
            try:
                backend.lock(spec)
            except Exception:
                pass


def test_fscrypt_volumes_classified_and_raw_device_scanned(fscrypt_plan, fscrypt_volume) -> None:
    plan = fscrypt_plan
    specs = volume_specs(plan)
    ctx = VerifyContext(plan)
    results = {r.subject: r for r in check_by_id("volumes.encrypted").func(ctx)}
    assert all(results[s.name].status is Status.PASS for s in specs), results
    assert "fscrypt status" in " ".join(e.command for e in results[specs[0].name].evidence)
    assert classify(fscrypt_volume.unencrypted).kind == "none"
    guard = check_by_id("volumes.guard").func(ctx)
    assert all(r.status is Status.SKIP for r in guard)

    data = next(s for s in specs if s.name == "neo4j-data")
    targets, where = raw_targets(ctx, "neo4j", "/data", None)
    assert targets and str(targets[0]).startswith("/dev/loop") and "block device" in where
    secret = f"STACKSEAL-CANARY-{secrets.token_hex(16)}".encode()
    plain = f"STACKSEAL-CANARY-{secrets.token_hex(16)}".encode()
    (data.mount_point / "store.db").write_bytes(os.urandom(5000) + secret + os.urandom(5000))
    (fscrypt_volume.unencrypted / "plain.db").write_bytes(os.urandom(5000) + plain + os.urandom(5000))
    os.sync()
    assert not scan_paths(targets, [secret]).found  # ciphertext on the device
    assert scan_paths(targets, [plain]).found  # the positive control: plaintext is visible

    from wizard.volumes import get_backend

    get_backend(plan).lock(data)
    locked = {r.subject: r for r in check_by_id("volumes.encrypted").func(VerifyContext(plan))}
    assert locked[data.name].status is Status.FAIL and "LOCKED" in locked[data.name].summary
