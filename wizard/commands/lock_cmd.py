"""Close the stack's volumes and wipe its runtime directory (``stackseal lock -c FILE [--stop]``).

Refuses while the stack runs (its containers would lose their keys and volumes underneath
them) unless ``--stop``, which stops it first. Then every volume is locked/unmounted and the
runtime directory's files are overwritten and removed, its tmpfs unmounted and the directory
removed: afterwards no plaintext key is left on the host.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    parser.add_argument("--stop", action="store_true", help="stop the running stack first (otherwise lock refuses)")


def run(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked
    from wizard.kms.unlock import lock

    plan = load_checked(args.config)
    outcome = lock(plan, stop=args.stop)
    for note in outcome.notes:
        print(note)
    print(f"locked {len(outcome.volumes)} volume(s){': ' + ', '.join(outcome.volumes) if outcome.volumes else ''}")
    if outcome.runtime_dir is not None:
        print(f"wiped and removed {outcome.runtime_dir}")
    return 0
