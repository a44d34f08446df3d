"""Run every verification check and show the evidence (``stackseal verify -c FILE``).

Exit 0 when nothing FAILs, 1 on any FAIL, 2 on bad input. ``--json`` prints the run as JSON
(docs/verify.schema.json); ``--junit``, ``--report`` (.md or .html) and ``--prometheus`` write
files (atomically) in addition. Nothing in the stack is changed; the canary checks write one
marker object / node and remove it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from wizard.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON (docs/verify.schema.json)")
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one testcase per finding) for CI")
    parser.add_argument("--report", metavar="FILE", help="also write an audit report: FILE.md (Markdown) or FILE.html")
    parser.add_argument(
        "--prometheus",
        metavar="FILE",
        help="also write a node_exporter textfile (e.g. /var/lib/node_exporter/stackseal.prom)",
    )
    parser.add_argument(
        "--deep", action="store_true", help="check every object for encryption (default: a sample per bucket)"
    )
    parser.add_argument(
        "--only", action="append", metavar="ID", dest="only", help="run only this check id (repeatable)"
    )


def _outputs(args: argparse.Namespace) -> dict[str, Path]:
    """Validate output paths before anything runs (bad input is exit 2, nothing written)."""
    out: dict[str, Path] = {}
    for flag in ("junit", "report", "prometheus"):
        value = getattr(args, flag)
        if value is None:
            continue
        path = Path(value)
        if path.is_dir():
            raise UsageError(f"--{flag} {value}: is a directory; give a file name")
        if not path.parent.is_dir():
            raise UsageError(f"--{flag} {value}: directory {path.parent} does not exist")
        out[flag] = path
    if "report" in out and out["report"].suffix.lower() not in (".md", ".html", ".htm"):
        raise UsageError(f"--report {args.report}: the file name must end in .md or .html")
    return out


def run(args: argparse.Namespace) -> int:
    from wizard.commands.apply_cmd import load_checked
    from wizard.fsutil import atomic_write
    from wizard.steps.events import Event, StepProgress, progress_text
    from wizard.verify import report
    from wizard.verify.context import VerifyContext
    from wizard.verify.registry import CHECKS
    from wizard.verify.runner import run_checks

    outputs = _outputs(args)
    plan = load_checked(args.config)
    checks = list(CHECKS)
    if args.only:
        known = {c.id for c in CHECKS}
        unknown = [c for c in args.only if c not in known]
        if unknown:
            raise UsageError(f"--only {unknown[0]}: no such check; known: {', '.join(sorted(known))}")
        checks = [c for c in CHECKS if c.id in args.only]
    last: dict[str, float] = {}

    def progress(event: Event) -> None:
        """At most one line a second per check, on stderr (stdout stays the table or the JSON)."""
        if not isinstance(event, StepProgress):
            return
        now = time.monotonic()
        if now - last.get(event.step_id, 0.0) < 1.0:
            return
        last[event.step_id] = now
        print(f"verify: {event.step_id} {event.what}: {progress_text(event)}", file=sys.stderr, flush=True)

    ctx = VerifyContext(plan, deep=args.deep, progress=progress, answers_path=Path(args.config).resolve())
    try:
        result = run_checks(ctx, checks)
    finally:
        ctx.close()
    if "junit" in outputs:
        atomic_write(outputs["junit"], report.to_junit(result), mode=0o644)
    if "report" in outputs:
        fmt = "md" if outputs["report"].suffix.lower() == ".md" else "html"
        atomic_write(outputs["report"], report.to_report(result, fmt).encode("utf-8"), mode=0o644)
    if "prometheus" in outputs:
        atomic_write(outputs["prometheus"], report.to_prometheus(result, time.time()).encode("utf-8"), mode=0o644)
    if args.json:
        sys.stdout.write(report.dumps_json(result))
    else:
        from rich.console import Console

        # a pipe or a CI log gets a wide table instead of rich's 80-column default
        console = Console(highlight=False) if sys.stdout.isatty() else Console(highlight=False, width=200)
        console.print(report.table(result))
        fixes = report.remediation_lines(result)
        if fixes:
            console.print("\n[bold]What to do[/]")
            for line in fixes:
                console.print(f"  {line}", markup=False)
        c = result.counts()
        verdict = "FAIL" if result.failed else "OK"
        console.print(
            f"\n{verdict}: {c['PASS']} passed, {c['FAIL']} failed, {c['WARN']} warnings, {c['SKIP']} skipped",
            markup=False,
        )
    return result.exit_code
