"""Keys: the inventory (``keys list``), the escrow bundle (``keys export``) and its restore (``keys import``).

``list``: for each key its name, purpose, what wraps it (backend, key id, version), when it was
created and last rotated, where it is stored and where its plaintext lives while the stack is
unlocked — read from the stored blobs' metadata: works while the KMS is down, never shows a value.
``export`` writes one age-format bundle with everything a new host needs to open the stack's data;
``import`` restores it (wrong identity/passphrase, truncated or tampered bundle: one line, exit 1,
nothing changed). The escrow half lives in :mod:`wizard.rotate.escrow_cli`.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from wizard.rotate.escrow_cli import add_export, add_import

    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True, parser_class=type(parser))
    listing = sub.add_parser("list", help="list every key and what wraps it")
    listing.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    add_export(sub)
    add_import(sub)


def run(args: argparse.Namespace) -> int:
    if args.keys_command == "export":
        from wizard.rotate.escrow_cli import run_export

        return run_export(args)
    if args.keys_command == "import":
        from wizard.rotate.escrow_cli import run_import

        return run_import(args)
    return _run_list(args)


def _run_list(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked
    from wizard.kms.inventory import inventory

    plan = load_checked(args.config)
    rows = inventory(plan)
    if args.json:
        print(
            json.dumps(
                {"project": plan.project, "backend": plan.kms.backend, "keys": [r.to_json() for r in rows]}, indent=2
            )
        )
        return 0
    if not rows:
        print("no keys yet: run 'stackseal render' or 'stackseal apply'")
        return 0
    for r in rows:
        wrapped = f"{r.backend}:{r.key_id}@v{r.key_version}" if r.key_id else f"{r.backend} (not wrapped)"
        state = "unlocked" if r.unlocked else "locked"
        print(
            f"{r.name}\n    {r.purpose}\n    wrapped by {wrapped}; created {r.created or '-'}, rotated {r.rotated or 'never'}"
        )
        print(f"    stored {r.stored}; plaintext {r.plaintext} [{state}]")
    return 0
