"""Scheduled backups: a systemd service + timer and a cron line, rendered with the stack.

Why rendered files rather than stackseal installing them: installing a unit changes the host
outside the output directory, which render never does; the operator copies them (the runbook
says how). The service runs ``backup create`` and then ``backup verify --latest``, so every
scheduled backup is also proven decryptable. The answers file path is an untrusted value going
into a unit file and a crontab: it is refused if it holds control characters, quoted for
systemd (``%`` doubled, ``"`` and ``\\`` escaped) and for the shell (``shlex.quote``, ``%``
escaped for cron).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from wizard.errors import UsageError
from wizard.render.templates import render_template

#: Daily, at a quiet hour (a Community dump stops Neo4j for its duration).
TIME = "03:17"


def _checked(path: Path) -> str:
    text = str(path)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise UsageError(f"{text!r}: a path with control characters cannot go into a systemd unit or crontab")
    return text


def _systemd_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def config_path(plan: Any) -> Path:
    """The answers file the units point at (the plan's directory, stackseal.yaml)."""
    return plan.base_dir / "stackseal.yaml"


def schedule_files(plan: Any) -> dict[str, bytes]:
    """``{relative path: content}`` of the timer, the service and the cron line."""
    config = _checked(config_path(plan))
    workdir = _checked(plan.base_dir)
    hour, minute = TIME.split(":")
    name = f"stackseal-backup-{plan.project}"
    command = (
        f"stackseal backup create -c {shlex.quote(config)} && stackseal backup verify -c {shlex.quote(config)} --latest"
    )
    context = {
        "project": plan.project,
        "config_display": config,
        "config_env": _systemd_quote(f"STACKSEAL_CONFIG={config}"),
        "workdir": workdir.replace("%", "%%"),  # systemd takes this path unquoted
        "time": TIME,
        "hour": str(int(hour)),
        "minute": str(int(minute)),
        "cron_command": command.replace("%", "\\%") + " >/dev/null",
    }
    return {
        f"backup/{name}.service": render_template("backup/stackseal-backup.service.j2", **context),
        f"backup/{name}.timer": render_template("backup/stackseal-backup.timer.j2", **context),
        f"backup/{name}.cron": render_template("backup/crontab.j2", **context),
    }
