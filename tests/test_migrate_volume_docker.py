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


@pytest.fixture
def neo4j_ctx(tmp_path, docker: DockerEngine):
    """A plan whose Neo4j runs from the test bed's local image; only the neo4j service is kept."""
    from testbed import images
    from testbed.containers import free_port
    from testbed.require import missing

    from wizard.plan import plan_from_dict

    try:
        image = images.ensure_image(docker, "neo4j")[0]
    except images.MissingInput as exc:
        missing(exc.component, exc.install)
    project = f"ssneo{secrets.token_hex(3)}"
    plan = plan_from_dict(
        {
            "version": 1,
            "project": project,
            "output_dir": "stack",
            "neo4j": {"bolt_url": f"bolt://127.0.0.1:{free_port()}", "http_port": None},
            "object_store": {"endpoint": f"http://127.0.0.1:{free_port()}"},
            "volumes": {"backend": "gocryptfs", "root": str(tmp_path / "volumes")},
            "images": {"neo4j": image},
        },
        base_dir=tmp_path,
    )
    context = Context.for_plan(plan, wait_timeout=300)
    try:
        yield context
    finally:
        if (context.out_dir / "compose.yaml").exists():
            docker.compose(context.out_dir, project, "down", "--timeout", "10", check=False, timeout=300)
        for name in ("neo4j-data",):
            docker.run("volume", "rm", "-f", f"{project}_{name}", f"{PLAINTEXT_PREFIX}{project}_{name}", check=False)
        for line in __import__("pathlib").Path("/proc/self/mountinfo").read_text().splitlines():
            target = line.split()[4]
            if target.startswith(str(tmp_path)):
                subprocess.run(["fusermount", "-u", "-z", target], capture_output=True)
        subprocess.run(["chattr", "-R", "-i", str(tmp_path)], capture_output=True)
        context.close()


def _neo4j_only(context: Context, plain_data: bool) -> None:
    import yaml

    from wizard.render.writer import write

    write(context.plan, context.out_dir, force=True)
    path = context.out_dir / "compose.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["services"] = {"neo4j": doc["services"]["neo4j"]}
    keep = {k: v for k, v in doc["volumes"].items() if k.startswith("neo4j")}
    if plain_data:
        keep["neo4j-data"] = {}
    doc["volumes"] = keep
    doc["secrets"] = {k: v for k, v in doc["secrets"].items() if k.startswith("neo4j")}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_migrate_volume_moves_a_running_neo4j_store_and_proves_it_over_bolt(neo4j_ctx: Context, docker) -> None:
    from neo4j import GraphDatabase

    from wizard.layout import volume_specs
    from wizard.stores.neo4j import auth_of

    ctx = neo4j_ctx  # noqa: F811 - not the seaweedfs fixture of the same name
    runner.run(ctx, steps=[VolumesStep()])  # the encrypted volumes exist; logs/import/backups already use them
    _neo4j_only(ctx, plain_data=True)  # the "legacy" stack: its store on a plain Docker volume
    docker.compose(ctx.out_dir, ctx.plan.project, "up", "-d", "--wait", timeout=600)
    auth = auth_of(ctx.plan, ctx.secrets_dir)
    canary = f"NEO4J-DOCKER-CANARY-{secrets.token_hex(40)}"
    with GraphDatabase.driver(ctx.plan.neo4j.bolt_url, auth=auth) as drv:
        drv.execute_query("UNWIND range(1, 500) AS i CREATE (:Schema {i: i})-[:DEFINES]->(:Type {i: i})")
        drv.execute_query("CREATE (:Secret {marker: $m})", m=canary)
    _neo4j_only(ctx, plain_data=False)  # the rendered definition: the store on its encrypted volume

    events: list = []
    outcome = migrate_volume(ctx, "neo4j-data", events.append)
    assert outcome.counts_before and outcome.counts_before == outcome.counts_after
    assert outcome.counts_after["labels"] == {"Schema": 500, "Type": 500, "Secret": 1}
    assert outcome.counts_after["types"] == {"DEFINES": 500}
    with GraphDatabase.driver(ctx.plan.neo4j.bolt_url, auth=auth) as drv:
        got = drv.execute_query("MATCH (s:Secret) RETURN s.marker AS m")[0]
    assert [r["m"] for r in got] == [canary]  # answered by Neo4j running on the encrypted volume
    spec = next(s for s in volume_specs(ctx.plan) if s.name == "neo4j-data")
    attrs = ctx.docker().volumes.get(f"{ctx.plan.project}_neo4j-data").attrs
    assert attrs["Options"]["device"] == str(spec.mount_point)
    assert not [p for p in spec.backing.rglob("*") if p.is_file() and canary.encode() in p.read_bytes()]
    assert any(e for e in events if type(e).__name__ == "StepProgress")
