"""``migrate volume`` on a real engine: a running store on a plain Docker volume is stopped alone,
copied into its gocryptfs volume with a manifest, started on the rendered compose file (healthy),
and its plaintext original is kept under a new volume name until ``--remove-plaintext``."""

from __future__ import annotations

import io
import secrets
import subprocess

import pytest
from snapshot_apps.pilot import sync
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


@sync
async def test_tui_migrate_page_lists_what_moves_and_runs_it_live(ctx: Context, docker: DockerEngine) -> None:  # noqa: F811
    """The Migrate page on a real running stack: volumes with sizes, buckets with object counts,
    downtime per service; Migrate moves the volume and re-encrypts the objects with live progress."""
    from textual.widgets import Static

    from screens.app import StacksealApp
    from screens.migrate import MigrateScreen
    from wizard.detect import Facts

    store_only(ctx, plain_volume=True)
    docker.compose(ctx.out_dir, ctx.plan.project, "up", "-d", "--wait", timeout=300)
    s3_client(ctx).make_bucket("beta")  # no default encryption: the objects land in plaintext
    body = secrets.token_bytes(3000)
    for n in range(3):
        s3_client(ctx).put_object("beta", f"plain-{n}", io.BytesIO(body), len(body))
    store_only(ctx)
    runner.run(ctx, steps=[VolumesStep()])
    kept = PLAINTEXT_PREFIX + f"{ctx.plan.project}_seaweedfs-data"
    app = StacksealApp(ctx.plan, ctx.out_dir.parent / "stackseal.yaml", facts=Facts(), detect=False, start_at=6)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await app.push_screen(MigrateScreen())
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen = app.screen
            listing = str(screen.query_one("#mig-inventory", Static).render())
            assert "seaweedfs-data" in listing and "beta" in listing and "3 objects" in listing
            assert "Downtime" in listing and "seaweedfs" in listing
            await pilot.click("#migrate")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert screen.finished and screen.failed is None, screen.failed
            log = "\n".join(str(line.text) for line in screen.query_one("#exec-log").lines)
            assert "migrate-volume-seaweedfs-data" in log and "3 re-encrypted" in log
        for n in range(3):
            st = s3_client(ctx).stat_object("beta", f"plain-{n}")
            assert st.metadata.get("X-Amz-Server-Side-Encryption") == "AES256"
            assert s3_client(ctx).get_object("beta", f"plain-{n}").read() == body
    finally:
        docker.run("volume", "rm", "-f", kept, check=False)
