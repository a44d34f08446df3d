"""Ask the questions (Textual, or --plain) and save the answers file.

Why this module stays tiny at import time: ``stackseal --help`` imports every command module,
so Textual, questionary and the detection code are imported inside :func:`run` only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plain", action="store_true", help="line-by-line prompts instead of the full-screen wizard")
    parser.add_argument(
        "--answers",
        metavar="FILE",
        help="pre-fill every question from this answers file (review and replay a saved run)",
    )
    parser.add_argument(
        "--out", metavar="FILE", default="stackseal.yaml", help="where to save the answers (default: ./stackseal.yaml)"
    )


def run(args: argparse.Namespace) -> int:
    from wizard import questions
    from wizard.errors import UsageError
    from wizard.plan import default_plan, load_plan

    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {out}: is a directory; give a file name such as {out}/stackseal.yaml")
    if args.answers:
        plan = load_plan(args.answers)
        keep = {q.id for q in questions.QUESTIONS}  # a pre-filled answer is never replaced by a default
    else:
        plan, keep = default_plan(), set()
    plan.set_base_dir(out.resolve().parent)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "the wizard needs an interactive terminal; "
            "in scripts use 'stackseal apply -c stackseal.yaml --yes' with a saved answers file"
        )

    if args.plain:
        from wizard.prompts import run_plain

        saved = run_plain(plan, out, keep)
        return 0 if saved is not None else 1

    from screens.app import StacksealApp

    app = StacksealApp(plan, out, keep)
    result = app.run()
    if result is None or not result.saved:
        print("No changes were made.")
        return 1
    print(f"Saved {out}." + ("" if result.applied else f" Next: stackseal apply -c {out} --yes"))
    return 0
