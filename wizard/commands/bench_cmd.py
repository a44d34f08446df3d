"""Measure the performance cost of encryption on this host (``stackseal bench -c FILE``).

Volume write/read throughput plain vs each available encrypted backend, object PUT/GET with and
without SSE on the plan's store, backup encryption throughput (against the ``age`` CLI when
installed), and Neo4j query latency on a plain vs an encrypted store. Prints a table and a
terminal chart and saves ``<output_dir>/.stackseal/bench.json`` (``--json`` prints it), which the
runbook and the Backups screen quote. Every measurement that cannot run here says why.
"""

from __future__ import annotations

import argparse
import json
import socket

from wizard.errors import UsageError

GROUPS = ("volumes", "objects", "backup", "neo4j")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")
    parser.add_argument("--size-mb", type=int, default=256, metavar="MB", help="data per throughput test (default 256)")
    parser.add_argument("--only", metavar="LIST", help=f"comma-separated groups: {','.join(GROUPS)} (default: all)")
    parser.add_argument("--json", action="store_true", help="print the JSON result instead of the table")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from wizard.bench import crypto, neo4j, objects, report, volumes
    from wizard.commands.apply_cmd import load_checked

    if not 1 <= args.size_mb <= 65536:
        raise UsageError(f"--size-mb: {args.size_mb} must be between 1 and 65536")
    groups = [g.strip() for g in (args.only or ",".join(GROUPS)).split(",") if g.strip()]
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise UsageError(f"--only: {', '.join(bad) or 'nothing'} is not one of {', '.join(GROUPS)}")
    plan = load_checked(args.config)
    console = Console(stderr=args.json)
    results = []
    for group in groups:
        console.print(f"[bold]measuring {group}…[/bold]")
        if group == "volumes":
            results += volumes.measure(args.size_mb)
        elif group == "objects":
            results += objects.measure(plan, args.size_mb)
        elif group == "backup":
            results += crypto.measure(args.size_mb)
        else:
            results += neo4j.measure(plan)
    data = report.to_json(results, socket.gethostname())
    path = report.save(plan.output_path, data)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    console.print(report.table(results))
    bars = report.chart(results, width=min(console.width, 110))
    if bars is not None:
        console.print(bars)
    console.print(f"saved {path}")
    return 0
