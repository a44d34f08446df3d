"""The Docker steps on a real engine with a real SeaweedFS container (no Neo4j needed):
compose-up idempotence via config hashes, bucket default encryption, and adopting a running
stack whose data sits in a plain Docker volume."""

from __future__ import annotations

import io
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from testbed.containers import DockerEngine, free_port

from wizard.errors import Refused
from wizard.plan import plan_from_dict
from wizard.steps import runner
from wizard.steps.adopt_step import AdoptStep
from wizard.steps.buckets_step import BucketsStep, s3_client
from wizard.steps.compose_step import ComposeUpStep
from wizard.steps.context import Context
from wizard.steps.ports_step import PortsPrecondition
from wizard.steps.volumes_step import VolumesStep

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seaweed_image(docker: DockerEngine) -> str:
    from testbed import images

    try:
        return images.ensure_image(docker, "seaweedfs")[0]
    except images.MissingInput as exc:
        from testbed.require import missing

        missing(exc.component, exc.install)
    raise AssertionError("unreachable")


def store_only(ctx: Context, plain_volume: bool = False, bind_dir: Path | None = None) -> None:
    """Render, then keep only the object store service (this test needs no Neo4j image).

    ``plain_volume``: a legacy stack on a plain Docker volume; ``bind_dir``: on a host directory.
    """
    from wizard.render.writer import write

    write(ctx.plan, ctx.out_dir, force=True)
    compose_path = ctx.out_dir / "compose.yaml"
    doc = yaml.safe_load(compose_path.read_text())
    doc["services"] = {"seaweedfs": doc["services"]["seaweedfs"]}
    doc["volumes"] = {"seaweedfs-data": {} if plain_volume else doc["volumes"]["seaweedfs-data"]}
    if bind_dir is not None:
        doc["services"]["seaweedfs"]["volumes"] = [f"{bind_dir}:/data"]
        doc["volumes"] = {}
    doc["secrets"] = {k: v for k, v in doc["secrets"].items() if k.startswith("seaweedfs")}
    compose_path.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture
def ctx(tmp_path: Path, docker: DockerEngine, seaweed_image: str) -> Iterator[Context]:
    project = f"ssdock{secrets.token_hex(3)}"
    plan = plan_from_dict(
        {
            "version": 1,
            "project": project,
            "output_dir": "stack",
            "neo4j": {"bolt_url": f"bolt://127.0.0.1:{free_port()}", "http_port": free_port()},
            "object_store": {
                "kind": "seaweedfs",
                "endpoint": f"http://127.0.0.1:{free_port()}",
                "sse": "sse-s3",
                "buckets": ["alpha", "beta"],
            },
            "volumes": {"backend": "gocryptfs", "root": str(tmp_path / "volumes")},
            "images": {"seaweedfs": seaweed_image},
        },
        base_dir=tmp_path,
    )
    context = Context.for_plan(plan, wait_timeout=180)
    try:
        yield context
    finally:
        if (context.out_dir / "compose.yaml").exists():
            docker.compose(context.out_dir, project, "down", "-v", "--timeout", "5", check=False, timeout=300)
        docker.run("volume", "rm", "-f", f"{project}_seaweedfs-data", check=False)
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            target = line.split()[4]
            if target.startswith(str(tmp_path)):
                subprocess.run(["fusermount", "-u", "-z", target], capture_output=True)
        subprocess.run(["chattr", "-R", "-i", str(tmp_path)], capture_output=True)  # mount-point guards
        context.close()


def test_compose_up_and_buckets_converge(ctx: Context) -> None:
    store_only(ctx)
    steps = [VolumesStep(), AdoptStep(), PortsPrecondition(), ComposeUpStep(), BucketsStep()]
    plan_before = runner.check_all(ctx, steps)
    assert [c.action for _, c in plan_before] == ["+", "=", "=", "+", "+"]
    events: list = []
    runner.run(ctx, events.append, steps=steps)
    assert any(type(e).__name__ == "StepLog" and "Healthy" in e.message for e in events)
    after = runner.check_all(ctx, steps)
    assert [c.action for _, c in after] == ["="] * 5, runner.format_plan(after)
    client = s3_client(ctx)
    for bucket in ("alpha", "beta"):
        assert client.get_bucket_encryption(bucket).rule.sse_algorithm == "AES256"
    # the object store's data really lands in the gocryptfs mount: only ciphertext below it
    marker = f"DOCKER-STEP-CANARY-{secrets.token_hex(6)}".encode() * 50
    client.put_object("alpha", "plain.txt", io.BytesIO(marker), len(marker))
    spec_root = Path(ctx.plan.volumes.root) / ctx.plan.project
    assert any(p.is_file() for p in (spec_root / "mnt" / "seaweedfs-data").rglob("*"))
    raw = b"".join(p.read_bytes() for p in (spec_root / "cipher" / "seaweedfs-data").rglob("*") if p.is_file())
    assert marker[:40] not in raw
    # drift: a stopped service is seen and started again, nothing else is touched
    ctx.docker().containers.list(filters={"label": f"com.docker.compose.project={ctx.plan.project}"})[0].stop(timeout=5)
    drift = ComposeUpStep().check(ctx)
    assert drift.action == "~" and drift.details == ("~ seaweedfs: start (is exited)",)
    runner.run(ctx, steps=[ComposeUpStep()])
    assert ComposeUpStep().check(ctx).action == "="


def test_adopt_moves_data_from_a_plain_volume_only_with_allow_destroy(ctx: Context, docker: DockerEngine) -> None:
    # A "legacy" stack: same project, object store on a plain (unencrypted) Docker volume.
    store_only(ctx, plain_volume=True)
    docker.compose(ctx.out_dir, ctx.plan.project, "up", "-d", "--wait", timeout=300)
    BucketsStep().apply(ctx, lambda e: None)
    body = f"LEGACY-OBJECT-{secrets.token_hex(6)}".encode() * 100
    s3_client(ctx).put_object("alpha", "legacy.txt", io.BytesIO(body), len(body))
    legacy_volume = f"{ctx.plan.project}_seaweedfs-data"

    store_only(ctx)  # the encrypted definition (what render writes)
    steps = [VolumesStep(), AdoptStep(), ComposeUpStep(), BucketsStep()]
    checks = runner.check_all(ctx, steps)
    adopt = dict((s.id, c) for s, c in checks)["adopt"]
    assert adopt.action == "~" and "docker volume " + legacy_volume in adopt.destroys[0]
    assert f"DESTROYS: docker volume {legacy_volume}" in runner.format_plan(checks)
    runner.run(ctx, steps=steps[:1])  # volumes are created; adopt must then refuse without the flag
    with pytest.raises(Refused, match="--allow-destroy"):
        runner.run(ctx, steps=steps)
    assert docker.run("volume", "inspect", legacy_volume, check=False).returncode == 0
    assert s3_client(ctx).get_object("alpha", "legacy.txt").read() == body  # still running on the old data

    ctx.allow_destroy = True
    events: list = []
    runner.run(ctx, events.append, steps=steps)
    copied = [e for e in events if type(e).__name__ == "StepProgress" and e.step_id == "adopt"]
    assert copied and copied[-1].bytes == copied[-1].bytes_total > len(body)
    assert s3_client(ctx).get_object("alpha", "legacy.txt").read() == body  # same object, now on encrypted storage
    attrs = ctx.docker().volumes.get(legacy_volume).attrs
    assert attrs["Options"]["device"].endswith("/mnt/seaweedfs-data")
    assert [c.action for _, c in runner.check_all(ctx, steps)] == ["="] * 4


def test_adopt_moves_data_from_a_bind_directory_and_keeps_the_original(
    ctx: Context, docker: DockerEngine, tmp_path: Path
) -> None:
    legacy = tmp_path / "legacy-data"
    legacy.mkdir()
    store_only(ctx, bind_dir=legacy)
    docker.compose(ctx.out_dir, ctx.plan.project, "up", "-d", "--wait", timeout=300)
    BucketsStep().apply(ctx, lambda e: None)
    body = f"BIND-OBJECT-{secrets.token_hex(6)}".encode() * 100
    s3_client(ctx).put_object("beta", "legacy.txt", io.BytesIO(body), len(body))

    store_only(ctx)
    steps = [VolumesStep(), AdoptStep(), ComposeUpStep(), BucketsStep()]
    adopt = dict((s.id, c) for s, c in runner.check_all(ctx, steps))["adopt"]
    assert adopt.action == "~" and adopt.destroys == ()  # a bind directory is copied, never removed
    assert f"copy {legacy} into encrypted" in adopt.details[0]
    runner.run(ctx, steps=steps)
    assert s3_client(ctx).get_object("beta", "legacy.txt").read() == body
    assert any(p.is_file() for p in legacy.rglob("*"))  # the original is untouched
    assert [c.action for _, c in runner.check_all(ctx, steps)] == ["="] * 4
