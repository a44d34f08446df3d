"""Render and execute the provisioning steps (``stackseal apply -c FILE [--yes] [--dry-run]``).

Shows the plan first, asks unless ``--yes``, then runs every step with live progress, writing
``<output_dir>/.stackseal/journal.json`` after each step so an interrupted run resumes.
``--dry-run`` prints the plan and changes nothing at all (no file, no journal, no container).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from wizard.errors import Refused, UsageError

if TYPE_CHECKING:
    from wizard.plan import Plan
    from wizard.steps.context import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--dry-run", action="store_true", help="show what would change and stop (changes nothing)")
    parser.add_argument(
        "--allow-destroy",
        "--force",
        dest="allow_destroy",
        action="store_true",
        help="allow the steps the plan marks DESTROYS (hand-edited files, old unencrypted volumes)",
    )
    parser.add_argument(
        "--wait-timeout",
        type=int,
        default=300,
        metavar="SECONDS",
        help="how long services may take to become healthy (default 300)",
    )


def load_checked(path: str) -> Plan:
    """Load the answers file and refuse impossible combinations (one line, exit 2)."""
    from wizard.compat import check_plan
    from wizard.plan import load_plan

    plan = load_plan(path)
    errors = [p for p in check_plan(plan) if p.level == "error"]
    if errors:
        raise UsageError(str(errors[0]))
    return plan


def _confirm() -> bool:
    if not sys.stdin.isatty():
        raise UsageError("apply needs confirmation but stdin is not a terminal; re-run with --yes")
    answer = input("Apply these changes? Only 'yes' continues: ").strip().lower()
    return answer in ("yes", "y")


def _unfinished_run(ctx: Context) -> bool:
    """True when the journal holds an interrupted run: it is closed by running (all '=') steps."""
    from wizard.steps.journal import Journal

    journal = Journal.load(Journal.file(ctx.state_dir))
    return journal is not None and journal.status != "done"


def run(args: argparse.Namespace) -> int:
    from wizard.steps import runner
    from wizard.steps.console import PlainRenderer, RichRenderer
    from wizard.steps.context import Context

    if args.wait_timeout < 1:
        raise UsageError(f"--wait-timeout: {args.wait_timeout} must be at least 1 second")
    plan = load_checked(args.config)
    ctx = Context.for_plan(plan, allow_destroy=args.allow_destroy, wait_timeout=args.wait_timeout)
    try:
        checks = runner.check_all(ctx)
        print(runner.format_plan(checks), flush=True)
        if args.dry_run:
            print("Dry run: nothing was changed.")
            return 0
        if not any(chk.changes for _, chk in checks) and not _unfinished_run(ctx):
            return 0
        destroys = [item for _, chk in checks for item in chk.destroys]
        if destroys and not args.allow_destroy:
            raise Refused(f"this apply would destroy: {'; '.join(destroys)}; re-run with --allow-destroy if intended")
        if not args.yes and not _confirm():
            print("Nothing was changed.")
            return 1
        print("", flush=True)
        if sys.stdout.isatty():
            with RichRenderer() as render:
                result = runner.run(ctx, render)
        else:
            result = runner.run(ctx, PlainRenderer())
        print(
            f"\nApply complete: {result.changed} steps changed something, "
            f"{len(result.outcomes) - result.changed} had nothing to do."
        )
        return 0
    finally:
        ctx.close()
