"""Move existing data under encryption: ``stackseal migrate objects`` and ``stackseal migrate volume``.

``objects`` re-encrypts every plaintext object in place (server-side copy with the plan's SSE,
verified, journaled in ``<output_dir>/.stackseal/migrate-objects.json``, resumable), then removes
the plaintext remnants the store keeps. ``volume`` moves a plain volume's data into its encrypted
volume with a SHA-256 manifest as proof. Exit 0 when everything was done, 1 when something was
not (listed), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

from wizard.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT")
    obj = sub.add_parser("objects", help="re-encrypt existing plaintext objects in place")
    obj.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    obj.add_argument("--bucket", action="append", metavar="B", help="only this bucket (repeatable; default: all)")
    obj.add_argument("--workers", type=int, default=8, metavar="N", help="parallel copies (default 8)")
    obj.add_argument("--dry-run", action="store_true", help="count what would be copied; change nothing")
    obj.add_argument(
        "--verify",
        choices=("auto", "sha256", "etag"),
        default="auto",
        help="how each copy's content is proven: sha256 streams it before and after; etag requires "
        "an unchanged ETag; auto (default) accepts an unchanged ETag on SeaweedFS and elsewhere recomputes "
        "the upload's ETag from one read of the copy (docs/migration.md)",
    )
    obj.add_argument(
        "--all-versions",
        action="store_true",
        help="versioned buckets: re-encrypt older versions too (each plaintext version is deleted once its copy is verified)",
    )
    obj.add_argument("--no-vacuum", action="store_true", help="skip the SeaweedFS vacuum (plaintext stays on disk)")
    vol = sub.add_parser("volume", help="move a volume's data into its encrypted volume, with proof")
    vol.add_argument("name", nargs="?", metavar="NAME", help="volume name (e.g. neo4j-data)")
    vol.add_argument("--all", action="store_true", help="every volume with data outside its encrypted volume")
    vol.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    vol.add_argument(
        "--remove-plaintext",
        action="store_true",
        help="overwrite and delete the plaintext original of a verified migration (no guarantee on SSDs / CoW)",
    )
    vol.add_argument("--wait-timeout", type=int, default=300, metavar="SECONDS", help="health wait (default 300)")


def run(args: argparse.Namespace) -> int:
    if args.what == "objects":
        return _objects(args)
    if args.what == "volume":
        return _volume(args)
    raise UsageError(
        "say what to migrate: 'stackseal migrate objects -c FILE' or 'stackseal migrate volume NAME -c FILE'"
    )


def _objects(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked
    from wizard.steps.console import PlainRenderer, RichRenderer
    from wizard.steps.events import human_bytes
    from wizard.stores.objects_run import migrate_objects

    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers: {args.workers} must be between 1 and 64")
    plan = load_checked(args.config)
    for bucket in args.bucket or []:
        if bucket not in plan.object_store.buckets:
            raise UsageError(
                f"--bucket: '{bucket}' is not one of object_store.buckets ({', '.join(plan.object_store.buckets)})"
            )
    kwargs = dict(
        buckets=args.bucket,
        workers=args.workers,
        verify=args.verify,
        dry_run=args.dry_run,
        all_versions=args.all_versions,
        vacuum=not args.no_vacuum,
    )
    if sys.stdout.isatty() and not args.dry_run:
        with RichRenderer() as render:
            outcome = migrate_objects(plan, render, **kwargs)
    else:
        outcome = migrate_objects(plan, PlainRenderer(), **kwargs)
    r = outcome.report
    if args.dry_run:
        print(
            f"Dry run: {outcome.plain} of {r.total} objects ({human_bytes(outcome.plain_bytes)}) are plaintext and "
            f"would be re-encrypted with {plan.object_store.sse}; nothing was changed."
        )
        for bucket in outcome.missing_buckets:
            print(f"  missing bucket: {bucket}")
        return 0 if not outcome.missing_buckets else 1
    rate = r.copied_bytes / r.seconds if r.seconds else 0.0
    print(
        f"\nMigrated {r.copied} objects ({human_bytes(r.copied_bytes)}, {human_bytes(rate)}/s, {r.seconds:.1f}s); "
        f"{r.already} were already encrypted, {r.done_before} done by an earlier run"
        + (f", {r.fallbacks} by download + re-upload (the server refused an in-place copy)" if r.fallbacks else "")
        + "."
    )
    if outcome.vacuum:
        print(outcome.vacuum)
    for name in r.gone:
        print(f"  gone during the run (deleted by someone else): {name}")
    for bucket in outcome.missing_buckets:
        print(f"  NOT DONE: bucket {bucket} does not exist")
    for name, reason in r.failed[:50]:
        print(f"  NOT DONE: {name}: {reason}")
    if len(r.failed) > 50:
        print(f"  ... and {len(r.failed) - 50} more (see {plan.output_path / '.stackseal' / 'migrate-objects.json'})")
    return 0 if outcome.ok else 1


def _volume(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked
    from wizard.errors import OperationFailed
    from wizard.layout import volume_specs
    from wizard.steps.console import PlainRenderer
    from wizard.steps.context import Context
    from wizard.volumes.move import NOT_A_GUARANTEE, migrate_volume, remove_plaintext

    if bool(args.name) == bool(args.all):
        raise UsageError("name one volume or pass --all (not both)")
    if args.wait_timeout < 1:
        raise UsageError(f"--wait-timeout: {args.wait_timeout} must be at least 1 second")
    plan = load_checked(args.config)
    known = [s.name for s in volume_specs(plan)]
    names = known if args.all else [args.name]
    if args.name and args.name not in known:
        raise UsageError(f"volume '{args.name}' is not one of this plan's volumes ({', '.join(known)})")
    ctx = Context.for_plan(plan, wait_timeout=args.wait_timeout)
    render = PlainRenderer()
    failed: list[str] = []
    try:
        for name in names:
            try:
                outcome = migrate_volume(ctx, name, render)
                print(f"{name}: {outcome.summary}")
                if args.remove_plaintext:
                    print(f"warning: {NOT_A_GUARANTEE}")
                    print(f"{name}: {remove_plaintext(ctx, name, render)}")
            except OperationFailed as err:
                print(f"{name}: NOT DONE: {err}")
                failed.append(name)
    finally:
        ctx.close()
    if failed:
        raise OperationFailed(f"{len(failed)} of {len(names)} volumes not migrated: {', '.join(failed)}; run again")
    return 0
