"""The dashboard: snapshots (fixed findings), and Pilot tests — one with fixed findings for the
keys, one live against the real SeaweedFS and gocryptfs volumes: removing a bucket's default
encryption or unmounting a volume turns its tile red within one refresh, and green after repair."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from pathlib import Path

import pytest
from snapshot_apps.dashboard_at import fixed_runner, make_dashboard
from verify_helpers import close_volumes, open_gocryptfs_volumes, s3_plan

from wizard.layout import volume_specs

SIZE = (100, 32)


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def test_dashboard_snapshot(snap_compare):
    assert snap_compare(make_dashboard(), terminal_size=SIZE, run_before=_settle)


def test_dashboard_detail_snapshot(snap_compare):
    async def open_object_store(pilot) -> None:
        await _settle(pilot)
        pilot.app.screen.open_store("object-store")
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(make_dashboard(), terminal_size=SIZE, run_before=open_object_store)


def test_tiles_history_drilldown_and_rerun_one_check() -> None:
    async def scenario() -> None:
        from screens.dashboard import DashboardScreen
        from screens.dashboard_detail import StoreDetail

        calls: list[list[str]] = []

        def runner(checks):
            calls.append([c.id for c in checks])
            return fixed_runner(checks)

        from screens.dashboard import DashboardApp
        from wizard.plan import default_plan

        app = DashboardApp(default_plan(), interval=3600, runner=runner)
        async with app.run_test(size=SIZE) as pilot:
            await _settle(pilot)
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            assert screen.tile("object-store").has_class("-fail")
            assert screen.tile("volume:neo4j-data").has_class("-pass")
            assert screen.tile("kms").has_class("-warn") and screen.tile("host").has_class("-skip")
            assert "last run 2026-12-01 05:00:01 UTC" in str(screen.query_one("#dash-status").render())
            assert "object-store: — → FAIL" in str(screen.query_one("#dash-history").render())
            assert "canary.neo4j" in calls[0]  # the first run includes the canaries
            screen.tile("object-store").focus()
            await pilot.press("enter")
            await pilot.pause()
            detail = app.screen
            assert isinstance(detail, StoreDetail) and detail.store == "object-store"
            body = str(detail.query_one("#detail-body").render())
            assert "mc encrypt info s/cmf" in body and "Remediation" in body and "HIPAA 164.312(a)(2)(iv)" in body
            await pilot.press("r")  # re-run the highlighted finding's check only
            await _settle(pilot)
            assert calls[-1] == ["store.bucket_encryption"]
            await pilot.press("escape")
            await pilot.press("a")  # every check now
            await _settle(pilot)
            assert len(calls[-1]) == len(calls[0])

    asyncio.run(scenario())


def test_b_opens_the_backups_page_with_the_latest_bench_and_escape_comes_back(tmp_path: Path) -> None:
    """The dashboard's ``b``: the Backups page of the same plan, showing its backups and the latest
    ``stackseal bench`` figures for the plan's own choices (``<output_dir>/.stackseal/bench.json``)."""
    import yaml

    from screens.backups import BackupsScreen
    from screens.dashboard import DashboardApp, DashboardScreen
    from wizard.bench.common import Result
    from wizard.bench.report import save, to_json
    from wizard.plan import load_plan

    (tmp_path / "stackseal.yaml").write_text(
        yaml.safe_dump({"version": 1, "project": "dashbk", "volumes": {"backend": "gocryptfs", "root": "/srv/x"}})
    )
    plan = load_plan(tmp_path / "stackseal.yaml")

    async def scenario() -> tuple[str, str]:
        app = DashboardApp(plan, interval=3600, runner=fixed_runner)
        async with app.run_test(size=SIZE) as pilot:
            await _settle(pilot)
            assert isinstance(app.screen, DashboardScreen)
            await pilot.press("b")
            await pilot.pause()
            page = app.screen
            assert isinstance(page, BackupsScreen) and page.plan is plan
            texts = (str(page.query_one("#bk-summary").render()), str(page.query_one("#bk-bench").render()))
            nav = page.query_one("#nav").region
            assert nav.height == 1 and nav.bottom <= SIZE[1] - 1, "the buttons sit above the footer"
            assert page.query_one("#bk-drill").region.width > 0
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen), "Escape returns to the dashboard"
            return texts

    summary, bench = asyncio.run(scenario())
    assert "No backup yet" in summary and "not measured yet" in bench
    save(
        plan.output_path,
        to_json(
            [
                Result("volumes", "plain write", 400.0, "MB/s"),
                Result("volumes", "gocryptfs write", 100.0, "MB/s", baseline="plain write"),
                Result("backup", "age CLI encrypt", 300.0, "MB/s"),
                Result("backup", "stackseal encrypt", 280.0, "MB/s", baseline="age CLI encrypt"),
            ],
            "host1",
        ),
    )
    _summary, bench = asyncio.run(scenario())
    assert "Cost of encryption here" in bench and "gocryptfs" in bench and "100 MB/s" in bench
    assert "backup encryption: 280 MB/s" in bench


@pytest.fixture
def live_plan(s3, tmp_path: Path):
    plan = s3_plan(tmp_path, s3, [f"dash-{secrets.token_hex(4)}"])
    client = s3.client()
    from minio.sseconfig import Rule, SSEConfig

    client.make_bucket(plan.object_store.buckets[0])
    client.set_bucket_encryption(plan.object_store.buckets[0], SSEConfig(Rule.new_sse_s3_rule()))
    try:
        open_gocryptfs_volumes(plan)
    except Exception as exc:
        from testbed.require import missing

        missing("gocryptfs volumes", f"apt-get install -y gocryptfs fuse3 ({exc})")
    try:
        yield plan
    finally:
        close_volumes(tmp_path / "volumes")


def test_live_tiles_turn_red_within_one_refresh_and_green_after_repair(live_plan, s3) -> None:
    from minio.sseconfig import Rule, SSEConfig

    from screens.dashboard import DashboardApp, DashboardScreen

    plan = live_plan
    bucket = plan.object_store.buckets[0]
    volume = next(s for s in volume_specs(plan) if s.name == "seaweedfs-data")
    interval = 2.0

    async def wait_for(screen: DashboardScreen, pilot, store: str, cls: str, runs_before: int) -> int:
        """Runs it took (after ``runs_before``) until the tile has ``cls``."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            await pilot.pause(0.2)
            if screen.state.runs > runs_before and screen.tile(store).has_class(cls):
                return screen.state.runs - runs_before
        raise AssertionError(f"{store} never became {cls}: {[f.summary for f in screen.state.of_store(store)]}")

    async def scenario() -> None:
        app = DashboardApp(plan, interval=interval)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            await wait_for(screen, pilot, "object-store", "-pass", 0)
            assert screen.tile(f"volume:{volume.name}").has_class("-pass"), screen.state.of_store(
                f"volume:{volume.name}"
            )
            # the UI answers while checks run in the worker
            await pilot.press("tab")

            s3.client().delete_bucket_encryption(bucket)
            runs = screen.state.runs
            took = await wait_for(screen, pilot, "object-store", "-fail", runs)
            assert took <= 2  # the run in flight (started before the change) plus the next refresh
            assert any("NO default encryption" in f.summary for f in screen.state.of_store("object-store"))
            s3.client().set_bucket_encryption(bucket, SSEConfig(Rule.new_sse_s3_rule()))
            await wait_for(screen, pilot, "object-store", "-pass", screen.state.runs)

            subprocess.run(["fusermount", "-u", str(volume.mount_point)], check=True)
            took = await wait_for(screen, pilot, f"volume:{volume.name}", "-fail", screen.state.runs)
            assert took <= 2
            key = plan.output_path / "secrets" / f"volume-{volume.name}.key"
            from wizard.volumes import get_backend

            get_backend(plan).unlock(volume, key)
            await wait_for(screen, pilot, f"volume:{volume.name}", "-pass", screen.state.runs)
            history = str(screen.query_one("#dash-history").render())
            assert "object-store: PASS → FAIL" in history and "object-store: FAIL → PASS" in history
            assert f"volume:{volume.name}: FAIL → PASS" in history

    asyncio.run(scenario())


def test_dashboard_is_the_wizards_last_screen(tmp_path: Path) -> None:
    """After a successful Execute the wizard shows the dashboard (the plan's own checks run)."""
    from snapshot_apps.wizard_at import make_app

    from screens.app import AFTER_EXECUTE
    from screens.dashboard import DashboardScreen

    assert AFTER_EXECUTE == [DashboardScreen]

    async def scenario() -> None:
        app = make_app(tmp_path, "ReviewScreen")
        app.plan.set_base_dir(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await app.push_screen(DashboardScreen())
            await _settle(pilot)
            screen = app.screen
            assert isinstance(screen, DashboardScreen) and screen.state.runs == 1
            assert screen.tile("object-store").has_class("-fail")  # nothing runs here: not proven
            await pilot.press("q")
        assert app.return_value is not None and app.return_value.applied is True

    asyncio.run(scenario())
