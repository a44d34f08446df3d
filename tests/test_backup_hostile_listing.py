"""``backup list`` and the Backups screen over a hostile backups directory: one line or a clean display.

Why: ``backup list`` and the TUI read two things nothing authenticates: ``.history.json`` and the
wrapped data key's labels (``encryption.data_key`` is deliberately outside the manifest MAC, so
key rotation can re-wrap it). A history nested thousands deep or with entries missing fields
ended in a traceback; a key id with terminal escapes was printed raw, and one with Rich markup
(``[/x]``) crashed the TUI's table. No server is needed: the manifest parses (it is never
authenticated by ``list``), the KMS is never asked.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_backup_units import _sealed_manifest

from screens.backups import BackupsApp
from wizard.backup.manifest import dumps
from wizard.plan import load_plan


def _setup(tmp_path: Path, key_id: str, history: str) -> tuple[Path, str]:
    config = tmp_path / "stackseal.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "project": "hostile",
                "output_dir": str(tmp_path / "stack"),
                "volumes": {"backend": "none", "root": str(tmp_path / "vols")},
                "backups": {"dir": str(tmp_path / "backups"), "keep": 3},
            }
        )
    )
    doc = json.loads(dumps(_sealed_manifest()))
    doc["encryption"]["data_key"]["key_id"] = key_id
    backup = tmp_path / "backups" / doc["id"]
    backup.mkdir(parents=True)
    (backup / "manifest.json").write_text(json.dumps(doc))
    (tmp_path / "backups" / ".history.json").write_text(history.replace("ID", doc["id"]))
    return config, doc["id"]


def _list(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wizard.cli", "backup", "list", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "history",
    [
        "[" * 100_000 + "]" * 100_000,  # nested thousands deep: ignored like a damaged file
        '[{"id": "ID", "op": "verify"}]',  # no state, no time
        '[{"id": "ID", "op": "verify", "state": "done", "time": 5}]',
        '[{"id": "ID", "op": "verify", "state": "done", "time": "t", "error": ["x"]}]',
    ],
    ids=["deep", "no-time", "int-time", "list-error"],
)
def test_a_hostile_history_is_ignored_by_backup_list(tmp_path: Path, history: str) -> None:
    config, backup_id = _setup(tmp_path, "transit/k", history)
    result = _list(config)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert backup_id in result.stdout and "never" in result.stdout


def test_backup_list_prints_no_raw_escape_from_a_manifest(tmp_path: Path) -> None:
    history = '[{"id": "ID", "op": "verify", "state": "done", "time": "\\u001b]0;t\\u0007\\nfake"}]'
    config, _ = _setup(tmp_path, "\x1b[2J\x1b[31mEVIL\nstackseal: error: fake", history)
    result = _list(config)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert len(result.stdout.strip().splitlines()) == 2  # the header and one row


def test_the_backups_screen_shows_markup_in_a_key_id_as_text(tmp_path: Path) -> None:
    history = '[{"id": "ID", "op": "verify", "state": "done", "time": "[/y]"}]'
    config, _ = _setup(tmp_path, "transit/k[/x]", history)
    app = BackupsApp(load_plan(config), wrapper=lambda: None)

    async def run() -> None:
        async with app.run_test(size=(110, 34)) as pilot:
            await pilot.pause()
            await pilot.pause(0.3)

    asyncio.run(run())
    assert app.return_code in (None, 0), app.return_code


def test_rotate_reports_an_old_key_version_without_raw_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    from wizard.commands.rotate_backup_keys import _report

    _report([("20261201T052500.123456Z-1a2b3c", "1\x1b[2J\nstackseal: error: fake", "2")])
    out = capsys.readouterr().out
    assert "\x1b" not in out and len(out.strip().splitlines()) == 2
