"""The boot-time unlock: a systemd unit and a plain script that run ``stackseal unlock`` before the stack.

Why: after a reboot the tmpfs runtime directory is empty, so Compose has no secrets and the
volumes are closed; Docker's restart policy would start containers on bare mount points. The
unit runs ``stackseal unlock`` (KMS unwrap, volumes open, stack started) once Docker and the
network are up; ``ExecStop`` locks again at shutdown. Other init systems run the script.

The answers file is ``$STACKSEAL_CONFIG``, else ``stackseal.yaml`` in the answers file's
directory. Every path is shell-quoted; one a systemd unit cannot hold safely is refused.
"""

from __future__ import annotations

import shlex

from wizard.errors import UsageError
from wizard.plan import Plan

_UNSAFE = set('"\\%$`\n\r\t')


def _unit_path(text: str, what: str) -> str:
    if any(ch in _UNSAFE or not ch.isprintable() for ch in text):
        raise UsageError(f"{what}: {text!r} holds characters a systemd unit cannot quote safely; move it")
    return f'"{text}"'


def unit_name(plan: Plan) -> str:
    return f"stackseal-unlock-{plan.project}.service"


def script(plan: Plan) -> bytes:
    config = str(plan.base_dir / "stackseal.yaml")
    return (
        "#!/bin/sh\n"
        f"# Rendered by stackseal: unlock project {plan.project} at boot (any init system).\n"
        "# Unwraps every key with the KMS into the tmpfs runtime directory, opens the volumes, starts the stack.\n"
        "set -eu\n"
        'STACKSEAL="${STACKSEAL:-stackseal}"\n'
        f'CONFIG="${{STACKSEAL_CONFIG:-{shlex.quote(config)}}}"\n'
        'exec "$STACKSEAL" unlock -c "$CONFIG" "$@"\n'
    ).encode()


def unit(plan: Plan, stack_dir: str) -> bytes:
    script_path = _unit_path(f"{stack_dir}/boot/stackseal-unlock.sh", "output_dir")
    config = _unit_path(str(plan.base_dir / "stackseal.yaml"), "answers file directory")
    return (
        "# Rendered by stackseal. Install: see RUNBOOK.md section 3.\n"
        "[Unit]\n"
        f"Description=stackseal: unwrap the keys of {plan.project} into tmpfs, open its volumes, start it\n"
        "Wants=network-online.target\n"
        "After=network-online.target docker.service\n"
        "Requires=docker.service\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        "Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"ExecStart=/bin/sh {script_path}\n"
        f"ExecStop=/usr/bin/env stackseal lock -c {config} --stop\n"
        "TimeoutStartSec=900\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    ).encode()
