"""``stackseal rotate object-keys -c FILE``: arguments and output (the work is in
:mod:`wizard.stores.ssec_rotate`, imported only when the command runs, so ``--help`` stays fast).
"""

from __future__ import annotations

from typing import Any

from wizard.errors import OperationFailed, UsageError


def add_arguments(parser: Any) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    parser.add_argument("--workers", type=int, default=8, metavar="N", help="parallel copies (default 8)")
    parser.add_argument("--verify", choices=("auto", "sha256", "etag"), default="auto", help="as for 'migrate objects'")


def run(args: Any) -> int:
    import sys

    from wizard.commands.apply_cmd import load_checked
    from wizard.steps.console import PlainRenderer, RichRenderer
    from wizard.stores.ssec_rotate import rotate_object_keys

    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers: {args.workers} must be between 1 and 64")
    plan = load_checked(args.config)
    if sys.stdout.isatty():
        with RichRenderer() as render:
            outcome = rotate_object_keys(plan, render, workers=args.workers, verify=args.verify)
    else:
        outcome = rotate_object_keys(plan, PlainRenderer(), workers=args.workers, verify=args.verify)
    r = outcome.report
    print(
        f"\nRe-keyed {r.copied} objects, {r.already} were already under the new key, {r.done_before} done by an "
        f"earlier run; {'the new key is now secrets/sse_c_key' if outcome.rotated else 'BOTH keys kept'}."
    )
    for name, reason in r.failed[:50]:
        print(f"  NOT DONE: {name}: {reason}")
    for bucket in outcome.missing_buckets:
        print(f"  NOT DONE: bucket {bucket} does not exist")
    if not outcome.rotated:
        raise OperationFailed(f"{len(r.failed)} objects could not be moved to the new key; both keys kept")
    return 1 if outcome.missing_buckets else 0
