"""Key rotation (``stackseal rotate backup-keys -c FILE``): one subcommand per kind of key.

``backup-keys`` re-wraps every backup's data key with the current version of the plan's KMS key
without re-encrypting any data: after ``rotate kms-key`` (a new transit key version), old
ciphertexts of the data keys are replaced one manifest at a time (atomic), so the older key
version can then be retired (``min_decryption_version``) without losing a backup.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", metavar="KIND", parser_class=type(parser), required=True)
    backup = sub.add_parser("backup-keys", help="re-wrap every backup's data key (no data is re-encrypted)")
    backup.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    backup.set_defaults(_rotate=_backup_keys)


def _backup_keys(args: argparse.Namespace) -> int:
    from wizard.backup.restore import rotate_keys
    from wizard.commands.apply_cmd import load_checked
    from wizard.commands.backup_cmd import key_wrapper
    from wizard.steps.console import PlainRenderer

    plan = load_checked(args.config)
    changed = rotate_keys(plan, key_wrapper(plan), PlainRenderer())
    for backup_id, old, new in changed:
        print(f"{backup_id}: data key re-wrapped (key version {old} -> {new})")
    print(f"{len(changed)} backup data keys re-wrapped; no backup data was re-encrypted.")
    return 0


def run(args: argparse.Namespace) -> int:
    return int(args._rotate(args))
