"""Keys: escrow export and import (``stackseal keys {export,import} -c FILE ...``).

``export`` writes one age-format bundle with everything a new host needs to open the stack's
data (wrapped keys, KMS key ids, LUKS header backups, gocryptfs master keys, OpenBao init file,
recovery instructions); ``import`` restores it. A wrong identity or passphrase, a truncated or
tampered bundle: one line, exit 1, nothing changed; bad input: exit 2.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.rotate.escrow_cli import add_export, add_import

    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True, parser_class=type(parser))
    add_export(sub)
    add_import(sub)


def run(args: argparse.Namespace) -> int:
    from wizard.rotate.escrow_cli import run_export, run_import

    if args.keys_command == "export":
        return run_export(args)
    return run_import(args)
