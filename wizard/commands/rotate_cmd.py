"""Execute a key rotation (``rotate KIND -c FILE``): one subcommand per kind of key.

``kms-key``: a new transit key version, every stored blob re-wrapped, the old version retired.
``volume-keys``: a new key per encrypted volume (gocryptfs, fscrypt, LUKS slots). Both are
journaled in ``<output_dir>/.stackseal/rotate-<kind>.json`` and resumable by running them again;
exit 0 done, 1 failed cleanly (the previous key still opens everything), 2 bad input. Other kinds
(``backup-keys``, ``object-keys``) are added by their owners as one more parser each, in the same
shape (``set_defaults(_rotate=...)``).
"""

from __future__ import annotations

import argparse
import importlib
import time

#: kind -> (module exposing ``run_kind(plan, emit) -> str``, one-line help)
KINDS: dict[str, tuple[str, str]] = {
    "kms-key": ("wizard.rotate.kms_key", "new KMS key version, re-wrap every stored key, retire the old version"),
    "volume-keys": (
        "wizard.rotate.volume_keys",
        "a new key for every encrypted volume (old key removed once verified)",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", metavar="KIND", parser_class=type(parser), required=True)
    for kind, (_module, help_text) in KINDS.items():
        cmd = sub.add_parser(kind, help=help_text, description=help_text)
        cmd.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
        cmd.set_defaults(_rotate=_journaled)


def _journaled(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked
    from wizard.steps.console import PlainRenderer
    from wizard.steps.events import StepDone, StepStarted

    plan = load_checked(args.config)
    module = importlib.import_module(KINDS[args.kind][0])
    emit = PlainRenderer()
    step = f"rotate-{args.kind}"
    emit(StepStarted(step, f"rotate {args.kind}", 1, 1))
    start = time.monotonic()
    summary = module.run_kind(plan, emit)
    emit(StepDone(step, True, summary, time.monotonic() - start))
    return 0


def run(args: argparse.Namespace) -> int:
    return int(args._rotate(args))
