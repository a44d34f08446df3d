"""The key-age widget (Textual Pilot): ages against rotation.interval_days, and its Rotate button
runs the real volume-key rotation on a real gocryptfs volume."""

from __future__ import annotations

import os
import time
from pathlib import Path

from testbed.require import require_tool
from textual.app import App, ComposeResult
from textual.widgets import Button, DataTable, Static

from screens.widgets.key_ages import KeyAges
from wizard.layout import volume_specs
from wizard.plan import plan_from_dict
from wizard.volumes.gocryptfs import GocryptfsBackend
from wizard.volumes.keys import ensure_key


class AgesApp(App[None]):
    def __init__(self, plan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        yield KeyAges(self.plan)


def rotate_button(app: App, kind: str) -> Button:
    (button,) = [b for b in app.query("KeyAges Button.rotate").results(Button) if b.name == kind]
    return button


def test_key_ages_show_what_is_due_and_the_button_rotates_it(tmp_path: Path) -> None:
    require_tool("gocryptfs", "apt-get install gocryptfs fuse3")
    plan = plan_from_dict(
        {
            "version": 1,
            "project": "ages",
            "rotation": {"interval_days": 30},
            "volumes": {"backend": "gocryptfs", "root": str(tmp_path / "vols")},
        },
        base_dir=tmp_path,
    )
    secrets_dir = plan.output_path / "secrets"
    spec = volume_specs(plan)[0]
    key = ensure_key(secrets_dir, spec.name)
    GocryptfsBackend().create(spec, key)
    old = key.read_bytes()
    (secrets_dir / "neo4j_auth").write_text("neo4j/secret-password")
    long_ago = time.time() - 45 * 86400
    os.utime(key, (long_ago, long_ago))

    async def scenario() -> None:
        app = AgesApp(plan)
        async with app.run_test(size=(100, 30)) as pilot:
            table = app.query_one(DataTable)
            rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
            assert str(rows[key.name][1]) == "45" and str(rows[key.name][3]) == "due"
            assert str(rows["neo4j_auth"][3]) == "see runbook"
            assert "due for rotation: 1" in str(app.query_one("#key-ages-title", Static).render())
            button = rotate_button(app, "volume-keys")
            assert "(due)" in str(button.label)
            await pilot.click(button)
            await app.workers.wait_for_complete()
            await pilot.pause()
            status = str(app.query_one("#key-ages-status", Static).render())
            assert status.startswith("✔ rotated the keys of 1 gocryptfs volumes"), status
            rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
            assert str(rows[key.name][1]) == "0" and str(rows[key.name][3]) == "ok"
            assert rotate_button(app, "volume-keys").label.plain == "Rotate volume-keys"

    import asyncio

    asyncio.run(scenario())
    assert key.read_bytes() != old
    assert GocryptfsBackend().opens(spec, key)


def test_the_wizard_last_page_shows_key_ages_once_the_steps_are_done(tmp_path: Path) -> None:
    """Execute's success state (the wizard's last page) mounts the key-age widget for the plan."""
    import asyncio

    from screens.app import StacksealApp
    from screens.execute import ExecuteScreen

    class Finished(ExecuteScreen):
        def _run(self, plan) -> None:  # the steps themselves are tested in test_tui_screens.py
            self._done(None)

    plan = plan_from_dict({"version": 1, "project": "lastpage", "volumes": {"backend": "none"}}, base_dir=tmp_path)
    (plan.output_path / "secrets").mkdir(parents=True)
    (plan.output_path / "secrets" / "neo4j_auth").write_text("neo4j/secret-password")

    async def scenario() -> None:
        app = StacksealApp(plan, tmp_path / "stackseal.yaml", facts=None, detect=False, start_at=6)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            await app.push_screen(Finished())
            await pilot.pause()
            widget = app.screen.query_one(KeyAges)
            assert "Keys: 1, due for rotation: 0" in str(widget.query_one("#key-ages-title", Static).render())

    asyncio.run(scenario())
