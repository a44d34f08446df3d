"""The ``stackseal`` command line (the contract is README's command table; see docs/architecture.md).

Why argparse with lazily imported command modules: ``stackseal --help`` and scripted calls
must start fast, and the core must never import Textual. Each subcommand lives in
``wizard/commands/<name>.py`` exposing ``add_arguments(parser)`` and ``run(args) -> int``;
heavy imports happen inside ``run``.

Every :class:`~wizard.errors.StacksealError` becomes one line on stderr and its exit code
(0 success, 1 failed cleanly, 2 bad input); no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from wizard import __version__
from wizard.errors import StacksealError

#: subcommand -> (module, one-line help). Order is the order ``--help`` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "wizard": ("wizard.commands.wizard_cmd", "ask the questions (Textual, or --plain) and save the answers file"),
    "render": (
        "wizard.commands.render_cmd",
        "write every artifact (compose, secrets, configs, runbook) for an answers file",
    ),
    "plan": ("wizard.commands.plan_cmd", "show the provisioning steps and what each would change"),
    "apply": ("wizard.commands.apply_cmd", "render and execute the steps; resumes an interrupted run"),
    "verify": ("wizard.commands.verify_cmd", "run every encryption check with evidence (exit 1 on any FAIL)"),
    "dashboard": ("wizard.commands.dashboard_cmd", "live verification dashboard (Textual)"),
    "rotate": (
        "wizard.commands.rotate_cmd",
        "execute a key rotation (kms-key, volume-keys, object-keys, backup-keys; journaled, resumable)",
    ),
    "migrate": ("wizard.commands.migrate_cmd", "re-encrypt existing objects / move a volume's data, with proof"),
    "unlock": ("wizard.commands.unlock_cmd", "unwrap the keys into the tmpfs runtime directory, open volumes, start"),
    "lock": ("wizard.commands.lock_cmd", "stop (--stop), close the volumes, wipe the runtime directory"),
    "keys": ("wizard.commands.keys_cmd", "keys: inventory (list), escrow bundle (export) and its restore (import)"),
    "bench": ("wizard.commands.bench_cmd", "measure the performance cost of encryption on this host"),
    "backup": ("wizard.commands.backup_cmd", "encrypted backups (create, list, verify, restore) and tested restores"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (its default), prefixed like our own errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"stackseal: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stackseal", description="Encrypt a Docker Compose stack's data at rest, with keys in a real KMS."
    )
    parser.add_argument("--version", action="version", version=f"stackseal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip().splitlines()[0])
        module.add_arguments(cmd)
        cmd.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        argv = ["wizard"]
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except StacksealError as err:
        from wizard.plan.messages import one_line  # a path or value in a message never prints raw escapes

        print(f"stackseal: error: {one_line(str(err), 4000)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("stackseal: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
