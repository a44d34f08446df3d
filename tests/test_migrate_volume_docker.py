"""``migrate volume`` on a real engine: a running store on a plain Docker volume is stopped alone,
copied into its gocryptfs volume with a manifest, started on the rendered compose file (healthy),
and its plaintext original is kept under a new volume name until ``--remove-plaintext``."""

from __future__ import annotations

import io
import secrets
import subprocess

import pytest
from test_steps_docker import ctx, seaweed_image, store_only  # noqa: F401 - fixtures
from testbed.containers import DockerEngine

from wizard.errors import UsageError
from wizard.steps import runner
from wizard.steps.buckets_step import BucketsStep, s3_client
from wizard.steps.context import Context
from wizard.steps.volumes_step import VolumesStep
from wizard.volumes.move import PLAINTEXT_PREFIX, migrate_volume, remove_plaintext

pytestmark = pytest.mark.slow


def test_migrate_volume_moves_a_plain_volume_keeps_the_original_then_removes_it(
    ctx: Context,  # noqa: F811 - the fixture imported above
    docker: DockerEngine,
) -> None:
    store_only(ctx, plain_volume=True)
    docker.compose(ctx.out_dir, ctx.plan.project, "up", "-d", "--wait", timeout=300)
    BucketsStep().apply(ctx, lambda e: None)
    body = f"PLAIN-VOLUME-{secrets.token_hex(6)}".encode() + secrets.token_bytes(4000)
    s3_client(ctx).put_object("alpha", "legacy.bin", io.BytesIO(body), len(body))
    legacy = f"{ctx.plan.project}_seaweedfs-data"
    kept = PLAINTEXT_PREFIX + legacy

    store_only(ctx)  # the encrypted definition, as render writes it
    runner.run(ctx, steps=[VolumesStep()])
    with pytest.raises(UsageError, match="not been verified"):
        remove_plaintext(ctx, "seaweedfs-data", lambda e: None)
    events: list = []
    try:
        outcome = migrate_volume(ctx, "seaweedfs-data", events.append)
        assert "verified by SHA-256" in outcome.summary
        assert s3_client(ctx).get_object("alpha", "legacy.bin").read() == body  # served from the encrypted volume
        attrs = ctx.docker().volumes.get(legacy).attrs
        assert attrs["Options"]["device"].endswith("/mnt/seaweedfs-data")
        # The manifest was made by reading the copy back; the kept original (untouched since,
        # while the running service now writes to the copy) must match it file for file.
        manifest = ctx.state_dir / "migrate-volume-seaweedfs-data.sha256"
        original = ctx.docker().volumes.get(kept).attrs["Mountpoint"]
        check = subprocess.run(
            ["sha256sum", "--quiet", "-c", str(manifest)], cwd=original, capture_output=True, text=True
        )
        assert check.returncode == 0 and manifest.read_text().count("./") > 3, check.stdout[-2000:] + check.stderr
        # A second run has nothing to do.
        assert "already migrated" in migrate_volume(ctx, "seaweedfs-data", events.append).summary
        said = remove_plaintext(ctx, "seaweedfs-data", events.append)
        assert kept in said and docker.run("volume", "inspect", kept, check=False).returncode != 0
        assert any("no guarantee on SSDs" in getattr(e, "message", "") for e in events)
        assert s3_client(ctx).get_object("alpha", "legacy.bin").read() == body
    finally:
        docker.run("volume", "rm", "-f", kept, check=False)
