"""The dashboard's Unlock (``u``) and Lock (``l``) on real components, driven by Textual's Pilot.

A production-like OpenBao (raft storage, 3 shares / threshold 2) wraps the stack's keys; a real
gocryptfs volume holds data. With the server sealed and the stack locked, ``u`` asks each unseal
share in a masked modal, unseals, unwraps the keys onto a tmpfs and opens the volumes — the data
is back; ``l`` closes them and wipes the runtime directory. Cancelling the share prompt changes
nothing. A running container of the project makes ``l`` ask first; "n" leaves everything open.
No share appears on screen or in the dashboard's event lines.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from pathlib import Path

import pytest
from snapshot_apps.dashboard_at import fixed_runner
from unlock_helpers import DATA, cli, make_volume_stack, release

from wizard.layout import volume_specs
from wizard.plan import plan_from_dict

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="tmpfs and FUSE mounts need root"),
]
SIZE = (100, 36)


def _unseal_active(bao) -> None:
    """Unseal and wait until raft made the node active (writes fail with 500 until then)."""
    import time

    import requests

    bao.unseal()
    deadline = time.monotonic() + 30
    while requests.get(f"{bao.address}/v1/sys/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "OpenBao did not become active after unsealing"
        time.sleep(0.2)


@pytest.fixture
def sealed_stack(openbao_sealed, tmp_path: Path):
    """Keys wrapped by the raft OpenBao, gocryptfs volumes with data; then locked and the server sealed."""
    from wizard import kms

    _unseal_active(openbao_sealed)
    (tmp_path / "token").write_text(openbao_sealed.root_token)
    key = f"tui-{secrets.token_hex(4)}"
    vault = {"address": openbao_sealed.address, "token_file": "./token"}
    kms.get_backend(
        plan_from_dict({"version": 1, "kms": {"backend": "vault", "key_name": key, "vault": vault}}, base_dir=tmp_path)
    ).ensure_key()
    answers, plan = make_volume_stack(tmp_path, {"backend": "vault", "key_name": key, "vault": vault})
    locked = cli("lock", "-c", str(answers))
    assert locked.returncode == 0, locked.stderr
    openbao_sealed.seal()
    try:
        yield plan, openbao_sealed, answers
    finally:
        cli("lock", "-c", str(answers))
        release(plan)


async def _until(pilot, condition, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting in the TUI"
        await pilot.pause(0.1)


def _screen_text(app) -> str:
    """Everything the dashboard shows in text (its event lines and status)."""
    from textual.widgets import Static

    return "\n".join(str(w.render()) for w in app.screen.query(Static))


def test_unlock_asks_each_share_masked_then_lock_wipes(sealed_stack) -> None:
    from textual.widgets import Input

    from screens.dashboard import DashboardApp, DashboardScreen
    from screens.unseal import UnsealShare

    plan, bao, answers = sealed_stack
    run = Path(plan.kms.runtime_dir)
    spec = volume_specs(plan)[0]
    shares = bao.unseal_keys[: bao.threshold]

    async def scenario() -> None:
        app = DashboardApp(plan, interval=3600, runner=fixed_runner, start_on_unlock=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.app.workers.wait_for_complete()
            dash = app.screen
            assert isinstance(dash, DashboardScreen)
            await pilot.press("u")
            seen_text = []
            for i, share in enumerate(shares, 1):
                await _until(pilot, lambda: isinstance(app.screen, UnsealShare))
                modal = app.screen
                assert (modal.index, modal.threshold) == (i, bao.threshold)
                field = modal.query_one("#unseal-share", Input)
                assert field.password is True
                field.value = share
                seen_text.append(str(field.render_line(0).text))
                await pilot.press("enter")
                await _until(pilot, lambda m=modal: app.screen is not m)
            await _until(pilot, lambda: not dash.keys_busy)
            text = _screen_text(app)
            assert dash.key_lines[-1].startswith("✔ unlocked"), dash.key_lines
            assert any("unsealed" in line for line in dash.key_lines), dash.key_lines
            assert not any(share in t for share in shares for t in [text, *seen_text, *dash.key_lines])

            assert not bao.sealed()
            assert (spec.mount_point / "graph.db").read_text() == DATA
            fs = subprocess.run(["stat", "-f", "-c", "%T", str(run)], capture_output=True, text=True).stdout.strip()
            assert fs == "tmpfs" and (run / f"volume-{spec.name}.key").exists()

            await pilot.press("l")  # nothing of this project runs: no confirmation
            await _until(pilot, lambda: not dash.keys_busy)
            assert dash.key_lines[-1].startswith("✔ locked"), dash.key_lines
            assert not run.exists(), "lock leaves the runtime directory gone"
            assert not (spec.mount_point / "graph.db").exists(), "the volume is closed"

    asyncio.run(scenario())


def test_cancelling_the_share_prompt_changes_nothing(sealed_stack) -> None:
    from screens.dashboard import DashboardApp
    from screens.unseal import UnsealShare

    plan, bao, answers = sealed_stack
    run = Path(plan.kms.runtime_dir)

    async def scenario() -> None:
        app = DashboardApp(plan, interval=3600, runner=fixed_runner, start_on_unlock=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.app.workers.wait_for_complete()
            dash = app.screen
            await pilot.press("u")
            await _until(pilot, lambda: isinstance(app.screen, UnsealShare))
            await pilot.press("escape")
            await _until(pilot, lambda: not dash.keys_busy)
            assert dash.key_lines[-1].startswith("✘ unlock:") and "cancelled" in dash.key_lines[-1]
            assert "\n" not in dash.key_lines[-1]

    asyncio.run(scenario())
    assert bao.sealed()
    assert not run.exists()
    assert not (volume_specs(plan)[0].mount_point / "graph.db").exists()


def test_lock_asks_before_stopping_a_running_stack(sealed_stack, docker, local_images) -> None:
    """A container of the project runs: ``l`` asks; "n" leaves the keys and volumes as they were."""
    from screens.dashboard import DashboardApp
    from screens.unseal import ConfirmLock

    plan, bao, answers = sealed_stack
    _unseal_active(bao)
    unlocked = cli("unlock", "-c", str(answers), "--no-start")
    assert unlocked.returncode == 0, unlocked.stderr
    run = Path(plan.kms.runtime_dir)
    name = f"{plan.project}-neo4j-1"
    from testbed.images import IMAGES

    image = IMAGES["busybox"]  # built by the local_images fixture
    docker.run(
        "run", "-d", "--name", name,
        "--label", f"com.docker.compose.project={plan.project}",
        "--label", "com.docker.compose.service=neo4j",
        "--entrypoint", "sleep", image, "300",
    )  # fmt: skip
    try:

        async def scenario() -> None:
            app = DashboardApp(plan, interval=3600, runner=fixed_runner, start_on_unlock=False)
            async with app.run_test(size=SIZE) as pilot:
                await pilot.app.workers.wait_for_complete()
                dash = app.screen
                await pilot.press("l")
                await _until(pilot, lambda: isinstance(app.screen, ConfirmLock))
                assert "neo4j" in _screen_text(app)
                await pilot.press("n")
                await _until(pilot, lambda: not dash.keys_busy)
                assert dash.key_lines[-1] == "✘ lock cancelled; nothing was changed"

        asyncio.run(scenario())
        assert run.exists() and (volume_specs(plan)[0].mount_point / "graph.db").exists()
    finally:
        docker.run("rm", "-f", name, check=False)


def test_a_wrong_share_ends_in_one_line_and_changes_nothing(sealed_stack) -> None:
    """A share typed wrong (hostile input: garbage, control characters): one line, still sealed, nothing unwrapped."""
    from textual.widgets import Input

    from screens.dashboard import DashboardApp
    from screens.unseal import UnsealShare

    plan, bao, answers = sealed_stack
    run = Path(plan.kms.runtime_dir)
    garbage = "not-a-share\x1b[31m" + "A" * 300

    async def scenario() -> None:
        app = DashboardApp(plan, interval=3600, runner=fixed_runner, start_on_unlock=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.app.workers.wait_for_complete()
            dash = app.screen
            await pilot.press("u")
            for _ in range(bao.threshold):
                await _until(pilot, lambda: isinstance(app.screen, UnsealShare) or not dash.keys_busy)
                if not dash.keys_busy:
                    break
                modal = app.screen
                modal.query_one("#unseal-share", Input).value = garbage
                await pilot.press("enter")
                await _until(pilot, lambda m=modal: app.screen is not m)
            await _until(pilot, lambda: not dash.keys_busy)
            last = dash.key_lines[-1]
            assert last.startswith("✘ unlock:") and "\n" not in last, dash.key_lines
            assert "refused an unseal share" in last and "still sealed" in last, last
            assert "not-a-share" not in "\n".join(dash.key_lines)

    asyncio.run(scenario())
    assert bao.sealed()
    assert not run.exists()
