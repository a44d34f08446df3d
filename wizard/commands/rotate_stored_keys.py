"""``stackseal rotate kms-key -c FILE`` and ``stackseal rotate volume-keys -c FILE``.

``kms-key``: a new transit key version, every stored blob re-wrapped, the old version retired.
``volume-keys``: a new key per encrypted volume (gocryptfs, fscrypt, LUKS slots). Both are
journaled in ``<output_dir>/.stackseal/rotate-<kind>.json`` and resumable by running them again;
exit 0 done, 1 failed cleanly (the previous key still opens everything), 2 bad input. The work
lives in ``wizard.rotate.kms_key`` / ``wizard.rotate.volume_keys`` (``run_kind(plan, emit)``).
"""

from __future__ import annotations

import argparse
import importlib
import time

#: rotate kind -> module exposing ``run_kind(plan, emit) -> str``
WORK = {"kms-key": "wizard.rotate.kms_key", "volume-keys": "wizard.rotate.volume_keys"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")


def run(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked
    from wizard.steps.console import PlainRenderer
    from wizard.steps.events import StepDone, StepStarted

    plan = load_checked(args.config)
    module = importlib.import_module(WORK[args.kind])
    emit = PlainRenderer()
    step = f"rotate-{args.kind}"
    emit(StepStarted(step, f"rotate {args.kind}", 1, 1))
    start = time.monotonic()
    summary = module.run_kind(plan, emit)
    emit(StepDone(step, True, summary, time.monotonic() - start))
    return 0
