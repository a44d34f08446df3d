"""Key rotation, one subcommand per kind of key, e.g. ``stackseal rotate object-keys -c FILE`` (journaled, resumable).

Why one command with a module per kind: each kind rotates a different thing with its own journal
(``kms-key``: a new transit key version, every stored key re-wrapped, the old version retired;
``volume-keys``: a new key per encrypted volume; ``object-keys``: SSE-C objects copied from the old customer key to a new one; ``backup-keys``:
every backup's data key re-wrapped with the current KMS key version, no data re-encrypted), but
users find them in one place. Only the kinds that exist are registered, so ``--help`` never
offers one that cannot run. Each module is imported for its arguments only; the work is imported
when it runs.
"""

from __future__ import annotations

import argparse
import importlib

from wizard.errors import UsageError

#: kind -> (module with add_arguments/run, one-line help)
KINDS: dict[str, tuple[str, str]] = {
    "kms-key": (
        "wizard.commands.rotate_stored_keys",
        "new KMS key version, re-wrap every stored key, retire the old version",
    ),
    "volume-keys": (
        "wizard.commands.rotate_stored_keys",
        "a new key for every encrypted volume (old key removed once verified)",
    ),
    "object-keys": (
        "wizard.commands.rotate_object_keys",
        "SSE-C: copy every object from the old customer key to a new one",
    ),
    "backup-keys": (
        "wizard.commands.rotate_backup_keys",
        "re-wrap every backup's data key (no data is re-encrypted)",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", metavar="KIND", parser_class=type(parser), required=True)
    for kind, (module_name, help_text) in KINDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(kind, help=help_text, description=help_text)
        module.add_arguments(cmd)
        cmd.set_defaults(_rotate_module=module_name)


def run(args: argparse.Namespace) -> int:
    if not getattr(args, "kind", None):
        raise UsageError(f"say what to rotate: one of {', '.join(KINDS)} (e.g. 'stackseal rotate object-keys -c FILE')")
    return int(importlib.import_module(args._rotate_module).run(args) or 0)
