"""Write every artifact (compose file, secrets, KES/SeaweedFS/OpenBao configs, policies, runbook).

``stackseal render -c FILE [-o DIR] [--force] [--dry-run]``. Exit 0 on success, 2 on bad input,
an impossible combination, or files changed by someone else (shown as a unified diff; re-run with
``--force`` to overwrite them). Imports stay inside ``run`` so ``stackseal --help`` is fast.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    parser.add_argument("-o", "--out", metavar="DIR", help="output directory (default: output_dir of the answers file)")
    parser.add_argument(
        "--force", action="store_true", help="overwrite files changed by hand or not written by stackseal"
    )
    parser.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wizard import compat
    from wizard.marks import FILE_MARK
    from wizard.plan import load_plan
    from wizard.render import refuse_impossible, writer

    plan = load_plan(args.config)
    out = Path(args.out).expanduser().resolve() if args.out else plan.output_path
    refuse_impossible(plan)  # an impossible combination is one line, before any warning
    try:
        changes = writer.preview(plan, out) if args.dry_run else writer.write(plan, out, force=args.force)
    except writer.ConflictError as err:
        sys.stderr.write(err.diffs())
        raise
    for change in changes:
        note = " (secret)" if change.secret else ""
        label = "overwrote" if change.action == "conflict" and args.force and not args.dry_run else change.action
        print(f"{FILE_MARK[change.action]} {label:9} {change.path}{note}")
        if args.dry_run and change.diff:
            print(change.diff, end="")
    if not args.dry_run:
        from wizard.kms import secret_store
        from wizard.render import render_files

        for rel in writer.stale_files(render_files(plan, secret_store(plan, out, preview=True)), out):
            print(f"- stale     {rel} (no longer part of this plan; left in place, delete it when unused)")
    for problem in compat.check_plan(plan):  # after success: a refusal stays one line
        if problem.level == "warning":
            print(f"stackseal: warning: {problem}", file=sys.stderr)
    counts = {a: sum(1 for c in changes if c.action == a) for a in FILE_MARK}
    verb = "would write" if args.dry_run else "wrote"
    print(
        f"{verb} {counts['create'] + counts['update']} file(s) to {out}: {counts['create']} created, "
        f"{counts['update']} updated, {counts['unchanged']} unchanged"
        + (f", {counts['conflict']} conflict(s)" if counts["conflict"] else "")
    )
    return 0
