"""Pilot tests of the Backups screen against real SeaweedFS and OpenBao: take a backup, verify it,
run a restore drill, and see a failure as one line — each through the keys the footer shows."""

from __future__ import annotations

import io
import secrets
import time

import pytest
from backup_helpers import TransitWrapper, write_plan
from snapshot_apps.pilot import sync
from textual.widgets import DataTable, Static

from screens.backups import BackupsApp, BackupsScreen
from wizard.backup import engine
from wizard.plan import load_plan

SIZE = (110, 34)


@pytest.fixture
def setup(tmp_path, s3, openbao):
    bucket = f"tui-{secrets.token_hex(4)}"
    plan = load_plan(write_plan(tmp_path, s3, buckets=[bucket]))
    client = s3.client()
    client.make_bucket(bucket)
    for i in range(30):
        client.put_object(bucket, f"k{i}", io.BytesIO(b"x" * (i + 1)), i + 1)
    kms = TransitWrapper(openbao.address, openbao.token, key=f"tui{secrets.token_hex(3)}").ensure()
    return plan, kms, client, bucket


async def _wait_idle(pilot, screen: BackupsScreen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    await pilot.pause()
    while screen.busy and time.monotonic() < deadline:
        await pilot.pause(0.1)
    assert not screen.busy, "the backup worker did not finish"
    await pilot.pause()


def _text(screen: BackupsScreen, wid: str) -> str:
    return str(screen.query_one(wid, Static).render())


@sync
async def test_take_verify_and_drill_from_the_screen(setup) -> None:
    plan, kms, client, bucket = setup
    app = BackupsApp(plan, wrapper=lambda: kms, what=("objects", "keys"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, BackupsScreen)
        assert "No backup yet" in _text(screen, "#bk-summary")
        assert "not measured yet" in _text(screen, "#bk-bench")
        await pilot.press("b")
        await _wait_idle(pilot, screen)
        assert screen.last_error is None, screen.last_error
        ids = engine.repo_of(plan).ids()
        assert len(ids) == 1 and ids[0] in _text(screen, "#bk-summary")
        assert "never verified" in _text(screen, "#bk-summary")
        assert screen.query_one("#bk-table", DataTable).row_count == 1

        await pilot.press("v")
        await _wait_idle(pilot, screen)
        assert screen.last_error is None, screen.last_error
        assert "verified" in _text(screen, "#bk-summary") and "never" not in _text(screen, "#bk-summary")

        buckets_before = {b.name for b in client.list_buckets()}
        await pilot.click("#bk-drill")
        await _wait_idle(pilot, screen)
        assert screen.last_error is None, screen.last_error
        assert "Restore drill" in (screen.last_result or "")
        assert {b.name for b in client.list_buckets()} == buckets_before, "scratch bucket removed"


@sync
async def test_tampered_backup_shows_one_line_and_stays_usable(setup) -> None:
    plan, kms, _client, bucket = setup
    manifest = engine.create(plan, kms, what=("objects",))
    part = engine.repo_of(plan).root / manifest.id / f"objects-{bucket}.age"
    data = bytearray(part.read_bytes())
    data[-5] ^= 0xFF
    part.write_bytes(bytes(data))
    app = BackupsApp(plan, wrapper=lambda: kms, what=("objects",))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("v")
        await _wait_idle(pilot, screen)
        assert screen.last_error and "\n" not in screen.last_error and "tampered" in screen.last_error
        assert "FAILED" in _text(screen, "#bk-summary")
        assert all(not b.disabled for b in screen.query("Button"))


@sync
async def test_the_latest_bench_result_is_shown(setup) -> None:
    from wizard.bench.common import Result
    from wizard.bench.report import save, to_json

    plan, kms, _client, _bucket = setup
    results = [
        Result("backup", "age CLI encrypt", 300.0, "MB/s"),
        Result("backup", "stackseal encrypt", 310.0, "MB/s", baseline="age CLI encrypt"),
    ]
    save(plan.output_path, to_json(results, "h"))
    app = BackupsApp(plan, wrapper=lambda: kms)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "backup encryption: 310 MB/s" in _text(app.screen, "#bk-bench")
