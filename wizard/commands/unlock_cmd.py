"""Unwrap the stack's keys into its tmpfs runtime directory and open its volumes (``stackseal unlock -c FILE``).

Every key is unwrapped by the KMS first (one batch), so a wrong credential, a sealed or
unreachable KMS or a tampered blob ends in one line with nothing changed. Then the runtime
directory (default ``/run/stackseal/<project>/``; a tmpfs is mounted there when it is not
memory-backed) gets one 0400 file per key, the volumes are opened with the keys in it, and the
stack is started again unless ``--no-start``. This is what the rendered systemd unit runs at boot.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    parser.add_argument(
        "--no-start", action="store_true", help="unwrap keys and open volumes, but do not start the stack"
    )
    parser.add_argument(
        "--wait-timeout",
        type=int,
        default=300,
        metavar="SECONDS",
        help="how long services may take to become healthy (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked
    from wizard.kms.unlock import unlock

    plan = load_checked(args.config)
    outcome = unlock(plan, start=not args.no_start, wait_timeout=args.wait_timeout)
    for note in outcome.notes:
        print(note)
    if outcome.runtime_dir is not None:
        print(f"unwrapped {len(outcome.keys)} key(s) into {outcome.runtime_dir} (tmpfs, 0700, files 0400)")
    print(f"opened {len(outcome.volumes)} volume(s){': ' + ', '.join(outcome.volumes) if outcome.volumes else ''}")
    return 0
