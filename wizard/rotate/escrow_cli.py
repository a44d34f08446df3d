"""``stackseal keys export`` / ``keys import``: the escrow bundle's command line.

Kept apart from ``keys_cmd`` so the key inventory (``keys list``) and escrow can grow in
separate modules; ``keys_cmd`` only wires the subcommands.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from wizard.errors import Refused, UsageError


def add_export(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("export", help="write the escrow bundle (age format) for disaster recovery")
    cmd.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    cmd.add_argument("--to", required=True, metavar="BUNDLE", help="the bundle file to write (refused if it exists)")
    who = cmd.add_mutually_exclusive_group(required=True)
    who.add_argument("--recipient", metavar="AGE_RECIPIENT", help="age X25519 public key (age1...)")
    who.add_argument(
        "--passphrase", action="store_true", help="encrypt with a passphrase (asked twice; or the first line of stdin)"
    )
    cmd.add_argument("--force", action="store_true", help="overwrite an existing bundle file")


def add_import(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("import", help="restore the keys from an escrow bundle (on a new host)")
    cmd.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    cmd.add_argument("--from", dest="bundle", required=True, metavar="BUNDLE", help="the bundle to restore")
    who = cmd.add_mutually_exclusive_group(required=True)
    who.add_argument("--identity", metavar="FILE", help="age identity file (age-keygen output)")
    who.add_argument("--passphrase", action="store_true", help="the bundle's passphrase (asked; or stdin)")
    cmd.add_argument("--force", action="store_true", help="overwrite restored files that exist and differ")


def _passphrase(confirm: bool) -> str:
    if not sys.stdin.isatty():
        value = sys.stdin.readline().rstrip("\n")
    else:
        value = getpass.getpass("Bundle passphrase: ")
        if confirm and getpass.getpass("Again: ") != value:
            raise UsageError("the two passphrases differ; nothing was written")
    if len(value) < 8:
        raise UsageError("the passphrase must have at least 8 characters")
    return value


def run_export(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked
    from wizard.fsutil import atomic_write
    from wizard.rotate import escrow

    plan = load_checked(args.config)
    target = Path(args.to)
    if (target.exists() or target.is_symlink()) and not args.force:
        raise Refused(f"{target} exists; choose another --to or add --force")
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise UsageError(f"{target}: not a regular file; choose another --to")
    if not target.parent.is_dir():  # run as root: never create directories the user did not name
        raise UsageError(f"{target.parent}: no such directory; create it or choose another --to")
    passphrase = _passphrase(confirm=True) if args.passphrase else None
    if args.recipient is not None:
        escrow.seal({}, recipient=args.recipient)  # a bad recipient is exit 2 before the KMS is asked
    doc = escrow.collect(plan)
    data = escrow.seal(doc, recipient=args.recipient, passphrase=passphrase)
    atomic_write(target, data, mode=0o600)
    counts = ", ".join(
        f"{len(doc[k])} {label}"
        for k, label in (
            ("blobs", "wrapped keys"),
            ("plain_secrets", "plaintext secrets"),
            ("gocryptfs", "gocryptfs master keys"),
            ("luks_headers", "LUKS headers"),
            ("openbao", "OpenBao init files"),
        )
        if doc[k]
    )
    print(f"wrote {target} ({len(data)} bytes, age format): {counts or 'nothing to escrow yet'}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked
    from wizard.rotate import escrow
    from wizard.rotate.escrow_restore import apply_restore, plan_restore

    plan = load_checked(args.config)
    identity = escrow.read_identity(Path(args.identity)) if args.identity else None
    passphrase = _passphrase(confirm=False) if args.passphrase else None
    doc = escrow.open_bundle(Path(args.bundle), identity=identity, passphrase=passphrase)
    writes = plan_restore(plan, doc)
    done = apply_restore(writes, force=args.force)
    print(f"restored {len(done)} files from {args.bundle} ({len(writes) - len(done)} already in place)")
    for write in done:
        print(f"  + {write.what}: {write.path}")
    if doc.get("gocryptfs"):
        print("gocryptfs master keys stay in the bundle (not written to disk); see docs/recovery-drill.md")
    return 0
