"""Open the live verification dashboard (``stackseal dashboard -c FILE``).

A tile per store (Neo4j, the object store, each volume, the KMS, keys) coloured by its worst
finding, refreshed every ``--interval`` seconds in a worker; Enter opens a tile's evidence,
``r`` there re-runs one check, ``a`` runs every check (the canaries too) now.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wizard.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    parser.add_argument("--interval", type=float, default=30.0, metavar="SECONDS", help="refresh interval (default 30)")


def run(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked

    if not 1.0 <= args.interval <= 86400:
        raise UsageError(f"--interval {args.interval:g}: give a number of seconds between 1 and 86400")
    plan = load_checked(args.config)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "the dashboard needs an interactive terminal; in scripts use 'stackseal verify -c FILE --json'"
        )
    from screens.dashboard import DashboardApp

    DashboardApp(plan, args.interval, answers_path=Path(args.config).resolve()).run()
    return 0
