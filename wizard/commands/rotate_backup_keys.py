"""``stackseal rotate backup-keys -c FILE``: re-wrap every backup's data key with the current
version of the plan's KMS key, without re-encrypting any data.

After ``rotate kms-key`` (a new transit key version), old ciphertexts of the data keys are
replaced one manifest at a time (atomic), so the older key version can then be retired
(``min_decryption_version``) without losing a backup.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")


def run(args: argparse.Namespace) -> int:
    from wizard.backup.restore import RotationIncomplete, rotate_keys
    from wizard.commands.apply_cmd import load_checked
    from wizard.commands.backup_cmd import key_wrapper
    from wizard.steps.console import PlainRenderer

    plan = load_checked(args.config)
    try:
        changed = rotate_keys(plan, key_wrapper(plan), PlainRenderer())
    except RotationIncomplete as err:
        _report(err.changed)
        raise
    _report(changed)
    return 0


def _report(changed: list[tuple[str, str | None, str | None]]) -> None:
    from wizard.plan.messages import one_line

    for backup_id, old, new in changed:
        # the old version is the manifest's label of its wrapped key: outside the MAC, so hostile
        print(one_line(f"{backup_id}: data key re-wrapped (key version {old} -> {new})", 400))
    print(f"{len(changed)} backup data keys re-wrapped; no backup data was re-encrypted.")
