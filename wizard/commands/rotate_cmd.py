"""Execute a key rotation (``stackseal rotate KIND -c FILE``): journaled, resumable by running it again.

Kinds: ``kms-key`` (new transit key version, every stored blob re-wrapped, old version retired)
and ``volume-keys`` (a new key per encrypted volume). Other kinds (object-keys, backup-keys) are
added to :data:`KINDS` by their owners. Each kind keeps its own journal in
``<output_dir>/.stackseal/rotate-<kind>.json``; exit 0 done, 1 failed cleanly (the previous key
still opens everything), 2 bad input.
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
    sub = parser.add_subparsers(dest="kind", metavar="KIND", required=True, parser_class=type(parser))
    for kind, (_module, help_text) in KINDS.items():
        cmd = sub.add_parser(kind, help=help_text, description=help_text)
        cmd.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")


def run(args: argparse.Namespace) -> int:
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
