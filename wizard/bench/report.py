"""The bench's output: a table, a terminal chart (plotext), the saved JSON, and overhead figures.

Why overheads are computed here, once: the table, the runbook ("your choices cost ...") and the
dashboard all quote "encrypted vs plain" numbers; they must agree. ``overhead`` is the
percentage by which the encrypted figure is worse than its plain baseline (slower throughput or
higher latency).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from wizard.bench.common import Result
from wizard.fsutil import atomic_write

FILE = "bench.json"


class _Row(msgspec.Struct, forbid_unknown_fields=True):
    """One entry of ``results`` as :func:`to_json` writes it (a :class:`Result` plus its overhead)."""

    group: str
    name: str
    value: float | None
    unit: str
    note: str = ""
    baseline: str | None = None
    overhead_percent: float | None = None


class _Bench(msgspec.Struct):
    """The parts of a saved bench that are read back (the runbook, the TUI, the downtime estimate)."""

    format: Literal["stackseal-bench"]
    results: list[_Row]
    time: str = "?"
    host: str = "?"


def overhead(results: list[Result], result: Result) -> float | None:
    """Percent worse than the baseline (None without a baseline or a value)."""
    if result.baseline is None or result.value is None:
        return None
    base = next((r for r in results if r.group == result.group and r.name == result.baseline), None)
    if base is None or not base.value or not result.value:  # a zero figure has no ratio
        return None
    if result.unit == "ms":  # latency: higher is worse
        return round((result.value / base.value - 1) * 100, 1)
    return round((base.value / result.value - 1) * 100, 1)  # throughput: time ratio - 1


def to_json(results: list[Result], host: str) -> dict[str, Any]:
    return {
        "format": "stackseal-bench",
        "version": 1,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": host,
        "results": [dict(r.to_json(), overhead_percent=overhead(results, r)) for r in results],
    }


def save(out_dir: Path, data: dict[str, Any]) -> Path:
    path = out_dir / ".stackseal" / FILE
    atomic_write(path, (json.dumps(data, indent=2) + "\n").encode(), mode=0o644)
    return path


def load(out_dir: Path) -> dict[str, Any] | None:
    """The last saved bench of a stack (or None), its shape checked once here.

    Why: the file sits in the output directory, so anyone who can write there wrote it. Its
    readers (the runbook, the Backups and Migrate pages) index into it freely; a document of
    another shape (``results`` not a list of rows, a row missing a key or with a number where a
    name belongs) is ignored exactly like a damaged one: no figures are quoted.
    """
    from wizard.errors import StacksealError
    from wizard.fsutil import read_below

    try:  # no symlink below the output dir is followed; a FIFO or a huge file is refused, never read
        raw = read_below(out_dir, f".stackseal/{FILE}", 1 << 20, "bench results")
        data = json.loads(raw) if raw is not None else None
        msgspec.convert(data, _Bench)  # msgspec.ValidationError is a ValueError
    except (OSError, ValueError, RecursionError, StacksealError):
        return None
    return data if isinstance(data, dict) else None


def table(results: list[Result]) -> Any:
    from rich.table import Table

    t = Table(title="stackseal bench: the cost of encryption at rest on this host")
    for col in ("group", "measurement", "value", "vs baseline", "note"):
        t.add_column(col, justify="right" if col in ("value", "vs baseline") else "left")
    for r in results:
        value = "—" if r.value is None else f"{r.value:g} {r.unit}"
        o = overhead(results, r)
        t.add_row(r.group, r.name, value, "" if o is None else f"{o:+.0f}%", r.note)
    return t


def chart(results: list[Result], width: int = 100) -> Any:
    """Horizontal bars of every throughput figure (MB/s), as a rich renderable.

    (plotext was tried: the release on PyPI today, 6.x, no longer has the 5.x ``bar`` API.)
    """
    from rich.table import Table
    from rich.text import Text

    rows = [r for r in results if r.value is not None and r.unit == "MB/s"]
    if not rows:
        return None
    top = max(r.value or 0.0 for r in rows) or 1.0
    bar_width = max(width - 48, 10)
    t = Table(title="throughput, MB/s (longer is faster)", show_header=False, box=None, padding=(0, 1))
    t.add_column(justify="right")
    t.add_column()
    for r in rows:
        cells = int(round((r.value or 0) / top * bar_width)) or 1
        style = "green" if r.baseline is None else "yellow"
        t.add_row(f"{r.group}: {r.name}", Text("█" * cells, style=style).append(f" {r.value:g}", style="bold"))
    return t


def choices_overhead(plan: Any, data: dict[str, Any] | None) -> list[str]:
    """Sentences for the runbook: what the plan's own choices measured on this host."""
    if not data:
        return []
    results = [Result(**{k: v for k, v in r.items() if k != "overhead_percent"}) for r in data.get("results", [])]
    lines = []
    backend = plan.volumes.backend
    for r in results:
        o = overhead(results, r)
        if o is None:
            continue
        if r.group == "volumes" and r.name.startswith(backend + " "):
            lines.append(
                f"volumes ({backend}) {r.name.split()[-1]}: {r.value:g} MB/s ({o:+.0f}% time vs a plain directory)"
            )
        elif r.group == "objects" and plan.object_store.sse == "sse-s3" and "SSE-S3" in r.name:
            lines.append(f"objects {r.name}: {r.value:g} MB/s ({o:+.0f}% time vs no SSE)")
        elif r.group == "neo4j" and r.name.startswith("gocryptfs") and backend == "gocryptfs":
            lines.append(
                f"Neo4j {r.name.removeprefix('gocryptfs ')}: {r.value:g} ms ({o:+.0f}% latency vs a plain store)"
            )
        elif r.group == "backup":
            lines.append(f"backup encryption: {r.value:g} MB/s ({o:+.0f}% time vs the age CLI)")
    if lines:
        lines.append(f"(measured {data.get('time', '?')} on {data.get('host', '?')} by 'stackseal bench')")
    return lines
