"""Show the provisioning steps and what each would change (``stackseal plan -c FILE``).

``--check`` exits 0 when nothing would change and 3 when something would, so a CI job can
detect drift between the answers file and the running stack. Nothing is changed, ever.
"""

from __future__ import annotations

import argparse

DRIFT_EXIT = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON (stable keys for scripts)")
    parser.add_argument(
        "--check", action="store_true", help="exit 3 if anything would change, 0 if not (drift detection)"
    )


def run(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked
    from wizard.steps.context import Context
    from wizard.steps.runner import check_all, counts, dumps_plan_json, format_plan

    plan = load_checked(args.config)
    ctx = Context.for_plan(plan)
    try:
        checks = check_all(ctx)
    finally:
        ctx.close()
    print(dumps_plan_json(checks) if args.json else format_plan(checks))
    if args.check:
        c = counts(checks)
        return DRIFT_EXIT if c["create"] + c["change"] else 0
    return 0
